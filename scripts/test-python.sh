#!/usr/bin/env bash
# The Python package's tests (python/): builds the wheel (maturin, release, abi3; with the widget's front end
# when scripts/build-widget.sh has run), installs it into the repo's venv, checks the type hints (mypy), runs
# pytest against the fixtures and the Rust CLI and the widget's tests (tests/widget/: Chromium, JupyterLab); then
# installs the same wheel into a new, empty venv and draws the sample there, as a user's `pip install` would.
# Needs: the venv (scripts/python-env.sh), the fixtures, the CLI (cargo build --features cli,http --bin patchlens)
# and the widget's front end (bash scripts/build-widget.sh, after scripts/build.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY="$(bash scripts/python-env.sh)"
log() { echo "test-python: $*" >&2; }

wheels=target/wheels
rm -f "$wheels"/patchlens-*.whl
rm -f python/patchlens/_native*.so   # a `maturin develop` build in the source folder must not ride along
"$PY" -m maturin build --release --manifest-path python/Cargo.toml --out "$wheels" --interpreter "$PY" >&2
wheel="$(ls "$wheels"/patchlens-*.whl)"
log "built $wheel ($(stat -c %s "$wheel") bytes)"
"$PY" -m pip install --disable-pip-version-check --quiet --force-reinstall --no-deps "$wheel"

(cd python && "$PY" -m mypy patchlens --ignore-missing-imports)
# From outside python/, so the installed wheel is what is imported, not the source folder.
(cd tests && "$PY" -m pytest ../python/tests -q -p no:cacheprovider -rs)
# The widget's front end in Chromium against a stand-in model, then in a real JupyterLab on this venv.
PATCHLENS_PYTHON="$PY" node --test --test-concurrency=1 tests/widget/

# A fresh environment: nothing but the wheel and what it declares (numpy, from PyPI).
fresh="$(mktemp -d)/venv"
"$PY" -m venv "$fresh" || { "$PY" -m venv --without-pip "$fresh" && "$PY" -m pip --python "$fresh/bin/python" install --quiet pip; }
"$fresh/bin/python" -m pip install --disable-pip-version-check --quiet "$wheel"
"$fresh/bin/python" - www/samples/dinov2-vits14-patch-embed.npz <<'PYEOF'
import sys, patchlens
grid = patchlens.grid(sys.argv[1])
assert grid.png()[:8] == b"\x89PNG\r\n\x1a\n" and grid.pixels.shape == (462, 926, 4), grid
print(f"test-python: a fresh venv with only the wheel drew {grid!r}", file=sys.stderr)
PYEOF
rm -rf "$(dirname "$fresh")"
