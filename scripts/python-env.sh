#!/usr/bin/env bash
# Creates or refreshes the repo's Python venv (.venv) for the reference scripts in tests/reference/ and the
# Python package (python/), rebuilding it only when either requirements.txt changed; prints the venv's python path.
# Usage: PY="$(scripts/python-env.sh)" && "$PY" tests/reference/make_fixtures.py OUTDIR   (logs go to stderr)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
requirements="$root/tests/reference/requirements.txt"
package_requirements="$root/python/requirements.txt"   # the Python package's build and tests
venv="$root/.venv"
stamp="$venv/.requirements.sha256"   # hash of requirements.txt the venv was built from
base_python="${PYTHON:-python3}"

log() { echo "python-env: $*" >&2; }

want="$(cat "$requirements" "$package_requirements" | sha256sum | cut -d' ' -f1)"
if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    echo "$venv/bin/python"
    exit 0
fi

# The pinned numpy needs Python >= 3.11.
if ! "$base_python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    log "need Python >= 3.11, found $("$base_python" --version 2>&1); set PYTHON=/path/to/python3.11"
    exit 1
fi

log "building $venv from $requirements"
pip_flags=(--disable-pip-version-check --no-input --quiet)
if "$base_python" -m venv --clear "$venv" >&2; then
    venv_pip=("$venv/bin/python" -m pip)
else
    # Debian without python3-venv has no ensurepip: make the venv bare and let the system pip fill it.
    log "venv without ensurepip; using $base_python -m pip --python to bootstrap pip"
    "$base_python" -m venv --clear --without-pip "$venv" >&2
    "$base_python" -m pip --python "$venv/bin/python" install "${pip_flags[@]}" pip >&2
    venv_pip=("$venv/bin/python" -m pip)
fi
"${venv_pip[@]}" install "${pip_flags[@]}" --requirement "$requirements" --requirement "$package_requirements" >&2
"$venv/bin/python" -c 'import numpy, sklearn, ml_dtypes, safetensors.numpy, onnx, gguf, h5py, msgpack, maturin, pytest, anywidget, nbclient' >&2

echo "$want" > "$stamp"
echo "$venv/bin/python"
