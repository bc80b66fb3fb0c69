#!/usr/bin/env bash
# Builds the Jupyter widget's front end: python/widget/*.js and the wasm-bindgen glue (pkg/patchlens.js, from
# scripts/build.sh) bundled into ONE ES module, python/patchlens/_static/widget.js, with pkg/patchlens_bg.wasm
# beside it (the Python side sends its bytes to the front end). Both are generated, and git-ignored.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$PWD/node_modules/.bin:$PATH"

for file in pkg/patchlens.js pkg/patchlens_bg.wasm; do
    [[ -f "$file" ]] || { echo "build-widget: $file is missing; build the module first with \`bash scripts/build.sh\`." >&2; exit 1; }
done
mkdir -p python/patchlens/_static
vite build --config python/widget/vite.config.mjs
cp pkg/patchlens_bg.wasm python/patchlens/_static/patchlens_bg.wasm
echo "build-widget: python/patchlens/_static/widget.js $(stat -c %s python/patchlens/_static/widget.js) bytes," \
    "patchlens_bg.wasm $(stat -c %s python/patchlens/_static/patchlens_bg.wasm) bytes" >&2
