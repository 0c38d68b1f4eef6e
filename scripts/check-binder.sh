#!/usr/bin/env bash
# A local stand-in for a Binder build (no docker here, so repo2docker cannot run):
#   fresh venv → pip install -r binder/requirements.txt from the repository root → postBuild
#   → the widget manager is listed by `jupyter labextension list` → the notebooks run under
#   nbval in that venv, with no credentials set.
# It costs one to two minutes, most of it installing JupyterLab. Nothing in the repository
# is changed: the venv, settings and notebook copies live in a temporary folder.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

python=${PYTHON:-python3.11}
# binder/runtime.txt pins the Python version Binder uses; the check uses the same one.
want=$(sed -n 's/^python-//p' binder/runtime.txt)
have=$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
if [ "$want" != "$have" ]; then
  echo "check-binder: binder/runtime.txt asks for Python $want but $python is $have" >&2
  exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/segwidgets-binder.XXXXXX")
trap 'rm -rf "$work"' EXIT
venv="$work/venv"

echo "== binder: fresh venv ($python)"
"$python" -m venv "$venv"
# nbval (the test runner) is the only extra this check needs. One resolver pass, and no
# byte-compiling of every installed module (Python compiles what it imports).
echo "== binder: pip install -r binder/requirements.txt"
"$venv/bin/python" -m pip install -qq --disable-pip-version-check --no-compile \
  -r binder/requirements.txt "nbval>=0.11"

echo "== binder: postBuild"
export JUPYTERLAB_SETTINGS_DIR="$work/lab-settings"
env -u SHOPGATE_MERCHANT_CODE -u SHOPGATE_CLIENT_ID -u SHOPGATE_CLIENT_SECRET \
  -u SHOPGATE_USERNAME -u SHOPGATE_PASSWORD -u SHOPGATE_BASE_URL -u SHOPGATE_ENV \
  PATH="$venv/bin:$PATH" bash binder/postBuild
test -f "$JUPYTERLAB_SETTINGS_DIR/@jupyterlab/apputils-extension/notification.jupyterlab-settings"

echo "== binder: jupyter labextension list"
extensions=$("$venv/bin/jupyter" labextension list 2>&1)
if ! grep -q "@jupyter-widgets/jupyterlab-manager.*enabled.*OK" <<<"$extensions"; then
  echo "$extensions" >&2
  echo "check-binder: the widget manager is not installed in the Binder environment" >&2
  exit 1
fi
if ! grep -q "anywidget.*enabled.*OK" <<<"$extensions"; then
  echo "$extensions" >&2
  echo "check-binder: anywidget's extension is not installed in the Binder environment" >&2
  exit 1
fi

echo "== binder: segwidgets is installed from the repository, not from this checkout's venv"
(cd "$work" && "$venv/bin/python" -c 'import segwidgets, sys; assert sys.prefix != sys.base_prefix; print(segwidgets.__file__)') \
  | grep -q "$venv"

echo "== binder: notebooks under nbval (no credentials)"
cp -r "$repo/notebooks" "$work/notebooks"
rm -rf "$work/notebooks/.ipynb_checkpoints"
# An empty config file: the repository's pytest options name plugins this venv lacks.
: >"$work/pytest.ini"
(
  cd "$work"
  env -u SHOPGATE_MERCHANT_CODE -u SHOPGATE_CLIENT_ID -u SHOPGATE_CLIENT_SECRET \
    -u SHOPGATE_USERNAME -u SHOPGATE_PASSWORD -u SHOPGATE_BASE_URL -u SHOPGATE_ENV \
    "$venv/bin/python" -m pytest -c pytest.ini -p no:cacheprovider -q \
    --nbval-lax --nbval-current-env \
    --nbval-sanitize-with "$repo/tests/notebooks/nbval-sanitize.cfg" \
    notebooks
)
echo "== binder: OK"
