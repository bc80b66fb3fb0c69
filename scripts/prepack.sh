#!/usr/bin/env bash
# `npm pack` / `npm publish` run this first: the tarball must carry the wasm module (pkg/), which a fresh
# clone does not have. Builds it when it is missing or older than the crate's sources; otherwise says so.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
module=pkg/patchlens_bg.wasm
if [[ -f "$module" ]] && [[ -z "$(find src Cargo.toml Cargo.lock -newer "$module" -print -quit)" ]]; then
    echo "prepack: $module is up to date" >&2
    exit 0
fi
echo "prepack: building $module for the package (scripts/build.sh)" >&2
export PATH="$PWD/node_modules/.bin:$PATH"
# The toolchain, unless it is already there (a machine that ran `npm test` or `npm start` has it).
if ! command -v wasm-pack >/dev/null || ! command -v wasm-opt >/dev/null; then
    bash scripts/setup.sh
fi
bash scripts/build.sh
