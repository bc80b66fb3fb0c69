"""PyTorch fixtures for CI (no torch here): copies the files make_torch_fixtures.py wrote with real torch
(tests/fixtures/committed/torch/) and the MTCNN samples, and builds at test time what needs no torch:
hostile pickles (os.system, builtins.eval, subprocess.Popen, posix.system) inside otherwise valid torch
files, damaged files, and (with `big`) a DINO ViT-B/16-shaped .pth around a committed data.pkl, written
by `write_torch_zip` exactly as torch.save lays a zip out (checked byte for byte by make_torch_fixtures.py)."""
import hashlib
import io
import json
import os
import pickle
import shutil
import struct
import sys
import types
import zipfile
import zlib
from collections import OrderedDict
from pathlib import Path

import ml_dtypes
import numpy as np

from fixtures import fixture_entry

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
COMMITTED = REPO / "tests" / "fixtures" / "committed" / "torch"
# Beside the repository (REPO.parent / "shared"); a git worktree under /work/wt/ looks one level higher.
SAMPLES = next((p for p in (REPO.parent / "shared" / "samples", REPO.parents[1] / "shared" / "samples")
                if p.exists()), REPO.parent / "shared" / "samples")
SEEDS = REPO / "fuzz" / "seeds"
ALIGNMENT = 64
# Files the hostile pickles would create if anything ran them; the Rust test checks they do not exist.
PWNED = ["PWNED-os-system", "PWNED-posix-system", "PWNED-eval", "PWNED-popen"]


def load_kernel(item, file=None):
    """An expected (kh, kw, c, n) kernel: a committed .npy, or cut from the file's own storage and checked
    against the sha256 torch gave it (for kernels too big to commit twice)."""
    if "sha256" in item:
        return kernel_from_storage(COMMITTED / file, item)
    array = np.load(COMMITTED / item["kernel"])
    if item["dtype"] == "bfloat16":
        array = array.view(ml_dtypes.bfloat16)
    return array


def kernel_from_storage(path, item):
    dtype = {"float16": np.float16, "float32": np.float32}[item["dtype"]]
    with zipfile.ZipFile(path) as z:
        root = z.namelist()[0].split("/")[0]
        finder = _KeyFinder(z.read(f"{root}/data.pkl"), want=item["storage_of"])
        finder.load()
        data = z.read(f"{root}/data/{finder.found}")
    kernel = np.ascontiguousarray(np.frombuffer(data, dtype).reshape(item["shape"]).transpose(2, 3, 1, 0))
    if hashlib.sha256(kernel.tobytes()).hexdigest() != item["sha256"]:
        raise AssertionError(f"{path.name}: {item['tensor']} does not match the kernel torch saved")
    return kernel


# ---- torch's zip layout, without torch -------------------------------------------------------------

def _local_header(name, offset):
    name = name.encode()
    start = offset + 30 + len(name) + 4
    pad = (ALIGNMENT - start % ALIGNMENT) % ALIGNMENT
    extra = b"FB" + struct.pack("<H", pad) + b"Z" * pad
    return struct.pack("<IHHHHHIIIHH", 0x04034B50, 0, 0x0808, 0, 0, 0, 0, 0, 0, len(name), len(extra)) + name + extra


def write_torch_zip(out, root, data_pkl, storage_bytes, serialization_id=b"0" * 40):
    """torch.save's zip (PyTorchStreamWriter/miniz): records data.pkl, .format_version, .storage_alignment,
    byteorder, data/<key> (in first-use order), version, .data/serialization_id; each stored, its data 64-byte
    aligned by an 'FB' extra field of 'Z's, followed by a data descriptor; zip64 end records always.
    `storage_bytes(key, nbytes)` gives each storage's bytes (or writes nothing when it returns an iterator)."""
    keys = storage_keys(data_pkl)
    records = [("data.pkl", data_pkl), (".format_version", b"1"), (".storage_alignment", b"64"),
               ("byteorder", b"little")]
    records += [(f"data/{key}", (key, nbytes)) for key, nbytes in keys]
    records += [("version", b"3\n"), (".data/serialization_id", serialization_id)]
    central = []
    offset = 0
    for name, data in records:
        full = f"{root}/{name}"
        header = _local_header(full, offset)
        out.write(header)
        crc, size = 0, 0
        chunks = [data] if isinstance(data, bytes) else storage_bytes(*data)
        if isinstance(chunks, bytes):
            chunks = [chunks]
        for chunk in chunks:
            out.write(chunk)
            crc = zlib.crc32(chunk, crc)
            size += len(chunk)
        out.write(struct.pack("<IIII", 0x08074B50, crc, size, size))
        central.append((full.encode(), crc, size, offset))
        offset += len(header) + size + 16
    cd_start = offset
    for name, crc, size, local in central:
        out.write(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 0, 0, 0x0808, 0, 0, 0, crc, size, size,
                              len(name), 0, 0, 0, 0, 0, local) + name)
    cd_size = sum(46 + len(c[0]) for c in central)
    zip64_at = cd_start + cd_size
    n = len(central)
    out.write(struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 0x031E, 45, 0, 0, n, n, cd_size, cd_start))
    out.write(struct.pack("<IIQI", 0x07064B50, 0, zip64_at, 1))
    out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, n, n, cd_size, cd_start, 0))


class _Stub:
    """Anything a torch pickle names, as a harmless placeholder (only used on our own committed pickles)."""
    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        pass


class _KeyFinder(pickle.Unpickler):
    ITEM_SIZES = {"FloatStorage": 4, "DoubleStorage": 8, "HalfStorage": 2, "BFloat16Storage": 2, "LongStorage": 8}

    def __init__(self, data, want=None):
        self.stream = io.BytesIO(data)
        super().__init__(self.stream)
        self.keys = OrderedDict()
        self.want, self.found = want, None

    def find_class(self, module, name):
        if module == "collections" and name == "OrderedDict":
            return self.watch_dict if self.want else OrderedDict
        if module == "torch" and name in self.ITEM_SIZES:
            return name
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return lambda storage, *rest: storage  # a tensor becomes its storage key
        return _Stub

    def watch_dict(self, *args):
        finder = self

        class Watch(OrderedDict):
            def __setitem__(self, key, value):
                if key == finder.want:
                    finder.found = value
                super().__setitem__(key, value)
        return Watch(*args)

    def persistent_load(self, pid):
        _, storage_type, key, _, numel = pid[:5]
        self.keys.setdefault(key, numel * self.ITEM_SIZES[storage_type])
        return key


def storage_keys(data_pkl):
    """[(key, nbytes)] of the storages a torch data.pkl uses, in first-use order (torch's write order)."""
    finder = _KeyFinder(data_pkl)
    finder.load()
    return list(finder.keys.items())


# ---- hostile pickles, made with Python's own pickle and fake torch globals ------------------------

def _fake(module, name, value):
    value.__module__, value.__qualname__, value.__name__ = module, name, name
    return value


class _FakeTorch:
    """Registers modules `torch` and `torch._utils` holding look-alike globals, so pickle emits
    GLOBAL 'torch FloatStorage' and 'torch._utils _rebuild_tensor_v2' exactly as torch does."""

    def __enter__(self):
        self.saved = {m: sys.modules.get(m) for m in ("torch", "torch._utils", "fakeos")}
        torch_mod, utils = types.ModuleType("torch"), types.ModuleType("torch._utils")
        torch_mod.FloatStorage = _fake("torch", "FloatStorage", type("FloatStorage", (), {}))
        utils._rebuild_tensor_v2 = _fake("torch._utils", "_rebuild_tensor_v2", lambda *a: None)
        torch_mod._utils = utils
        # os.system is posix.system to pickle; a stand-in module lets the file name `os system` too.
        fakeos = types.ModuleType("fakeos")
        fakeos.system = _fake("fakeos", "system", lambda *a: None)
        sys.modules.update({"torch": torch_mod, "torch._utils": utils, "fakeos": fakeos})
        return torch_mod, utils

    def __exit__(self, *exc):
        for module, saved in self.saved.items():
            if saved is None:
                sys.modules.pop(module, None)
            else:
                sys.modules[module] = saved


class _Storage:
    def __init__(self, key, numel):
        self.key, self.numel = key, numel


class _Tensor:
    def __init__(self, rebuild, storage, shape):
        self.rebuild, self.storage, self.shape = rebuild, storage, shape

    def __reduce__(self):
        stride = tuple(int(np.prod(self.shape[i + 1:])) for i in range(len(self.shape)))
        return self.rebuild, (self.storage, 0, self.shape, stride, False, OrderedDict())


class _Evil:
    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def hostile_pickle(outdir, shape, key, legacy):
    """A torch-like pickle of {evil objects..., 'conv1.weight': tensor}; every evil object would create a
    file in outdir if a loader called it."""
    import subprocess
    with _FakeTorch() as (torch_mod, utils):
        storage_type = torch_mod.FloatStorage

        class Pickler(pickle.Pickler):
            def persistent_id(self, obj):
                if isinstance(obj, _Storage):
                    pid = ("storage", storage_type, obj.key, "cpu", obj.numel)
                    return pid + (None,) if legacy else pid
                return None

        numel = int(np.prod(shape))
        obj = {
            "evil_os": _Evil(sys.modules["fakeos"].system, f"touch {outdir / PWNED[0]}"),
            "evil_posix": _Evil(os.system, f"touch {outdir / PWNED[1]}"),
            "evil_eval": _Evil(eval, f"open({str(outdir / PWNED[2])!r}, 'w')"),
            "evil_popen": _Evil(subprocess.Popen, ["touch", str(outdir / PWNED[3])]),
            "conv1.weight": _Tensor(utils._rebuild_tensor_v2, _Storage(key, numel), tuple(shape)),
        }
        buf = io.BytesIO()
        Pickler(buf, protocol=2, fix_imports=False).dump(obj)
    data = buf.getvalue()
    data = data.replace(b"cfakeos\nsystem\n", b"cos\nsystem\n")
    if b"cos\nsystem\n" not in data or b"cposix\nsystem\n" not in data or b"cbuiltins\neval\n" not in data or b"csubprocess\nPopen\n" not in data:
        raise AssertionError("hostile pickle lacks its globals")
    return data


def legacy_file(path, data_pkl, storages):
    """A legacy torch file: magic, protocol, sys_info, the object pickle, the key list, the storages."""
    with open(path, "wb") as f:
        pickle.dump(0x1950A86A20F9469CFC6C, f, protocol=2)
        pickle.dump(1001, f, protocol=2)
        pickle.dump({"protocol_version": 1001, "little_endian": True,
                     "type_sizes": {"short": 2, "int": 4, "long": 4}}, f, protocol=2)
        f.write(data_pkl)
        keys = sorted(storages)
        pickle.dump(keys, f, protocol=2)
        for key in keys:
            array = storages[key]
            f.write(struct.pack("<q", array.size) + array.tobytes())


def hostile_fixtures(outdir, expected):
    item = expected["zip_f32.pth"]["tiled"][0]
    kernel = load_kernel(item)                          # (kh, kw, c, n)
    weight = np.ascontiguousarray(kernel.transpose(3, 2, 0, 1))   # torch (n, c, kh, kw)
    shape = list(weight.shape)
    entries = []
    # (a) the data.pkl of a real torch zip replaced; storage data/0 is conv1.weight.
    evil = hostile_pickle(outdir, shape, "0", legacy=False)
    with zipfile.ZipFile(COMMITTED / "zip_f32.pth") as src:
        root = src.namelist()[0].split("/")[0]
        with zipfile.ZipFile(outdir / "hostile_zip.pth", "w") as dst:
            for info in src.infolist():
                dst.writestr(info, evil if info.filename.endswith("/data.pkl") else src.read(info))
    # (b) a legacy file around the same pickle.
    legacy_file(outdir / "hostile_legacy.pt", hostile_pickle(outdir, shape, "1", legacy=True),
                {"1": weight.reshape(-1)})
    tensors = [{"name": "conv1.weight", "dtype": "float32", "shape": shape}]
    globals_named = ["os.system", "posix.system", "builtins.eval", "subprocess.Popen"]
    for file, note in [("hostile_zip.pth", "torch zip whose data.pkl holds os/posix.system, eval, Popen"),
                       ("hostile_legacy.pt", "legacy torch file whose pickle holds os/posix.system, eval, Popen")]:
        entries.append(fixture_entry(outdir, file, "conv1.weight", tensors, [("conv1.weight", kernel)], note,
                                     hostile=True, notes_contain=globals_named, must_not_exist=PWNED))
    return entries


# ---- damaged real files ----------------------------------------------------------------------------

def broken_files(outdir):
    errors = []
    src = (COMMITTED / "zip_f32.pth").read_bytes()
    (outdir / "torch_cut.pth").write_bytes(src[: len(src) // 2])
    errors.append({"file": "torch_cut.pth", "stage": "open", "reason": "torch zip cut in half: no central directory"})
    with zipfile.ZipFile(COMMITTED / "zip_f32.pth") as z, \
            zipfile.ZipFile(outdir / "torch_bad_pickle.pth", "w") as bad_pickle, \
            zipfile.ZipFile(outdir / "torch_short_storage.pth", "w") as short:
        for info in z.infolist():
            data = z.read(info)
            bad_pickle.writestr(info, data[: len(data) // 2] if info.filename.endswith("data.pkl") else data)
            short.writestr(info, data[: len(data) // 3] if info.filename.endswith("data/0") else data)
    errors.append({"file": "torch_bad_pickle.pth", "stage": "open", "reason": "data.pkl cut in half"})
    errors.append({"file": "torch_short_storage.pth", "stage": "draw",
                   "reason": "the kernel's storage entry holds a third of its bytes"})
    legacy = (COMMITTED / "legacy_f32.pt").read_bytes()
    at, nbytes = legacy_storage(legacy, "patch_embed.proj.weight")
    (outdir / "legacy_cut.pt").write_bytes(legacy[: at + 8 + nbytes // 2])
    errors.append({"file": "legacy_cut.pt", "stage": "draw", "reason": "legacy file cut inside the kernel's storage"})
    lying = bytearray(legacy)
    lying[at:at + 8] = struct.pack("<q", nbytes // 4 + 1)
    (outdir / "legacy_lying_count.pt").write_bytes(bytes(lying))
    errors.append({"file": "legacy_lying_count.pt", "stage": "draw",
                   "reason": "the kernel storage's element count says one more than its tensor's persistent id"})
    (outdir / "legacy_cut_pickle.pt").write_bytes(legacy[:300])
    errors.append({"file": "legacy_cut_pickle.pt", "stage": "open", "reason": "legacy file cut inside its pickle"})
    return errors


def legacy_storage(data, tensor):
    """(offset of the u64 count, byte size) of the storage holding `tensor` in a legacy file, found with
    Python's pickle: storages follow the key list in key order, each as a count and its bytes."""
    f = io.BytesIO(data)
    for _ in range(3):
        pickle.load(f)
    start = f.tell()
    finder = _KeyFinder(data[start:], want=tensor)
    finder.load()
    f.seek(start + finder.stream.tell())
    keys = pickle.load(f)
    at = f.tell()
    for key in keys:
        if key == finder.found:
            return at, finder.keys[key]
        at += 8 + finder.keys[key]
    raise KeyError(tensor)


# ---- the big file ------------------------------------------------------------------------------------

def big_fixture(outdir, meta):
    file = "dino_vitb16.pth"
    data_pkl = (COMMITTED / "dino_vitb16.data.pkl").read_bytes()
    pattern = (np.arange(1 << 20, dtype=np.float32) % 251 - 125) / np.float32(1000)  # 4 MiB, repeated

    def fill(key, nbytes):
        block = pattern.tobytes()
        for start in range(0, nbytes, len(block)):
            yield block[: min(len(block), nbytes - start)]

    with open(outdir / file, "wb") as out:
        write_torch_zip(out, meta["big_root"], data_pkl, fill)
    return {"file": file, "default_tensor": "patch_embed.proj.weight", "tensors": meta["big_tensors"],
            "tiles": [], "big": True, "kernel_bytes": 768 * 3 * 16 * 16 * 4,
            "note": "DINO ViT-B/16 state dict (timm names, 343 MB): data.pkl from torch.save, zip by write_torch_zip"}


def build(outdir, big=False):
    outdir = Path(outdir)
    expected_all = json.loads((COMMITTED / "expected.json").read_text())
    expected, meta = expected_all["files"], expected_all["meta"]
    fixtures = []
    for file, entry in expected.items():
        source = COMMITTED / file if (COMMITTED / file).exists() else SAMPLES / file
        shutil.copyfile(source, outdir / file)
        tiled = [(item["tensor"], load_kernel(item, file)) for item in entry["tiled"]]
        fixtures.append(fixture_entry(outdir, file, entry["default_tensor"], entry["tensors"], tiled,
                                      entry["note"], format=entry["format"]))
    for stale in PWNED:
        (outdir / stale).unlink(missing_ok=True)
    fixtures += hostile_fixtures(outdir, expected)
    errors = broken_files(outdir)
    if big:
        fixtures.append(big_fixture(outdir, meta))
    return fixtures, errors


def write_seeds():
    """Fuzz seeds: small real torch files (zip and legacy) and their pickles."""
    for target in ("torch", "pickle"):
        (SEEDS / target).mkdir(parents=True, exist_ok=True)
    for file in ("zip_f32.pth", "zip_views.pth", "whole_cnn.pt", "legacy_f16.pt", "legacy_views.pt",
                 "torchscript.pt"):
        data = (COMMITTED / file).read_bytes()
        if len(data) < 64 << 10:
            (SEEDS / "torch" / file).write_bytes(data)
        if data.startswith(b"PK"):
            with zipfile.ZipFile(COMMITTED / file) as z:
                name = next(n for n in z.namelist() if n.endswith("data.pkl"))
                (SEEDS / "pickle" / (file.replace(".", "_") + ".pkl")).write_bytes(z.read(name))
