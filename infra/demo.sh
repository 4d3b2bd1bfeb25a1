#!/usr/bin/env bash
# The main job on the embedded default: simulate a practice into ./rcm-ledger.db and print its summary.
#   infra/demo.sh [rcm demo options, e.g. --claims 20000 --seed 3 --db postgresql://...]
set -euo pipefail
cd "$(dirname "$0")/.."
source infra/venv.sh
exec "$VENV/bin/rcm" demo "$@"
