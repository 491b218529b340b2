#!/usr/bin/env bash
# Start the chat backend (python -m app: the app under Granian) on http://localhost:8000 (HOST/PORT from the environment or .env).
set -euo pipefail
cd "$(dirname "$0")"
source scripts/venv.sh
ensure_venv requirements.txt
if [ ! -f .env ]; then
  echo "No .env found: using the environment only (copy env.example to .env to configure)."
fi
exec .venv/bin/python -m app "$@"
