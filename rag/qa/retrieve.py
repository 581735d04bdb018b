"""Hybrid retrieval: dense (FAISS) + lexical (BM25 over jieba tokens), fused by RRF."""

from __future__ import annotations

import math
import re
import threading
import unicodedata
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.ingest.articles import Article
from rag.ingest.pages import format_date
from rag.ingest.tokenize import tokenize
from rag.models.embed import Embedder, load_embedder
from rag.store.index import Index, default_index_dir, load_index

MAX_QUERY_CHARS = 500
CANDIDATES = 50
RERANK = 30
RRF_K = 60


@dataclass(frozen=True)
class Hit:
    """One retrieved passage."""

    text: str  # verbatim passage
    page: str  # page id of the page the passage stands on
    pages: tuple[str, ...]  # every page of its article
    headline: str | None
    label: str  # headline, or a label from the article's first words
    article_id: str
    score: float
    chunk_id: int
    start: int  # span of ``text`` in the clean text of ``page``
    end: int
    date: str | None = None
    page_number: int | None = None  # the page's number in its issue (第N版), when known
    edition: str | None = None

    @property
    def date_text(self) -> str:
        """The date for display (``8月11日``), empty when unknown."""
        return format_date(self.date)

    @property
    def page_label(self) -> str:
        """How a reader of the paper names the page: ``第1版``, else the page id."""
        return page_label(self.page, self.page_number, self.edition)


def page_label(page: str, number: int | None, edition: str | None) -> str:
    """``第1版`` (with the edition's name before it when known); the page id when unknown."""
    if number is not None:
        return f"{edition} 第{number}版" if edition else f"第{number}版"
    return f"{edition} 版面 {page}" if edition else f"版面 {page}"


# ----------------------------------------------------------------------------- fusion


def reciprocal_rank_fusion(rankings: Sequence[Sequence[int]], k: int = RRF_K) -> dict[int, float]:
    """Reciprocal rank fusion: score(d) = Σ 1 / (k + rank(d)), ranks from 1.

    Cormack, Clarke and Büttcher, "Reciprocal Rank Fusion outperforms Condorcet and
    individual Rank Learning Methods", SIGIR 2009.
    """
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, doc in enumerate(ranking, start=1):
            scores[doc] = scores.get(doc, 0.0) + 1.0 / (k + rank)
    return scores


FUSIONS = {"rrf": reciprocal_rank_fusion}


def fusion(name: str):  # type: ignore[no-untyped-def]
    """The fusion function called ``name``."""
    try:
        return FUSIONS[name]
    except KeyError:
        raise ValueError(f"unknown fusion {name!r}; valid: {', '.join(sorted(FUSIONS))}") from None


def diversify(ranked: Sequence[int], article_of: Sequence[str], k: int) -> list[int]:
    """Best passage of each article first, then further passages of the same articles.

    One article fills all ``k`` slots only when no other article was retrieved at all.
    """
    firsts: list[int] = []
    rest: list[int] = []
    seen: set[str] = set()
    for doc in ranked:
        art = article_of[doc]
        (rest if art in seen else firsts).append(doc)
        seen.add(art)
    return (firsts + rest)[:k]


# ----------------------------------------------------------------------------- queries

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\ufeff]")


def clean_query(query: str) -> str:
    """Validate a question: strip control characters; raise ``ValueError`` on bad input."""
    if not isinstance(query, str):
        raise ValueError("问题必须是文本 (the query must be a string)")
    if len(query) > MAX_QUERY_CHARS * 4:
        raise ValueError(
            f"问题太长：{len(query)} 个字符，最多 {MAX_QUERY_CHARS} 个 "
            f"(query too long: {len(query)} characters, at most {MAX_QUERY_CHARS})"
        )
    q = " ".join(_CONTROL.sub(" ", query).split())
    if not q:
        raise ValueError("问题是空的，请输入要查询的内容 (empty query)")
    if len(q) > MAX_QUERY_CHARS:
        raise ValueError(
            f"问题太长：{len(q)} 个字符，最多 {MAX_QUERY_CHARS} 个 "
            f"(query too long: {len(q)} characters, at most {MAX_QUERY_CHARS})"
        )
    if not any(unicodedata.category(ch)[0] in "LN" for ch in q):
        raise ValueError("问题中没有文字，只有标点或符号 (the query has no words)")
    return q


# ----------------------------------------------------------------------------- runtime


@dataclass
class Runtime:
    """A loaded index with the embedder that built it."""

    index: Index
    embedder: Embedder


_cache: dict[Path, Runtime] = {}
_cache_lock = threading.Lock()


def get_runtime(index_dir: str | Path | None = None, embedder: Embedder | None = None) -> Runtime:
    """Load (once per process and directory, thread-safely) the index and its model."""
    path = Path(index_dir) if index_dir is not None else default_index_dir()
    path = path.resolve()
    with _cache_lock:
        rt = _cache.get(path)
        if rt is None or (embedder is not None and rt.embedder is not embedder):
            index = load_index(path)
            name = index.manifest["model"]["name"]
            if embedder is None:
                embedder = load_embedder(name)
            elif embedder.name != name:
                from rag.errors import IndexMismatchError

                raise IndexMismatchError(
                    f"index at {path} was built with {name!r}, not {embedder.name!r}; "
                    f"rebuild with: rag build <pages-folder> --index {path} --full"
                )
            rt = Runtime(index=index, embedder=embedder)
            _cache[path] = rt
        return rt


def clear_cache() -> None:
    """Forget loaded indexes (after a rebuild in the same process)."""
    with _cache_lock:
        _cache.clear()


# ----------------------------------------------------------------------------- search


def _idf(rt: Runtime) -> tuple[dict[str, float], float]:
    """Inverse document frequency of lexical tokens, from the BM25 index (cached)."""
    cached = getattr(rt, "_idf_cache", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    bm25 = rt.index.bm25
    n = max(len(rt.index.chunks), 1)
    df = np.diff(np.asarray(bm25.scores["indptr"]))
    idf = {
        tok: math.log((n + 1) / (df[i] + 0.5)) for tok, i in bm25.vocab_dict.items() if i < len(df)
    }
    result = (idf, math.log((n + 1) / 0.5))
    rt._idf_cache = result  # type: ignore[attr-defined]
    return result


def sentence_score(lexical: float, dense: float) -> float:
    """Evidence of one sentence: share of the question's (idf-weighted) words it contains,
    plus how far its stored vector's similarity to the question rises above chance."""
    return 0.6 * lexical + 2.0 * max(dense - 0.75, 0.0)


def term_weights(rt: Runtime, query: str) -> dict[str, float]:
    """Content words of a query with their idf."""
    from rag.qa.spans import question_terms

    idf, unknown = _idf(rt)
    return {t: idf.get(t, unknown) for t in question_terms(query)}


def lexical_coverage(text: str, weights: dict[str, float], header: str = "") -> float:
    """Idf-weighted share of the query words that occur in ``text``.

    Words that name the article (in its headline or first sentence, ``header``) count half
    for every sentence of it: they pick the article, the rest pick the sentence.
    """
    total = sum(weights.values())
    if not total:
        return 0.0
    low = text.lower()
    own = sum(w for t, w in weights.items() if t in low)
    shared = sum(w for t, w in weights.items() if t not in low and t in header)
    return (own + 0.5 * shared) / total


PREFER_BONUS = 0.15  # for passages of the article a conversation is about


@dataclass(frozen=True)
class Focus:
    """Where a question should look: only some chunks, and an article to prefer."""

    allowed: frozenset[int] | None = None  # only these chunks (None: all)
    prefer_article: str | None = None


def chunks_dated(rt: Runtime, match: Callable[[str | None], bool]) -> frozenset[int]:
    """Chunks whose article's date satisfies ``match`` (chunk ids grouped by date once)."""
    by_date: dict[str | None, list[int]] | None = getattr(rt, "_by_date", None)
    if by_date is None:
        by_date = {}
        arts, chunks = rt.index.articles, rt.index.chunks
        codes = chunks.article_codes()
        date_of_code = [arts.date_of(a) if a in arts else None for a in chunks.article_ids]
        for cid, code in enumerate(codes.tolist()):
            by_date.setdefault(date_of_code[code], []).append(cid)
        rt._by_date = by_date  # type: ignore[attr-defined]
    return frozenset(i for date, ids in by_date.items() if match(date) for i in ids)


_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="rag-lexical")


@dataclass(frozen=True)
class LexicalSearch:
    """A BM25 search under way in a worker thread: its depth and its future result."""

    k: int
    result: Future[list[int]]


def start_lexical(rt: Runtime, query: str, k: int = CANDIDATES) -> LexicalSearch:
    """Start the BM25 search for ``query`` in a worker thread (while the query is embedded)."""
    k = min(k, len(rt.index.chunks))
    return LexicalSearch(k, _POOL.submit(_lexical, rt.index, query, k))


def _lexical(index: Index, query: str, k: int) -> list[int]:
    """The ``k`` best chunks by BM25 over the query's jieba tokens (positive scores only)."""
    vocab = getattr(index.bm25, "vocab_dict", None) or {}
    tokens = [t for t in tokenize(query) if t in vocab]
    if not tokens:
        return []
    docs, scores = index.bm25.retrieve([tokens], k=k, show_progress=False)
    return [int(d) for d, s in zip(docs[0], scores[0], strict=False) if s > 0]


def ranked_chunks(
    rt: Runtime,
    query: str,
    qv: np.ndarray,
    depth: int = CANDIDATES,
    focus: Focus | None = None,
    lexical: LexicalSearch | None = None,
) -> list[tuple[int, float]]:
    """Candidate chunks, best first: RRF of dense and BM25 ranks, reranked by sentence evidence.

    The rerank uses only stored sentence vectors and the query's words, so no model runs per
    passage at query time. ``focus`` restricts the chunks and names an article to prefer.
    ``lexical`` is a BM25 search already under way (:func:`start_lexical`), used when it is as
    deep as this call searches.
    """
    index = rt.index
    n = len(index.chunks)
    allowed = focus.allowed if focus else None
    if n == 0 or (allowed is not None and not allowed):
        return []
    depth = min(depth, n)
    # a filter is applied after search: search deep enough that it leaves ``depth`` chunks
    reach = depth if allowed is None else min(n, max(depth * n // max(len(allowed), 1), depth))
    # the lexical search runs beside the dense one (FAISS releases the GIL while it searches)
    if lexical is None or lexical.k != reach:
        lexical = start_lexical(rt, query, reach)
    _, dense_ids = index.dense.search(qv.reshape(1, -1).astype(np.float32), reach)
    found = [int(i) for i in dense_ids[0] if i >= 0]
    if index.coded_vectors and found:
        # 8-bit codes found the candidates; the exact (memory-mapped) vectors order them
        exact = index.chunk_vectors[found] @ qv
        found = [found[j] for j in np.argsort(-exact, kind="stable")]
    dense_rank = [i for i in found if allowed is None or i in allowed]
    lexical_rank = [d for d in lexical.result.result() if allowed is None or d in allowed]
    fused = reciprocal_rank_fusion([dense_rank, lexical_rank])
    top = sorted(fused, key=lambda d: -fused[d])[:RERANK]
    if not top:
        return []
    best_fused = fused[top[0]]
    weights = term_weights(rt, query)
    out = []
    for doc in top:
        chunk = index.chunks[doc]
        sids = list(chunk.sentence_ids)
        dense = index.sentence_vectors[sids] @ qv
        header = index.articles.header_of(chunk.article_id)
        evidence = max(
            sentence_score(lexical_coverage(index.sentences[sid].text, weights, header), float(d))
            for sid, d in zip(sids, dense, strict=False)
        )
        bonus = PREFER_BONUS if focus and chunk.article_id == focus.prefer_article else 0.0
        out.append((doc, 0.5 * fused[doc] / best_fused + evidence + bonus))
    out.sort(key=lambda x: -x[1])
    return out


def search(rt: Runtime, query: str, k: int, query_vector: np.ndarray | None = None) -> list[Hit]:
    """Retrieve ``k`` hits for a cleaned query from a loaded runtime."""
    if k <= 0 or not rt.index.chunks:
        return []
    lexical = start_lexical(rt, query)
    qv = query_vector if query_vector is not None else rt.embedder.encode_queries([query])[0]
    return hits_from(rt, ranked_chunks(rt, query, qv, lexical=lexical), k)


def hits_from(rt: Runtime, ranked: list[tuple[int, float]], k: int) -> list[Hit]:
    """The ``k`` hits of ranked chunks, one passage per article before a second one."""
    score = dict(ranked)
    chosen = diversify([d for d, _ in ranked], rt.index.chunk_article, k)
    return [hit_of(rt, doc, score[doc]) for doc in chosen]


def hit_of(rt: Runtime, chunk_id: int, score: float) -> Hit:
    """A :class:`Hit` for one chunk of the index."""
    c = rt.index.chunks[chunk_id]
    art = rt.index.articles[c.article_id]
    return Hit(
        text=c.text,
        page=c.page,
        pages=art.pages,
        headline=art.headline,
        label=art.label,
        article_id=art.article_id,
        score=round(score, 6),
        chunk_id=c.chunk_id,
        start=c.start,
        end=c.end,
        date=art.date,
        page_number=rt.index.pages[c.page].number if c.page in rt.index.pages else None,
        edition=rt.index.pages[c.page].edition if c.page in rt.index.pages else None,
    )


def retrieve(
    query: str,
    k: int = 5,
    index_dir: str | Path | None = None,
    date_range: tuple[str | None, str | None] | None = None,
) -> list[Hit]:
    """The ``k`` best passages for ``query`` from the index at ``index_dir``.

    ``index_dir=None`` means ``$RAG_INDEX_DIR`` or ``index/``. ``date_range`` keeps only
    articles dated inside it (ISO dates or ``--MM-DD``; either end may be None). Raises
    ``ValueError`` for an empty, over-long or symbol-only query, and
    :class:`rag.errors.IndexMissingError` when there is no index.
    """
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer, not {k!r}")
    q = clean_query(query)
    rt = get_runtime(index_dir)
    focus = Focus(allowed=dated_filter(rt, date_range))
    if not rt.index.chunks:
        return []
    lexical = start_lexical(rt, q)
    qv = rt.embedder.encode_queries([q])[0]
    return hits_from(rt, ranked_chunks(rt, q, qv, focus=focus, lexical=lexical), k)


def dated_filter(
    rt: Runtime, date_range: tuple[str | None, str | None] | None
) -> frozenset[int] | None:
    """Chunks inside a date range, None when there is no range."""
    if not date_range or not any(date_range):
        return None
    from rag.qa.dialogue import in_range

    start, end = date_range
    in_range(start or "--01-01", start, end)  # validate both ends before the scan
    return chunks_dated(rt, lambda d: in_range(d, start, end))


def get_article(article_id: str, index_dir: str | Path | None = None) -> Article:
    """The whole clean article ``article_id`` (all its parts) from the index."""
    rt = get_runtime(index_dir)
    try:
        return rt.index.articles[article_id]
    except KeyError:
        raise ValueError(f"no article {article_id!r} in the index at {rt.index.path}") from None


def archive_summary(index_dir: str | Path | None = None) -> dict:
    """What the index holds: counts of pages, articles and chunks, and the dates seen."""
    manifest = get_runtime(index_dir).index.manifest
    return {**manifest.get("counts", {}), "dates": list(manifest.get("dates", []))}
