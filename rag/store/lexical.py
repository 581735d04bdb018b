"""BM25 over jieba tokens, stored as term-frequency postings so that an archive can grow.

A precomputed BM25 matrix (what bm25s stores) bakes the collection's statistics (number of
documents, average length, document frequencies) into every weight: a day's pages added as a
second matrix would be weighed by another collection. Here each segment of the index keeps only
what does not change when others are added (per term: documents and term frequencies; per
document: its length), memory-mapped, and :class:`Lexical` computes the weights at question time
from the statistics of every live document of every segment. A term's weight after adding pages
is therefore exactly its weight after a full build of the same pages.

Scoring is Lucene's BM25 (k1 = 1.5, b = 0.75; Kamphuis et al., ECIR 2020), as bm25s computes it:
``idf = ln(1 + (N - df + 0.5) / (df + 0.5))``, ``tf / (tf + k1 (1 - b + b dl / avgdl))``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.store.tables import mapped

K1 = 1.5
B = 0.75
PREFIX = "lexical"


@dataclass
class Postings:
    """One segment's postings: for term ``t`` (``vocab[t]``), documents
    ``docs[indptr[t]:indptr[t+1]]`` (ascending) with their term frequencies; ``lengths`` holds
    every document's token count."""

    vocab: dict[str, int]
    indptr: np.ndarray  # int64, terms + 1
    docs: np.ndarray  # int32
    tf: np.ndarray  # float32
    lengths: np.ndarray  # int32, one per document

    @classmethod
    def of(cls, token_lists: Iterable[Sequence[str]]) -> Postings:
        """Postings of documents given as token lists (document ``i`` is the i-th list)."""
        vocab: dict[str, int] = {}
        terms: list[int] = []
        docs: list[int] = []
        tfs: list[int] = []
        lengths: list[int] = []
        for d, tokens in enumerate(token_lists):
            lengths.append(len(tokens))
            for tok, n in Counter(tokens).items():
                terms.append(vocab.setdefault(tok, len(vocab)))
                docs.append(d)
                tfs.append(n)
        t = np.asarray(terms, dtype=np.int64)
        d_arr = np.asarray(docs, dtype=np.int32)
        order = np.lexsort((d_arr, t))
        indptr = np.zeros(len(vocab) + 1, dtype=np.int64)
        np.cumsum(np.bincount(t, minlength=len(vocab)), out=indptr[1:])
        return cls(
            vocab,
            indptr,
            d_arr[order],
            np.asarray(tfs, dtype=np.float32)[order],
            np.asarray(lengths, dtype=np.int32),
        )

    @classmethod
    def merged(cls, parts: Sequence[tuple[Postings, np.ndarray | None, int]]) -> Postings:
        """One segment's postings from several (``(postings, rows, offset)`` as
        :class:`Lexical` takes them): live documents only, numbered as the index numbers
        them. Nothing is tokenised again; scores equal those over the parts."""
        vocab: dict[str, int] = {}
        terms: list[np.ndarray] = []
        docs: list[np.ndarray] = []
        tfs: list[np.ndarray] = []
        lengths: list[np.ndarray] = []
        for post, rows, offset in parts:
            words = [""] * len(post.vocab)
            for w, i in post.vocab.items():
                words[i] = w
            tmap = np.asarray([vocab.setdefault(w, len(vocab)) for w in words], dtype=np.int64)
            indptr = np.asarray(post.indptr)
            local_terms = np.repeat(np.arange(len(words), dtype=np.int64), np.diff(indptr))
            local_docs = np.asarray(post.docs).astype(np.int64)
            ids = local_docs + offset if rows is None else np.asarray(rows)[local_docs]
            live = ids >= 0
            terms.append(tmap[local_terms[live]])
            docs.append(ids[live])
            tfs.append(np.asarray(post.tf)[live])
            own = np.asarray(post.lengths)
            lengths.append(own if rows is None else own[np.asarray(rows) >= 0])
        t = np.concatenate(terms) if terms else np.zeros(0, np.int64)
        d = np.concatenate(docs) if docs else np.zeros(0, np.int64)
        order = np.lexsort((d, t))
        indptr = np.zeros(len(vocab) + 1, dtype=np.int64)
        np.cumsum(np.bincount(t, minlength=len(vocab)), out=indptr[1:])
        return cls(
            vocab,
            indptr,
            d[order].astype(np.int32),
            (np.concatenate(tfs) if tfs else np.zeros(0, np.float32))[order],
            np.concatenate(lengths).astype(np.int32) if lengths else np.zeros(0, np.int32),
        )

    def save(self, directory: Path) -> None:
        words = [""] * len(self.vocab)
        for w, i in self.vocab.items():
            words[i] = w
        (directory / f"{PREFIX}.vocab.json").write_text(
            json.dumps(words, ensure_ascii=False), encoding="utf-8"
        )
        for name in ("indptr", "docs", "tf", "lengths"):
            np.save(directory / f"{PREFIX}.{name}.npy", getattr(self, name), allow_pickle=False)

    @classmethod
    def load(cls, directory: Path) -> Postings:
        words = json.loads((directory / f"{PREFIX}.vocab.json").read_text(encoding="utf-8"))
        arrays = {n: mapped(directory / f"{PREFIX}.{n}.npy") for n in ("indptr", "docs", "tf")}
        lengths = np.load(directory / f"{PREFIX}.lengths.npy", allow_pickle=False)
        out = cls({w: i for i, w in enumerate(words)}, lengths=lengths, **arrays)
        if len(out.indptr) != len(words) + 1 or int(out.indptr[-1]) != len(out.docs):
            raise ValueError(f"lexical postings in {directory} do not match their vocabulary")
        if len(out.docs) != len(out.tf):
            raise ValueError(f"lexical postings in {directory} have different lengths")
        return out

    def of_term(self, token: str) -> tuple[np.ndarray, np.ndarray] | None:
        """Documents and term frequencies of ``token``; None when no document has it."""
        t = self.vocab.get(token)
        if t is None:
            return None
        a, b = int(self.indptr[t]), int(self.indptr[t + 1])
        return np.asarray(self.docs[a:b]), np.asarray(self.tf[a:b])


@dataclass
class _Part:
    postings: Postings
    rows: np.ndarray | None  # local document -> index-wide id (-1: deleted); None: + offset
    offset: int


class Lexical:
    """BM25 search over the live documents of one or more segments' postings.

    ``parts`` are ``(postings, rows, offset)``: a segment's local document ``d`` is document
    ``rows[d]`` of the index (``-1``: deleted, never scored or counted), or ``offset + d`` when
    ``rows`` is None.
    """

    def __init__(self, parts: Sequence[tuple[Postings, np.ndarray | None, int]]) -> None:
        self.parts = [_Part(p, None if r is None else np.asarray(r), o) for p, r, o in parts]
        self.n = 0
        total = 0
        for part in self.parts:
            lengths = np.asarray(part.postings.lengths, dtype=np.int64)
            live = lengths if part.rows is None else lengths[part.rows >= 0]
            self.n += len(live)
            total += int(live.sum())
        self.avgdl = total / self.n if self.n else 1.0
        self._df: dict[str, int] = {}

    def _postings(self, token: str) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Per segment: index-wide ids, term frequencies and lengths of the live documents."""
        out = []
        for part in self.parts:
            got = part.postings.of_term(token)
            if got is None:
                continue
            docs, tf = got
            lengths = np.asarray(part.postings.lengths)[docs]
            if part.rows is None:
                out.append((docs.astype(np.int64) + part.offset, tf, lengths))
                continue
            ids = part.rows[docs]
            live = ids >= 0
            out.append((ids[live], tf[live], lengths[live]))
        return out

    def df(self, token: str) -> int:
        """How many live documents hold ``token``."""
        hit = self._df.get(token)
        if hit is None:
            hit = self._df[token] = sum(len(ids) for ids, _, _ in self._postings(token))
        return hit

    def __contains__(self, token: object) -> bool:
        return isinstance(token, str) and self.df(token) > 0

    def idf(self, token: str) -> float:
        """Lucene's idf of ``token`` over the live documents."""
        df = self.df(token)
        return float(np.log(1.0 + (self.n - df + 0.5) / (df + 0.5)))

    def scores(self, tokens: Sequence[str]) -> np.ndarray:
        """BM25 of every document for ``tokens`` (a repeated token counts again), float32;
        deleted documents score 0. Each document's score is summed in the tokens' order, so it
        does not depend on how the documents are split into segments."""
        size = max((_last(p) for p in self.parts), default=0)
        out = np.zeros(size, dtype=np.float32)
        norm = K1 * (1 - B)
        for tok in tokens:
            found = self._postings(tok)
            if not found:
                continue
            idf = np.float32(self.idf(tok))
            for ids, tf, lengths in found:
                denom = norm + np.float32(K1 * B / self.avgdl) * lengths.astype(np.float32)
                out[ids] += idf * (tf / (denom + tf))
        return out

    def top(self, tokens: Sequence[str], k: int, rank: np.ndarray | None = None) -> list[int]:
        """The ``k`` best documents with a positive score, best first; ties go to the lower
        ``rank[id]`` (by default the lower id)."""
        if k <= 0 or not self.n:
            return []
        scores = self.scores(tokens)
        cand = np.flatnonzero(scores > 0)
        if len(cand) > k:
            kth = np.partition(scores[cand], len(cand) - k)[len(cand) - k]
            cand = cand[scores[cand] >= kth]  # every document tied with the k-th stays
        order = np.lexsort((cand if rank is None else rank[cand], -scores[cand]))
        return [int(i) for i in cand[order[:k]]]


def _last(part: _Part) -> int:
    """One past the highest index-wide id of a part."""
    if part.rows is None:
        return part.offset + len(part.postings.lengths)
    return int(part.rows.max(initial=-1)) + 1
