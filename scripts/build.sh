#!/usr/bin/env bash
# Builds the wasm module into pkg/ (the npm package's content) and copies it into www/pkg/ so
# that www/ is a self-contained static site, with the site's small first module beside it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$PWD/node_modules/.bin:$PATH"   # npm's binaryen wasm-opt; Debian's is too old

wasm-pack build --release --target web --out-dir pkg --no-pack
# The site's small first module: the same crate without `full` (.npz/.npy and the filters view), which draws
# the sample while the full module loads (www/worker.js). Its own target directory, so neither build undoes the other's.
CARGO_TARGET_DIR=target/lite wasm-pack build --release --target web --out-dir target/lite/pkg --out-name patchlens_lite \
    --no-pack -- --no-default-features
mkdir -p www/pkg
cp pkg/patchlens.js pkg/patchlens_bg.wasm pkg/patchlens.d.ts pkg/patchlens_bg.wasm.d.ts www/pkg/
cp target/lite/pkg/patchlens_lite.js target/lite/pkg/patchlens_lite_bg.wasm www/pkg/
for wasm in pkg/patchlens_bg.wasm www/pkg/patchlens_lite_bg.wasm; do
    echo "build: $wasm $(stat -c %s "$wasm") bytes ($(gzip -9 -c "$wasm" | wc -c) gzipped)" >&2
done
