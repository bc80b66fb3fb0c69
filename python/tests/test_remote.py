"""URLs and hub model ids read by HTTP ranges, through the repo's checkpoint host (tests/server/, run with
node): the same pixels as from disk, a fraction of the file transferred, the CLI's sentences when it fails."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

import patchlens
from conftest import FIXTURES, ROOT, cli


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if shutil.which("node") is None:
        pytest.skip("node is not installed, and it runs the checkpoint host these tests read from")
    hub = tmp_path_factory.mktemp("hub") / "hub.json"
    hub.write_text(json.dumps({"owner/vit": {"files": {"model.safetensors": "hf_vit_f32.safetensors"}}}))
    server = subprocess.Popen(
        ["node", str(ROOT / "tests/server/checkpoint-server.mjs"), "--root", str(FIXTURES), "--hub", str(hub)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        origin = json.loads(server.stdout.readline())["origin"]
        yield origin
    finally:
        server.kill()
        server.wait()


def log(origin: str) -> list:
    with urllib.request.urlopen(f"{origin}/__log") as reply:
        return json.loads(reply.read())


def test_a_url_draws_as_the_file_reading_a_fraction_of_it(host: str, tmp_path: Path) -> None:
    expected, said = cli(str(FIXTURES / "dino_vitb16.pth"), tmp=tmp_path)
    assert expected is not None, said
    urllib.request.urlopen(f"{host}/__reset").read()
    checkpoint = patchlens.open(f"{host}/files/dino_vitb16.pth")
    grid = checkpoint.render()
    assert grid.png() == expected
    sent = sum(entry.get("bytes", 0) for entry in log(host))
    assert checkpoint.requests is not None and 0 < checkpoint.requests <= 6
    assert sent < checkpoint.file_size / 20, f"{sent} of {checkpoint.file_size} bytes crossed the network"


def test_a_hub_model_id_opens_its_weights(host: str, tmp_path: Path) -> None:
    expected, said = cli(str(FIXTURES / "hf_vit_f32.safetensors"), tmp=tmp_path)
    assert expected is not None, said
    grid = patchlens.grid("owner/vit", hub=host)
    assert grid.png() == expected


def test_a_server_that_fails_is_a_network_or_read_error_with_the_clis_sentence(host: str, tmp_path: Path) -> None:
    url = f"{host}/status/404/dino_vitb16.pth"
    _, said = cli(url, tmp=tmp_path)
    with pytest.raises(patchlens.PatchlensError) as raised:
        patchlens.open(url)
    assert str(raised.value) == said.splitlines()[0].removeprefix("patchlens: ")


def test_the_widgets_files_of_a_url_and_a_hub_id_are_the_files_by_ranges(host: str) -> None:
    from patchlens._sources import files_of

    (file,) = files_of(f"{host}/files/dino_vitb16.pth")
    local = (FIXTURES / "dino_vitb16.pth").read_bytes()
    assert (file.name, file.size) == ("dino_vitb16.pth", len(local))
    assert file.read(0, 4096) == local[:4096] and file.read(len(local) - 10, 10) == local[-10:]
    (weights,) = files_of("owner/vit", hub=host)
    assert weights.read(0, 64) == (FIXTURES / "hf_vit_f32.safetensors").read_bytes()[:64]
    index = files_of(f"{host}/files/tf1_f32.index")
    assert [f.name for f in index] == ["tf1_f32.index", "tf1_f32.data-00000-of-00001"]
