"""Flax msgpack fixtures for CI (no flax/jax here): copies the files make_msgpack_fixtures.py wrote with real
flax (tests/fixtures/committed/msgpack/), and builds at test time what needs only the msgpack package:
damaged and hostile files (lengths past the end, an ndarray header lying about its bytes, 10 000-deep nesting,
a map32 claiming 2^32-1 entries, a key that is not UTF-8) and (with `big`) an AugReg ViT-B/16-shaped tree
written by `write_flax_msgpack`, flax's exact encoding (checked byte for byte against
flax.serialization.to_bytes by make_msgpack_fixtures.py)."""
import json
import shutil
import struct
import sys
from pathlib import Path

import msgpack
import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
COMMITTED = REPO / "tests" / "fixtures" / "committed" / "msgpack"
SEEDS = REPO / "fuzz" / "seeds" / "msgpack"
# flax.serialization._MsgpackExtType
EXT_NDARRAY, EXT_COMPLEX, EXT_NPSCALAR = 1, 2, 3


class LazyArray:
    """A C-order array leaf whose bytes are produced in pieces (the big file is never held whole)."""

    def __init__(self, shape, dtype, pieces):
        self.shape, self.dtype, self.pieces = tuple(shape), np.dtype(dtype), pieces

    @property
    def nbytes(self):
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize


def _bin_header(n):
    if n < 1 << 8:
        return struct.pack(">BB", 0xC4, n)
    if n < 1 << 16:
        return struct.pack(">BH", 0xC5, n)
    return struct.pack(">BI", 0xC6, n)


def _ext_header(code, n):
    fixed = {1: 0xD4, 2: 0xD5, 4: 0xD6, 8: 0xD7, 16: 0xD8}
    if n in fixed:
        return struct.pack(">Bb", fixed[n], code)
    if n < 1 << 8:
        return struct.pack(">BBb", 0xC7, n, code)
    if n < 1 << 16:
        return struct.pack(">BHb", 0xC8, n, code)
    return struct.pack(">BIb", 0xC9, n, code)


def _array_leaf(out, code, shape, dtype_name, nbytes, pieces):
    """flax _ndarray_to_bytes: packb((shape, dtype.name, arr.tobytes('C')), use_bin_type=True), in an ext."""
    inner = b"\x93" + msgpack.packb(list(shape)) + msgpack.packb(dtype_name) + _bin_header(nbytes)
    out.write(_ext_header(code, len(inner) + nbytes) + inner)
    written = 0
    for piece in pieces:
        out.write(piece)
        written += len(piece)
    if written != nbytes:
        raise AssertionError(f"array leaf wrote {written} bytes, not {nbytes}")


def write_flax_msgpack(out, tree):
    """Writes `tree` as flax.serialization.msgpack_serialize does (msgpack.packb(tree,
    default=_msgpack_ext_pack, strict_types=True)): dicts as maps in their order, ndarrays (and LazyArrays)
    as ext 1, numpy scalars as ext 3, complex as ext 2, other scalars as msgpack packs them."""
    packer = msgpack.Packer()
    if isinstance(tree, dict):
        out.write(packer.pack_map_header(len(tree)))
        for key, value in tree.items():
            out.write(packer.pack(key))
            write_flax_msgpack(out, value)
    elif isinstance(tree, LazyArray):
        _array_leaf(out, EXT_NDARRAY, tree.shape, tree.dtype.name, tree.nbytes, tree.pieces())
    elif isinstance(tree, np.ndarray):
        data = tree.tobytes("C")
        _array_leaf(out, EXT_NDARRAY, tree.shape, tree.dtype.name, len(data), [data])
    elif isinstance(tree, np.generic):
        data = np.asarray(tree).tobytes("C")
        _array_leaf(out, EXT_NPSCALAR, (), tree.dtype.name, len(data), [data])
    elif isinstance(tree, complex):
        payload = msgpack.packb((tree.real, tree.imag))
        out.write(_ext_header(EXT_COMPLEX, len(payload)) + payload)
    elif tree is None or isinstance(tree, (bool, int, float, str, bytes)):
        out.write(packer.pack(tree))
    else:
        raise TypeError(f"flax would not serialise a {type(tree).__name__} this way")


def flax_bytes(tree):
    import io
    buf = io.BytesIO()
    write_flax_msgpack(buf, tree)
    return buf.getvalue()


def nest(flat):
    """{'a/b/c': leaf} in order -> nested dicts in the same order."""
    tree = {}
    for name, leaf in flat.items():
        node = tree
        *parents, last = name.split("/")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = leaf
    return tree


def augreg_tree(variant="B/16", seed=0):
    """The AugReg ViT parameter tree (benches/augreg.py shapes, sorted as the npz lists them) under
    `params`, as LazyArrays of weight-like float32 values."""
    sys.path.insert(0, str(REPO / "benches"))
    import augreg
    shapes = augreg.param_shapes(variant)
    rng = np.random.default_rng(seed)
    block = ((rng.standard_normal(1 << 18) * 0.02).astype(np.float32)).tobytes()  # 1 MiB, repeated

    def pieces_of(nbytes):
        def pieces():
            for start in range(0, nbytes, len(block)):
                yield block[: min(len(block), nbytes - start)]
        return pieces

    flat = {}
    for name, shape in shapes.items():
        leaf = LazyArray(shape, np.float32, None)
        leaf.pieces = pieces_of(leaf.nbytes)
        flat["params/" + name] = leaf
    return nest(flat), shapes


def materialise(tree):
    """A LazyArray tree as numpy arrays (for flax.serialization.to_bytes on small trees)."""
    if isinstance(tree, dict):
        return {k: materialise(v) for k, v in tree.items()}
    data = b"".join(tree.pieces())
    return np.frombuffer(data, tree.dtype).reshape(tree.shape).copy()


# ---- the fixtures ------------------------------------------------------------------------------------

def load_kernel(item):
    array = np.load(COMMITTED / item["kernel"])
    if item["dtype"] == "bfloat16":
        import ml_dtypes
        array = array.view(ml_dtypes.bfloat16)
    return array


def _leaf_at(data, name):
    """(offset of the ext marker, ext payload length, data offset) of the array at `name`, found by
    walking the real file with the msgpack package's Unpacker (only on our own committed files)."""
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=False, ext_hook=lambda code, data: msgpack.ExtType(code, data))
    unpacker.feed(data)

    def walk(path):
        n = unpacker.read_map_header()
        for _ in range(n):
            key = unpacker.unpack()
            full = f"{path}/{key}" if path else key
            at = unpacker.tell()
            if data[at] in range(0x80, 0x90) or data[at] in (0xDE, 0xDF):
                found = walk(full)
                if found:
                    return found
                continue
            value = unpacker.unpack()
            if full == name:
                return at, len(value.data)
        return None

    found = walk("")
    if not found:
        raise KeyError(name)
    return found


def broken_files(outdir):
    errors = []
    src = (COMMITTED / "vit_f32.msgpack").read_bytes()
    at, ext_len = _leaf_at(src, "params/embedding/kernel")

    def write(file, data, stage, reason):
        (outdir / file).write_bytes(data)
        errors.append({"file": file, "stage": stage, "reason": reason})

    write("msgpack_cut.msgpack", src[: at + ext_len // 2], "open", "flax file cut inside the patch kernel's bytes")
    lying = bytearray(src)
    if src[at] != 0xC8:
        raise AssertionError("the vit kernel is expected in an ext16")
    struct.pack_into(">H", lying, at + 1, 0xFFFF)
    write("msgpack_ext_past_end.msgpack", bytes(lying), "open", "an ext length that runs past the end of the file")
    kernel = np.zeros((4, 4, 3, 16), np.float32)
    inner = msgpack.packb(((4, 4, 3, 17), "float32", kernel.tobytes()), use_bin_type=True)
    tree = {"params": {"embedding": {"kernel": msgpack.ExtType(EXT_NDARRAY, inner)}}}
    write("msgpack_lying_shape.msgpack", msgpack.packb(tree), "open",
          "the ndarray header claims (4, 4, 3, 17) but holds the bytes of (4, 4, 3, 16)")
    write("msgpack_deep.msgpack", b"\x81\xa1a" * 10_000 + b"\xc0", "open", "maps nested 10 000 deep")
    write("msgpack_map32_huge.msgpack", b"\xdf\xff\xff\xff\xff\xa6params\x80", "open",
          "a map32 claiming 2^32-1 entries in a 13-byte file")
    good = msgpack.ExtType(EXT_NDARRAY, msgpack.packb(((4, 4, 3, 16), "float32", kernel.tobytes()), use_bin_type=True))
    bad_key = (b"\x81\xa6params\x82\xa9embedding\x81\xa6kernel" + msgpack.packb(good)
               + b"\xa2\xff\xfe" + msgpack.packb(good))
    write("msgpack_key_not_utf8.msgpack", bad_key, "open", "a map key whose bytes are not UTF-8")
    return errors


def big_fixture(outdir):
    file = "augreg_b16.msgpack"
    tree, shapes = augreg_tree("B/16", seed=16)
    with open(outdir / file, "wb") as out:
        write_flax_msgpack(out, tree)
    tensors = [{"name": "params/" + n, "dtype": "float32", "shape": list(s)} for n, s in shapes.items()]
    return {"file": file, "default_tensor": "params/embedding/kernel", "tensors": tensors, "tiles": [], "big": True,
            "kernel_bytes": int(np.prod(shapes["embedding/kernel"])) * 4, "format": "msgpack",
            "note": "AugReg ViT-B/16 parameter tree under params/ (346 MB), written by write_flax_msgpack"}


def build(outdir, big=False):
    from fixtures import fixture_entry
    outdir = Path(outdir)
    expected = json.loads((COMMITTED / "expected.json").read_text())["files"]
    fixtures = []
    for file, entry in expected.items():
        shutil.copyfile(COMMITTED / file, outdir / file)
        tiled = [(item["tensor"], load_kernel(item)) for item in entry["tiled"]]
        extra = {"notes_contain": entry["notes_contain"]} if "notes_contain" in entry else {}
        fixtures.append(fixture_entry(outdir, file, entry["default_tensor"], entry["tensors"], tiled, entry["note"],
                                      format="msgpack", **extra))
    errors = broken_files(outdir)
    if big:
        fixtures.append(big_fixture(outdir))
    return fixtures, errors


def write_seeds():
    """Fuzz seeds: the small committed flax files, and the hostile ones built above."""
    import tempfile
    SEEDS.mkdir(parents=True, exist_ok=True)
    for file in json.loads((COMMITTED / "expected.json").read_text())["files"]:
        data = (COMMITTED / file).read_bytes()
        if len(data) <= 16 << 10:
            (SEEDS / file).write_bytes(data)
    with tempfile.TemporaryDirectory() as tmp:
        for error in broken_files(Path(tmp)):
            data = (Path(tmp) / error["file"]).read_bytes()
            (SEEDS / error["file"]).write_bytes(data[: 16 << 10])
