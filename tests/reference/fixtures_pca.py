"""Reference principal components of the filters (issue 7, the ViT paper's Figure 7 left), by scikit-learn's
PCA(svd_solver="full") in float64 on X = the n filters flattened in (kh, kw, c) order. Writes, per case,
the components' expected tiles (`pca_<case>.tiles.u8`, drawn by tiles.expected_tiles exactly as filters are),
the components themselves (`pca_<case>.components.f64`, little-endian K × d) and pca.json with the
explained-variance ratios. Kernels: the DINOv2 sample, MTCNN P-Net/O-Net's conv1 (from the .npy that
make_torch_fixtures.py wrote with torch; CI has no torch) and random AugReg-shaped kernels, whose top
eigenvalues are a fraction of a percent apart. Adds no manifest entries: pca.json is its own index."""
import json
from pathlib import Path

import numpy as np
import sklearn
from sklearn.decomposition import PCA

from fixtures import SAMPLE
from tiles import expected_tiles

HERE = Path(__file__).resolve().parent
COMMITTED = HERE.parents[1] / "tests" / "fixtures" / "committed" / "torch"

# read in scikit-learn 1.9.1 sklearn/decomposition/_pca.py (_fit_full, svd_solver="full"):
#   X_centered = X - X.mean(axis=0); U, S, Vt = scipy.linalg.svd(X_centered, full_matrices=False)
#   explained_variance_ = S**2 / (n_samples - 1)
#   U, Vt = svd_flip(U, Vt, u_based_decision=False)  # sklearn/utils/extmath.py: each row of Vt is
#       multiplied by the sign of its largest-magnitude entry (np.argmax of |Vt|: the first of equals)
#   explained_variance_ratio_ = explained_variance_ / explained_variance_.sum()   (sum over ALL of S)
#   components_ = Vt[:n_components]; 0 <= n_components <= min(n_samples, n_features) or ValueError
SKLEARN_VERSION_CHECKED = "1.9.1"


def samples(kernel):
    """X: one row per filter, (kh, kw, c) flattened in C order, float64."""
    kh, kw, c, n = kernel.shape
    return np.ascontiguousarray(kernel.astype(np.float64).transpose(3, 0, 1, 2).reshape(n, kh * kw * c))


def component_tiles(components, shape):
    """uint8 (K, kh, kw, c): the components drawn as filters are, each min-max scaled on its own."""
    kh, kw, c, _ = shape
    return expected_tiles(components.reshape(len(components), kh, kw, c).transpose(1, 2, 3, 0))


def write_case(outdir, name, file, kernel, count, note, **extra):
    if sklearn.__version__ != SKLEARN_VERSION_CHECKED:
        raise AssertionError(f"PCA's conventions were read in scikit-learn {SKLEARN_VERSION_CHECKED}, "
                             f"this is {sklearn.__version__}: read _pca.py and svd_flip again")
    x = samples(kernel)
    pca = PCA(n_components=count, svd_solver="full").fit(x)
    assert pca.components_.dtype == np.float64
    (outdir / f"pca_{name}.tiles.u8").write_bytes(component_tiles(pca.components_, kernel.shape).tobytes())
    (outdir / f"pca_{name}.components.f64").write_bytes(pca.components_.astype("<f8").tobytes())
    variance = pca.explained_variance_
    gaps = variance[:-1] / variance[1:] - 1
    return {"name": name, "file": file, "kernel_shape": list(kernel.shape), "count": count,
            "tiles": f"pca_{name}.tiles.u8", "components": f"pca_{name}.components.f64",
            "explained_variance_ratio": pca.explained_variance_ratio_.tolist(),
            "relative_gaps": [float(gaps.min()), float(gaps.max())] if len(gaps) else [],
            "float32_pipeline": float32_pipeline(kernel, count, pca), "note": note, **extra}


def float32_pipeline(kernel, count, reference):
    """How far the same PCA computed in float32 lands (scikit-learn keeps float32 input in float32), and the
    covariance route (eigh of XᵀX) in float32: largest component difference and tile levels off by more
    than one, against the float64 reference. Recorded to say why patchlens computes in float64."""
    x32 = samples(kernel).astype(np.float32)
    svd32 = PCA(n_components=count, svd_solver="full").fit(x32).components_.astype(np.float64)
    centred = x32 - x32.mean(axis=0)
    _, vectors = np.linalg.eigh(centred.T @ centred)
    eigh32 = vectors[:, ::-1].T[:count].astype(np.float64)
    eigh32 *= np.sign(eigh32[np.arange(count), np.argmax(np.abs(eigh32), axis=1)])[:, None]
    want = component_tiles(reference.components_, kernel.shape).astype(int)
    report = {}
    for route, components in (("svd", svd32), ("eigh_covariance", eigh32)):
        levels = np.abs(component_tiles(components, kernel.shape).astype(int) - want)
        report[route] = {"max_component_difference": float(np.abs(components - reference.components_).max()),
                         "max_level_difference": int(levels.max()), "pixels_off_by_more_than_1": int((levels > 1).sum())}
    return report


def random_kernel(outdir, name, seed, n):
    """An AugReg-shaped (16, 16, 3, n) float32 kernel of standard normal values, saved as a bare .npy."""
    kernel = np.random.default_rng(seed).standard_normal((16, 16, 3, n)).astype(np.float32)
    np.save(outdir / f"pca_{name}.npy", kernel)
    return kernel


def build(outdir, big=False):
    outdir = Path(outdir)
    with np.load(SAMPLE) as z:
        dinov2 = z["embedding/kernel"]
    cases = [
        write_case(outdir, "dinov2", "dinov2_vits14.npz", dinov2, 28,
                   "the bundled DINOv2 ViT-S/14 sample (14x14x3x384), as copied by fixtures.py"),
        # P-Net has 10 filters: centred, they span at most 9 directions, so the 10th component is arbitrary.
        write_case(outdir, "pnet", "pnet.pt", np.load(COMMITTED / "pnet_pt.0.kernel.npy"), 9,
                   "MTCNN P-Net conv1 (3x3x3x10), read by patchlens from the legacy torch file"),
        write_case(outdir, "onet", "onet.pt", np.load(COMMITTED / "onet_pt.0.kernel.npy"), 27,
                   "MTCNN O-Net conv1 (3x3x3x32): all 27 components, the last ~1100x smaller than the first"),
        write_case(outdir, "random_b16", "pca_random_b16.npy", random_kernel(outdir, "random_b16", 7016, 768), 28,
                   "standard normal 16x16x3x768 (B/16-shaped): its top eigenvalues are 0.04-2.4 % apart"),
    ]
    if big:
        cases.append(write_case(outdir, "random_l16", "pca_random_l16.npy",
                                random_kernel(outdir, "random_l16", 7024, 1024), 28,
                                "standard normal 16x16x3x1024 (L/16-shaped)", big=True))
    index = {"generator": "tests/reference/fixtures_pca.py", "scikit-learn": sklearn.__version__,
             "numpy": np.__version__, "cases": cases}
    (outdir / "pca.json").write_text(json.dumps(index, indent=1) + "\n")
    return [], []
