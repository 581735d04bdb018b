#!/usr/bin/env bash
# Install the development tools and run lint, type checks and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
. .venv/bin/activate 2>/dev/null || true
ruff check .
ruff format --check .
mypy
# pytest exits 5 when no test ran; set -e turns that into a failure.
python -m pytest -q "$@"
