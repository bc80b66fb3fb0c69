"""Sharded checkpoints, opened as several files dropped together: safetensors shards written by
safetensors.numpy with and without the `model.safetensors.index.json` transformers writes beside them, and
PyTorch shards written once by torch (tests/fixtures/committed/torch-shards/, by make_shard_fixtures.py)
with and without `pytorch_model.bin.index.json`. Entries name the first file in "file", the rest in
"companions"; with `big`, a 1.2 GB three-shard safetensors ViT-L/16 whose kernel sits in the last shard."""
import json
import shutil

import numpy as np
from safetensors.numpy import save_file

from fixtures import REPO, fixture_entry
from fixtures_safetensors import as_hwcn, listing, torch_kernel

TORCH_SHARDS = REPO / "tests" / "fixtures" / "committed" / "torch-shards"
KERNEL = "vit.embeddings.patch_embeddings.projection.weight"


def torch_shards(outdir):
    listing = json.loads((TORCH_SHARDS / "tensors.json").read_text())["tensors"]
    index = json.loads((TORCH_SHARDS / "pytorch_model.bin.index.json").read_text())
    shards = sorted({t["file"] for t in listing})
    for name in shards + ["pytorch_model.bin.index.json"]:
        shutil.copyfile(TORCH_SHARDS / name, outdir / name)
    kernel = np.load(TORCH_SHARDS / "expected_kernel_hwcn.npy")
    describe = lambda t: {"name": t["name"], "dtype": t["dtype"], "shape": t["shape"]}  # noqa: E731
    by_name = {t["name"]: t for t in listing}
    with_index = fixture_entry(
        outdir, "pytorch_model.bin.index.json", KERNEL,
        [describe(by_name[name]) for name in index["weight_map"]],  # the index's order
        [(KERNEL, kernel)], "two torch.save shards and their index: names from the index, the kernel's shard only",
        companions=shards, kernel_file=by_name[KERNEL]["file"])
    without_index = fixture_entry(
        outdir, shards[0], KERNEL,
        [describe(t) for shard in shards for t in listing if t["file"] == shard],  # shard order, then each shard's
        [(KERNEL, kernel)], "the same two shards without an index: every shard's header is read",
        companions=shards[1:])
    return [with_index, without_index]


def write_index(path, sizes):
    """The index transformers writes: total size and a weight_map sorted by tensor name. `sizes` is
    {shard file: {tensor name: bytes}}."""
    weight_map = {name: file for file, tensors in sizes.items() for name in tensors}
    total = sum(n for tensors in sizes.values() for n in tensors.values())
    index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
    path.write_text(json.dumps(index, indent=2) + "\n")
    return index


def safetensors_shards(outdir, rng):
    kernel = torch_kernel(rng, 48, 3, 8, 8, np.float16)
    shards = {
        "model-00001-of-00003.safetensors": {
            "vit.embeddings.cls_token": rng.normal(0, 0.02, (1, 1, 48)).astype(np.float16),
            "vit.encoder.layer.0.attention.attention.query.weight": rng.normal(0, 0.02, (48, 48)).astype(np.float16),
        },
        "model-00002-of-00003.safetensors": {
            KERNEL: kernel,
            "vit.embeddings.patch_embeddings.projection.bias": np.zeros(48, np.float16),
        },
        "model-00003-of-00003.safetensors": {
            "classifier.weight": rng.normal(0, 0.02, (10, 48)).astype(np.float16),
            "vit.layernorm.weight": np.ones(48, np.float16),
        },
    }
    for file, arrays in shards.items():
        save_file(arrays, outdir / file, metadata={"format": "pt"})
    sizes = {file: {name: a.nbytes for name, a in arrays.items()} for file, arrays in shards.items()}
    index = write_index(outdir / "model.safetensors.index.json", sizes)
    files = list(shards)
    by_name = {t["name"]: t for file in files for t in listing(outdir / file)}
    with_index = fixture_entry(
        outdir, "model.safetensors.index.json", KERNEL, [by_name[name] for name in index["weight_map"]],
        [(KERNEL, as_hwcn(kernel))], "three safetensors shards and their index: names from the index",
        companions=files, kernel_file=files[1])
    without_index = fixture_entry(
        outdir, files[0], KERNEL, [t for file in files for t in listing(outdir / file)],
        [(KERNEL, as_hwcn(kernel))], "the same shards without an index: every shard's header is read",
        companions=files[1:])
    return [with_index, without_index]


def big_shards(outdir):
    """ViT-B/16 in HF naming, float32, in three shards of ~115 MB; the kernel is in the last one."""
    d, blocks = 768, 12
    fill = np.linspace(-0.05, 0.05, 4 * d * d, dtype=np.float32)  # a fast deterministic fill, sliced per tensor
    def tensor(*shape):
        n = int(np.prod(shape))
        return np.resize(fill, n).reshape(shape)
    names = {"vit.embeddings.cls_token": (1, 1, d), "vit.embeddings.position_embeddings": (1, 197, d),
             "vit.embeddings.patch_embeddings.projection.bias": (d,)}
    for b in range(blocks):
        p = f"vit.encoder.layer.{b}."
        for part in ["attention.attention.query", "attention.attention.key", "attention.attention.value",
                     "attention.output.dense"]:
            names[p + part + ".weight"], names[p + part + ".bias"] = (d, d), (d,)
        names[p + "intermediate.dense.weight"], names[p + "intermediate.dense.bias"] = (4 * d, d), (4 * d,)
        names[p + "output.dense.weight"], names[p + "output.dense.bias"] = (d, 4 * d), (d,)
    items = list(names.items())
    third = len(items) // 3
    shards = {f"big-model-{k + 1:05d}-of-00003.safetensors": dict(items[k * third:(k + 1) * third if k < 2 else None])
              for k in range(3)}
    shards["big-model-00003-of-00003.safetensors"][KERNEL] = (d, 3, 16, 16)
    sizes = {}
    for file, shapes in shards.items():
        arrays = {name: tensor(*shape) for name, shape in shapes.items()}
        save_file(arrays, outdir / file)
        sizes[file] = {name: a.nbytes for name, a in arrays.items()}
    index = write_index(outdir / "big-model.safetensors.index.json", sizes)
    files = list(shards)
    by_name = {t["name"]: t for file in files for t in listing(outdir / file)}
    return fixture_entry(
        outdir, "big-model.safetensors.index.json", KERNEL, [by_name[name] for name in index["weight_map"]], [],
        "ViT-B/16 (HF names, float32) in three ~115 MB safetensors shards with an index; the kernel in the last",
        companions=files, big=True, kernel_bytes=d * 3 * 16 * 16 * 4)


def build(outdir, big=False):
    fixtures = safetensors_shards(outdir, np.random.default_rng(41)) + torch_shards(outdir)
    if big:
        fixtures.append(big_shards(outdir))
    return fixtures, []
