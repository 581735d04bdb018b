#!/usr/bin/env bash
# Install, index seeds/ if there is no index yet, then serve the chat UI on http://127.0.0.1:7860
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate 2>/dev/null || true
if [ ! -f "${RAG_INDEX_DIR:-index}/manifest.json" ]; then
  rag build seeds --index "${RAG_INDEX_DIR:-index}"
fi
if [ -f ui/__main__.py ]; then
  exec python -m ui --index "${RAG_INDEX_DIR:-index}" "$@"
fi
echo "index ready in ${RAG_INDEX_DIR:-index}/; the chat UI is not part of this version yet." >&2
echo "try: .venv/bin/rag ask \"西海岸新区首批成立了哪些产业链党建联盟？\"" >&2
