#!/usr/bin/env bash
# Refresh docs/app.png (the README's screenshot) from the browser test's picture of the app.
# Runs the quickstart browser test, which drives the app in headless Chromium and saves
# artifacts/browser/*-app.png once the segment is synced.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${VENV:-.venv}/bin
bash scripts/ensure-chromium.sh
"$BIN/python" -m pytest -q -p no:cacheprovider tests/browser/test_browser_quickstart.py
shot=$(ls -t artifacts/browser/*quickstart*-app.png | head -1)
mkdir -p docs
cp "$shot" docs/app.png
echo "docs/app.png updated from $shot"
