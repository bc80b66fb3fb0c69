"""Writes the sharded PyTorch fixture ONCE, with torch (CI has no torch; the outputs are committed):
a Hugging Face ViT state dict split into two `pytorch_model-0000k-of-00002.bin` files by torch.save, the
`pytorch_model.bin.index.json` that transformers writes beside them, and the patch embedding's expected
kernel as (kh, kw, c, n) .npy for the tile check. Usage: /path/to/torch/python make_shard_fixtures.py"""
import json
from pathlib import Path

import numpy as np
import torch

OUT = Path(__file__).resolve().parents[1] / "fixtures" / "committed" / "torch-shards"
KERNEL = "vit.embeddings.patch_embeddings.projection.weight"


def state_dict():
    g = torch.Generator().manual_seed(31)
    d = 32
    tensors = {
        "vit.embeddings.cls_token": torch.randn(1, 1, d, generator=g) * 0.02,
        "vit.embeddings.position_embeddings": torch.randn(1, 17, d, generator=g) * 0.02,
        KERNEL: torch.randn(d, 3, 8, 8, generator=g) * 0.05,
        "vit.embeddings.patch_embeddings.projection.bias": torch.zeros(d),
    }
    for block in range(2):
        p = f"vit.encoder.layer.{block}."
        tensors[p + "attention.attention.query.weight"] = torch.randn(d, d, generator=g) * 0.02
        tensors[p + "intermediate.dense.weight"] = torch.randn(4 * d, d, generator=g) * 0.02
        tensors[p + "layernorm_before.weight"] = torch.ones(d)
    tensors["classifier.weight"] = torch.randn(10, d, generator=g) * 0.02
    return tensors


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    tensors = state_dict()
    names = list(tensors)
    # The kernel goes to the second shard, so drawing it must touch that shard alone.
    shards = [names[:2] + names[4:7], names[2:4] + names[7:]]
    weight_map = {}
    for k, members in enumerate(shards, start=1):
        file = f"pytorch_model-{k:05d}-of-{len(shards):05d}.bin"
        torch.save({n: tensors[n] for n in members}, OUT / file)
        weight_map.update({n: file for n in members})
    total = sum(t.numel() * t.element_size() for t in tensors.values())
    index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
    (OUT / "pytorch_model.bin.index.json").write_text(json.dumps(index, indent=2) + "\n")
    np.save(OUT / "expected_kernel_hwcn.npy", tensors[KERNEL].numpy().transpose(2, 3, 1, 0))
    listing = [{"name": n, "dtype": str(tensors[n].dtype).removeprefix("torch."), "shape": list(tensors[n].shape),
                "file": weight_map[n]} for n in names]
    (OUT / "tensors.json").write_text(json.dumps({"torch": torch.__version__, "tensors": listing}, indent=1) + "\n")


if __name__ == "__main__":
    main()
