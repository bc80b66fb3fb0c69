"""Writes a synthetic AugReg ViT checkpoint (.npz, float32): the exact parameter tree and shapes of the
published B/16 (~346 MB) or L/16 (~1.2 GB) files, random values, for benchmarks and big-file tests.
Usage: python benches/augreg.py OUT.npz --variant B/16 [--seed 0]"""
import argparse
import sys
import zipfile

import numpy as np

# ViT variants as published with AugReg (Steiner et al., "How to train your ViT?"), ImageNet-1k head.
VARIANTS = {
    "B/16": {"width": 768, "depth": 12, "mlp": 3072, "heads": 12},
    "L/16": {"width": 1024, "depth": 24, "mlp": 4096, "heads": 16},
}
PATCH = 16
TOKENS = 197  # 14 x 14 patches of a 224 x 224 image, plus the class token
CLASSES = 1000
CHUNK = 1 << 20  # values generated per step, so memory stays ~4 MB whatever the file size


def param_shapes(variant):
    """{name: shape} of the AugReg parameter tree, in the sorted order the files list them."""
    v = VARIANTS[variant]
    d, m, h = v["width"], v["mlp"], v["heads"]
    shapes = {
        "cls": (1, 1, d),
        "embedding/kernel": (PATCH, PATCH, 3, d),
        "embedding/bias": (d,),
        "Transformer/posembed_input/pos_embedding": (1, TOKENS, d),
        "Transformer/encoder_norm/scale": (d,),
        "Transformer/encoder_norm/bias": (d,),
        "head/kernel": (d, CLASSES),
        "head/bias": (CLASSES,),
    }
    for i in range(v["depth"]):
        block = f"Transformer/encoderblock_{i}"
        for norm in ("LayerNorm_0", "LayerNorm_2"):
            shapes[f"{block}/{norm}/scale"] = (d,)
            shapes[f"{block}/{norm}/bias"] = (d,)
        shapes[f"{block}/MlpBlock_3/Dense_0/kernel"] = (d, m)
        shapes[f"{block}/MlpBlock_3/Dense_0/bias"] = (m,)
        shapes[f"{block}/MlpBlock_3/Dense_1/kernel"] = (m, d)
        shapes[f"{block}/MlpBlock_3/Dense_1/bias"] = (d,)
        attention = f"{block}/MultiHeadDotProductAttention_1"
        for proj in ("query", "key", "value"):
            shapes[f"{attention}/{proj}/kernel"] = (d, h, d // h)
            shapes[f"{attention}/{proj}/bias"] = (h, d // h)
        shapes[f"{attention}/out/kernel"] = (h, d // h, d)
        shapes[f"{attention}/out/bias"] = (d,)
    return {name: shapes[name] for name in sorted(shapes)}


def write_params(path, shapes, seed):
    """Writes {name: shape} as float32 arrays, byte-identical to np.savez(path, **arrays) for the same
    values (same zipfile calls and .npy header), but streamed so no array is held whole in memory."""
    rng = np.random.default_rng(seed)
    buf = np.empty(CHUNK, dtype=np.float32)
    with zipfile.ZipFile(path, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, shape in shapes.items():
            header = {"descr": "<f4", "fortran_order": False, "shape": tuple(shape)}
            # np.savez: zipf.open(key + '.npy', 'w', force_zip64=True), then format.write_array
            with zf.open(name + ".npy", "w", force_zip64=True) as fid:
                np.lib.format.write_array_header_1_0(fid, header)
                left = int(np.prod(shape, dtype=np.int64))
                while left > 0:
                    part = buf[: min(left, CHUNK)]
                    rng.standard_normal(dtype=np.float32, out=part)
                    part *= np.float32(0.02)  # weight-like magnitudes
                    if name.endswith("/scale"):
                        part += np.float32(1.0)  # LayerNorm scales sit around 1
                    fid.write(part.data)
                    left -= part.size


def write_augreg(path, variant="B/16", seed=0):
    """Writes the AugReg `variant` ("B/16" or "L/16") tree to `path`; returns {name: shape}."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}, expected one of {sorted(VARIANTS)}")
    shapes = param_shapes(variant)
    write_params(path, shapes, seed)
    return shapes


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="output .npz path")
    parser.add_argument("--variant", choices=sorted(VARIANTS), default="B/16")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    shapes = write_augreg(args.out, args.variant, args.seed)
    count = sum(int(np.prod(s)) for s in shapes.values())
    print(f"{args.out}: AugReg {args.variant}, {len(shapes)} arrays, {count:,} float32 values", file=sys.stderr)


if __name__ == "__main__":
    main()
