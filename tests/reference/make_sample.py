"""Converts the shared DINOv2 ViT-S/14 patch embedding (safetensors, float16, torch layout (n, c, kh, kw))
into the AugReg-layout sample www/samples/dinov2-vits14-patch-embed.npz: a float32 `embedding/kernel`
(14, 14, 3, 384) and, beside it, the same backbone's float16 position embedding
`Transformer/posembed_input/pos_embedding` (1, 1370, 384) from the committed
tests/fixtures/committed/dinov2/dinov2-vits14-pos-embed.safetensors (made by extract_dinov2_positions.py), so every
view of the page works on the sample. Written with np.savez, byte-reproducible.
Usage: make_sample.py [SAFETENSORS] [--positions SAFETENSORS] [--out NPZ] [--check]"""
import argparse
import hashlib
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import safetensors.numpy

REPO = Path(__file__).resolve().parents[2]
DEFAULT_SOURCE = REPO.parent / "shared" / "samples" / "dinov2-small-patch-embed.safetensors"
DEFAULT_OUT = REPO / "www" / "samples" / "dinov2-vits14-patch-embed.npz"
DEFAULT_POSITIONS = REPO / "tests" / "fixtures" / "committed" / "dinov2" / "dinov2-vits14-pos-embed.safetensors"
SOURCE_TENSOR = "embeddings.patch_embeddings.projection.weight"
POSITIONS_TENSOR = "Transformer/posembed_input/pos_embedding"  # AugReg's name: the position view finds it by it
POSITIONS_SHAPE = (1, 1 + 37 * 37, 384)  # the class token, then 37 × 37 patches (518-px inputs, 14-px patches)
SOURCE_SHAPE = (384, 3, 14, 14)  # torch Conv2d weight: (out channels, in channels, kh, kw)
# np.savez names members through zipfile.ZipInfo(name), whose default date is this; any other date would
# mean the writer stamped the current time and the sample would change on every run.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def to_augreg_layout(weight):
    """(n, c, kh, kw) -> (kh, kw, c, n) float32; float16 -> float32 is exact."""
    return np.ascontiguousarray(weight.transpose(2, 3, 1, 0).astype(np.float32))


def write_sample(source, positions_source, out):
    tensors = safetensors.numpy.load_file(str(source))
    weight = tensors[SOURCE_TENSOR]
    if weight.dtype != np.float16 or weight.shape != SOURCE_SHAPE:
        raise ValueError(f"{source}: expected float16 {SOURCE_SHAPE}, got {weight.dtype} {weight.shape}")
    kernel = to_augreg_layout(weight)
    if not np.array_equal(kernel.astype(np.float16), weight.transpose(2, 3, 1, 0)):
        raise AssertionError("float16 -> float32 widening changed a value")

    positions = safetensors.numpy.load_file(str(positions_source))[POSITIONS_TENSOR]
    if positions.dtype != np.float16 or positions.shape != POSITIONS_SHAPE:
        raise ValueError(f"{positions_source}: expected float16 {POSITIONS_SHAPE}, got {positions.dtype} {positions.shape}")

    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, **{"embedding/kernel": kernel, POSITIONS_TENSOR: positions})
    with zipfile.ZipFile(out) as zf:
        dates = {info.date_time for info in zf.infolist()}
    if dates != {ZIP_EPOCH}:
        raise AssertionError(f"{out}: np.savez stamped {dates}, output would not be reproducible")
    return kernel, positions


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", nargs="?", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--positions", type=Path, default=DEFAULT_POSITIONS)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--check", action="store_true", help="rebuild into a temporary file and fail unless it equals --out")
    args = parser.parse_args(argv)
    if args.out.suffix != ".npz":
        parser.error("--out must end in .npz (np.savez would append it)")
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            fresh = Path(tmp) / "sample.npz"
            write_sample(args.source, args.positions, fresh)
            if fresh.read_bytes() != args.out.read_bytes():
                sys.exit(f"{args.out} differs from what {Path(__file__).name} makes from {args.source} and {args.positions}; rerun it and commit")
        print(f"{args.out}: matches its source", file=sys.stderr)
        return
    kernel, positions = write_sample(args.source, args.positions, args.out)
    digest = hashlib.sha256(args.out.read_bytes()).hexdigest()
    print(f"{args.out}: embedding/kernel {kernel.shape} float32, {POSITIONS_TENSOR} {positions.shape} float16, "
          f"{args.out.stat().st_size} bytes, sha256 {digest}", file=sys.stderr)


if __name__ == "__main__":
    main()
