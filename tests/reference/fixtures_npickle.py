"""Pickled NumPy fixtures for CI, written with real numpy + pickle (no heavy library needed): dicts of arrays at
every protocol 0..5, a detectron2 model-zoo-shaped .pkl, Python-2 pickles (protocol 2 BINSTRING and protocol 0
S'...' literals, assembled opcode by opcode as Python 2 wrote them and checked with pickletools and numpy's own
load under encoding='latin1'), a PaddlePaddle-shaped .pdparams (paddle.save's `_build_saved_state_dict`: arrays
plus "StructuredToParameterName@@"), float16/float64/big-endian/fortran arrays, an object .npy holding a dict;
hostile pickles (os.system and friends: nothing may run) and damaged ones; with `big`, a ~300 MB
detectron2-shaped .pkl for the bytes-read test. Every expected kernel comes from pickle.load itself."""
import io
import os
import pickle
import pickletools
import struct
import subprocess
import sys
import types
from pathlib import Path

import numpy as np

from fixtures import filters, fixture_entry, weights

HERE = Path(__file__).resolve().parent
SEEDS = HERE.parents[1] / "fuzz" / "seeds" / "numpy_pickle"
PWNED = ["PWNED-npickle-os-system", "PWNED-npickle-posix-system", "PWNED-npickle-eval", "PWNED-npickle-popen"]
WRAPPERS = ("model", "blobs", "state_dict", "model_state_dict", "params")


def oihw(rng, shape, dtype=np.float32):
    """A PyTorch-layout (n, c, kh, kw) conv weight with stripe-like filters."""
    n, c, kh, kw = shape
    return np.ascontiguousarray(filters(rng, (kh, kw, c, n), np.float64).transpose(3, 2, 0, 1)).astype(dtype)


def load(path, encoding="ASCII"):
    if path.suffix == ".npy":
        return np.load(path, allow_pickle=True)
    with open(path, "rb") as f:
        return pickle.load(f, encoding=encoding)


def dtype_name(array):
    return array.dtype.newbyteorder("=").name


def flatten(obj, path=()):
    """(path, array) in the order patchlens lists them: dict keys and list indices, depth first; an object
    array's elements (a 0-d one adds no segment); numpy scalars are 0-d arrays."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from flatten(v, path + (str(k),))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from flatten(v, path + (str(i),))
    elif isinstance(obj, np.ndarray) and obj.dtype == object:
        if obj.shape == ():
            yield from flatten(obj.item(), path)
        else:
            for i, v in enumerate(obj.reshape(-1)):
                yield from flatten(v, path + (str(i),))
    elif isinstance(obj, (np.ndarray, np.generic)):
        yield path, np.asarray(obj)


def listing(obj):
    found = list(flatten(obj))
    if isinstance(obj, dict) and found and all(len(p) >= 2 and p[0] == found[0][0][0] for p, _ in found) \
            and found[0][0][0] in WRAPPERS:
        found = [(p[1:], a) for p, a in found]
    return [("/".join(p) or "array", a) for p, a in found]


def entry(outdir, file, default, tiled, note, encoding="ASCII", **extra):
    """A manifest entry from the file as pickle.load reads it; `tiled` names (n, c, kh, kw) weights."""
    arrays = listing(load(outdir / file, encoding))
    tensors = [{"name": n, "dtype": dtype_name(a), "shape": list(a.shape)} for n, a in arrays]
    found = dict(arrays)
    kernels = [(name, np.ascontiguousarray(found[name].astype(found[name].dtype.newbyteorder("="))
                                           .transpose(2, 3, 1, 0))) for name in tiled]
    return fixture_entry(outdir, file, default, tensors, kernels, note, npickle=True, **extra)


def dump(path, obj, protocol):
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=protocol)


# ---- Python 2 pickles, opcode by opcode --------------------------------------------------------------

def py2_str_literal(data):
    """Python 2's repr of a str, as protocol 0's STRING writes it."""
    out = ["'"]
    for b in data:
        c = chr(b)
        if c in "\\'":
            out.append("\\" + c)
        elif c == "\t":
            out.append("\\t")
        elif c == "\n":
            out.append("\\n")
        elif c == "\r":
            out.append("\\r")
        elif 32 <= b < 127:
            out.append(c)
        else:
            out.append(f"\\x{b:02x}")
    out.append("'")
    return "".join(out).encode("latin1")


class Py2Pickler:
    """Writes what Python 2's cPickle wrote for dicts of str keys and numpy arrays: protocol 2 (SHORT_BINSTRING /
    BINSTRING for str, BININT for ints) or protocol 0 (S'...' literals, I/L lines), numpy.core.multiarray names."""

    def __init__(self, protocol):
        self.p, self.out, self.memo = protocol, bytearray(), 0

    def put(self):
        if self.p == 0:
            self.out += b"p%d\n" % self.memo
        else:
            self.out += b"q" + bytes([self.memo])
        self.memo += 1

    def string(self, data):
        if self.p == 0:
            self.out += b"S" + py2_str_literal(data) + b"\n"
        elif len(data) < 256:
            self.out += b"U" + bytes([len(data)]) + data
        else:
            self.out += b"T" + struct.pack("<i", len(data)) + data
        self.put()

    def int(self, v):
        if self.p == 0:
            self.out += b"I%d\n" % v
        elif 0 <= v < 256:
            self.out += b"K" + bytes([v])
        else:
            self.out += b"J" + struct.pack("<i", v)

    def tuple(self, items):
        self.out += b"("
        for item in items:
            item()
        self.out += b"t"
        self.put()

    def glob(self, module, name):
        self.out += b"c" + module.encode() + b"\n" + name.encode() + b"\n"
        self.put()

    def array(self, a):
        a = np.asarray(a)
        self.glob("numpy.core.multiarray", "_reconstruct")
        self.tuple([lambda: self.glob("numpy", "ndarray"), lambda: self.tuple([lambda: self.int(0)]),
                    lambda: self.string(b"b")])
        self.out += b"R"
        self.put()
        order = {"<": "<", ">": ">", "=": "<", "|": "|"}[a.dtype.byteorder]
        fortran = a.flags.f_contiguous and not a.flags.c_contiguous
        data = (a.T if fortran else a).tobytes()
        self.tuple([lambda: self.int(1), lambda: self.tuple([(lambda d=d: self.int(d)) for d in a.shape]),
                    lambda: self.dtype(a.dtype.kind + str(a.dtype.itemsize), order),
                    lambda: self.bool(fortran), lambda: self.string(data)])
        self.out += b"b"

    def bool(self, v):
        self.out += (b"I01\n" if v else b"I00\n") if self.p == 0 else (b"\x88" if v else b"\x89")

    def dtype(self, code, order):
        self.glob("numpy", "dtype")
        self.tuple([lambda: self.string(code.encode()), lambda: self.int(0), lambda: self.int(1)])
        self.out += b"R"
        self.put()
        self.tuple([lambda: self.int(3), lambda: self.string(order.encode()), lambda: self.none(),
                    lambda: self.none(), lambda: self.none(), lambda: self.int(-1), lambda: self.int(-1),
                    lambda: self.int(0)])
        self.out += b"b"

    def none(self):
        self.out += b"N"

    def value(self, v):
        if isinstance(v, dict):
            self.dict(v)
        elif isinstance(v, np.ndarray):
            self.array(v)
        elif isinstance(v, bool):
            self.bool(v)
        elif isinstance(v, int):
            self.int(v)
        else:
            self.string(v.encode("latin1"))

    def dict(self, d):
        self.out += b"(d" if self.p == 0 else b"}"
        if self.p == 0:
            self.out += b"p%d\n" % self.memo
            self.memo += 1
        else:
            self.put()
            self.out += b"("
        for k, v in d.items():
            self.string(k.encode("latin1"))
            self.value(v)
            if self.p == 0:
                self.out += b"s"
        if self.p != 0:
            self.out += b"u"

    def dumps(self, obj):
        self.out = bytearray(b"\x80\x02" if self.p == 2 else b"")
        self.value(obj)
        self.out += b"."
        return bytes(self.out)


def py2_fixture(path, obj, protocol):
    data = Py2Pickler(protocol).dumps(obj)
    if protocol == 2:  # pickletools (Python 3) cannot show a protocol 0 STRING of non-ASCII bytes
        pickletools.dis(data, out=io.StringIO())
    path.write_bytes(data)
    loaded = pickle.loads(data, encoding="latin1")
    for (name, a), (_, b) in zip(listing(obj), listing(loaded)):
        native = a.astype(a.dtype.newbyteorder("="))  # numpy may swap a non-native array to native on load
        if native.dtype != b.dtype or a.shape != b.shape or native.tobytes() != b.tobytes():
            raise AssertionError(f"{path.name}: {name} does not load back with encoding='latin1'")


# ---- hostile pickles: nothing they name may run ------------------------------------------------------

class _Evil:
    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


class _Shaped:
    """An array pickled with a state numpy's own __reduce__ would never write (a lying shape or dtype)."""

    def __init__(self, shape, dtype, data, fortran=False):
        self.state = (1, tuple(shape), np.dtype(dtype), fortran, data)

    def __reduce__(self):
        return np._core.multiarray._reconstruct, (np.ndarray, (0,), b"b"), self.state


def hostile(outdir, rng):
    fakeos = types.ModuleType("fakeos")
    fakeos.system = lambda *a: None
    fakeos.system.__module__, fakeos.system.__qualname__, fakeos.system.__name__ = "fakeos", "system", "system"
    sys.modules["fakeos"] = fakeos
    try:
        weight = oihw(rng, (8, 3, 5, 5))
        obj = {"evil_os": _Evil(fakeos.system, f"touch {outdir / PWNED[0]}"),
               "evil_posix": _Evil(os.system, f"touch {outdir / PWNED[1]}"),
               "evil_eval": _Evil(eval, f"open({str(outdir / PWNED[2])!r}, 'w')"),
               "evil_popen": _Evil(subprocess.Popen, ["touch", str(outdir / PWNED[3])]),
               "conv1.weight": weight}
        data = pickle.dumps(obj, protocol=2, fix_imports=False).replace(b"cfakeos\nsystem\n", b"cos\nsystem\n")
        only_evil = pickle.dumps({"evil": _Evil(os.system, f"touch {outdir / PWNED[1]}")}, protocol=4)
    finally:
        sys.modules.pop("fakeos")
    for needle in (b"cos\nsystem\n", b"cposix\nsystem\n", b"cbuiltins\neval\n", b"csubprocess\nPopen\n"):
        if needle not in data:
            raise AssertionError(f"hostile pickle lacks {needle!r}")
    (outdir / "npickle_hostile.pkl").write_bytes(data)
    (outdir / "npickle_only_evil.pkl").write_bytes(only_evil)
    tensors = [{"name": "conv1.weight", "dtype": "float32", "shape": list(weight.shape)}]
    fixture = fixture_entry(outdir, "npickle_hostile.pkl", "conv1.weight", tensors,
                            [("conv1.weight", weight.transpose(2, 3, 1, 0))],
                            "pickle of arrays beside os.system, posix.system, builtins.eval, subprocess.Popen",
                            npickle=True, npickle_hostile=True, must_not_exist=PWNED,
                            notes_contain=["os.system", "posix.system", "builtins.eval", "subprocess.Popen"])
    return fixture


def broken(outdir, rng):
    """Damaged and lying pickles: (file, stage, reason)."""
    kernel = oihw(rng, (8, 3, 5, 5))
    cases = [
        ("npickle_short_data.pkl", {"conv1.weight": _Shaped((8, 3, 5, 5), "<f4", kernel.tobytes()[:-4])}, "draw",
         "array whose shape says 4 bytes more than its data holds"),
        ("npickle_long_data.pkl", {"conv1.weight": _Shaped((8, 3, 5, 5), "<f4", kernel.tobytes() + b"\0" * 4)},
         "draw", "array whose data holds 4 bytes more than its shape says"),
        ("npickle_string_dtype.pkl", {"conv1.weight": np.full((8, 3, 5, 5), "abcd")}, "draw",
         "the conv weight is a '<U4' string array: listed, not drawable"),
        ("npickle_huge_shape.pkl", {"conv1.weight": _Shaped((1 << 40, 1 << 40, 3, 3), "<f4", b"\0" * 64)}, "draw",
         "shape of 2^80 elements over 64 bytes of data"),
        ("npickle_overflow_shape.pkl", {"conv1.weight": _Shaped((1 << 62, 1 << 62, 7, 7), "<f4", b"")}, "draw",
         "shape whose element count overflows 64 bits"),
        ("npickle_no_arrays.pkl", {"lr": 0.1, "epochs": 3, "names": ["a", "b"]}, "open",
         "a pickle with no arrays at all"),
    ]
    errors = []
    for file, obj, stage, reason in cases:
        dump(outdir / file, obj, 4)
        errors.append({"file": file, "stage": stage, "reason": reason})
    whole = pickle.dumps({"model": {"conv1.weight": kernel}}, protocol=4)
    (outdir / "npickle_truncated.pkl").write_bytes(whole[: len(whole) // 2])
    errors.append({"file": "npickle_truncated.pkl", "stage": "open", "reason": "a protocol 4 pickle cut in half"})
    errors.append({"file": "npickle_only_evil.pkl", "stage": "open", "reason": "a pickle naming os.system, no arrays"})
    return errors


# ---- the fixtures ------------------------------------------------------------------------------------

def plain_dict(rng, dtype, fortran=False, byteorder=None):
    weight = oihw(rng, (16, 3, 5, 5), dtype)
    if byteorder:
        weight = weight.astype(weight.dtype.newbyteorder(byteorder))
    if fortran:
        weight = np.asfortranarray(weight)
    return {"stem.conv1.weight": weight, "stem.conv1.bias": weights(rng, (16,)), "fc.weight": weights(rng, (10, 16)),
            "step": np.int64(1200), "lr": np.float32(0.01), "classes": np.array(["cat", "dog"]),
            "layers": [weights(rng, (4,)), np.arange(6, dtype=np.int32).reshape(2, 3)]}


def build(outdir, big=False):
    rng = np.random.default_rng(5150)
    fixtures, errors = [], []
    variants = [(0, np.float32, False, None, "protocol 0: V raw-unicode-escape text through _codecs.encode"),
                (1, np.float64, False, None, "protocol 1: BINUNICODE text through _codecs.encode, float64"),
                (2, np.float16, False, None, "protocol 2: BINUNICODE text through _codecs.encode, float16"),
                (3, np.float32, False, ">", "protocol 3: BINBYTES, big-endian '>f4'"),
                (4, np.float32, True, None, "protocol 4: BINBYTES8/SHORT_BINBYTES, fortran order"),
                (5, np.float64, True, ">", "protocol 5: _frombuffer on BYTEARRAY8, fortran order, '>f8'")]
    for protocol, dtype, fortran, order, note in variants:
        file = f"npickle_p{protocol}.pkl"
        obj = plain_dict(rng, dtype, fortran, order)
        if protocol == 5:
            obj["strided"] = weights(rng, (4, 6))[:, ::2]  # not contiguous: _reconstruct even at protocol 5
        dump(outdir / file, obj, protocol)
        fixtures.append(entry(outdir, file, "stem.conv1.weight", ["stem.conv1.weight"], "pickle.dump of a dict, " + note))

    model = {"backbone.bottom_up.stem.conv1.weight": oihw(rng, (64, 3, 7, 7)),
             "backbone.bottom_up.stem.conv1.norm.weight": weights(rng, (64,)),
             "backbone.bottom_up.stem.conv1.norm.bias": weights(rng, (64,)),
             "backbone.bottom_up.res2.0.conv1.weight": weights(rng, (64, 64, 1, 1)),
             "roi_heads.box_predictor.cls_score.weight": weights(rng, (81, 64))}
    dump(outdir / "detectron2_r50.pkl",
         {"model": model, "__author__": "Detectron2 Model Zoo", "matching_heuristics": True}, 3)
    fixtures.append(entry(outdir, "detectron2_r50.pkl", "backbone.bottom_up.stem.conv1.weight",
                          ["backbone.bottom_up.stem.conv1.weight"],
                          "detectron2 model-zoo layout {'model': {...}, '__author__', 'matching_heuristics'}, protocol 3"))

    blobs = {"conv1_w": oihw(rng, (64, 3, 7, 7)), "conv1_b": weights(rng, (64,)),
             "res2_0_branch2a_w": weights(rng, (64, 64, 1, 1)), "pred_w": weights(rng, (10, 64)).astype(">f4")}
    py2_fixture(outdir / "detectron_py2.pkl", {"blobs": blobs}, 2)
    fixtures.append(entry(outdir, "detectron_py2.pkl", "conv1_w", ["conv1_w"],
                          "Python 2 cPickle protocol 2 (BINSTRING data, numpy.core.multiarray) of Detectron's "
                          "{'blobs': {...}}", encoding="latin1"))
    py2_fixture(outdir / "py2_protocol0.pkl", {"conv1_w": oihw(rng, (8, 3, 3, 3)), "fc_b": weights(rng, (5,)),
                                                "fc_w": weights(rng, (5, 8)).astype(np.float64)}, 0)
    fixtures.append(entry(outdir, "py2_protocol0.pkl", "conv1_w", ["conv1_w"],
                          "Python 2 protocol 0: S'...' escaped literals as data", encoding="latin1"))

    params = {"patch_embed.proj.weight": oihw(rng, (48, 3, 4, 4)), "patch_embed.proj.bias": weights(rng, (48,)),
              "pos_embed": weights(rng, (1, 17, 48)), "conv1_weights": oihw(rng, (8, 3, 3, 3))}
    saved = dict(params)
    saved["StructuredToParameterName@@"] = {k: f"param_{i}" for i, k in enumerate(params)}
    dump(outdir / "paddle_vit.pdparams", saved, 2)
    fixtures.append(entry(outdir, "paddle_vit.pdparams", "patch_embed.proj.weight",
                          ["patch_embed.proj.weight", "conv1_weights"],
                          "paddle.save of a state dict (_build_saved_state_dict), protocol 2"))

    np.save(outdir / "object_dict.npy", {"conv1.weight": oihw(rng, (16, 3, 3, 3)), "conv1.bias": weights(rng, (16,)),
                                         "meta": {"epoch": 3}}, allow_pickle=True)
    fixtures.append(entry(outdir, "object_dict.npy", "conv1.weight", ["conv1.weight"],
                          "np.save of a dict: an object '|O' .npy holding a pickle"))

    dump(outdir / "bare_array.pkl", oihw(rng, (12, 1, 5, 5)), 4)
    fixtures.append(entry(outdir, "bare_array.pkl", "array", ["array"], "a bare pickled (12, 1, 5, 5) array"))

    fixtures.append(hostile(outdir, rng))
    errors += broken(outdir, rng)
    if big:
        fixtures.append(build_big(outdir, rng))
    return fixtures, errors


def build_big(outdir, rng):
    """A ~310 MB detectron2 ViTDet-shaped .pkl (protocol 4): the patch embedding, then twelve ViT-B blocks."""
    file = "detectron2_vitdet_big.pkl"
    net = "backbone.net."
    model = {net + "pos_embed": weights(rng, (1, 197, 768)),
             net + "patch_embed.proj.weight": oihw(rng, (768, 3, 16, 16)),
             net + "patch_embed.proj.bias": weights(rng, (768,))}
    for block in range(12):
        for part, shape in [("attn.qkv.weight", (2304, 768)), ("attn.proj.weight", (768, 768)),
                            ("mlp.fc1.weight", (3072, 768)), ("mlp.fc2.weight", (768, 3072)), ("norm1.weight", (768,))]:
            model[f"{net}blocks.{block}.{part}"] = rng.standard_normal(shape, np.float32)
    dump(outdir / file, {"model": model, "__author__": "Detectron2 Model Zoo", "matching_heuristics": True}, 4)
    size = (outdir / file).stat().st_size
    if size < 300e6:
        raise AssertionError(f"{file} is only {size} bytes")
    kernel = model[net + "patch_embed.proj.weight"]
    tensors = [{"name": n, "dtype": "float32", "shape": list(a.shape)} for n, a in listing({"model": model, "x": 1})]
    return fixture_entry(outdir, file, net + "patch_embed.proj.weight", tensors, [],
                         "detectron2 ViTDet-shaped ~310 MB pickle, protocol 4: listing steps over payloads by length",
                         npickle=True, big=True, kernel_bytes=kernel.nbytes)
