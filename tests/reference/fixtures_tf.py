"""TensorFlow fixtures for CI (no TensorFlow here): copies the checkpoints make_tf_fixtures.py wrote with real
TF (tests/fixtures/committed/tf/: TF1 Saver float32 / half types / 2 shards, a TF2 tf_keras checkpoint, a
SavedModel), with manifest entries whose companions are their data files (and a SavedModel's other files);
builds damaged copies (block checksum, restart count, footer magic, an entry past its data file, a tensor
checksum); and, with `big`, an AugReg ViT-B/16-shaped checkpoint (~346 MB) written by tf_bundle_writer.py,
which make_tf_fixtures.py checks byte for byte against TensorFlow's own files."""
import json
import shutil
import struct
from pathlib import Path

import ml_dtypes
import numpy as np

import tf_bundle_writer
from fixtures import fixture_entry

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
COMMITTED = REPO / "tests" / "fixtures" / "committed" / "tf"
CHUNK = 1 << 20  # values generated per step for the big file


def load_kernel(item):
    array = np.load(COMMITTED / item["kernel"])
    return array.view(ml_dtypes.bfloat16) if item["dtype"] == "bfloat16" else array


def build(outdir, big=False):
    outdir = Path(outdir)
    expected = json.loads((COMMITTED / "expected.json").read_text())["files"]
    fixtures = []
    for file, entry in expected.items():
        for name in [file] + entry["companions"]:
            shutil.copyfile(COMMITTED / name, outdir / name)
        tiled = [(item["tensor"], load_kernel(item)) for item in entry["tiled"]]
        # No "format" key: tests/torch.rs takes entries that have one for torch files opened alone.
        fixtures.append(fixture_entry(outdir, file, entry["default_tensor"], entry["tensors"], tiled, entry["note"],
                                      companions=entry["companions"]))
    errors = broken_files(outdir)
    if big:
        fixtures.append(big_fixture(outdir))
    return fixtures, errors


def _reseal(index, offset, size):
    """Rewrites the checksum of the block at (offset, size) to match its (edited) contents."""
    contents = bytes(index[offset:offset + size + 1])
    index[offset + size + 1:offset + size + 5] = struct.pack("<I", tf_bundle_writer.mask(
        tf_bundle_writer.crc32c(contents)))


def broken_files(outdir):
    source = (COMMITTED / "tf1_f32.index").read_bytes()
    data = (COMMITTED / "tf1_f32.data-00000-of-00001").read_bytes()
    errors = []
    entries = {key: (value, block) for key, value, block in tf_bundle_writer.read_table(source)}
    first_at, first_block_size = entries[b""][1]

    bad = bytearray(source)
    bad[20] ^= 0x20  # inside a key: the block's checksum no longer matches
    (outdir / "tf_bad_block_crc.index").write_bytes(bad)
    errors.append({"file": "tf_bad_block_crc.index", "stage": "open", "reason": "a data block's crc32c is wrong"})

    bad = bytearray(source)
    count_at = first_at + first_block_size - 4
    bad[count_at:count_at + 4] = struct.pack("<I", 0x10000)
    _reseal(bad, first_at, first_block_size)
    (outdir / "tf_bad_restarts.index").write_bytes(bad)
    errors.append({"file": "tf_bad_restarts.index", "stage": "open",
                   "reason": "a data block claims more restart points than it holds (checksum resealed)"})

    bad = bytearray(source)
    bad[-3] ^= 0xFF
    (outdir / "tf_bad_magic.index").write_bytes(bad)
    errors.append({"file": "tf_bad_magic.index", "stage": "open", "reason": "the footer's magic number is wrong"})

    (outdir / "tf_short_data.index").write_bytes(source)
    (outdir / "tf_short_data.data-00000-of-00001").write_bytes(data[:len(data) // 2])
    errors.append({"file": "tf_short_data.index", "companions": ["tf_short_data.data-00000-of-00001"],
                   "stage": "draw", "reason": "the kernel's entry runs past the end of its data file"})

    flipped = bytearray(data)
    kernel_at = tf_bundle_writer.entry_fields(entries[b"embedding/kernel"][0])[4]
    flipped[kernel_at + 17] ^= 0x01
    (outdir / "tf_bad_tensor_crc.index").write_bytes(source)
    (outdir / "tf_bad_tensor_crc.data-00000-of-00001").write_bytes(flipped)
    errors.append({"file": "tf_bad_tensor_crc.index", "companions": ["tf_bad_tensor_crc.data-00000-of-00001"],
                   "stage": "draw", "reason": "a byte of the kernel's values changed: its crc32c fails"})
    return errors


def big_fixture(outdir, seed=0):
    """An AugReg ViT-B/16 tree (benches/augreg.py's shapes) saved as a TF1 Saver would: names sorted, the
    data file in that order; random float32 values, generated and checksummed in 1M-value steps."""
    import sys
    sys.path.insert(0, str(REPO / "benches"))
    import augreg
    shapes = augreg.param_shapes("B/16")
    rng = np.random.default_rng(seed)
    buf = np.empty(CHUNK, dtype=np.float32)

    def chunks(shape):
        left = int(np.prod(shape))
        while left:
            part = buf[:min(left, CHUNK)]
            rng.standard_normal(dtype=np.float32, out=part)
            part *= np.float32(0.02)
            yield part.tobytes()
            left -= len(part)

    prefix = outdir / "augreg_b16_tf"
    tf_bundle_writer.write_bundle(str(prefix), [(name, "float32", list(shape), chunks(shape))
                                                for name, shape in sorted(shapes.items())])
    tensors = [{"name": n, "dtype": "float32", "shape": list(s)} for n, s in sorted(shapes.items())]
    return {"file": "augreg_b16_tf.index", "companions": ["augreg_b16_tf.data-00000-of-00001"],
            "default_tensor": "embedding/kernel", "tensors": tensors, "tiles": [], "big": True, "max_reads": 4,
            "kernel_bytes": int(np.prod(shapes["embedding/kernel"])) * 4,
            "note": f"AugReg ViT-B/16 tree as a TF1 checkpoint, tf_bundle_writer.py, float32, seed {seed}"}
