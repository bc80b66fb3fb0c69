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
    (outdir / "views.json").write_text(json.dumps(cases, indent=1))
    return [], []
