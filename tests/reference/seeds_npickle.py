"""Writes the committed fuzz seeds of the numpy_pickle target from fixtures that real numpy + pickle wrote
(fixtures_npickle.py): one small valid file per protocol and family, plus the lying ones, so libFuzzer starts
inside every opcode family (text forms, BINSTRING, BYTEARRAY8, object .npy) instead of from empty input.
Usage: seeds_npickle.py FIXTURES_DIR (make_fixtures.py output) — writes fuzz/seeds/numpy_pickle/."""
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SEEDS = ["npickle_p0.pkl", "npickle_p1.pkl", "npickle_p2.pkl", "npickle_p3.pkl", "npickle_p4.pkl", "npickle_p5.pkl",
         "py2_protocol0.pkl", "paddle_vit.pdparams", "object_dict.npy", "bare_array.pkl", "npickle_hostile.pkl",
         "npickle_short_data.pkl", "npickle_huge_shape.pkl", "npickle_string_dtype.pkl", "npickle_no_arrays.pkl"]


def main(fixtures):
    out = REPO / "fuzz" / "seeds" / "numpy_pickle"
    out.mkdir(parents=True, exist_ok=True)
    for name in SEEDS:
        shutil.copyfile(fixtures / name, out / name)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
