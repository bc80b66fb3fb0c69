"""Every fixture format through patchlens.open(...).render(), byte for byte the CLI's PNG, and the tiles
byte for byte scikit-learn's (the reference pipeline's expected tiles in the manifest)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import patchlens
from conftest import FIXTURES, SAMPLE, cli, cli_sentence, fixture_files, manifest

FIXTURE_LIST = manifest()["fixtures"]


@pytest.mark.parametrize("fixture", FIXTURE_LIST, ids=[f["file"] for f in FIXTURE_LIST])
def test_the_default_grid_is_the_clis_png(fixture: dict, tmp_path: Path) -> None:
    files = fixture_files(fixture)
    checkpoint = patchlens.open(*files)
    expected, said = cli(*files, tmp=tmp_path)
    if expected is None:  # a checkpoint with nothing to draw: the same sentence
        with pytest.raises(patchlens.NotDrawableError) as raised:
            checkpoint.render()
        assert str(raised.value) == cli_sentence(said)
        return
    grid = checkpoint.render()
    assert grid.png() == expected
    assert grid.pixels.shape == (grid.height, grid.width, 4)
    assert checkpoint.default == fixture["default_tensor"]
    assert 0 < checkpoint.bytes_read <= checkpoint.file_size


@pytest.mark.parametrize(
    "fixture",
    [f for f in FIXTURE_LIST if not f.get("big")],
    ids=[f["file"] for f in FIXTURE_LIST if not f.get("big")],
)
def test_every_tile_is_scikit_learns(fixture: dict) -> None:
    checkpoint = patchlens.open(*fixture_files(fixture))
    names = [t.name for t in checkpoint.tensors]
    assert names == [t["name"] for t in fixture["tensors"]]
    for tiles in fixture["tiles"]:
        kh, kw, c, n = tiles["kernel_shape"]
        expected = np.fromfile(FIXTURES / tiles["file"], dtype=np.uint8).reshape(n, kh, kw, c)
        columns = min(n, 32)
        grid = checkpoint.render(tensor=tiles["tensor"], count=n, columns=columns, zoom=1, gap=0)
        assert (grid.filters_shown, grid.filters_total) == (n, n)
        for i in range(n):
            y, x = (i // columns) * kh, (i % columns) * kw
            tile = grid.pixels[y : y + kh, x : x + kw, :c]  # grey tiles are R = G = B
            np.testing.assert_array_equal(tile, expected[i], err_msg=f"{fixture['file']} {tiles['tensor']} filter {i}")


VIEWS = [
    ("pca", {"view": "pca"}, ["--view", "pca"]),
    ("pca_k9_columns3", {"view": "pca", "components": 9, "columns": 3}, ["--view", "pca", "--components", "9", "--columns", "3"]),
    ("global", {"normalize": "global"}, ["--normalize", "global"]),
    ("symmetric_norm_order", {"normalize": "symmetric", "order": "norm"}, ["--normalize", "symmetric", "--order", "norm"]),
    ("channels", {"channels": True, "count": 12, "columns": 4}, ["--channels", "--count", "12", "--columns", "4"]),
    ("grid", {"count": 30, "columns": 7, "zoom": 2, "gap": 3, "gap_color": "#ff8800"},
     ["--count", "30", "--columns", "7", "--zoom", "2", "--gap", "3", "--gap-color", "#ff8800"]),
    ("layout", {"layout": "oihw", "tensor": "embedding/kernel"}, ["--layout", "oihw", "--tensor", "embedding/kernel"]),
]


@pytest.mark.parametrize("name,options,flags", VIEWS, ids=[v[0] for v in VIEWS])
def test_views_and_options_are_the_clis(name: str, options: dict, flags: list, tmp_path: Path) -> None:
    expected, said = cli(str(SAMPLE), *flags, tmp=tmp_path)
    if expected is None:
        with pytest.raises(patchlens.PatchlensError) as raised:
            patchlens.grid(SAMPLE, **options)
        assert str(raised.value) in said
    else:
        assert patchlens.grid(SAMPLE, **options).png() == expected


POSITIONS = [
    ("cosine", {}, []),
    ("dot", {"mode": "dot"}, ["--mode", "dot"]),
    ("cosine_zoom1_gap0", {"zoom": 1, "gap": 0}, ["--zoom", "1", "--gap", "0"]),
]


@pytest.mark.parametrize("name,options,flags", POSITIONS, ids=[p[0] for p in POSITIONS])
def test_the_position_view_is_the_clis(name: str, options: dict, flags: list, tmp_path: Path) -> None:
    path = str(FIXTURES / "positions_augreg.npz")
    expected, said = cli(path, "--view", "positions", *flags, tmp=tmp_path)
    assert expected is not None, said
    grid = patchlens.grid(path, view="positions", **options)
    assert grid.png() == expected
    assert grid.view == "positions" and grid.mode == (options.get("mode") or "cosine")
    n = grid.position_grid[0] * grid.position_grid[1]
    assert len(grid.values) == n * n


def test_the_difference_of_two_checkpoints_is_the_clis(tmp_path: Path) -> None:
    a, b = str(FIXTURES / "compare_a.npz"), str(FIXTURES / "compare_b.npz")
    expected, said = cli(a, b, "--view", "difference", tmp=tmp_path)
    assert expected is not None, said
    grid = patchlens.grid(a, compare=b)
    assert grid.view == "difference" and grid.png() == expected
    assert len(grid.similarity) == grid.filters_shown
    assert patchlens.open(a).render(view="difference", compare=patchlens.open(b)).png() == expected


def test_shards_found_by_their_index_and_a_folder_open_as_the_cli_opens_them(tmp_path: Path) -> None:
    index = str(FIXTURES / "model.safetensors.index.json")
    expected, said = cli(index, tmp=tmp_path)
    assert expected is not None, said
    checkpoint = patchlens.open(index)
    assert len(checkpoint.files) == 4 and checkpoint.render().png() == expected
    everything = patchlens.open_all(FIXTURES / "compare_a.npz", FIXTURES / "compare_b.npz")
    assert [c.label for c in everything] == ["compare_a.npz", "compare_b.npz"]
    with pytest.raises(patchlens.InvalidOptionError, match="These files hold 2 checkpoints"):
        patchlens.open(FIXTURES / "compare_a.npz", FIXTURES / "compare_b.npz")


def test_a_files_bytes_draw_as_the_file_does(tmp_path: Path) -> None:
    expected, _ = cli(str(SAMPLE), tmp=tmp_path)
    assert patchlens.grid(SAMPLE.read_bytes()).png() == expected


def test_listing_is_the_clis() -> None:
    checkpoint = patchlens.open(SAMPLE)
    text = checkpoint.listing()
    assert "embedding/kernel" in text and "float32" in text
    entry = checkpoint.tensors[0]
    assert entry == patchlens.TensorInfo(
        "embedding/kernel", "float32", (14, 14, 3, 384), True, None, "hwio", False,
        "AugReg / big_vision ViT patch embedding",
    )
