"""The one retriever: dense (FAISS) + lexical (BM25 over jieba tokens), fused by RRF, reranked
by sentence evidence. ``rag.retrieve`` and answering both call :func:`rank`.

A question that names an issue's date (``9月3日的报纸上…``) searches that date's pages first,
any other date it names is a soft prior around the event's time; a follow-up prefers the
article its conversation is about; a caller's date range filters. The BM25 search
starts, at the deepest depth any of those searches needs, while the question is embedded.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rag.errors import IndexMismatchError
from rag.ingest.articles import Article
from rag.ingest.dates import DateRef, in_range, parse_stored
from rag.ingest.tokenize import fold
from rag.models.embed import Embedder, load_embedder
from rag.qa.config import RetrievalConfig, check_fitted
from rag.qa.query import Query, read_question
from rag.qa.records import Hit
from rag.store.index import Index, default_index_dir, load_index

# ----------------------------------------------------------------------------- fusion


def reciprocal_rank_fusion(rankings: Sequence[Sequence[int]], k: int = 60) -> dict[int, float]:
    """Reciprocal rank fusion: score(d) = Σ 1 / (k + rank(d)), ranks from 1.

    Cormack, Clarke and Büttcher, "Reciprocal Rank Fusion outperforms Condorcet and
    individual Rank Learning Methods", SIGIR 2009.
    """
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, doc in enumerate(ranking, start=1):
            scores[doc] = scores.get(doc, 0.0) + 1.0 / (k + rank)
    return scores


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


def lexical_coverage(
    text: str, weights: dict[str, float], header: str = "", share: float = 0.5
) -> float:
    """Idf-weighted share of the query words that occur in ``text``.

    Words that name the article (in its headline or first sentence, ``header``) count
    ``share`` for every sentence of it: they pick the article, the rest pick the sentence.
    """
    total = sum(weights.values())
    if not total:
        return 0.0
    low = text.lower()
    own = sum(w for t, w in weights.items() if t in low)
    shared = sum(w for t, w in weights.items() if t not in low and t in header)
    return (own + share * shared) / total


# ----------------------------------------------------------------------------- runtime


@dataclass
class Runtime:
    """A loaded index with the embedder that built it and the retrieval settings it records."""

    index: Index
    embedder: Embedder
    config: RetrievalConfig = field(default_factory=RetrievalConfig)
    _idf: dict[str, float] = field(default_factory=dict, repr=False)
    _by_date: dict[str | None, list[int]] | None = field(default=None, repr=False)
    _starts: dict[str, list[tuple[str, int]]] | None = field(default=None, repr=False)

    def idf(self, token: str) -> float:
        """Inverse document frequency of a lexical token over the live chunks (an unknown
        token gets the idf of one that occurs in half a document)."""
        hit = self._idf.get(token)
        if hit is None:
            n = max(len(self.index.chunks), 1)
            hit = self._idf[token] = math.log((n + 1) / (self.index.lexical.df(token) + 0.5))
        return hit

    def weights(self, query: Query) -> dict[str, float]:
        """The question's content words with their idf; in a follow-up that fills a slot of
        the previous question (``在意大利呢？``), the words it brings count ``slot_boost`` times:
        they are what it asks about, the rest is the frame carried over."""
        out = {t: self.idf(t) for t in query.terms}
        if query.resolution.kind in SLOT_READINGS:
            own = query.asked.lower()
            boost = self.config.slot_boost
            out = {t: w * boost if t in own else w for t, w in out.items()}
        return out

    def evidence(self, text: str, weights: dict[str, float], header: str, dense: float) -> float:
        """Sentence evidence (:meth:`RetrievalConfig.sentence_score`) of one sentence."""
        cfg = self.config
        # the question's words are held in simplified script: so is a traditional page's text
        covered = lexical_coverage(fold(text), weights, fold(header), cfg.header_share)
        return cfg.sentence_score(covered, dense)

    def chunks_dated(self, match: Callable[[str | None], bool]) -> frozenset[int]:
        """Chunks whose article's date satisfies ``match`` (chunk ids grouped by date once)."""
        if self._by_date is None:
            by_date: dict[str | None, list[int]] = {}
            arts, chunks = self.index.articles, self.index.chunks
            codes = chunks.article_codes()
            date_of_code = [arts.date_of(a) if a in arts else None for a in chunks.article_ids]
            for cid, code in enumerate(codes.tolist()):
                by_date.setdefault(date_of_code[code], []).append(cid)
            self._by_date = by_date
        return frozenset(i for d, ids in self._by_date.items() if match(d) for i in ids)

    def articles_starting(self) -> dict[str, list[tuple[str, int]]]:
        """For each page, the articles that start on it with their first chunk, in reading
        order (a continuation belongs to the page its article starts on)."""
        if self._starts is None:
            chunks = self.index.chunks
            codes = chunks.article_codes().tolist()
            pages = np.asarray(chunks.columns["page"]).tolist()
            starts: dict[str, list[tuple[str, int]]] = {}
            seen: set[int] = set()
            for cid, (code, page) in enumerate(zip(codes, pages, strict=True)):
                if code not in seen:
                    seen.add(code)
                    starts.setdefault(chunks.page_ids[page], []).append(
                        (chunks.article_ids[code], cid)
                    )
            self._starts = starts
        return self._starts


_cache: dict[Path, tuple[tuple[int, int, int], Runtime]] = {}
_cache_lock = threading.Lock()


def _stamp(path: Path) -> tuple[int, int, int]:
    """What changes when an index is built, grown or merged: its manifest's file (a build
    swaps the directory, ``rag add`` replaces the manifest). One ``stat`` per question."""
    try:
        st = (path / "manifest.json").stat()
    except OSError:
        return (0, 0, 0)
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def get_runtime(index_dir: str | Path | None = None, embedder: Embedder | None = None) -> Runtime:
    """Load (once per process and directory, thread-safely) the index and its model; an index
    that was rebuilt or grew since (``rag add``) is loaded again, keeping the model."""
    path = Path(index_dir) if index_dir is not None else default_index_dir()
    path = path.resolve()
    stamp = _stamp(path)
    with _cache_lock:
        seen, rt = _cache.get(path, (None, None))
        if rt is None or seen != stamp or (embedder is not None and rt.embedder is not embedder):
            index = load_index(path)
            name = index.manifest["model"]["name"]
            if embedder is None:
                embedder = rt.embedder if rt is not None and rt.embedder.name == name else None
            if embedder is None:
                embedder = load_embedder(name)
            elif embedder.name != name:
                raise IndexMismatchError(
                    f"index at {path} was built with {name!r}, not {embedder.name!r}; "
                    f"rebuild with: rag build <pages-folder> --index {path} --full"
                )
            settings = index.manifest.get("settings", {})
            config = RetrievalConfig.from_dict(settings.get("retrieval"))
            if rt is None or rt.config != config or rt.embedder.name != name:
                check_fitted(name, config, path)
            rt = Runtime(index=index, embedder=embedder, config=config)
            _cache[path] = (stamp, rt)
        return rt


def clear_cache() -> None:
    """Forget loaded indexes (after a rebuild in the same process)."""
    with _cache_lock:
        _cache.clear()


# ----------------------------------------------------------------------------- search

_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="rag-lexical")


@dataclass(frozen=True)
class LexicalSearch:
    """A BM25 search under way in a worker thread: its depth and its future result."""

    k: int
    result: Future[list[int]]

    def top(self, k: int) -> list[int]:
        """The ``k`` best chunks (``k`` at most this search's depth)."""
        return self.result.result()[:k]


def start_lexical(rt: Runtime, tokens: Sequence[str], k: int) -> LexicalSearch:
    """Start the BM25 search for a question's tokens in a worker thread."""
    k = min(k, len(rt.index.chunks))
    return LexicalSearch(k, _POOL.submit(_lexical, rt.index, list(tokens), k))


def _lexical(index: Index, tokens: list[str], k: int) -> list[int]:
    """The ``k`` best chunks by BM25 over the query's jieba tokens (positive scores only)."""
    return index.lexical.top(tokens, k, index.tie_rank)


def _reach(rt: Runtime, allowed: frozenset[int] | None) -> int:
    """How deep to search so that a filter applied afterwards leaves enough candidates."""
    n = len(rt.index.chunks)
    depth = min(rt.config.candidates, n)
    if allowed is None:
        return depth
    return min(n, max(depth * n // max(len(allowed), 1), depth))


def _rank_within(
    rt: Runtime,
    query: Query,
    qv: np.ndarray,
    allowed: frozenset[int] | None,
    lexical: LexicalSearch,
) -> list[tuple[int, float]]:
    """Candidate chunks among ``allowed`` (None: all), best first: RRF of dense and BM25 ranks,
    reranked by sentence evidence from stored vectors (no model runs per passage)."""
    index, cfg = rt.index, rt.config
    if not len(index.chunks) or (allowed is not None and not allowed):
        return []
    reach = _reach(rt, allowed)
    # the lexical search runs beside the dense one (FAISS releases the GIL while it searches)
    if lexical.k < reach:
        lexical = start_lexical(rt, query.tokens, reach)
    _, dense_ids = index.dense.search(qv.reshape(1, -1).astype(np.float32), reach, index.tie_rank)
    found = [int(i) for i in dense_ids[0] if i >= 0]
    if index.coded_vectors and found:
        # 8-bit codes found the candidates; the exact (memory-mapped) vectors order them
        exact = index.chunk_vectors[found] @ qv
        found = [found[j] for j in np.lexsort((index.tie_rank[found], -exact))]
    dense_rank = [i for i in found if allowed is None or i in allowed]
    lexical_rank = [d for d in lexical.top(reach) if allowed is None or d in allowed]
    fused = reciprocal_rank_fusion([dense_rank, lexical_rank], cfg.rrf_k)
    top = sorted(fused, key=lambda d: -fused[d])[: cfg.rerank]
    if not top:
        return []
    best_fused = fused[top[0]]
    weights = rt.weights(query)
    out = []
    for doc in top:
        chunk = index.chunks[doc]
        sids = list(chunk.sentence_ids)
        dense = index.sentence_vectors[sids] @ qv
        header = index.articles.header_of(chunk.article_id)
        evidence = max(
            rt.evidence(index.sentences[sid].text, weights, header, float(d))
            for sid, d in zip(sids, dense, strict=False)
        )
        preferred = chunk.article_id == query.prefer_article
        bonus = cfg.prefer_bonus if preferred and query.prefer_article else 0.0
        out.append((doc, cfg.fused_weight * fused[doc] / best_fused + evidence + bonus))
    out.sort(key=lambda x: -x[1])
    return out


def dated_filter(
    rt: Runtime, date_range: tuple[str | None, str | None] | None
) -> frozenset[int] | None:
    """Chunks inside a date range (already checked), None when there is no range."""
    if not date_range or not any(date_range):
        return None
    start, end = date_range
    return rt.chunks_dated(lambda d: in_range(d, start, end))


@dataclass(frozen=True)
class Ranking:
    """What the retriever found for a question: chunks best first, and the question's vector."""

    ranked: list[tuple[int, float]]
    vector: np.ndarray


def rank(rt: Runtime, query: Query, vector: np.ndarray | None = None) -> Ranking:
    """Rank the archive's chunks for a question: the pages of a date it names first, then the
    rest; only chunks inside its date range; its conversation's article preferred."""
    if not len(rt.index.chunks):
        return Ranking([], np.zeros(rt.embedder.dim, dtype=np.float32))
    allowed = dated_filter(rt, query.date_range)
    dated: frozenset[int] | None = None
    if query.dates and NAMES_PAPER.search(query.text):
        dated = rt.chunks_dated(lambda d: any(n.matches(d) for n in query.dates))
        if allowed is not None:
            dated &= allowed
    depth = max(_reach(rt, allowed), _reach(rt, dated) if dated else 0)
    lexical = start_lexical(rt, query.tokens, depth)  # runs while the question is embedded
    qv = vector if vector is not None else rt.embedder.encode_queries([query.text])[0]
    ranked = _rank_within(rt, query, qv, dated, lexical) if dated else []
    taken = {d for d, _ in ranked}
    more = _rank_within(rt, query, qv, allowed, lexical)
    if query.dates and not dated:
        more = _near_in_time(rt, query, more)
    ranked += [r for r in more if r[0] not in taken]
    return Ranking(ranked, qv)


# A question naming the paper's date (``7月18日的报纸上…``) asks about that issue: its pages are
# searched first. Any other date it names is the time of the event (``2022年…贸易额``), which
# reports follow (a year's figures come out the next year) or precede (plans): a soft prior.
NAMES_PAPER = re.compile(r"的(?:报纸|报道|新闻|本报|版面|头版)|报纸上|报上|当天的报|那天的报|这期")


def _near_in_time(
    rt: Runtime, query: Query, ranked: list[tuple[int, float]]
) -> list[tuple[int, float]]:
    """``ranked`` with a bonus for articles dated near the time the question names
    (:func:`time_prior`), reordered."""
    bonus = rt.config.time_bonus
    if not bonus or not ranked:
        return ranked
    arts, chunk_article = rt.index.articles, rt.index.chunk_article
    out = []
    for doc, score in ranked:
        date = arts.date_of(chunk_article[doc])
        out.append((doc, score + bonus * max(time_prior(n, date) for n in query.dates)))
    out.sort(key=lambda x: -x[1])
    return out


def time_prior(named: DateRef, stored: str | None) -> float:
    """How well a report's date fits the time a question names: 1 within it or the month
    after, 0.5 from a quarter before to a year after, else 0 (and 0 when a year is named and
    the page has none: no year is invented)."""
    parts = parse_stored(stored)
    if parts is None:
        return 0.0
    year, month, day = parts
    if named.year is not None and year is None:
        return 0.0
    if year is None or named.year is None:  # compare within a year: months and days only
        if named.month is None:
            return 0.0
        gap = (month - named.month) % 12
        if named.day is not None and gap == 0:
            return 1.0 if day >= named.day else 0.5
        return 1.0 if gap <= 1 else 0.5 if gap <= 3 or gap >= 9 else 0.0
    bounds = named.bounds()
    if bounds is None:
        return 0.0
    first, last = bounds
    when = dt.date(year, month, day)
    try:
        if first <= when <= last + dt.timedelta(days=31):
            return 1.0
        if first - dt.timedelta(days=92) <= when <= last + dt.timedelta(days=366):
            return 0.5
    except OverflowError:  # a period at the calendar's end (9999年)
        return 0.0
    return 0.0


def hits_from(rt: Runtime, ranked: list[tuple[int, float]], k: int) -> list[Hit]:
    """The ``k`` hits of ranked chunks, one passage per article before a second one."""
    score = dict(ranked)
    chosen = diversify([d for d, _ in ranked], rt.index.chunk_article, k)
    return [hit_of(rt, doc, score[doc]) for doc in chosen]


def hit_of(rt: Runtime, chunk_id: int, score: float) -> Hit:
    """A :class:`Hit` for one chunk of the index."""
    c = rt.index.chunks[chunk_id]
    art = rt.index.articles[c.article_id]
    info = rt.index.pages.get(c.page)
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
        page_number=info.number if info else None,
        edition=info.edition if info else None,
    )


def retrieve_from(
    rt: Runtime,
    text: str,
    k: int,
    date_range: tuple[str | None, str | None] | None = None,
    vector: np.ndarray | None = None,
) -> list[Hit]:
    """The ``k`` best passages for a question from a loaded runtime (see :func:`retrieve`);
    ``vector`` is the question's embedding when already computed."""
    return search(rt, read_question(text, date_range=date_range), k, vector)


def search(rt: Runtime, query: Query, k: int, vector: np.ndarray | None = None) -> list[Hit]:
    """The ``k`` best passages for a read question."""
    return hits_from(rt, rank(rt, query, vector).ranked, check_k(k))


# readings of a follow-up that fill a slot of the previous question with the words it brings
SLOT_READINGS = frozenset({"ellipsis", "slot", "added", "attribute"})


def check_k(k: object) -> int:
    """``k`` if it is a positive integer; ``ValueError`` otherwise."""
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k must be a positive integer, not {k!r}")
    return k


def retrieve(
    query: str,
    k: int = 5,
    index_dir: str | Path | None = None,
    date_range: tuple[str | None, str | None] | None = None,
) -> list[Hit]:
    """The ``k`` best passages for ``query`` from the index at ``index_dir``.

    ``index_dir=None`` means ``$RAG_INDEX_DIR`` or ``index/``. ``date_range`` keeps only
    articles dated inside it (ISO dates or ``--MM-DD``; either end may be None); a date the
    query names is searched first. Raises ``ValueError`` for an empty, over-long or
    symbol-only query or a bad range, and :class:`rag.errors.IndexMissingError` when there is
    no index.
    """
    check_k(k)
    q = read_question(query, date_range=date_range)  # bad input fails before the index loads
    return search(get_runtime(index_dir), q, k)


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
