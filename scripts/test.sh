#!/usr/bin/env bash
# Install the development tools and run lint, type checks and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev,ray
. .venv/bin/activate 2>/dev/null || true
# The browser tests drive Debian's Chromium (Playwright cannot download its own browser here);
# the CJK font makes their screenshots readable and lays out the test scans
# (scripts/make_scans.py).
if { [ ! -x /usr/bin/chromium ] || [ ! -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ]; } \
    && command -v apt-get >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq chromium chromium-driver fonts-wqy-microhei >/dev/null
fi
ruff check .
ruff format --check .
mypy
lint-imports --no-cache
# pytest exits 5 when no test ran; set -e turns that into a failure.
python -m pytest -q "$@"
