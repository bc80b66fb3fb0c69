#!/usr/bin/env bash
# What the wasm modules are made of (not a test): the size of each module as served (raw and gzip -9), then the
# full module's code by part — the crate's own modules, each dependency, the data segments — from twiggy over a
# build that keeps function names (benches/profile-build.sh; names add ~9 % that the release module does not have).
# Usage: bash benches/size.sh   (after bash scripts/build.sh)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v twiggy >/dev/null || cargo install --locked twiggy@0.8.0
echo "| module | bytes | gzipped |"
echo "|---|---|---|"
for wasm in www/pkg/patchlens_lite_bg.wasm www/pkg/patchlens_bg.wasm; do
    echo "| $(basename "$wasm") | $(stat -c %s "$wasm") | $(gzip -9 -c "$wasm" | wc -c) |"
done
bash benches/profile-build.sh /tmp/patchlens-profile >/dev/null 2>&1
echo
twiggy top -n 1000000 -f csv /tmp/patchlens-profile/www/pkg/patchlens_bg.wasm | python3 -c '
import csv, re, sys, collections
parts = collections.Counter()
for row in csv.DictReader(sys.stdin):
    name, size = row["Name"], int(row["ShallowSize"])
    if name.startswith("data segment"):
        part = "data (strings, tables)"
    elif "names\" subsection" in name:
        continue  # the name section itself: not in the release module
    else:
        m = re.match(r"<?(?:<)?([a-z_0-9]+)(?:\[[0-9a-f]+\])?::([a-z_0-9]+)(?:::([a-z_0-9]+))?", name)
        if not m:
            part = "other (glue, shims)"
        elif m.group(1) == "patchlens":
            sub = m.group(3) if m.group(2) in ("container", "analysis", "remote", "web") and m.group(3) else None
            part = "patchlens::" + m.group(2) + ("::" + sub if sub else "")
        else:
            part = m.group(1)
    parts[part] += size
total = sum(parts.values())
print("| part of the full module | bytes | share |")
print("|---|---|---|")
for part, size in parts.most_common(30):
    print(f"| {part} | {size} | {100 * size / total:.1f} % |")
print(f"| (all) | {total} | 100 % |")
'
