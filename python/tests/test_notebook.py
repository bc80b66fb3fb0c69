"""A real notebook, executed headless by nbclient on a real IPython kernel: `patchlens.grid(path)` as a cell's
value shows the grid inline, its PNG the CLI's bytes."""

from __future__ import annotations

import base64
import sys
from pathlib import Path

import pytest

from conftest import FIXTURES, SAMPLE, cli

nbformat = pytest.importorskip("nbformat", reason="nbformat is not installed (python/requirements.txt has it)")
nbclient = pytest.importorskip("nbclient", reason="nbclient is not installed (python/requirements.txt has it)")


def run(cells: list, tmp_path: Path) -> list:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    # The kernel is this interpreter (the venv with patchlens installed), whatever kernels Jupyter knows of.
    from jupyter_client.kernelspec import KernelSpec

    client = nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    client.kernel_manager_class.kernel_spec = KernelSpec(argv=[sys.executable, "-m", "ipykernel_launcher", "-f",
                                                               "{connection_file}"], name="python3", language="python")
    client.execute()
    return notebook.cells


def test_a_grid_as_a_cells_value_is_shown_inline(tmp_path: Path) -> None:
    expected_sample, said = cli(str(SAMPLE), tmp=tmp_path, name="sample.png")
    assert expected_sample is not None, said
    expected_pth, said = cli(str(FIXTURES / "dino_vitb16.pth"), tmp=tmp_path, name="pth.png")
    assert expected_pth is not None, said
    cells = run(
        [
            "import patchlens",
            f"patchlens.grid({str(SAMPLE)!r})",
            f"patchlens.grid({str(FIXTURES / 'dino_vitb16.pth')!r})",
        ],
        tmp_path,
    )
    for cell, expected in ((cells[1], expected_sample), (cells[2], expected_pth)):
        (output,) = [o for o in cell.outputs if o.output_type == "execute_result"]
        assert base64.b64decode(output.data["image/png"]) == expected
        assert "<figcaption" in output.data["text/html"]
        assert output.data["text/plain"].startswith("<patchlens.Grid ")
