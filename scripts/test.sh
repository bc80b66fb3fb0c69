#!/usr/bin/env bash
# Every test, from a fresh clone: set-up, reference fixtures (numpy + scikit-learn), native tests,
# headless-browser wasm tests, the build, the Python package, then end-to-end tests in real Chromium.
# PATCHLENS_BIG=1 also writes AugReg-shaped B/16 and L/16 checkpoints (≈1.6 GB) for the bytes-read test.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
step() { printf '\n=== %s\n' "$*" >&2; }

step "set-up"
# A whole run takes about 11 GB here (the fixtures ≈4 GB with a 1.2 GB safetensors, cargo's targets the rest):
# say so at once rather than fail a quarter of an hour in on "No space left on device".
need_gb=12
free_gb=$(df --output=avail -BG . | tail -1 | tr -dc '0-9')
if (( free_gb < need_gb )); then
  echo "npm test needs about ${need_gb} GB free on $(df --output=target . | tail -1) and there are ${free_gb} GB." >&2
  exit 1
fi
bash scripts/setup.sh --browser
PY="$(bash scripts/python-env.sh)"

step "reference fixtures (numpy $("$PY" -c 'import numpy; print(numpy.__version__)'), scikit-learn)"
fixtures=tests/fixtures/generated
big_flags=(--big)
[[ "${PATCHLENS_BIG:-}" == "1" ]] && big_flags=(--big --big-l16)
"$PY" tests/reference/make_fixtures.py "$fixtures" "${big_flags[@]}"
# The bundled sample must be exactly what its script makes from the shared original.
"$PY" tests/reference/make_sample.py --check

step "native tests (cargo test)"
# --all-features includes `http`: tests/cli_http.rs reads the fixtures through the node checkpoint host.
PATCHLENS_REQUIRE_BIG=1 cargo test --all-features

step "browser tests (wasm-pack test, headless Chromium)"
wasm-pack test --headless --chrome

step "build"
bash scripts/build.sh
# The Jupyter widget's front end, bundled into python/patchlens/_static/ (the wheel carries it).
bash scripts/build-widget.sh

# With `http`, as in the native tests: the CLI the Python and e2e tests compare with reads URLs too.
cargo build --features cli,http --bin patchlens

step "Python package (maturin wheel, mypy, pytest, the widget in Chromium and JupyterLab, a fresh venv)"
bash scripts/test-python.sh

step "end-to-end tests (playwright-core + Chromium)"
node --test --test-concurrency=1 tests/e2e/
