"""The extractive reader: a span-prediction model (start/end logits) run with ONNX Runtime.

The reader reads a question with short context windows and proposes answer spans, each with a
score, plus the window's no-answer score (the logits at the first token, as in SQuAD 2.0
readers). Nothing here imports torch: the model is exported once to ONNX by
``rag.models.reader_model`` (in a subprocess when called from here), and windowing and decoding are
plain numpy, shared with training so both see the same inputs.

The default reader is the package's own fine-tune of the default embedding model (see
``rag/models/README.md``); any Hugging Face extractive-QA model directory can replace it
(``RAG_READER=DIR``, ``rag ask --reader DIR``, ``python -m ui --reader DIR``).
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from rag.errors import ModelError
from rag.models.batching import BatchQueue
from rag.models.files import (
    load_tokenizer,
    model_cache_dir,
    onnx_session,
    pad_id_of,
    run_module,
    sha256_file,
)

log = logging.getLogger(__name__)
READER_ENV = "RAG_READER"
MAX_LEN = 160  # tokens per window, specials included
QUESTION_TOKENS = 32  # the question is cut to this many tokens
STRIDE = 64  # context tokens shared by neighbouring windows of one long context
MAX_ANSWER_TOKENS = 40
READ_TOP = 20  # spans kept per question (and best starts/ends per window) when answering
ONNX_NAME = "reader.onnx"
INT8_NAME = "reader.int8.onnx"  # the same model with int8 matrix products (7-bit weights)
INT8_ENV = "RAG_READER_INT8"  # 1: answer with the int8 graph, 0: with the float one
LENGTH_PRIOR = 0.5  # logits per log(1 + answer chars): see Span.ranked
# The float graph answers by default: the int8 one, even with 7-bit weights (exact integer
# products) and a scale per window, reads logits up to 1.3 apart on a CPU without AVX-512
# (float kernels round apart, and quantising every layer's input turns that into whole steps);
# the float graph's logits agree to float rounding. README "Same answers on every CPU (#27)".
INT8_DEFAULT = False
# 2: also an int8 graph; 3: its weights in 7 bits (exact on CPUs without VNNI). A new version
# exports readers again.
EXPORT_VERSION = 3

# Characters never worth keeping at either end of an answer span.
_EDGE_PUNCT = set("，。、；：！？,.;:!?…—-·～~ \u3000\t\n\r")
_PAIRS = {"《": "》", "“": "”", "（": "）", "(": ")", "「": "」", "『": "』", "【": "】", "‘": "’"}
_CLOSERS = {v: k for k, v in _PAIRS.items()}


@dataclass(frozen=True)
class Window:
    """One model input: the question with a slice of one context."""

    context: int  # which context of the batch it reads
    ids: list[int]
    type_ids: list[int]
    offsets: list[tuple[int, int]]  # char span in the context per token; (-1, -1) outside it


@dataclass(frozen=True)
class Span:
    """An answer candidate: ``contexts[context][start:end]``."""

    context: int
    start: int
    end: int
    score: float  # start + end logit
    null: float  # the window's no-answer score (first token's start + end logits)

    @property
    def margin(self) -> float:
        """How far the span beats "no answer" in its own window."""
        return self.score - self.null

    @property
    def ranked(self) -> float:
        """The score spans are ranked by: ``score`` plus a small prior for longer spans.

        Most training answers are short (DRCD's median is 4 characters) while CMRC-style and
        newspaper answers are whole phrases (medians 12-19); the prior offsets that bias
        (CMRC 2018 trial questions 301-1000, passage given, EM / F1: 27.7 / 61.1 without it,
        27.9 / 62.0 at 0.25, 28.0 / 61.9 at 0.5; asked through ``rag.answer``, 0.5 is best by
        0.5-0.9 F1 in ``benchmarks/tune_answer.py``).
        """
        return self.score + LENGTH_PRIOR * math.log1p(self.end - self.start)


class Reader(Protocol):
    """What ``rag.answer`` needs from a reader (a fake in tests, ONNX in use)."""

    name: str

    def read(self, question: str, contexts: Sequence[str], top: int = 5) -> list[Span]:
        """Best spans over all ``contexts``, best first."""
        ...


# ----------------------------------------------------------------------------- windows


def windows(
    tok,  # type: ignore[no-untyped-def]
    question: str,
    contexts: Sequence[str],
    max_len: int = MAX_LEN,
    stride: int = STRIDE,
) -> list[Window]:
    """Cut each context into overlapping windows that fit beside the question.

    The tokenizer's own post-processor adds the special tokens, so BERT-style
    (``[CLS] q [SEP] c [SEP]``) and XLM-R-style (``<s> q </s></s> c </s>``) models both work.
    """
    q = tok.encode(question, add_special_tokens=False)
    if len(q.ids) > QUESTION_TOKENS:
        q.truncate(QUESTION_TOKENS)
    room = max_len - len(q.ids) - tok.num_special_tokens_to_add(True)
    out: list[Window] = []
    for ci, text in enumerate(contexts):
        if not text:
            continue
        enc = tok.encode(text, add_special_tokens=False)
        if not enc.ids:
            continue
        enc.truncate(room, stride=min(stride, room - 1))
        for part in [enc, *enc.overflowing]:
            if not part.ids:
                continue
            pair = tok.post_process(q, part, add_special_tokens=True)
            seq = pair.sequence_ids
            offsets = [
                (int(a), int(b)) if s == 1 else (-1, -1)
                for s, (a, b) in zip(seq, pair.offsets, strict=True)
            ]
            out.append(Window(ci, list(pair.ids), list(pair.type_ids), offsets))
    return out


def batch_arrays(batch: Sequence[Window], pad_id: int) -> dict[str, np.ndarray]:
    """Pad windows to the longest: int64 ``input_ids``, ``attention_mask``, ``token_type_ids``."""
    width = max(len(w.ids) for w in batch)
    ids = np.full((len(batch), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(batch), width), dtype=np.int64)
    types = np.zeros((len(batch), width), dtype=np.int64)
    for i, w in enumerate(batch):
        ids[i, : len(w.ids)] = w.ids
        mask[i, : len(w.ids)] = 1
        types[i, : len(w.ids)] = w.type_ids
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


# ----------------------------------------------------------------------------- decoding


def tidy(text: str, start: int, end: int) -> tuple[int, int]:
    """Trim a span to what a reader would quote: no edge punctuation or spaces, no unmatched
    bracket or quote at one end, no broken number (``3.2`` keeps its ``%``)."""
    while start < end and (text[start] in _EDGE_PUNCT or text[start].isspace()):
        start += 1
    while end > start and (text[end - 1] in _EDGE_PUNCT or text[end - 1].isspace()):
        end -= 1
    if start < end and text[start] in _PAIRS and _PAIRS[text[start]] not in text[start:end]:
        if end < len(text) and text[end] == _PAIRS[text[start]]:
            end += 1  # complete 《名称 → 《名称》
        else:
            start += 1
    if start < end and text[end - 1] in _CLOSERS:
        opener = _CLOSERS[text[end - 1]]
        if opener not in text[start : end - 1]:
            if start > 0 and text[start - 1] == opener:
                start -= 1  # complete 名称》 → 《名称》
            else:
                end -= 1
    # a number cut before its percent sign or decimal part
    while end < len(text) and end > start and text[end - 1].isdigit():
        nxt = text[end]
        decimal = nxt in ".．" and end + 1 < len(text) and text[end + 1].isdigit()
        if decimal:
            end += 2
        elif nxt in "%％‰" or nxt.isdigit():
            end += 1
        else:
            break
    return start, end


def decode(
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    win: Window,
    text: str,
    top: int = 20,
    max_tokens: int = MAX_ANSWER_TOKENS,
) -> list[Span]:
    """The best spans of one window (context tokens only), tidied, best first."""
    ctx = np.array([a >= 0 for a, _ in win.offsets])
    n = len(win.offsets)
    s = np.where(ctx, start_logits[:n], -np.inf)
    e = np.where(ctx, end_logits[:n], -np.inf)
    null = float(start_logits[0] + end_logits[0])
    k = min(top, int(ctx.sum()))
    if k == 0:
        return []
    starts = np.argsort(-s)[:k]
    ends = np.argsort(-e)[:k]
    seen: set[tuple[int, int]] = set()
    out: list[Span] = []
    for i in starts:
        for j in ends:
            if j < i or j - i + 1 > max_tokens:
                continue
            a, b = tidy(text, win.offsets[i][0], win.offsets[j][1])
            if a >= b or (a, b) in seen:
                continue
            seen.add((a, b))
            out.append(Span(win.context, a, b, float(s[i] + e[j]), null))
    out.sort(key=lambda x: -x.ranked)
    return out


# ----------------------------------------------------------------------------- ONNX reader


RUN_WINDOWS = 16  # windows per ONNX run
QUEUE_WINDOWS = 64  # windows of concurrent questions taken into one batch at most


class OnnxReader:
    """Reads with an ONNX export of a Hugging Face extractive-QA model (``reader_model``).

    Safe to call from several threads: ONNX Runtime sessions are thread-safe.
    """

    def __init__(
        self,
        export_dir: Path,
        name: str | None = None,
        threads: int = 0,
        int8: bool | None = None,
    ) -> None:
        if int8 is None:
            int8 = os.environ.get(INT8_ENV, "1" if INT8_DEFAULT else "0") == "1"
        graph = export_dir / INT8_NAME if int8 and (export_dir / INT8_NAME).is_file() else None
        graph = graph or export_dir / ONNX_NAME
        self.name = name or export_dir.name
        self.graph = graph
        # An int8 graph quantises each activation with one scale over its whole input tensor:
        # read in a batch, a window's logits would depend on the other windows and on padding.
        # It reads one window per run (as fast: no padding), the float graph a batch.
        self.per_window = graph.name == INT8_NAME
        self.tokenizer = load_tokenizer(export_dir)
        self.pad_id = pad_id_of(self.tokenizer)
        self.session = onnx_session(graph, threads, fix=f"delete {export_dir} to export it again")
        self.inputs = {i.name for i in self.session.get_inputs()}
        # windows of questions asked at the same time (from several threads) are read together
        self.queue: BatchQueue[Window, tuple[np.ndarray, np.ndarray]] = BatchQueue(
            self._read_windows, QUEUE_WINDOWS, f"reader-{self.name}"
        )
        log.debug("reader %s answers with %s", self.name, graph)

    def _run(self, batch: Sequence[Window]) -> tuple[np.ndarray, np.ndarray]:
        feed = {k: v for k, v in batch_arrays(batch, self.pad_id).items() if k in self.inputs}
        start, end = self.session.run(["start_logits", "end_logits"], feed)
        return np.asarray(start, dtype=np.float32), np.asarray(end, dtype=np.float32)

    def logits(self, batch: Sequence[Window]) -> tuple[np.ndarray, np.ndarray]:
        """Start and end logits (batch, tokens) of windows, padded to the longest (padding
        positions hold no logit worth reading). A window's logits are the same alone or in
        any batch."""
        if not self.per_window:
            return self._run(batch)
        width = max(len(w.ids) for w in batch)
        start = np.full((len(batch), width), -1e4, dtype=np.float32)
        end = np.full((len(batch), width), -1e4, dtype=np.float32)
        for i, w in enumerate(batch):
            s, e = self._run([w])
            start[i, : len(w.ids)] = s[0]
            end[i, : len(w.ids)] = e[0]
        return start, end

    def _read_windows(self, wins: list[Window]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Start and end logits of each window (unpadded), read in runs of ``RUN_WINDOWS``
        windows of similar length (less padding; a window's logits do not depend on it)."""
        order = sorted(range(len(wins)), key=lambda i: len(wins[i].ids))
        out: list[tuple[np.ndarray, np.ndarray]] = [(np.zeros(0), np.zeros(0))] * len(wins)
        for at in range(0, len(order), RUN_WINDOWS):
            rows = order[at : at + RUN_WINDOWS]
            starts, ends = self.logits([wins[i] for i in rows])
            for i, s, e in zip(rows, starts, ends, strict=True):
                n = len(wins[i].ids)
                out[i] = (s[:n], e[:n])
        return out

    def read(self, question: str, contexts: Sequence[str], top: int = 5) -> list[Span]:
        """Best spans over all ``contexts``, best first. The windows go through the reader's
        batching queue: read with those of questions asked at the same time, with the same
        logits as alone."""
        return self.read_many([(question, contexts)], top)[0]

    def read_many(
        self, items: Sequence[tuple[str, Sequence[str]]], top: int = 5
    ) -> list[list[Span]]:
        """:meth:`read` for several questions (each with its contexts) in one pass through
        the batching queue: the readings of a follow-up are read together."""
        wins = [windows(self.tokenizer, q, contexts) for q, contexts in items]
        flat = [w for ws in wins for w in ws]
        logits = iter(self.queue(flat) if flat else [])
        out = []
        for (_, contexts), ws in zip(items, wins, strict=True):
            spans: list[Span] = []
            for w in ws:
                s, e = next(logits)
                spans.extend(decode(s, e, w, contexts[w.context], top=top))
            spans.sort(key=lambda x: -x.ranked)
            out.append(spans[:top] if top else spans)
        return out


def read_many(
    reader: Reader, items: Sequence[tuple[str, Sequence[str]]], top: int = 5
) -> list[list[Span]]:
    """Spans for several (question, contexts) pairs: in one batch when the reader can
    (``read_many``), else question by question."""
    many = getattr(reader, "read_many", None)
    if many is not None:
        return list(many(items, top))
    return [reader.read(q, contexts, top=top) if contexts else [] for q, contexts in items]


# ----------------------------------------------------------------------------- loading


def packaged_reader(directory: str | Path | None = None) -> tuple[Path, dict]:
    """Packed reader weights and their card, sha256-checked: the shipped ones
    (``rag/models/``), or those ``rag train-reader --out DIR`` wrote into ``directory``."""
    from importlib import resources

    if directory is None:
        card_path = Path(str(resources.files("rag") / "models" / "reader.json"))
        fix = "reinstall the package"
    else:
        card_path = Path(directory) / "reader.json"
        fix = "pack it again (rag train-reader --pack)"
    if not card_path.is_file():
        raise ModelError(f"the packed reader card {card_path} is missing; {fix}")
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
        weights = card_path.with_name(card["weights"])
        expected = card["sha256"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(
            f"the packed reader card {card_path} is unreadable ({exc}); {fix}"
        ) from exc
    if not weights.is_file():
        raise ModelError(f"the packed reader weights {weights} are missing; {fix}")
    digest = sha256_file(weights)
    if digest != expected:
        raise ModelError(
            f"the packed reader weights {weights} are damaged (sha256 {digest[:12]}…, "
            f"expected {expected[:12]}…); {fix}"
        )
    return weights, card


def _export_dir_for(source: str) -> Path:
    import hashlib

    key = hashlib.sha256(f"v{EXPORT_VERSION}:{source}".encode()).hexdigest()[:16]
    return model_cache_dir() / f"reader-{key}"


def _exported(path: Path) -> bool:
    marker = path / "export.json"
    return marker.is_file() and (path / ONNX_NAME).is_file() and (path / "tokenizer.json").is_file()


def _run_export(args: list[str], target: Path) -> None:
    """Export in a child process, so torch never loads in an answering process."""
    run_module(
        "rag.models.reader_model", [*args, "--out", str(target)], "export the reader to ONNX"
    )
    if not _exported(target):
        raise ModelError(f"the reader export left no complete model in {target}")


_lock = threading.Lock()
_loaded: dict[str, OnnxReader] = {}


def reader_source(path: str | Path | None = None) -> str:
    """What :func:`load_reader` will load: a directory, or ``"packaged"``."""
    chosen = str(path) if path else os.environ.get(READER_ENV, "")
    return chosen or "packaged"


def load_reader(path: str | Path | None = None) -> OnnxReader:
    """Load a reader: ``path`` or ``$RAG_READER`` (a Hugging Face QA model directory, a
    directory of packed weights from ``rag train-reader --out``, or a directory that already
    holds ``reader.onnx``), else the packaged one.

    The first use exports the model to ONNX in the model cache (a few seconds, in a child
    process); later uses load the export directly. Cached per process.
    """
    source = reader_source(path)
    with _lock:
        if source in _loaded:
            return _loaded[source]
        if source == "packaged":
            _, card = packaged_reader()
            target = _export_dir_for(f"packaged:{card['sha256']}")
            if not _exported(target):
                _run_export(["--packaged"], target)
            name = card.get("name", "reader")
        else:
            src = Path(source).expanduser()
            if not src.is_dir():
                raise ModelError(f"reader directory {src} does not exist")
            if (src / ONNX_NAME).is_file():
                target = src
            elif (src / "reader.json").is_file():  # packed weights, as train-reader writes
                _, card = packaged_reader(src)
                target = _export_dir_for(f"packed:{card['sha256']}")
                if not _exported(target):
                    _run_export(["--packed", str(src)], target)
            else:
                stamp = max((p.stat().st_mtime_ns for p in src.iterdir()), default=0)
                target = _export_dir_for(f"{src.resolve()}:{stamp}")
                if not _exported(target):
                    _run_export(["--model", str(src)], target)
            name = src.name
        reader = OnnxReader(target, name=name)
        _loaded[source] = reader
        return reader


def normalise_answer(text: str) -> str:
    """NFKC without whitespace: how spans are compared with the question and each other."""
    return "".join(unicodedata.normalize("NFKC", text).split())
