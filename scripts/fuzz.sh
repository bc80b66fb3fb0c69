#!/usr/bin/env bash
# Fuzzes every cargo-fuzz target (or those named) for SECONDS each, starting from its committed seeds
# (fuzz/seeds/<target>/: small valid files written by the real libraries). The growing corpus lives in
# fuzz/corpus/<target>/ (git-ignored); crashes land in fuzz/artifacts/<target>/. Prints, per target, the
# executions run, the coverage reached and whether anything was found. Not part of `npm test`.
# Usage: bash scripts/fuzz.sh [SECONDS] [TARGET...]     (default 180 s per target, every target)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
seconds="${1:-180}"
shift || true
if ! command -v cargo-fuzz >/dev/null; then
    echo "fuzz: installing cargo-fuzz (once per machine)" >&2
    cargo install cargo-fuzz --locked
fi
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
    mapfile -t targets < <(sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^patchlens-fuzz$')
fi
export RUSTC_BOOTSTRAP=1   # cargo-fuzz needs nightly flags; stable rustc accepts them with this
(cd fuzz && for t in "${targets[@]}"; do cargo fuzz build -O "$t" >&2; done)
summary=()
status=0
for target in "${targets[@]}"; do
    seeds="fuzz/seeds/$target"
    corpus="fuzz/corpus/$target"
    mkdir -p "$corpus" "fuzz/artifacts/$target"
    [[ -d "$seeds" ]] || { echo "fuzz: $target has no seeds in $seeds" >&2; status=1; continue; }
    log="fuzz/corpus/$target.log"
    echo "fuzz: $target for ${seconds}s from $(ls "$seeds" | wc -l) seeds" >&2
    set +e
    (cd fuzz && cargo fuzz run -O "$target" "../$corpus" "../$seeds" -- \
        -max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=2048 -timeout=10) >"$log" 2>&1
    code=$?
    set -e
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
    found="nothing found"
    if [[ $code -ne 0 ]]; then found="FOUND a failure (exit $code): see $log and fuzz/artifacts/$target/"; status=1; fi
    summary+=("$target: ${execs:-?} executions, coverage ${cov:-?} edges, $found")
done
printf '%s\n' "${summary[@]}"
exit $status
