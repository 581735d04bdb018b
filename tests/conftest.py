"""Shared fixtures: the real model and one index of the real seeds, built once per session."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"
SHARED_EVAL = ROOT.parent / "shared" / "eval"


@pytest.fixture(scope="session")
def embedder():
    from rag.models.embed import load_embedder

    return load_embedder()


@pytest.fixture(scope="session")
def seed_index(tmp_path_factory, embedder) -> Path:
    from rag.store.index import build_index

    path = tmp_path_factory.mktemp("idx") / "index"
    build_index(SEEDS, path, embedder)
    return path


@pytest.fixture(scope="session")
def runtime(seed_index, embedder):
    from rag.qa.retrieve import get_runtime

    return get_runtime(seed_index, embedder)


@pytest.fixture(scope="session")
def ocr_cache(tmp_path_factory):
    old = os.environ.get("RAG_OCR_CACHE")
    path = tmp_path_factory.mktemp("ocr-cache")
    os.environ["RAG_OCR_CACHE"] = str(path)
    yield path
    if old is None:
        os.environ.pop("RAG_OCR_CACHE", None)
    else:
        os.environ["RAG_OCR_CACHE"] = old


@pytest.fixture(scope="session")
def made(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("scans")
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_scans.py"), str(SEEDS), str(out)],
        check=True,
        capture_output=True,
    )
    return out


def terminal_noise(stderr: str) -> list[str]:
    """Lines a command wrote to stderr besides its progress bars (pages, chunks, embedding)."""
    return [
        line
        for line in stderr.replace("\r", "\n").splitlines()
        if line.strip() and not line.startswith(("pages:", "chunks:", "embedding:"))
    ]


@pytest.fixture(scope="session", params=["shipped", "int8"])
def graph_reader(request):
    """Dev floors run on the graph that answers by default (float) and on the opt-in int8
    graph: ``None`` (rag.answer's own default reader) or the int8 export as a reader object."""
    if request.param == "shipped":
        return None
    from rag.models.reader import OnnxReader, load_reader

    return OnnxReader(load_reader().graph.parent, int8=True)
