"""patchlens in a notebook beside the reference notebook's own cell, on the same AugReg `.npz` files, in one run.

Each cell runs in a fresh process (warm OS cache, cold interpreter state, like a notebook's first run of the
cell after its imports); imports are timed apart. Per file and cell: median wall time of the cell and its peak
memory (growth of the process's maximum RSS during the cell).

  notebook   np.load(f)["embedding/kernel"], MinMaxScaler().fit_transform(kernel.reshape(-1, n)), an 8 × 16
             plt.subplots grid of imshow, rendered to PNG as Jupyter's inline backend does (savefig, 72 dpi)
  grid       patchlens.grid(f) and its inline PNG (what Jupyter shows for a bare `patchlens.grid(f)`)
  figure     patchlens.plot(f): the same 8 × 16 matplotlib figure from patchlens's tiles, rendered to PNG

Usage: python benches/python_notebook.py [--runs 5] [--markdown] FILE.npz ...
(benches/run.sh passes benches/data/augreg_b16.npz and, when present, augreg_l16.npz)."""

import argparse
import json
import os
import statistics
import subprocess
import sys

CELLS = {
    "notebook": r"""
import io, numpy as np, matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from sklearn.preprocessing import MinMaxScaler
def cell(path):
    kernel = np.load(path)["embedding/kernel"]
    n = kernel.shape[-1]
    kernel = MinMaxScaler().fit_transform(kernel.reshape(-1, n)).reshape(kernel.shape)
    fig, axes = plt.subplots(8, 16, figsize=(16, 8))
    for i, ax in enumerate(axes.flat):
        ax.imshow(kernel[..., i])
        ax.axis("off")
    fig.savefig(io.BytesIO(), format="png", dpi=72)
    plt.close(fig)
""",
    "grid": r"""
import patchlens
def cell(path):
    patchlens.grid(path)._repr_png_()
""",
    "figure": r"""
import io, matplotlib
matplotlib.use("Agg")
import patchlens
def cell(path):
    patchlens.plot(path).savefig(io.BytesIO(), format="png", dpi=72)
""",
}

HARNESS = r"""
import json, resource, sys, time
t0 = time.perf_counter()
exec(compile(sys.argv[2], "cell", "exec"))
imported = time.perf_counter()
rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t1 = time.perf_counter()
cell(sys.argv[1])
ms = (time.perf_counter() - t1) * 1000
rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"ms": ms, "import_ms": (imported - t0) * 1000, "peak_growth_mib": (rss1 - rss0) / 1024}))
"""


def run(cell: str, path: str) -> dict:
    done = subprocess.run([sys.executable, "-c", HARNESS, path, CELLS[cell]], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{cell} on {path} failed:\n{done.stderr}")
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    if args.markdown:
        print("| file | cell | median ms | (min–max) | peak memory growth | imports |")
        print("|---|---|---|---|---|---|")
    for path in args.files:
        size = os.path.getsize(path) / 1e6
        for cell in CELLS:
            runs = [run(cell, path) for _ in range(args.runs)]
            ms = [r["ms"] for r in runs]
            row = {
                "file": os.path.basename(path),
                "size_mb": round(size, 1),
                "cell": cell,
                "median_ms": round(statistics.median(ms), 1),
                "min_ms": round(min(ms), 1),
                "max_ms": round(max(ms), 1),
                "peak_growth_mib": round(statistics.median(r["peak_growth_mib"] for r in runs), 1),
                "import_ms": round(statistics.median(r["import_ms"] for r in runs)),
            }
            if args.markdown:
                print(
                    f"| {row['file']} ({row['size_mb']} MB) | {cell} | {row['median_ms']} | "
                    f"({row['min_ms']}–{row['max_ms']}) | {row['peak_growth_mib']} MiB | {row['import_ms']} ms |"
                )
            else:
                print(json.dumps(row))


if __name__ == "__main__":
    main()
