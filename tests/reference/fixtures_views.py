"""Expected bytes of the filters view's other normalisations and its norm order (tiles.py decides them), for
fixtures make_fixtures.py has already written plus the bundled sample. Writes views.json beside the manifest:
[{file, tensor, kernel_shape, global, symmetric, norm_order}], the tile files as <stem>.<k>.<mode>.u8."""
import json
import warnings
from pathlib import Path

import numpy as np

from tiles import expected_norm_order, expected_tiles_global, expected_tiles_symmetric, load_as_kernel

HERE = Path(__file__).resolve().parent
# dtypes and edge cases: NaN, constant and overflowing filters (special_*), f64, f16, bf16, Fortran big-endian,
# grey filters, and the real sample.
CASES = [
    ("stored_f32.npz", "embedding/kernel"),
    ("special_f32.npz", "embedding/kernel"),
    ("special_f64.npz", "embedding/kernel"),
    ("f64.npz", "embedding/kernel"),
    ("f16.npz", "embedding/kernel"),
    ("bf16.npz", "embedding/kernel"),
    ("fortran_big_endian_f64.npz", "embedding/kernel"),
    ("grayscale.npz", "embedding/kernel"),
    ("dinov2_vits14.npz", "embedding/kernel"),
]


def filter_stats(kernel_hwcn, count=16):
    """The inspector's numbers for the first filters: [nanmin, nanmax, mean, L2 norm] in float64; JSON has no NaN
    or infinity, so those are the strings "nan", "inf", "-inf"."""
    k = np.asarray(kernel_hwcn).astype(np.float64)
    flat = k.reshape(-1, k.shape[3])[:, :count]
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        rows = np.stack([np.nanmin(flat, axis=0), np.nanmax(flat, axis=0), flat.mean(axis=0),
                         np.linalg.norm(flat, axis=0)], axis=1)
    return [[float(v) if np.isfinite(v) else str(v) for v in row] for row in rows]


def build(outdir, big):
    outdir = Path(outdir)
    cases = []
    for k, (file, tensor) in enumerate(CASES):
        path = outdir / file
        if not path.exists():
            raise FileNotFoundError(f"{path}: fixtures_views.py runs after fixtures.py has written it")
        with np.load(path, allow_pickle=False) as z:
            kernel = load_as_kernel(z[tensor])
        entry = {"file": file, "tensor": tensor, "kernel_shape": list(kernel.shape),
                 "norm_order": expected_norm_order(kernel), "stats": filter_stats(kernel)}
        for mode, expected in (("global", expected_tiles_global), ("symmetric", expected_tiles_symmetric)):
            name = f"{path.stem}.views{k}.{mode}.u8"
            (outdir / name).write_bytes(expected(kernel).tobytes())
            entry[mode] = name
        cases.append(entry)
    (outdir / "views.json").write_text(json.dumps({"cases": cases, "difference": difference(outdir)}, indent=1))
    return [], []


def difference(outdir):
    """A pair of checkpoints of the same shape — the real sample and a "fine-tuned" copy (some filters nudged, one
    left alone, one zeroed in both) — with A − B's symmetric tiles, each filter's cosine similarity and the
    most-changed-first order."""
    with np.load(outdir / "dinov2_vits14.npz") as z:
        a = z["embedding/kernel"].astype(np.float32)
    rng = np.random.default_rng(70)
    n = a.shape[3]
    nudge = rng.normal(0, 1, a.shape).astype(np.float32) * (rng.uniform(0, 0.5, n).astype(np.float32) * a.std())
    b = (a + nudge).astype(np.float32)
    b[..., 3] = a[..., 3]          # unchanged: similarity 1
    a[..., 7] = 0                  # zero in both: similarity undefined (NaN), drawn last
    b[..., 7] = 0
    np.savez(outdir / "compare_a.npz", **{"embedding/kernel": a})
    np.savez(outdir / "compare_b.npz", **{"embedding/kernel": b})
    diff = a - b
    (outdir / "compare.symmetric.u8").write_bytes(expected_tiles_symmetric(diff).tobytes())
    x, y = a.reshape(-1, n).astype(np.float64), b.reshape(-1, n).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        cosine = (x * y).sum(axis=0) / np.sqrt((x * x).sum(axis=0) * (y * y).sum(axis=0))
    return {"a": "compare_a.npz", "b": "compare_b.npz", "tensor": "embedding/kernel", "kernel_shape": list(a.shape),
            "symmetric": "compare.symmetric.u8", "cosine": [float(c) if np.isfinite(c) else str(c) for c in cosine],
            "order": [int(i) for i in np.argsort(cosine, kind="stable")]}
