#!/usr/bin/env bash
# The browser tests drive JupyterLab in a system Chromium (never a browser Playwright
# downloads). Find one; on Debian-like systems install it when missing (root or sudo).
# Elsewhere say where to get it: without one the browser tests are skipped (CI fails).
set -euo pipefail
if [ -n "${SEGWIDGETS_CHROMIUM:-}" ] && [ -x "$SEGWIDGETS_CHROMIUM" ]; then exit 0; fi
for candidate in /usr/bin/chromium chromium chromium-browser google-chrome google-chrome-stable \
  "/Applications/Chromium.app/Contents/MacOS/Chromium" \
  "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome"; do
  if command -v "$candidate" >/dev/null 2>&1 || [ -x "$candidate" ]; then exit 0; fi
done

if command -v apt-get >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then sudo=(); elif command -v sudo >/dev/null 2>&1; then sudo=(sudo); else sudo=(none); fi
  if [ "${sudo[0]:-}" != none ]; then
    echo "== installing chromium (Debian package) for the browser tests"
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    exit 0
  fi
fi

cat >&2 <<'MSG'
chromium: not found, so the browser tests will be skipped (in CI, CI=true, they fail).
  Debian/Ubuntu: sudo apt-get install chromium
  macOS:         brew install --cask chromium   (or install Google Chrome)
  Windows:       install Google Chrome or Chromium, then set SEGWIDGETS_CHROMIUM to its .exe
  Any system:    SEGWIDGETS_CHROMIUM=/path/to/chromium make test
MSG
