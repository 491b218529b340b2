#!/usr/bin/env bash
# Run the whole test suite (and the lint checks) from a fresh clone: sets up .venv itself.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/venv.sh
ensure_venv requirements-dev.txt
echo "== ruff check" && .venv/bin/ruff check .
echo "== ruff format --check" && .venv/bin/ruff format --check .
echo "== pytest" && .venv/bin/python -m pytest "$@"
