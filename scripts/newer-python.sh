#!/usr/bin/env bash
# The unit and widget tiers on the newest Python 3.12+ this machine has (PATH or pyenv), in a
# venv of its own with the latest dependencies: the release and floors checks use the .venv's
# Python, this one the newest. Nothing is downloaded but packages: without such a Python the
# step says so and passes.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${VENV:-.venv}/bin
target=${NEWER_VENV:-.venv-newest}

interpreter=""
for version in 3.14 3.13 3.12; do
  for candidate in "python$version" "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$version".*/bin/"python$version"; do
    if command -v "$candidate" >/dev/null 2>&1 \
      && "$candidate" -c "import sys; sys.exit(sys.version_info[:2] != tuple(map(int, '$version'.split('.'))))" 2>/dev/null; then
      interpreter=$(command -v "$candidate")
      break 2
    fi
  done
done
if [ -z "$interpreter" ]; then
  echo "== newer python: no Python 3.12 or newer on this machine; step skipped"
  exit 0
fi

start=$SECONDS
echo "== newer python: $("$interpreter" -VV | head -1) ($interpreter)"
if [ -x "$BIN/uv" ]; then
  "$BIN/uv" venv --quiet --clear --python "$interpreter" "$target"
  "$BIN/uv" pip install --quiet --python "$target/bin/python" -e ".[excel,test]"
else
  "$interpreter" -m venv --clear "$target"
  "$target/bin/python" -m pip install --quiet --disable-pip-version-check -e ".[excel,test]"
fi
"$target/bin/python" -m pytest -p no:cacheprovider -q tests/unit tests/widgets "$@"
echo "== newer python: OK in $((SECONDS - start)) s"
