"""TFLite fixtures for CI (no TensorFlow here): copies the models make_tflite_fixtures.py wrote with the real
TF converter (tests/fixtures/committed/tflite/) with their expected kernels, damages them on purpose for the
error entries, and (with `big`) grows the ViT-like patch model's filter to 768 filters stored after a 64 MiB
gap past the FlatBuffer, for the bytes-read test. Every edit is tflite_flatbuffer.py's, exact by hand."""
import json
import shutil
import struct
from pathlib import Path

import numpy as np

import tflite_flatbuffer as fb
from fixtures import fixture_entry

HERE = Path(__file__).resolve().parent
COMMITTED = HERE.parents[1] / "tests" / "fixtures" / "committed" / "tflite"
BIG_GAP = 64 << 20


def build(outdir, big=False):
    outdir = Path(outdir)
    expected = json.loads((COMMITTED / "expected.json").read_text())["files"]
    fixtures = []
    for file, entry in expected.items():
        shutil.copyfile(COMMITTED / file, outdir / file)
        tiled = [(item["tensor"], np.load(COMMITTED / item["kernel"])) for item in entry["tiled"]]
        fixtures.append(fixture_entry(outdir, file, entry["default_tensor"], entry["tensors"], tiled,
                                      entry["note"], format="tflite"))
    errors = broken_files(outdir)
    if big:
        fixtures.append(big_fixture(outdir, expected["vit_patch_f32.tflite"]))
    return fixtures, errors


def _stem(b):
    return next(t for n, t in fb.tensors(b).items() if n.endswith("stem_1/convolution"))


def broken_files(outdir):
    errors = []

    def write(file, data, stage, reason):
        (outdir / file).write_bytes(bytes(data))
        errors.append({"file": file, "stage": stage, "reason": reason})

    int8 = (COMMITTED / "cnn_int8.tflite").read_bytes()
    f32 = (COMMITTED / "cnn_f32.tflite").read_bytes()
    write("tflite_cut.tflite", int8[: len(int8) // 2], "open", "cnn_int8.tflite cut in half: its subgraph tables are gone")
    bad = bytearray(int8)
    struct.pack_into("<I", bad, 0, len(bad) + 100)
    write("tflite_root_past_end.tflite", bad, "open", "the root table offset points 100 bytes past the end")
    bad = bytearray(int8)
    root = fb.root(bad)
    struct.pack_into("<i", bad, root, root - (len(bad) + 10))
    write("tflite_vtable_past_end.tflite", bad, "open", "the Model table's vtable offset points past the end")
    bad = bytearray(int8)
    struct.pack_into("<I", bad, fb.field(bad, _stem(bad), fb.TENSOR_BUFFER), 100000)
    write("tflite_buffer_index.tflite", bad, "open", "the stem filter names buffer 100000 of 40-odd")
    bad = bytearray(int8)
    _, _, first = fb.vector(bad, fb.root(bad), fb.MODEL_SUBGRAPHS)
    struct.pack_into("<I", bad, first, 0)
    write("tflite_self_reference.tflite", bad, "open",
          "subgraph 0's offset is 0: the 'table' is the offset itself, its vtable offset 0 points at itself")
    bad = bytearray(int8)
    count_at, _, _ = fb.vector(bad, fb.subgraph0(bad), fb.SUBGRAPH_TENSORS)
    struct.pack_into("<I", bad, count_at, 0xFFFFFFF0)
    write("tflite_tensor_count.tflite", bad, "open", "the tensors vector claims 4294967280 tables")
    bad = bytearray(f32)
    count_at, n, first = fb.vector(bad, _stem(bad), fb.TENSOR_SHAPE)
    struct.pack_into("<i", bad, first, 49)
    write("tflite_shape_mismatch.tflite", bad, "draw", "the float32 stem filter's shape says 49 filters, its buffer holds 48")
    bad = bytearray(int8)
    quant = fb.follow(bad, fb.field(bad, _stem(bad), fb.TENSOR_QUANTIZATION))
    for slot in (fb.QUANT_SCALE, fb.QUANT_ZERO_POINT):
        count_at, n, _ = fb.vector(bad, quant, slot)
        struct.pack_into("<I", bad, count_at, n - 1)
    write("tflite_scale_count.tflite", bad, "draw", "the int8 stem filter has 47 scales and zero points for 48 channels")
    bad = bytearray(int8)
    quant = fb.follow(bad, fb.field(bad, _stem(bad), fb.TENSOR_QUANTIZATION))
    count_at, n, _ = fb.vector(bad, quant, fb.QUANT_ZERO_POINT)
    struct.pack_into("<I", bad, count_at, n - 1)
    write("tflite_zero_point_count.tflite", bad, "draw", "the int8 stem filter has 48 scales but 47 zero points")
    moved = (COMMITTED / "cnn_int8_offset_buffer.tflite").read_bytes()
    write("tflite_offset_past_end.tflite", moved[:-100], "draw",
          "cnn_int8_offset_buffer.tflite cut 100 bytes short: the moved buffer's offset + size run past the end")
    return errors


def big_fixture(outdir, vit):
    """The ViT-like patch model with its filter grown to (768, 16, 16, 3) float32, moved after a 64 MiB gap."""
    data = (COMMITTED / "vit_patch_f32.tflite").read_bytes()
    name = vit["default_tensor"]
    data = fb.set_shape(data, name, [768, 16, 16, 3])
    kernel = np.random.default_rng(768).normal(0, 0.02, (768, 16, 16, 3)).astype(np.float32)
    data = fb.move_buffer_past_end(data, fb.tensor_buffer(data, fb.tensors(data)[name]), kernel.tobytes(), gap=BIG_GAP)
    file = "vit_patch_big.tflite"
    (outdir / file).write_bytes(data)
    tensors = [dict(t, shape=[768, 16, 16, 3]) if t["name"] == name else t for t in vit["tensors"]]
    return {"file": file, "default_tensor": name, "tensors": tensors, "tiles": [], "big": True, "format": "tflite",
            "kernel_bytes": kernel.nbytes,
            "note": "vit_patch_f32.tflite, patch filter grown to 768 filters, its data after a 64 MiB gap past the "
                    "FlatBuffer (Buffer{offset, size})"}
