#!/usr/bin/env bash
# Builds the wasm module into pkg/ (the npm package's content) and copies it into www/pkg/ so
# that www/ is a self-contained static site.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$PWD/node_modules/.bin:$PATH"   # npm's binaryen wasm-opt; Debian's is too old

wasm-pack build --release --target web --out-dir pkg --no-pack
mkdir -p www/pkg
cp pkg/patchlens.js pkg/patchlens_bg.wasm pkg/patchlens.d.ts pkg/patchlens_bg.wasm.d.ts www/pkg/
echo "build: pkg/patchlens_bg.wasm $(stat -c %s pkg/patchlens_bg.wasm) bytes ($(gzip -c pkg/patchlens_bg.wasm | wc -c) gzipped)" >&2
