#!/usr/bin/env bash
# The benchmark, in one command: ./bench/run.sh [--quick] [--profile] [--v1] [--streams] [--only KEYS] (see bench/run.py).
# Sets up .venv itself (requirements-bench.txt: the service's, the tests' and psutil/pyinstrument).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh
ensure_venv requirements-bench.txt
exec .venv/bin/python -m bench.run "$@"
