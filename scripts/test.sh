#!/usr/bin/env bash
# The whole test suite: lint, type check, then every tier. `make test` and CI run this.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${VENV:-.venv}/bin

bash scripts/ensure-chromium.sh

echo "== ruff"; "$BIN/ruff" check . && "$BIN/ruff" format --check .
echo "== mypy"; "$BIN/mypy"
echo "== pytest"
exec "$BIN/python" -m pytest "$@"
