#!/bin/sh
# Principal components step by step (examples/pca_steps.rs) for a baseline commit and for the working tree,
# natively and in wasm, one after the other in one run. The wasm build is the module's: +simd128 and
# wasm-opt -O3 with its flags, built for WASI so that the same code reads a clock, run in Node's V8.
#
#   benches/pca_steps.sh BASE_REV [checkpoint ...]     (default: B/16 .npz and the random L/16 kernel)
#
# Each engine runs base then new, twice over (base new base new), so a change in the machine's load shows.
# In wasm, "cold" is a fresh process's first view; "after warm-up" runs analysis::warm_up first, as the
# page's worker does when idle. The parity of both builds is checked against tests/fixtures/generated/pca.json.
set -eu
base=${1:?usage: benches/pca_steps.sh BASE_REV [checkpoint ...]}
shift
root=$(git rev-parse --show-toplevel)
cd "$root"
fixtures=tests/fixtures/generated
[ $# -gt 0 ] || set -- "$fixtures/augreg_b16.npz" "$fixtures/pca_random_l16.npy"
target=${CARGO_TARGET_DIR:-$root/target}
wasm_opt=${WASM_OPT:-$root/node_modules/.bin/wasm-opt}
[ -x "$wasm_opt" ] || wasm_opt=/work/main/node_modules/.bin/wasm-opt
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/base" "$work/bin"
git archive "$base" | tar -x -C "$work/base"
# The baseline is timed by today's harness (it needs only Pca::fit_marked, in every commit since it came).
cp examples/pca_steps.rs "$work/base/examples/"

build() { # source directory, target directory, label
  # Each its own target directory: cargo does not copy a fresh binary out again, so a shared one could hand
  # back the other tree's build.
  (cd "$1" && CARGO_TARGET_DIR="$2" cargo build -q --release --example pca_steps)
  cp "$2/release/examples/pca_steps" "$work/bin/$3.native"
  (cd "$1" && CARGO_TARGET_DIR="$2" RUSTFLAGS="-C target-feature=+simd128" \
    cargo build -q --release --example pca_steps --target wasm32-wasip1)
  "$wasm_opt" -O3 --enable-bulk-memory --enable-nontrapping-float-to-int --enable-simd --enable-sign-ext \
    --enable-mutable-globals "$2/wasm32-wasip1/release/examples/pca_steps.wasm" -o "$work/bin/$3.wasm"
}
build "$work/base" "$target/pca-steps-base" base
build "$root" "$target" new

for label in base new; do
  echo "== parity, wasm, $label ($([ $label = base ] && echo "$base" || echo working tree))"
  node --no-warnings benches/wasi.mjs "$work/bin/$label.wasm" --parity "$fixtures"
done
for round in 1 2; do
  for label in base new; do
    echo "== native, $label, round $round"
    "$work/bin/$label.native" "$@"
    echo "== wasm, $label, round $round"
    node --no-warnings benches/wasi.mjs "$work/bin/$label.wasm" "$@"
  done
done
for label in base new; do
  for warm in cold page-warm-up; do
    echo "== wasm, $label, first fit of $1 in a fresh process, $warm"
    flag=$([ $warm = cold ] && echo "" || echo --page-warm-up)
    node --no-warnings benches/wasi.mjs "$work/bin/$label.wasm" $flag --runs 2 --warm 0 "$1" | grep -E "wasm|fit \+ tiles|render_pca"
  done
done
