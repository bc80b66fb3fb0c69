"""Writes the PyTorch fixtures ONCE, with real torch (CI has no torch): small torch.save / torch.jit.save
files into tests/fixtures/committed/torch/, plus expected.json and expected kernels (.npy) that let
fixtures_torch.py check them in CI. Run: /work/torchenv/bin/python tests/reference/make_torch_fixtures.py

expected.json: {file: {"tensors": [{name, dtype, shape}] in patchlens' order, "default_tensor",
"tiled": [{"tensor", "kernel": npy file, "dtype"}]}}. Each kernel .npy is ALREADY in (kh, kw, c, n): the
torch weight w (n, c, kh, kw) as w.permute(2, 3, 1, 0), in its own dtype (bfloat16 stored as its uint16 bits).
Names: the dotted path through dicts (keys), lists/tuples (indices) and objects (attributes), skipping a
module's _parameters/_buffers/_modules levels, in pickle order; they are computed here by walking the object
torch.load returns (or, for TorchScript, the module torch.jit.load returns), never by patchlens' own code."""
import argparse
import hashlib
import io
import json
import pickle
import shutil
import sys
import types
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import fixtures_torch  # noqa: E402  (the CI side: its zip writer is checked against torch.save below)

OUT = fixtures_torch.COMMITTED
DTYPE_NAMES = {torch.float32: "float32", torch.float64: "float64", torch.float16: "float16",
               torch.bfloat16: "bfloat16", torch.int64: "int64", torch.int32: "int32", torch.int16: "int16",
               torch.int8: "int8", torch.uint8: "uint8", torch.bool: "bool"}
MODULE_SLOTS = ("_parameters", "_buffers", "_modules")
# Expected kernels larger than this are not committed as .npy (see describe).
BIG_KERNEL = 256 << 10


def walk(obj, path=()):
    """(name, tensor) in the order patchlens lists them."""
    if isinstance(obj, torch.Tensor):
        yield ".".join(path) or "tensor", obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from walk(v, path + (str(k),))
    elif isinstance(obj, (list, tuple, set, frozenset)):
        for i, v in enumerate(obj):
            yield from walk(v, path + (str(i),))
    elif isinstance(obj, nn.Module):
        for k, v in vars(obj).items():
            yield from walk(v, path if k in MODULE_SLOTS else path + (k,))
    elif hasattr(obj, "__dict__") and not isinstance(obj, type):
        for k, v in vars(obj).items():
            yield from walk(v, path + (k,))


def g(shape, seed, dtype=torch.float32, scale=0.05):
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(shape, generator=gen, dtype=torch.float64) * scale).to(dtype)


def vit_state(seed, dim=24, patch=8, depth=2, prefix="", dtype=torch.float32):
    sd = OrderedDict()
    sd[prefix + "cls_token"] = g((1, 1, dim), seed, dtype)
    sd[prefix + "pos_embed"] = g((1, 5, dim), seed + 1, dtype)
    sd[prefix + "patch_embed.proj.weight"] = g((dim, 3, patch, patch), seed + 2, dtype)
    sd[prefix + "patch_embed.proj.bias"] = g((dim,), seed + 3, dtype)
    for b in range(depth):
        sd[f"{prefix}blocks.{b}.norm1.weight"] = torch.ones(dim, dtype=dtype)
        sd[f"{prefix}blocks.{b}.attn.qkv.weight"] = g((3 * dim, dim), seed + 10 + b, dtype)
        sd[f"{prefix}blocks.{b}.mlp.fc1.weight"] = g((2 * dim, dim), seed + 20 + b, dtype)
    sd[prefix + "norm.weight"] = torch.ones(dim, dtype=dtype)
    return sd


class TinyCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 12, 5)
        self.bn1 = nn.BatchNorm2d(12)
        self.conv2 = nn.Conv2d(12, 16, 3)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        return self.fc(self.conv2(self.bn1(self.conv1(x))).mean((2, 3)))


class PatchEmbed(nn.Module):
    def __init__(self, dim, patch):
        super().__init__()
        self.proj = nn.Conv2d(3, dim, patch, patch)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class TinyViT(nn.Module):
    def __init__(self, dim=24, patch=8):
        super().__init__()
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.patch_embed = PatchEmbed(dim, patch)
        self.blocks = nn.ModuleList([nn.Linear(dim, dim) for _ in range(2)])
        self.norm = nn.LayerNorm(dim)

    def forward(self, x):
        x = self.patch_embed(x)
        for block in self.blocks:
            x = block(x)
        return self.norm(x)


class ConvBlock(nn.Module):
    def __init__(self, c_in, c_out):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, bias=False)
        self.bn = nn.BatchNorm2d(c_out)
        self.act = nn.SiLU()


class YoloModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.model = nn.Sequential(ConvBlock(3, 16), ConvBlock(16, 32), ConvBlock(32, 32))
        self.stride = torch.tensor([8.0, 16.0, 32.0])
        self.names = {0: "person", 1: "bicycle"}


def seeded(module, seed):
    torch.manual_seed(seed)
    for p in module.parameters():
        nn.init.normal_(p, 0, 0.05)
    return module


def views():
    base = g((8, 8, 3, 24), 40)                       # (kh, kw, c, n) ...
    transposed = base.permute(3, 2, 0, 1)              # ... seen as (n, c, kh, kw): non-contiguous
    wide = g((24, 3, 8, 16), 41)
    strided = wide[:, :, :, ::2]                       # every other column of a bigger storage
    flat = g((2000,), 42)
    offset = flat[100:100 + 24 * 3 * 4 * 4].view(24, 3, 4, 4)  # storage_offset 100
    shared = flat[1000:1000 + 12 * 3 * 2 * 2].view(12, 3, 2, 2)  # same storage as `offset`
    assert not transposed.is_contiguous() and not strided.is_contiguous() and offset.storage_offset() == 100
    return OrderedDict(transposed=transposed, strided=strided, offset=offset, shared=shared)


def dino_checkpoint():
    student = vit_state(50, prefix="module.backbone.")
    student["module.head.last_layer.weight_g"] = torch.ones(1, 16)
    teacher = vit_state(60, prefix="backbone.")
    params = list(student.values())
    optimizer = {"state": {i: {"step": torch.tensor(3.0), "exp_avg": torch.zeros_like(p),
                               "exp_avg_sq": torch.zeros_like(p)} for i, p in enumerate(params[:2])},
                 "param_groups": [{"lr": 0.0005, "betas": (0.9, 0.999), "params": list(range(len(params)))}]}
    args = argparse.Namespace(arch="vit_small", patch_size=8, lr=np.float64(0.0005), out_dim=65536,
                              norm_last_layer=True, device=torch.device("cpu"))
    return {"student": student, "teacher": teacher, "optimizer": optimizer, "epoch": 3, "args": args,
            "dino_loss": {"center": torch.zeros(1, 16)}}


def misc_state():
    return {"model": OrderedDict([("stem.weight", g((16, 3, 3, 3), 70)), ("stem.bias", g((16,), 71))]),
            "best_acc1": np.float64(0.75), "step": np.int64(1200), "device": torch.device("cpu"),
            "dtype": torch.float16, "mean": np.array([0.485, 0.456, 0.406]), "ids": torch.arange(5),
            "flags": torch.tensor([True, False]), "note": "numpy scalars, torch.device, a dtype"}


def yolo():
    model = seeded(YoloModel(), 80).half()
    return {"epoch": -1, "best_fitness": None, "model": model, "ema": None, "updates": None, "optimizer": None,
            "train_args": {"imgsz": 640, "batch": 16}, "date": "2024-01-01T00:00:00", "version": "8.0.0"}


def hf_vit():
    sd = OrderedDict()
    sd["vit.embeddings.cls_token"] = g((1, 1, 384), 90)
    sd["vit.embeddings.position_embeddings"] = g((1, 5, 384), 91)
    sd["vit.embeddings.patch_embeddings.projection.weight"] = g((384, 3, 14, 14), 92, torch.float16)
    sd["vit.embeddings.patch_embeddings.projection.bias"] = g((384,), 93, torch.float16)
    sd["vit.encoder.layer.0.attention.attention.query.weight"] = g((16, 384), 94)
    return sd


def torchscript(path):
    model = seeded(TinyViT(), 100).eval()
    torch.jit.script(model).save(str(path))
    return torch.jit.load(str(path))


# (file, object to save or writer, legacy?, default tensor, tensors to tile, note)
FIXTURES = [
    ("zip_f32.pth", OrderedDict([("conv1.weight", g((24, 3, 8, 8), 1)), ("conv1.bias", g((24,), 2)),
                                 ("fc.weight", g((10, 24), 3))]), False, "conv1.weight", ["conv1.weight"],
     "torch.save state dict, float32"),
    ("zip_f16.pth", vit_state(4, dtype=torch.float16), False, "patch_embed.proj.weight",
     ["patch_embed.proj.weight"], "float16 ViT-like state dict"),
    ("zip_bf16.pth", vit_state(5, dtype=torch.bfloat16), False, "patch_embed.proj.weight",
     ["patch_embed.proj.weight"], "bfloat16 ViT-like state dict"),
    ("zip_f64.pth", vit_state(6, dtype=torch.float64), False, "patch_embed.proj.weight",
     ["patch_embed.proj.weight"], "float64 ViT-like state dict"),
    ("zip_views.pth", views(), False, "transposed", ["transposed", "strided", "offset", "shared"],
     "non-contiguous views: a permuted kernel, every other column, storage_offset 100, two views of one storage"),
    ("dino_checkpoint.pth", dino_checkpoint(), False, "teacher.backbone.patch_embed.proj.weight",
     ["student.module.backbone.patch_embed.proj.weight", "teacher.backbone.patch_embed.proj.weight"],
     "DINO-style training checkpoint: student (DDP module. prefix), teacher, optimizer state, argparse.Namespace"),
    ("misc_state.pth", misc_state(), False, "model.stem.weight", ["model.stem.weight"],
     "numpy scalars and arrays, torch.device and a dtype beside a state dict; int64 and bool tensors"),
    ("whole_cnn.pt", seeded(TinyCNN(), 110), False, "conv1.weight", ["conv1.weight"],
     "torch.save(model) of a small CNN: module objects, BatchNorm buffers"),
    ("whole_vit.pt", seeded(TinyViT(), 120), False, "patch_embed.proj.weight", ["patch_embed.proj.weight"],
     "torch.save(model) of a tiny ViT with patch_embed.proj"),
    ("yolo_style.pt", yolo(), False, "model.model.0.conv.weight", ["model.model.0.conv.weight"],
     "YOLO-style {'model': <Module>.half(), ...} checkpoint"),
    ("torchscript.pt", torchscript, False, "patch_embed.proj.weight", ["patch_embed.proj.weight"],
     "torch.jit.script(model).save"),
    ("legacy_f32.pt", vit_state(130), True, "patch_embed.proj.weight", ["patch_embed.proj.weight"],
     "_use_new_zipfile_serialization=False, float32"),
    ("legacy_f16.pt", vit_state(131, dtype=torch.float16), True, "patch_embed.proj.weight",
     ["patch_embed.proj.weight"], "legacy format, float16"),
    ("legacy_views.pt", views(), True, "transposed", ["transposed", "strided", "offset", "shared"],
     "legacy format, non-contiguous views and a shared storage"),
    ("pytorch_model.bin", hf_vit(), False, "vit.embeddings.patch_embeddings.projection.weight",
     ["vit.embeddings.patch_embeddings.projection.weight"],
     "Hugging Face ViT names, ViT-S/14 (384, 3, 14, 14) float16 patch embedding"),
]

SAMPLES = [("pnet.pt", "conv1.weight", "MTCNN P-Net (facenet-pytorch), legacy format"),
           ("onet.pt", "conv1.weight", "MTCNN O-Net (facenet-pytorch), legacy format")]


def kernel_npy(tensor, stem):
    kernel = tensor.detach().permute(2, 3, 1, 0).contiguous()
    if kernel.dtype == torch.bfloat16:
        array = kernel.view(torch.int16).numpy().view(np.uint16)
    else:
        array = kernel.numpy()
    np.save(OUT / stem, array)
    return stem


def torchscript_tensors(path):
    """A TorchScript archive's tensors in data.pkl order: CPython's pickle runs data.pkl with torch's own
    storage loading and plain stand-ins for the __torch__ classes; each tensor is then checked against the
    module torch.jit.load returns."""
    with zipfile.ZipFile(path) as z:
        root = z.namelist()[0].split("/")[0]

        class Obj:
            def __setstate__(self, state):
                self.__dict__.update(state)

        class Unpickler(pickle.Unpickler):
            def find_class(self, module, name):
                if module.startswith("__torch__"):
                    return type(name, (Obj,), {})
                return super().find_class(module, name)

            def persistent_load(self, pid):
                _, storage_type, key, _, numel = pid
                data = bytearray(z.read(f"{root}/data/{key}"))
                dtype = storage_type(0).dtype
                untyped = torch.frombuffer(data, dtype=torch.uint8).untyped_storage() if data else \
                    torch.UntypedStorage(0)
                return torch.storage.TypedStorage(wrap_storage=untyped, dtype=dtype, _internal=True)

        obj = Unpickler(io.BytesIO(z.read(f"{root}/data.pkl"))).load()
    tensors = list(walk(obj))
    state = torch.jit.load(str(path)).state_dict()
    for name, tensor in tensors:
        if not torch.equal(state[name], tensor):
            raise AssertionError(f"{path.name}: {name} differs from torch.jit.load's")
    if {n for n, _ in tensors} != set(state):
        raise AssertionError(f"{path.name}: tensors {[n for n, _ in tensors]} vs state_dict {list(state)}")
    return tensors


def describe(file, loaded, default, tiled, note, fmt):
    tensors = torchscript_tensors(OUT / file) if fmt == "torchscript" else list(walk(loaded))
    by_name = dict(tensors)
    entry = {"tensors": [{"name": n, "dtype": DTYPE_NAMES[t.dtype], "shape": list(t.shape)} for n, t in tensors],
             "default_tensor": default, "tiled": [], "note": note, "format": fmt}
    for k, name in enumerate(tiled):
        tensor = by_name[name]
        item = {"tensor": name, "dtype": DTYPE_NAMES[tensor.dtype]}
        if tensor.nbytes > BIG_KERNEL and file.endswith(".bin"):
            # Too big to commit twice: CI cuts it from the file's storage and checks it against this hash.
            key = tensor.untyped_storage()._cdata  # only to assert it is the whole, contiguous storage
            assert tensor.is_contiguous() and tensor.storage_offset() == 0 and key
            kernel = tensor.detach().permute(2, 3, 1, 0).contiguous().numpy()
            item.update(storage_of=name, shape=list(tensor.shape),
                        sha256=hashlib.sha256(kernel.tobytes()).hexdigest())
        else:
            item["kernel"] = kernel_npy(tensor, f"{file.replace('.', '_')}.{k}.kernel.npy")
        entry["tiled"].append(item)
    return entry


def check_writer():
    """fixtures_torch.write_torch_zip must lay a zip out exactly as torch.save does."""
    sd = OrderedDict([("a", g((4, 3, 2, 2), 1)), ("b", g((3,), 2, torch.float16)), ("c", g((5, 7), 3))])
    buf = io.BytesIO()
    torch.save(sd, buf)
    real = buf.getvalue()
    with zipfile.ZipFile(io.BytesIO(real)) as z:
        root = z.namelist()[0].split("/")[0]
        pkl = z.read(f"{root}/data.pkl")
        serialization_id = z.read(f"{root}/.data/serialization_id")
        storages = {name: z.read(name) for name in z.namelist() if "/data/" in name}
    out = io.BytesIO()
    fixtures_torch.write_torch_zip(out, root, pkl, lambda key, n: storages[f"{root}/data/{key}"], serialization_id)
    mine = out.getvalue()
    if mine != real:
        first = next((i for i, (x, y) in enumerate(zip(mine, real)) if x != y), min(len(mine), len(real)))
        raise AssertionError(f"writer differs from torch.save at byte {first} ({len(mine)} vs {len(real)} bytes)")
    return f"byte-identical to torch.save ({len(real)} bytes, torch {torch.__version__})"


def big_pickle():
    """data.pkl of a DINO ViT-B/16 state dict (timm names), saved by torch; storages are filled at test time."""
    dim, depth = 768, 12
    sd = OrderedDict([("cls_token", torch.empty(1, 1, dim)), ("pos_embed", torch.empty(1, 197, dim)),
                      ("patch_embed.proj.weight", torch.empty(dim, 3, 16, 16)),
                      ("patch_embed.proj.bias", torch.empty(dim))])
    for b in range(depth):
        for name, shape in [("norm1.weight", (dim,)), ("norm1.bias", (dim,)), ("attn.qkv.weight", (3 * dim, dim)),
                            ("attn.qkv.bias", (3 * dim,)), ("attn.proj.weight", (dim, dim)),
                            ("attn.proj.bias", (dim,)), ("norm2.weight", (dim,)), ("norm2.bias", (dim,)),
                            ("mlp.fc1.weight", (4 * dim, dim)), ("mlp.fc1.bias", (4 * dim,)),
                            ("mlp.fc2.weight", (dim, 4 * dim)), ("mlp.fc2.bias", (dim,))]:
            sd[f"blocks.{b}.{name}"] = torch.empty(shape)
    sd["norm.weight"] = torch.empty(dim)
    sd["norm.bias"] = torch.empty(dim)
    buf = io.BytesIO()
    torch.save(sd, buf)
    with zipfile.ZipFile(buf) as z:
        root = z.namelist()[0].split("/")[0]
        (OUT / "dino_vitb16.data.pkl").write_bytes(z.read(f"{root}/data.pkl"))
    return [{"name": n, "dtype": "float32", "shape": list(t.shape)} for n, t in sd.items()], root


def main():
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    expected = {}
    for file, obj, legacy, default, tiled, note in FIXTURES:
        path = OUT / file
        if isinstance(obj, types.FunctionType):
            loaded = obj(path)
        else:
            torch.save(obj, path, _use_new_zipfile_serialization=not legacy)
            loaded = torch.load(path, weights_only=False)
        fmt = "torchscript" if isinstance(obj, types.FunctionType) else "pytorch-legacy" if legacy else "pytorch"
        expected[file] = describe(file, loaded, default, tiled, note, fmt)
    for file, default, note in SAMPLES:
        loaded = torch.load(fixtures_torch.SAMPLES / file, weights_only=False)
        entry = describe(file, loaded, default, [default], note, "pytorch-legacy")
        expected[file] = entry
    big_tensors, big_root = big_pickle()
    result = check_writer()
    meta = {"torch": torch.__version__, "writer_check": result, "big_root": big_root, "big_tensors": big_tensors}
    (OUT / "expected.json").write_text(json.dumps({"meta": meta, "files": expected}, indent=1) + "\n")
    fixtures_torch.write_seeds()
    total = sum(p.stat().st_size for p in OUT.iterdir())
    print(f"{OUT}: {len(expected)} files, {total} bytes; zip writer {result}", file=sys.stderr)


if __name__ == "__main__":
    main()
