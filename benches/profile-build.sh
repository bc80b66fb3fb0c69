#!/usr/bin/env bash
# Builds a copy of the site whose module keeps its function names (the release build strips them), for
# benches/profile.mjs: the CPU profile then names each wasm function. Same code and wasm-opt level as
# scripts/build.sh, plus the name section (a few percent larger, so it loads a little slower).
# Usage: bash benches/profile-build.sh [OUT]   (default /tmp/patchlens-profile; the site in OUT/www)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${1:-/tmp/patchlens-profile}"
export PATH="$PWD/node_modules/.bin:$PATH"
CARGO_PROFILE_RELEASE_STRIP=none CARGO_PROFILE_RELEASE_DEBUG=line-tables-only CARGO_TARGET_DIR="$out/target" \
    cargo build --lib --release --target wasm32-unknown-unknown
rm -rf "$out/www" && cp -r www "$out/www"
wasm-bindgen --keep-debug --target web --out-dir "$out/www/pkg" "$out/target/wasm32-unknown-unknown/release/patchlens.wasm"
wasm-opt -O3 -g --strip-dwarf --enable-bulk-memory --enable-nontrapping-float-to-int --enable-simd \
    "$out/www/pkg/patchlens_bg.wasm" -o "$out/www/pkg/patchlens_bg.wasm"
echo "profile build: $out/www ($(stat -c %s "$out/www/pkg/patchlens_bg.wasm") bytes of wasm, with names)" >&2
