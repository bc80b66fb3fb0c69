"""Hostile and broken files raise a PatchlensError with the CLI's sentence and never crash the interpreter;
bad options raise InvalidOptionError with the CLI's sentence for the same mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

import patchlens
from conftest import FIXTURES, SAMPLE, cli, cli_sentence, manifest

ERRORS = manifest()["errors"]


@pytest.mark.parametrize("broken", ERRORS, ids=[e["file"] for e in ERRORS])
def test_a_broken_file_raises_the_clis_sentence(broken: dict, tmp_path: Path) -> None:
    path = FIXTURES / broken["file"]
    _, said = cli(str(path), tmp=tmp_path)
    with pytest.raises(patchlens.PatchlensError) as raised:
        patchlens.open(path).render()
    sentence = str(raised.value)
    assert sentence == cli_sentence(said)
    assert sentence.endswith(".") and "\n" not in sentence


def test_a_missing_file_is_a_read_error_and_an_oserror() -> None:
    with pytest.raises(patchlens.ReadError) as raised:
        patchlens.open("/no/such/file.npz")
    assert isinstance(raised.value, OSError)


@pytest.mark.parametrize(
    "options,flags",
    [
        ({"normalize": "max"}, ["--normalize", "max"]),
        ({"order": "random"}, ["--order", "random"]),
        ({"view": "tsne"}, ["--view", "tsne"]),
        ({"layout": "nchw"}, ["--layout", "nchw"]),
        ({"mode": "sine", "view": "positions"}, ["--mode", "sine", "--view", "positions"]),
        ({"gap_color": "orange"}, ["--gap-color", "orange"]),
    ],
)
def test_a_bad_option_is_the_clis_sentence(options: dict, flags: list, tmp_path: Path) -> None:
    _, said = cli(str(SAMPLE), *flags, tmp=tmp_path)
    with pytest.raises(patchlens.InvalidOptionError) as raised:
        patchlens.grid(SAMPLE, **options)
    assert isinstance(raised.value, ValueError)
    # The CLI names its flags (--normalize); Python its keywords (normalize).
    cli_text = said.splitlines()[0].removeprefix("patchlens: ").replace("--gap-color", "gap_color").replace("--", "")
    assert str(raised.value) == cli_text


def test_numbers_must_be_whole() -> None:
    for bad in (-1, 2.5, "8", True):
        with pytest.raises(patchlens.InvalidOptionError, match=r"^count takes a whole number, not "):
            patchlens.grid(SAMPLE, count=bad)
    with pytest.raises(patchlens.InvalidOptionError, match="There is no option colour"):
        patchlens.grid(SAMPLE, colour="red")


def test_out_of_range_values_are_corrected_and_said() -> None:
    with pytest.warns(patchlens.PatchlensWarning, match="count: at most 384"):
        grid = patchlens.grid(SAMPLE, count=5000)
    assert grid.filters_shown == 384 and grid.adjustments_given[0].option == "count"


def test_a_missing_tensor_and_a_tensor_that_cannot_be_drawn() -> None:
    with pytest.raises(patchlens.NoSuchTensorError, match="There is no tensor named nope in this file."):
        patchlens.grid(SAMPLE, tensor="nope")
    # The sample holds a position embedding; this fixture only a kernel.
    with pytest.raises(patchlens.NotDrawableError, match="No position embedding was found"):
        patchlens.grid(FIXTURES / "stored_f32.npz", view="positions")
