"""Writes the committed fuzz seeds of the npz-era targets (checkpoint, zip, npy_header) from fixtures that
real numpy wrote: small valid files, so libFuzzer starts deep instead of from empty input. The whole-pipeline
`checkpoint` target also gets the other formats' seeds (fuzz/seeds/{torch,safetensors,gguf,onnx,hdf5,keras,tf_bundle,tflite,msgpack,numpy_pickle}/, written
by their fixtures_<format>.py), since it detects every format.
Usage: seeds_npz.py FIXTURES_DIR (make_fixtures.py output) — writes fuzz/seeds/{checkpoint,zip,npy_header}/."""
import shutil
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SMALL = ["grayscale.npz", "no_drawable.npz", "non_float.npz", "npy_v2.npz", "npy_v3.npz", "special_f32.npz",
         "fortran_big_endian_f64.npz", "bf16.npz", "zip64_deflated.npz", "zip64_stored.npz", "prefix_params.npz"]


def write_view_seed(path):
    """A tiny AugReg-shaped ViT for the analysis views: a 4×4×3×12 patch embedding (principal components) and a
    (1, 1 + 4·4, 8) position embedding (cosine and dot), so the fuzzer starts inside every view."""
    import numpy as np
    rng = np.random.default_rng(77)
    np.savez(path, **{"embedding/kernel": rng.normal(0, 0.02, (4, 4, 3, 12)).astype(np.float32),
                      "Transformer/posembed_input/pos_embedding": rng.normal(0, 0.02, (1, 17, 8)).astype(np.float32)})


def main(fixtures):
    for target in ["checkpoint", "zip"]:
        out = REPO / "fuzz" / "seeds" / target
        out.mkdir(parents=True, exist_ok=True)
        for name in SMALL:
            shutil.copyfile(fixtures / name, out / name)
    for target in ["torch", "safetensors", "gguf", "onnx", "hdf5", "keras", "tf_bundle", "tflite", "msgpack", "numpy_pickle"]:
        for seed in sorted((REPO / "fuzz" / "seeds" / target).iterdir())[:3]:
            shutil.copyfile(seed, REPO / "fuzz" / "seeds" / "checkpoint" / f"{target}-{seed.name}")
    write_view_seed(REPO / "fuzz" / "seeds" / "checkpoint" / "views_vit.npz")
    out = REPO / "fuzz" / "seeds" / "npy_header"
    out.mkdir(parents=True, exist_ok=True)
    for name in ["npy_v2.npz", "npy_v3.npz", "fortran_big_endian_f64.npz", "bf16.npz", "non_float.npz"]:
        with zipfile.ZipFile(fixtures / name) as archive:
            for member in archive.namelist():
                header = archive.read(member)[:256]  # the header and the start of the data
                (out / f"{Path(name).stem}-{member.replace('/', '_')}").write_bytes(header)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
