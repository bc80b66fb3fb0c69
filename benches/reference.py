"""The reference notebook's pipeline, timed on the same files the page is timed on: np.load the .npz,
take embedding/kernel, MinMaxScaler on reshape(-1, n), clip and convert the first 128 tiles to bytes.
Each run is a fresh process (cold interpreter state, warm OS cache, like a re-drop); imports are not
counted. Prints one JSON line per file. Usage: python benches/reference.py [--runs 7] FILE.npz ..."""
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
rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
kernel = np.load(sys.argv[1])["embedding/kernel"]
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
    args = parser.parse_args()
    if args.markdown:
        print("| file | size | median ms | peak RSS growth |\n|---|---|---|---|")
    for path in args.files:
        results = []
        for _ in range(args.runs):
            out = subprocess.run([sys.executable, "-c", ONE_RUN, path], check=True, capture_output=True, text=True)
            results.append(json.loads(out.stdout))
        summary = {
            "file": path,
            "median_ms": statistics.median(r["ms"] for r in results),
            "peak_rss_growth_mib": statistics.median(r["peak_rss_growth_kib"] for r in results) / 1024,
            "kernel_bytes": results[0]["kernel_bytes"],
            "runs": args.runs,
        }
        if args.markdown:
            size_mb = os.path.getsize(path) / 1e6
            name = os.path.basename(path)
            print(f"| {name} | {size_mb:.0f} MB | {summary['median_ms']:.1f} | {summary['peak_rss_growth_mib']:.1f} MiB |")
        else:
            print(json.dumps(summary))


if __name__ == "__main__":
    main()
