"""One index over several segments: the base a build wrote, and the days ``rag add`` wrote.

Each segment is a directory of the same files (tables, vectors, FAISS, lexical postings, pages).
A segment is never changed once written; pages replaced or removed later are marked deleted in
the manifest (their articles, with every chunk and sentence of them) and skipped. The loaded
index numbers the live rows of all segments in order, so that what the rest of the library sees
(chunk ``i``, sentence ``j``) is the same as after a full build of the same pages. The views here
map those numbers back to each segment's rows without copying texts or vectors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np

from rag.store.lexical import Lexical, Postings
from rag.store.tables import ArticleTable, ChunkTable, SentenceTable, TextColumn


def locate(starts: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For index-wide ids, the part each falls in and its position inside that part
    (``starts``: first id of every part, then the total)."""
    part = np.searchsorted(starts, ids, side="right") - 1
    return part, ids - starts[part]


class TextRows:
    """A text column made of chosen rows of several segments' text columns."""

    def __init__(self, parts: Sequence[tuple[TextColumn, np.ndarray | None]]) -> None:
        self.parts = [(col, rows) for col, rows in parts]
        sizes = [len(col) if rows is None else len(rows) for col, rows in self.parts]
        self.starts = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)]).astype(np.int64)

    def __len__(self) -> int:
        return int(self.starts[-1])

    def __getitem__(self, i: int) -> str:
        part, at = locate(self.starts, np.asarray([i], dtype=np.int64))
        col, rows = self.parts[int(part[0])]
        row = int(at[0]) if rows is None else int(rows[int(at[0])])
        return col[row]


class StackedVectors:
    """Chosen rows of several segments' vector arrays (memory-mapped), as one array: indexing
    with an int, a slice or a list of ids gives plain float32 rows."""

    def __init__(self, parts: Sequence[tuple[np.ndarray, np.ndarray | None]], dim: int) -> None:
        self.parts = list(parts)
        sizes = [len(a) if rows is None else len(rows) for a, rows in self.parts]
        self.starts = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)]).astype(np.int64)
        self.dim = dim
        self.dtype = np.dtype(np.float32)

    def __len__(self) -> int:
        return int(self.starts[-1])

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self), self.dim)

    @property
    def size(self) -> int:
        return len(self) * self.dim

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self.take(np.arange(len(self)))
        return out if dtype is None else out.astype(dtype)

    def take(self, ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        out = np.empty((len(ids), self.dim), dtype=np.float32)
        if not len(ids):
            return out
        if ids.min() < 0 or ids.max() >= len(self):
            raise IndexError("vector row out of range")
        part, at = locate(self.starts, ids)
        for p in np.unique(part).tolist():
            sel = np.flatnonzero(part == p)
            arr, rows = self.parts[p]
            local = at[sel] if rows is None else rows[at[sel]]
            order = np.argsort(local, kind="stable")  # read a memory map in file order
            out[sel[order]] = arr[local[order]]
        return out

    def __getitem__(self, key: Any) -> np.ndarray:
        if isinstance(key, (int, np.integer)):
            i = int(key) + (len(self) if int(key) < 0 else 0)
            return self.take(np.asarray([i]))[0]
        if isinstance(key, slice):
            return self.take(np.arange(*key.indices(len(self))))
        return self.take(np.asarray(key))


TIE_MARGIN = 8  # rows searched past k, so that ties at the k-th score are cut by id


class SegmentedDense:
    """FAISS search over every segment's dense index, as one index over the live chunks.

    Each segment is searched for ``k`` plus its deleted rows (so ``k`` live ones remain), its
    rows are mapped to index-wide ids, and the results are merged by score, ties to the lower
    id. A segment of 8-bit codes makes :attr:`coded` true: its candidates must be reranked by
    the exact vectors, as a single coded index's are.
    """

    def __init__(self, parts: Sequence[tuple[Any, np.ndarray | None, int, int]]) -> None:
        # (faiss index, local -> index-wide id or None, offset, deleted rows in the segment)
        self.parts = list(parts)
        self.ntotal = sum(
            (idx.ntotal if rows is None else int((rows >= 0).sum()))
            for idx, rows, _, _ in self.parts
        )
        self.coded = any(type(idx).__name__ == "IndexHNSWSQ" for idx, _, _, _ in self.parts)

    def search(
        self, queries: np.ndarray, k: int, rank: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best live chunks per query: scores and ids; ties go to the lower
        ``rank[id]`` (by default the lower id)."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        scores_out = np.full((len(queries), k), -np.inf, dtype=np.float32)
        ids_out = np.full((len(queries), k), -1, dtype=np.int64)
        for q in range(len(queries)):
            got_s: list[np.ndarray] = []
            got_i: list[np.ndarray] = []
            for idx, rows, offset, dead in self.parts:
                depth = min(idx.ntotal, k + dead + TIE_MARGIN)
                if depth <= 0:
                    continue
                s, i = idx.search(queries[q : q + 1], depth)
                s, i = s[0], i[0]
                keep = i >= 0
                s, i = s[keep], i[keep]
                ids = i + offset if rows is None else rows[i]
                live = ids >= 0
                got_s.append(s[live])
                got_i.append(ids[live])
            if not got_s:
                continue
            s_all, i_all = np.concatenate(got_s), np.concatenate(got_i)
            order = np.lexsort((i_all if rank is None else rank[i_all], -s_all))[:k]
            scores_out[q, : len(order)] = s_all[order]
            ids_out[q, : len(order)] = i_all[order]
        return scores_out, ids_out


@dataclass
class Segment:
    """One segment as loaded: its own tables, vectors, dense index and postings, and what the
    manifest marks deleted in it."""

    path: Path
    pages: list[Any]  # PageInfo, in the segment's order
    articles: ArticleTable
    chunks: ChunkTable
    sentences: SentenceTable
    chunk_vectors: np.ndarray
    sentence_vectors: np.ndarray
    dense: Any  # faiss.Index over the segment's chunk vectors
    postings: Postings
    dead_articles: frozenset[str] = field(default_factory=frozenset)
    dead_pages: frozenset[str] = field(default_factory=frozenset)


@dataclass
class Combined:
    """The live rows of all segments, numbered in order."""

    pages: dict[str, Any]
    articles: ArticleTable
    chunks: ChunkTable
    sentences: SentenceTable
    chunk_vectors: Any  # np.ndarray or StackedVectors
    sentence_vectors: Any
    dense: SegmentedDense
    lexical: Lexical


def _live_map(names: Sequence[str], live_names: dict[str, int]) -> np.ndarray:
    """Index-wide code of each local name (-1 where it is not live)."""
    return np.asarray([live_names.get(n, -1) for n in names], dtype=np.int64)


def combine(segments: Sequence[Segment]) -> Combined:
    """One index over ``segments``: live rows only, numbered segment after segment."""
    if len(segments) == 1 and not segments[0].dead_articles and not segments[0].dead_pages:
        s = segments[0]  # a single segment as written: nothing is copied
        return Combined(
            {p.page_id: p for p in s.pages},
            s.articles,
            s.chunks,
            s.sentences,
            s.chunk_vectors,
            s.sentence_vectors,
            SegmentedDense([(s.dense, None, 0, 0)]),
            Lexical([(s.postings, None, 0)]),
        )
    pages: dict[str, Any] = {}
    art_ids: list[str] = []
    art_dates: list[str | None] = []
    art_headers: list[str] = []
    art_rows: list[tuple[TextColumn, np.ndarray | None]] = []
    c_cols: dict[str, list[np.ndarray]] = {k: [] for k in ChunkTable.INT_COLUMNS}
    s_cols: dict[str, list[np.ndarray]] = {k: [] for k in SentenceTable.INT_COLUMNS}
    c_text: list[tuple[TextColumn, np.ndarray | None]] = []
    s_text: list[tuple[TextColumn, np.ndarray | None]] = []
    c_vecs: list[tuple[np.ndarray, np.ndarray | None]] = []
    s_vecs: list[tuple[np.ndarray, np.ndarray | None]] = []
    dense_parts: list[tuple[Any, np.ndarray | None, int, int]] = []
    lexical_parts: list[tuple[Postings, np.ndarray | None, int]] = []
    page_ids: list[str] = []
    n_chunks = n_sents = 0
    dim = 0
    for seg in segments:
        dim = dim or (seg.chunk_vectors.shape[1] if seg.chunk_vectors.ndim == 2 else 0)
        live_pages: dict[str, int] = {}
        for p in seg.pages:
            if p.page_id not in seg.dead_pages:
                live_pages[p.page_id] = len(page_ids)
                page_ids.append(p.page_id)
                pages[p.page_id] = p
        live_arts: dict[str, int] = {}
        kept = []
        for i, aid in enumerate(seg.articles.ids):
            if aid not in seg.dead_articles:
                live_arts[aid] = len(art_ids)
                art_ids.append(aid)
                art_dates.append(seg.articles.dates[i])
                art_headers.append(seg.articles.headers[i])
                kept.append(i)
        all_arts = len(kept) == len(seg.articles.ids)
        art_rows.append((seg.articles.rows, None if all_arts else np.asarray(kept, np.int64)))
        amap = _live_map(seg.chunks.article_ids, live_arts)
        pmap = _live_map(seg.chunks.page_ids, live_pages)

        s_art = np.asarray(seg.sentences.columns["article"])
        s_live = amap[s_art] >= 0 if len(s_art) else np.zeros(0, bool)
        s_rows = np.flatnonzero(s_live)
        smap = np.full(len(s_art), -1, dtype=np.int64)
        smap[s_rows] = n_sents + np.arange(len(s_rows))
        c_art = np.asarray(seg.chunks.columns["article"])
        c_live = amap[c_art] >= 0 if len(c_art) else np.zeros(0, bool)
        c_rows = np.flatnonzero(c_live)
        cmap = np.full(len(c_art), -1, dtype=np.int64)
        cmap[c_rows] = n_chunks + np.arange(len(c_rows))
        whole = len(c_rows) == len(c_art) and len(s_rows) == len(s_art)

        for cols, table, rows in ((s_cols, seg.sentences, s_rows), (c_cols, seg.chunks, c_rows)):
            for name in cols:
                col = np.asarray(table.columns[name])[rows]
                if name == "article":
                    col = amap[col].astype(np.int32)
                elif name == "page":
                    col = pmap[col].astype(np.int32)
                    if len(col) and col.min() < 0:
                        raise ValueError(f"{seg.path}: a live row stands on a deleted page")
                elif name == "first_sentence":
                    col = np.where(col >= 0, smap[np.maximum(col, 0)], -1)
                cols[name].append(col)
        c_text.append((seg.chunks.text, None if whole else c_rows))
        s_text.append((seg.sentences.text, None if whole else s_rows))
        c_vecs.append((seg.chunk_vectors, None if whole else c_rows))
        s_vecs.append((seg.sentence_vectors, None if whole else s_rows))
        n_dead = len(c_art) - len(c_rows)
        dense_parts.append((seg.dense, None if whole else cmap, n_chunks, n_dead))
        lexical_parts.append((seg.postings, None if whole else cmap, n_chunks))
        n_chunks += len(c_rows)
        n_sents += len(s_rows)

    def joined(cols: dict[str, list[np.ndarray]]) -> dict[str, np.ndarray]:
        return {k: np.concatenate(v) if v else np.zeros(0, np.int64) for k, v in cols.items()}

    articles = ArticleTable(art_ids, art_dates, art_headers, cast(TextColumn, TextRows(art_rows)))
    chunks = ChunkTable(joined(c_cols), cast(TextColumn, TextRows(c_text)), art_ids, page_ids)
    sentences = SentenceTable(joined(s_cols), cast(TextColumn, TextRows(s_text)), art_ids, page_ids)
    return Combined(
        pages,
        articles,
        chunks,
        sentences,
        StackedVectors(c_vecs, dim),
        StackedVectors(s_vecs, dim),
        SegmentedDense(dense_parts),
        Lexical(lexical_parts),
    )
