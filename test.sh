#!/usr/bin/env bash
# Run the whole test suite (and the lint checks) from a fresh clone: sets up .venv itself.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/venv.sh
ensure_venv requirements-dev.txt
# openai-node 4.46.0 (the quickstart's version) decodes our Next.js streams in the tests.
if command -v npm >/dev/null 2>&1; then
  if [ ! -f tests/node/node_modules/.package-lock.json ] || ! cmp -s tests/node/package-lock.json tests/node/.installed-lock 2>/dev/null; then
    echo "Installing the Node stream decoder (npm ci in tests/node) ..."
    (cd tests/node && npm ci --no-audit --no-fund --loglevel=error) && cp tests/node/package-lock.json tests/node/.installed-lock
  fi
else
  echo "npm not found: the openai-node decoding tests will be skipped (they fail under CI)."
fi
echo "== ruff check" && .venv/bin/ruff check .
echo "== ruff format --check" && .venv/bin/ruff format --check .
echo "== mypy --strict app" && .venv/bin/mypy
if [ "$#" -gt 0 ]; then
  # Extra arguments: one pytest run with them (./test.sh -k chat -x, ./test.sh tests/api).
  echo "== pytest $*" && .venv/bin/python -m pytest "$@"
else
  # The black-box tests (real processes, the fuzz runs, scale-out) are the slowest: a step of their own.
  echo "== pytest: everything but tests/system" && .venv/bin/python -m pytest --ignore=tests/system
  echo "== pytest: tests/system (processes, fuzzing, restarts, scale-out)" && .venv/bin/python -m pytest tests/system
fi
