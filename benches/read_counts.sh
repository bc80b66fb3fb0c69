#!/usr/bin/env bash
# Read counts (open, default draw, listing) of this tree beside a baseline commit, in one run: the baseline's
# sources are exported to a temporary directory with this tree's examples/reads.rs and built there.
# Usage: bash benches/read_counts.sh BASE_COMMIT [FILE...]   (default files: the Keras and big HDF5 fixtures)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
base="${1:?a baseline commit}"
shift
fixtures="$PWD/tests/fixtures/generated"
files=("$@")
if [[ ${#files[@]} -eq 0 ]]; then
    files=("$fixtures"/keras3_big.keras tests/fixtures/committed/keras/keras3_tiny.keras
           tests/fixtures/committed/keras/keras3_vitlike.keras tests/fixtures/committed/keras/keras3_tiny.weights.h5
           "$fixtures"/tf_model_vit_b16.h5 "$fixtures"/hdf5_big_contiguous.h5 "$fixtures"/hdf5_big_gzip.h5)
fi
tree="$(mktemp -d)"
trap 'rm -rf "$tree"' EXIT
git archive "$base" | tar -x -C "$tree"
cp examples/reads.rs "$tree/examples/"
target="${CARGO_TARGET_DIR:-$PWD/target}"
(cd "$tree" && CARGO_TARGET_DIR="$target-base" cargo build --release --example reads -q)
cargo build --release --example reads -q
echo "baseline $(git rev-parse --short "$base"):"
"$target-base/release/examples/reads" --counts "${files[@]}"
echo "this tree $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src || echo ' + uncommitted changes'):"
"$target/release/examples/reads" --counts "${files[@]}"
