#!/usr/bin/env bash
# Installs everything patchlens needs to build and test on a fresh Debian machine, skipping what
# is already there: the wasm target, wasm-pack and wasm-bindgen-cli (versions from TOOLCHAIN.md),
# npm devDependencies (playwright-core, binaryen's wasm-opt) and, with --browser, Chromium.
# Usage: bash scripts/setup.sh [--browser]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

WASM_PACK_VERSION=0.15.1
# Must equal the wasm-bindgen version pinned in Cargo.toml, or wasm-pack tries to fetch another.
WASM_BINDGEN_VERSION=$(sed -n 's/^wasm-bindgen = "=\(.*\)"$/\1/p' Cargo.toml)

log() { echo "setup: $*" >&2; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    log "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
fi
if [[ "$(wasm-pack --version 2>/dev/null)" != "wasm-pack $WASM_PACK_VERSION" ]]; then
    log "installing wasm-pack $WASM_PACK_VERSION (a few minutes, once per machine)"
    cargo install wasm-pack --version "$WASM_PACK_VERSION" --locked
fi
if [[ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $WASM_BINDGEN_VERSION" ]]; then
    log "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (a few minutes, once per machine)"
    # Not --locked: its lockfile pins a webpki-roots the registry here lacks (TOOLCHAIN.md).
    cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
fi
if [[ ! -x node_modules/.bin/wasm-opt || package-lock.json -nt node_modules/.package-lock.json ]]; then
    log "installing npm devDependencies"
    npm ci --no-audit --no-fund
fi
if [[ "${1:-}" == "--browser" ]] && ! { [[ -x /usr/bin/chromium ]] && [[ -x /usr/bin/chromedriver ]]; }; then
    log "installing Chromium and ChromeDriver from Debian"
    sudo_cmd=""; [[ $(id -u) -eq 0 ]] || sudo_cmd=sudo
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq chromium chromium-driver >/dev/null
fi
