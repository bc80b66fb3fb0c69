"""The Grid: pixels, PNG, the notebook's inline display, and the matplotlib figure in the notebook's layout."""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import pytest

import patchlens
from conftest import FIXTURES, SAMPLE, cli


def test_save_writes_the_clis_png(tmp_path: Path) -> None:
    expected, _ = cli(str(SAMPLE), tmp=tmp_path)
    grid = patchlens.grid(SAMPLE)
    grid.save(tmp_path / "g.png")
    assert (tmp_path / "g.png").read_bytes() == expected
    assert grid._repr_png_() == expected


def test_jupyter_shows_the_image_with_what_it_shows() -> None:
    grid = patchlens.grid(SAMPLE)
    html = grid._repr_html_()
    assert "embedding/kernel float32 14×14×3×384 (HWIO), 128 of 384 filters" in html
    data = html.split("base64,")[1].split('"')[0]
    assert base64.b64decode(data) == grid.png()
    assert repr(grid) == "<patchlens.Grid 926×462: embedding/kernel float32 14×14×3×384 (HWIO), 128 of 384 filters>"


def test_what_the_grid_shows() -> None:
    grid = patchlens.grid(SAMPLE, count=20, columns=5)
    assert (grid.view, grid.tensor, grid.dtype, grid.shape, grid.layout) == (
        "filters", "embedding/kernel", "float32", [14, 14, 3, 384], "hwio")
    assert (grid.filters_shown, grid.filters_total, grid.columns, grid.rows) == (20, 384, 5, 4)
    assert (grid.zoom, grid.gap, grid.filter_shape) == (4, 2, [14, 14, 3])
    kernel = np.load(SAMPLE)["embedding/kernel"]
    first = grid.tiles[0]
    assert first.index == 0 and first.min == pytest.approx(float(kernel[..., 0].min()))
    assert first.norm == pytest.approx(float(np.linalg.norm(kernel[..., 0].astype(np.float64))))
    assert not grid.pixels.flags.writeable
    pca = patchlens.grid(SAMPLE, view="pca", components=9)
    assert pca.components == 9 and len(pca.explained_variance_ratio) == 9
    assert sorted(pca.explained_variance_ratio, reverse=True) == pca.explained_variance_ratio


def test_tile_images_are_scikit_learns_tiles() -> None:
    fixture = next(f for f in patchlens_manifest()["fixtures"] if f["file"] == "stored_f32.npz")
    tiles = fixture["tiles"][0]
    kh, kw, c, n = tiles["kernel_shape"]
    expected = np.fromfile(FIXTURES / tiles["file"], dtype=np.uint8).reshape(n, kh, kw, c)
    images = patchlens.grid(FIXTURES / "stored_f32.npz", count=40, columns=8).tile_images()
    assert len(images) == 40
    for i, image in enumerate(images):
        np.testing.assert_array_equal(image, expected[i])


def patchlens_manifest() -> dict:
    from conftest import manifest

    return manifest()


def test_figure_has_the_notebooks_layout() -> None:
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    grid = patchlens.grid(SAMPLE)
    figure = grid.figure(titles=True)
    assert len(figure.axes) == 8 * 16
    first = figure.axes[0]
    assert first.get_title() == "0" and not first.axison
    np.testing.assert_array_equal(np.asarray(first.images[0].get_array()), grid.tile_images()[0])
    assert len(patchlens.plot(SAMPLE, count=10, columns=5).axes) == 10


def test_a_checkpoint_used_from_another_thread_says_so() -> None:
    import threading

    checkpoint = patchlens.open(SAMPLE)
    raised = []

    def draw() -> None:
        try:
            checkpoint.render()
        except patchlens.UnsupportedError as error:
            raised.append(str(error))

    worker = threading.Thread(target=draw)
    worker.start()
    worker.join()
    assert raised == ["This checkpoint was opened in another thread; open it again in this one (a checkpoint stays "
                      "in the thread that opened it)."]
    assert checkpoint.render().width == 926  # and it still works where it was opened
