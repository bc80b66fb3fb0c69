#!/usr/bin/env bash
# One command from a fresh clone to the demo: install the toolchain, build the module into www/pkg,
# then serve www/ on http://127.0.0.1:${PORT:-8080}/ (Ctrl-C stops it).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh
bash scripts/build.sh
exec node scripts/serve.mjs
