"""The reference notebook's pipeline, timed on the same files the page is timed on: load the kernel the way
the notebook (or the format's own library) does — np.load(f)["embedding/kernel"] for AugReg .npz;
torch.load(f)["patch_embed.proj.weight"].numpy().transpose(2, 3, 1, 0) for DINO's .pth, as the notebook
does; safe_open(f).get_tensor(…).transpose(2, 3, 1, 0) for .safetensors — then MinMaxScaler on
reshape(-1, n), clip and convert the first 128 tiles to bytes. Each run is a fresh process (cold
interpreter state, warm OS cache, like a re-drop); imports are not counted. `.pth` files need torch:
they run under --torch-python (skipped without it). Prints one JSON line per file.
Usage: python benches/reference.py [--runs 7] [--torch-python PY] FILE ..."""
import argparse
import json
import os
import statistics
import subprocess
import sys

ONE_RUN = r"""
import json, resource, sys, time
import numpy as np
from sklearn.preprocessing import MinMaxScaler
path = sys.argv[1]
if path.endswith(".pth"):
    import torch
elif path.endswith(".safetensors"):
    from safetensors import safe_open
rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
if path.endswith(".npz"):
    kernel = np.load(path)["embedding/kernel"]
elif path.endswith(".pth"):
    kernel = torch.load(path, map_location="cpu")["patch_embed.proj.weight"].numpy().transpose(2, 3, 1, 0)
else:
    with safe_open(path, "np") as f:
        kernel = f.get_tensor("vit.embeddings.patch_embeddings.projection.weight").transpose(2, 3, 1, 0)
n = kernel.shape[-1]
scaled = MinMaxScaler().fit_transform(kernel.reshape(-1, n)).reshape(kernel.shape)
tiles = (np.clip(scaled[..., :128], 0, 1) * 255).astype(np.uint8)
ms = (time.perf_counter() - t0) * 1000
rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"ms": ms, "peak_rss_growth_kib": rss1 - rss0, "kernel_bytes": kernel.nbytes}))
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--markdown", action="store_true", help="print a markdown table instead of JSON lines")
    parser.add_argument("--torch-python", help="a Python with torch (and numpy, scikit-learn) for .pth files")
    parser.add_argument("--json-out", help="also write one JSON line per file here (benches/drop.mjs --reference)")
    args = parser.parse_args()
    json_out = open(args.json_out, "w") if args.json_out else None
    if args.markdown:
        print("| file | size | median ms | peak RSS growth |\n|---|---|---|---|")
    for path in args.files:
        python = sys.executable
        if path.endswith(".pth"):
            if not args.torch_python:
                print(f"| {os.path.basename(path)} | (skipped: no --torch-python) | | |" if args.markdown else "{}")
                continue
            python = args.torch_python
        results = []
        for _ in range(args.runs):
            out = subprocess.run([python, "-c", ONE_RUN, path], check=True, capture_output=True, text=True)
            results.append(json.loads(out.stdout))
        summary = {
            "file": path,
            "median_ms": statistics.median(r["ms"] for r in results),
            "peak_rss_growth_mib": statistics.median(r["peak_rss_growth_kib"] for r in results) / 1024,
            "kernel_bytes": results[0]["kernel_bytes"],
            "runs": args.runs,
        }
        if json_out:
            json_out.write(json.dumps(summary) + "\n")
        if args.markdown:
            size_mb = os.path.getsize(path) / 1e6
            name = os.path.basename(path)
            print(f"| {name} | {size_mb:.0f} MB | {summary['median_ms']:.1f} | {summary['peak_rss_growth_mib']:.1f} MiB |")
        else:
            print(json.dumps(summary))


if __name__ == "__main__":
    main()
