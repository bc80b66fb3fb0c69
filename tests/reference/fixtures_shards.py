"""Sharded checkpoints, opened as several files dropped together: PyTorch shards written once by torch
(tests/fixtures/committed/torch-shards/, by make_shard_fixtures.py) with and without their
`pytorch_model.bin.index.json`. Entries name the first file in "file" and the rest in "companions"."""
import json
import shutil

import numpy as np

from fixtures import REPO, fixture_entry

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


def build(outdir, big=False):
    return torch_shards(outdir), []
