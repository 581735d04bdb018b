#!/usr/bin/env bash
# Create .venv (unless a virtualenv is active) and install the project.
# Usage: scripts/setup.sh [extra]   e.g. scripts/setup.sh dev
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${VIRTUAL_ENV:-}" ]; then
  if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
  fi
  # shellcheck disable=SC1091
  . .venv/bin/activate
fi
python -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
# torch first, and the CPU build: a plain "torch" requirement pulls several GB of CUDA
# packages. Where torch is already installed nothing is changed.
if ! python -c "import torch" >/dev/null 2>&1; then
  pip install --quiet "torch==2.13.0"
fi
if [ -n "${1:-}" ]; then
  pip install --quiet -e ".[$1]"
else
  pip install --quiet -e .
fi
