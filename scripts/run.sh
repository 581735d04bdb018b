#!/usr/bin/env bash
# Install, index seeds/ (or $RAG_PAGES: a folder of page files, PDFs and page images) if there is
# no usable index yet, then serve the chat UI on http://127.0.0.1:7860
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate 2>/dev/null || true
# no index yet, or one written by an older version of the index format: (re)build it
if ! python -c 'import sys, pathlib, rag.store.index as i; i.check_manifest(pathlib.Path(sys.argv[1]))' \
    "${RAG_INDEX_DIR:-index}" 2>/dev/null; then
  rag build "${RAG_PAGES:-seeds}" --index "${RAG_INDEX_DIR:-index}" --full
fi
exec python -m ui --index "${RAG_INDEX_DIR:-index}" "$@"
