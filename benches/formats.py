"""Writes the benchmark's other big checkpoints into OUTDIR with the same writers the tests use: a DINO
ViT-B/16 state dict `.pth` (343 MB; torch.save's data.pkl in the zip torch writes, tests/reference/
fixtures_torch.py) and a Hugging Face ViT-L/16 `.safetensors` (1.2 GB, safetensors.numpy.save_file).
Usage: python benches/formats.py OUTDIR"""
import json
import sys
from pathlib import Path

REFERENCE = Path(__file__).resolve().parents[1] / "tests" / "reference"
sys.path.insert(0, str(REFERENCE))

import fixtures_safetensors  # noqa: E402
import fixtures_torch  # noqa: E402


def main(outdir):
    outdir.mkdir(parents=True, exist_ok=True)
    if not (outdir / "dino_vitb16.pth").exists():
        meta = json.loads((fixtures_torch.COMMITTED / "expected.json").read_text())["meta"]
        fixtures_torch.big_fixture(outdir, meta)
    if not (outdir / "hf_vit_l16.safetensors").exists():
        fixtures_safetensors.build_big(outdir)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
