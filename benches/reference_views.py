"""The reference Python for each view of the page, timed on the same AugReg files the page is timed on: load
what the view draws with np.load (the kernel `embedding/kernel`, or the position embedding
`Transformer/posembed_input/pos_embedding`), then compute that view's pixels with the formulas the tests check
patchlens against (README "Views of the filters", tests/reference/tiles.py, fixtures_pca.py,
fixtures_positions.py). Filter views make the first 128 tiles as uint8, as benches/reference.py does; the
principal components their 28 tiles; the position views their whole image (cosine: the 14 × 14 tiles laid out
with 1-px gaps). Each run is a fresh process (warm OS cache); imports are not counted, the load is. BLAS runs
on one thread by default, as the page's module does: on this 2-core machine shared with builds, OpenBLAS's two
spinning threads made PCA 10–25× slower whenever another process ran (--blas-threads 0: the library's default).
Prints one JSON line per view and file, or with --markdown a table.
Usage: python benches/reference_views.py [--runs 7] [--views filters,pca,...] [--blas-threads 1] [--markdown] FILE.npz ..."""
import argparse
import json
import os
import statistics
import subprocess
import sys

# The views, in the order the tables list them; benches/views.mjs has the same names with their page address.
VIEWS = ["filters", "global", "symmetric", "norm", "channels", "pca", "positions-cosine", "positions-dot"]

ONE_RUN = r"""
import json, sys, time
import numpy as np
from sklearn.preprocessing import MinMaxScaler

view, path = sys.argv[1], sys.argv[2]
if view == "pca":
    from sklearn.decomposition import PCA
elif view.startswith("positions"):
    from matplotlib import colormaps
    from matplotlib.colors import Normalize
COUNT = 128  # the page's default number of filters
COMPONENTS = 28  # the page's default number of principal components
GAP = 1  # the position figure's black gap between tiles


def to_bytes(unit):
    # imshow's conversion of RGB floats: clip to [0, 1], times 255, truncate
    return (np.clip(unit, 0, 1) * 255).astype(np.uint8)


def per_filter(k):
    return MinMaxScaler().fit_transform(k.reshape(-1, k.shape[-1])).reshape(k.shape)


def kernel_view(k):
    if view == "filters":
        return to_bytes(per_filter(k)[..., :COUNT])
    if view == "global":
        return to_bytes(MinMaxScaler().fit_transform(k.reshape(-1, 1)).reshape(k.shape)[..., :COUNT])
    if view == "symmetric":
        a = np.abs(k).max(axis=(0, 1, 2))
        return to_bytes(np.where(a == 0, k.dtype.type(0.5), (k / a + k.dtype.type(1)) * k.dtype.type(0.5))[..., :COUNT])
    if view == "norm":
        order = np.argsort(-np.linalg.norm(k.reshape(-1, k.shape[-1]).astype(np.float64), axis=0), kind="stable")
        return to_bytes(per_filter(k)[..., order[:COUNT]])
    if view == "channels":
        # each filter's three channels as grey tiles: (n, c, kh, kw)
        return np.ascontiguousarray(to_bytes(per_filter(k)[..., :COUNT]).transpose(3, 2, 0, 1))
    if view == "pca":
        kh, kw, c, n = k.shape
        x = k.astype(np.float64).transpose(3, 0, 1, 2).reshape(n, kh * kw * c)
        components = PCA(n_components=COMPONENTS, svd_solver="full").fit(x).components_
        return to_bytes(per_filter(components.reshape(COMPONENTS, kh, kw, c).transpose(1, 2, 3, 0)))
    raise SystemExit(f"unknown view {view}")


def positions_view(embedding):
    p = np.asarray(embedding, np.float64).reshape(-1, embedding.shape[-1])
    side = int(round((p.shape[0] - 1) ** 0.5))
    p = p[p.shape[0] - side * side:]  # AugReg's class token leads
    if view == "positions-dot":
        gram = p @ p.T
        finite = gram[np.isfinite(gram)]
        return colormaps["inferno"](Normalize(float(finite.min()), float(finite.max()))(gram), bytes=True)
    unit = p / np.linalg.norm(p, axis=1, keepdims=True)
    rgba = colormaps["viridis"](Normalize(-1, 1)(unit @ unit.T), bytes=True)
    edge = side * side + (side - 1) * GAP
    image = np.zeros((edge, edge, 4), np.uint8)
    image[..., 3] = 255
    for a in range(side * side):
        r, c = divmod(a, side)
        y, x = r * (side + GAP), c * (side + GAP)
        image[y:y + side, x:x + side] = rgba[a].reshape(side, side, 4)
    return image


t0 = time.perf_counter()
with np.load(path) as z:
    if view.startswith("positions"):
        pixels = positions_view(z["Transformer/posembed_input/pos_embedding"])
    else:
        pixels = kernel_view(z["embedding/kernel"])
ms = (time.perf_counter() - t0) * 1000
print(json.dumps({"ms": ms, "shape": list(pixels.shape)}))
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--views", default=",".join(VIEWS), help="comma-separated, of: " + ", ".join(VIEWS))
    parser.add_argument("--blas-threads", type=int, default=1, help="BLAS threads per run; 0: the library's default")
    parser.add_argument("--markdown", action="store_true", help="print a markdown table instead of JSON lines")
    args = parser.parse_args()
    env = dict(os.environ)
    if args.blas_threads > 0:
        for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env[name] = str(args.blas_threads)
    views = args.views.split(",")
    unknown = [v for v in views if v not in VIEWS]
    if unknown:
        parser.error(f"unknown views: {', '.join(unknown)}")
    if args.markdown:
        print("| view | file | runs | median ms (min–max) | pixels |\n|---|---|---|---|---|")
    for view in views:
        for path in args.files:
            results = []
            for _ in range(args.runs):
                out = subprocess.run([sys.executable, "-c", ONE_RUN, view, path], check=True, capture_output=True,
                                     text=True, env=env)
                results.append(json.loads(out.stdout))
            ms = [r["ms"] for r in results]
            summary = {"view": view, "file": os.path.basename(path), "runs": args.runs,
                       "median_ms": statistics.median(ms), "min_ms": min(ms), "max_ms": max(ms),
                       "shape": results[0]["shape"], "blas_threads": args.blas_threads or "default"}
            if args.markdown:
                print(f"| {view} | {summary['file']} | {args.runs} | {summary['median_ms']:.1f} "
                      f"({min(ms):.1f}–{max(ms):.1f}) | {'×'.join(map(str, summary['shape']))} |")
            else:
                print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
