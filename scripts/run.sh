#!/usr/bin/env bash
# Install, index seeds/ if there is no index yet, then serve the chat UI on http://127.0.0.1:7860
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate 2>/dev/null || true
if [ ! -f "${RAG_INDEX_DIR:-index}/manifest.json" ]; then
  rag build seeds --index "${RAG_INDEX_DIR:-index}"
fi
exec python -m ui --index "${RAG_INDEX_DIR:-index}" "$@"
