#!/usr/bin/env bash
# The floors check: every dependency installed at exactly its declared floor (pyproject.toml's
# `>=` versions, base and the lab, excel and test extras) in a venv of its own, then the unit,
# widget, engine and emulator tiers run there. A floor the code does not work with fails here.
# uv (from the dev extra) makes the venv in seconds; pip is the fallback.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${VENV:-.venv}/bin
floors=${FLOORS_VENV:-.venv-floors}
extras=(lab excel test)

start=$(date +%s)
pins=$(mktemp "${TMPDIR:-/tmp}/segwidgets-floors.XXXXXX")
trap 'rm -f "$pins"' EXIT
"$BIN/python" scripts/floors.py pins "${extras[@]}" >"$pins"
echo "== floors: $(tr '\n' ' ' <"$pins")"

spec=".[$(IFS=,; echo "${extras[*]}")]"
if [ -x "$BIN/uv" ]; then
  "$BIN/uv" venv --quiet --clear --python "$BIN/python" "$floors"
  "$BIN/uv" pip install --quiet --python "$floors/bin/python" -c "$pins" -e "$spec"
else
  "$BIN/python" -m venv --clear "$floors"
  "$floors/bin/python" -m pip install --quiet --disable-pip-version-check -c "$pins" -e "$spec"
fi
"$floors/bin/python" scripts/floors.py check "$pins"
echo "== floors: installed in $(($(date +%s) - start)) s; unit, widget, engine and emulator tiers"
# Outside the checkout's venv: the package and its dependencies come from the floors venv.
PATH="$PWD/$floors/bin:$PATH" "$floors/bin/python" -m pytest -p no:cacheprovider -q \
  tests/unit tests/widgets tests/engine tests/emulator "$@"
echo "== floors: OK in $(($(date +%s) - start)) s"
