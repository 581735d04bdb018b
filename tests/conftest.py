"""Shared fixtures: the real model and one index of the real seeds, built once per session."""

from __future__ import annotations

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


def terminal_noise(stderr: str) -> list[str]:
    """Lines a command wrote to stderr besides its progress bars (pages, chunks, embedding)."""
    return [
        line
        for line in stderr.replace("\r", "\n").splitlines()
        if line.strip() and not line.startswith(("pages:", "chunks:", "embedding:"))
    ]
