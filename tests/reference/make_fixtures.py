"""Writes patchlens' reference fixtures into OUTDIR: real .npz files (fixtures.py, error_fixtures.py),
the expected tiles of each drawable tensor (`<stem>.<k>.tiles.u8`, from tiles.expected_tiles) and
manifest.json. Usage: make_fixtures.py OUTDIR [--big] [--big-l16]; skips work if OUTDIR is up to date."""
import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SAMPLE = REPO / "www" / "samples" / "dinov2-vits14-patch-embed.npz"
# Everything whose change must regenerate the fixtures (the up-to-date check runs before the slow imports).
INPUTS = sorted(HERE.glob("*.py")) + [HERE / "requirements.txt", REPO / "benches" / "augreg.py", SAMPLE]
# Fixtures written once by libraries too heavy for CI (torch), committed with the script that wrote them.
COMMITTED = REPO / "tests" / "fixtures" / "committed"
INPUTS += sorted(p for p in COMMITTED.rglob("*") if p.is_file())


def inputs_hash(options):
    digest = hashlib.sha256(json.dumps(options, sort_keys=True).encode())
    for path in INPUTS:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def up_to_date(outdir, script_hash):
    try:
        manifest = json.loads((outdir / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    files = [f["file"] for f in manifest["fixtures"]] + [e["file"] for e in manifest["errors"]]
    files += [t["file"] for f in manifest["fixtures"] for t in f["tiles"]]
    files += [f["positions"][image] for f in manifest["fixtures"] if "positions" in f for image in ("cosine", "dot")]
    return manifest.get("script_hash") == script_hash and all((outdir / f).exists() for f in files)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--big", action="store_true", help="also write AugReg B/16 (~346 MB)")
    parser.add_argument("--big-l16", action="store_true", help="also write AugReg B/16 and L/16 (~1.2 GB)")
    args = parser.parse_args(argv)
    options = {"big": args.big or args.big_l16, "big_l16": args.big_l16}
    script_hash = inputs_hash(options)
    if up_to_date(args.outdir, script_hash):
        print(f"{args.outdir}: fixtures up to date", file=sys.stderr)
        return

    started = time.monotonic()
    sys.path.insert(0, str(HERE))
    import matplotlib
    import ml_dtypes
    import numpy as np
    import sklearn
    from error_fixtures import write_errors
    from fixtures import FIXTURES, build_big, build_fixture

    args.outdir.mkdir(parents=True, exist_ok=True)
    (args.outdir / "manifest.json").unlink(missing_ok=True)  # no stale manifest over half-written files
    fixtures = [build_fixture(args.outdir, *spec) for spec in FIXTURES]
    errors = write_errors(args.outdir)
    # Each other format's fixtures: fixtures_<format>.py with build(outdir, big) -> (fixtures, errors);
    # `big` asks for its bytes-read fixtures too (hundreds of MB, entries with "big": True).
    import importlib
    for module in sorted(HERE.glob("fixtures_*.py")):
        more, broken = importlib.import_module(module.stem).build(args.outdir, big=options["big"])
        fixtures += more
        errors += broken
    if options["big"]:
        fixtures.append(build_big(args.outdir, "B/16", seed=16))
    if options["big_l16"]:
        fixtures.append(build_big(args.outdir, "L/16", seed=24))
    manifest = {
        "generator": "tests/reference/make_fixtures.py", "script_hash": script_hash, "options": options,
        "versions": {"numpy": np.__version__, "scikit-learn": sklearn.__version__,
                     "ml_dtypes": ml_dtypes.__version__, "matplotlib": matplotlib.__version__},
        "fixtures": fixtures, "errors": errors,
    }
    tmp = args.outdir / "manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=1) + "\n")
    os.replace(tmp, args.outdir / "manifest.json")
    print(f"{args.outdir}: {len(fixtures)} fixtures, {len(manifest['errors'])} broken files, "
          f"{time.monotonic() - started:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
