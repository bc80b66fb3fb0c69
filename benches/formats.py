"""Writes the benchmark's other big checkpoints into OUTDIR with the same writers the tests use: a DINO
ViT-B/16 state dict `.pth` (343 MB; torch.save's data.pkl in the zip torch writes, tests/reference/
fixtures_torch.py) and a Hugging Face ViT-L/16 `.safetensors` (1.2 GB, safetensors.numpy.save_file).
With --gguf, writes only a CLIP-style ViT-B/16 `.gguf` (343 MB, gguf.GGUFWriter) instead.
Usage: python benches/formats.py OUTDIR [--gguf]"""
import json
import sys
from pathlib import Path

REFERENCE = Path(__file__).resolve().parents[1] / "tests" / "reference"
sys.path.insert(0, str(REFERENCE))

import fixtures_safetensors  # noqa: E402
import fixtures_torch  # noqa: E402


def main(outdir, gguf_only=False):
    outdir.mkdir(parents=True, exist_ok=True)
    if gguf_only:
        write_gguf(outdir / "vit_b16_big.gguf")
        return
    if not (outdir / "dino_vitb16.pth").exists():
        meta = json.loads((fixtures_torch.COMMITTED / "expected.json").read_text())["meta"]
        fixtures_torch.big_fixture(outdir, meta)
    if not (outdir / "hf_vit_l16.safetensors").exists():
        fixtures_safetensors.build_big(outdir)


def write_gguf(path):
    """A CLIP-style ViT-B/16 vision tower as clip.cpp's GGUF names it (v.patch_embd.weight and 12 blocks of f32
    attention and MLP weights, 343 MB), written by the gguf package's GGUFWriter."""
    import gguf
    import numpy as np

    rng = np.random.default_rng(16)
    writer = gguf.GGUFWriter(str(path), "clip")
    writer.add_tensor("v.patch_embd.weight", rng.standard_normal((768, 3, 16, 16), dtype=np.float32) * 0.02)
    writer.add_tensor("v.position_embd.weight", rng.standard_normal((197, 768), dtype=np.float32) * 0.02)
    for block in range(12):
        for name, shape in [("attn_q", (768, 768)), ("attn_k", (768, 768)), ("attn_v", (768, 768)),
                            ("attn_out", (768, 768)), ("ffn_up", (3072, 768)), ("ffn_down", (768, 3072))]:
            writer.add_tensor(f"v.blk.{block}.{name}.weight", rng.standard_normal(shape, dtype=np.float32) * 0.02)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]), gguf_only="--gguf" in sys.argv[2:])
