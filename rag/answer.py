"""Extractive answers: score the sentences of retrieved passages, cut the span the question asks
for, and cite the page and headline it stands under. Nothing is generated: every answer is a
verbatim span of the clean archive text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rag.chunks import Sentence
from rag.pages import format_date
from rag.retrieve import (
    Hit,
    Runtime,
    clean_query,
    get_runtime,
    hit_of,
    hits_from,
    lexical_coverage,
    ranked_chunks,
    sentence_score,
    term_weights,
)
from rag.spans import QuestionType, classify, extract_span

MIN_EVIDENCE = 0.45  # below this the best sentence does not answer the question
STRICT_TYPES = {"number", "date", "person", "org", "place"}
CANDIDATE_MARGIN = 0.8  # sentences within this share of the best score may hold the span


@dataclass(frozen=True)
class Citation:
    """Where an answer (or a passage considered for it) stands in the archive."""

    page: str
    pages: tuple[str, ...]
    headline: str | None
    label: str
    date: str | None
    text: str  # the supporting passage, verbatim
    answer_start: int  # offsets of the answer inside ``text``; -1 when it is not in it
    answer_end: int
    article_id: str
    chunk_id: int

    @property
    def date_text(self) -> str:
        """The date for display, empty when unknown."""
        return format_date(self.date)


@dataclass(frozen=True)
class Answer:
    """The reply to a question."""

    question: str
    found: bool
    text: str  # the extractive answer ("" when not found)
    sentence: str  # the sentence holding it
    qtype: str
    citations: list[Citation] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list)
    score: float = 0.0


# ----------------------------------------------------------------------------- scoring

POOL = 12  # chunks whose sentences are read for an answer
_ATTRIBUTION = re.compile(r"^[^。！？]{0,60}?(?:介绍|表示|说|指出|认为|告诉记者|强调)")


@dataclass(frozen=True)
class _Scored:
    sentence: Sentence
    score: float
    rank: int  # rank of the passage holding it


def _score_sentences(
    rt: Runtime, question: str, qv: np.ndarray, chunk_ids: list[int]
) -> list[_Scored]:
    """Score the sentences of the pooled passages (and the sentence after each) by evidence.

    A sentence that finishes one broken off (by a jump to another page) or that attributes
    the quote before it inherits that sentence's evidence.
    """
    index = rt.index
    weights = term_weights(rt, question)
    rank_of: dict[int, int] = {}
    for rank, cid in enumerate(chunk_ids):
        chunk = index.chunks[cid]
        art_ids = index.article_sentences.get(chunk.article_id, [])
        ids = list(chunk.sentence_ids)
        if ids and ids[-1] in art_ids:
            pos = art_ids.index(ids[-1])
            ids.extend(art_ids[pos + 1 : pos + 3])
        for sid in ids:
            rank_of.setdefault(sid, rank)
    own: dict[int, float] = {}
    for sid in rank_of:
        s = index.sentences[sid]
        dense = float(index.sentence_vectors[sid] @ qv)
        header = index.article_header.get(s.article_id, "")
        lexical = lexical_coverage(s.text, weights, header)
        own[sid] = sentence_score(lexical, dense) - 0.01 * rank_of[sid]
    final = dict(own)
    for sid in sorted(rank_of):
        prev = sid - 1
        if prev not in own or index.sentences[prev].article_id != index.sentences[sid].article_id:
            continue
        p_text = index.sentences[prev].text
        broken = not re.search(r"[。！？；!?;…][”’」』）)]*$", p_text)
        attributes = p_text.endswith(("”", "」")) and bool(
            _ATTRIBUTION.match(index.sentences[sid].text)
        )
        if broken or attributes:
            final[sid] = max(final[sid], final[prev] + 0.001)
    out = [_Scored(index.sentences[sid], sc, rank_of[sid]) for sid, sc in final.items()]
    out.sort(key=lambda x: -x.score)
    return out


# ----------------------------------------------------------------------------- answer


def _citation(
    rt: Runtime, sentence: Sentence, span: tuple[int, int] | None, hits: list[Hit]
) -> Citation:
    """Cite the passage (a retrieved one if possible) that holds ``sentence``."""
    index = rt.index
    chunk = (
        next(
            (
                index.chunks[h.chunk_id]
                for h in hits
                if sentence.sentence_id in index.chunks[h.chunk_id].sentence_ids
            ),
            None,
        )
        or index.chunks[index.sentence_chunk[sentence.sentence_id]]
    )
    art = index.articles[chunk.article_id]
    a_start = a_end = -1
    at = chunk.text.find(sentence.text)
    if at >= 0 and span is not None:
        a_start, a_end = at + span[0], at + span[1]
    elif at >= 0:
        a_start, a_end = at, at + len(sentence.text)
    return Citation(
        page=chunk.page,
        pages=art.pages,
        headline=art.headline,
        label=art.label,
        date=art.date,
        text=chunk.text,
        answer_start=a_start,
        answer_end=a_end,
        article_id=art.article_id,
        chunk_id=chunk.chunk_id,
    )


def _hit_citation(h: Hit) -> Citation:
    return Citation(
        h.page, h.pages, h.headline, h.label, h.date, h.text, -1, -1, h.article_id, h.chunk_id
    )


def answer_with(rt: Runtime, question: str, k: int = 5) -> Answer:
    """Answer ``question`` from a loaded runtime (see :func:`answer`)."""
    q = clean_query(question)
    qtype: QuestionType = classify(q)
    qv = rt.embedder.encode_queries([q])[0]
    ranked = ranked_chunks(rt, q, qv)
    if not ranked:
        return Answer(q, False, "", "", qtype.kind, [], [])
    hits = hits_from(rt, ranked, k)
    scored = _score_sentences(rt, q, qv, [d for d, _ in ranked[:POOL]])
    best = scored[0]
    others = [_hit_citation(h) for h in hits]
    if best.score < MIN_EVIDENCE:
        return Answer(q, False, "", "", qtype.kind, others, hits, best.score)
    chosen: tuple[_Scored, tuple[int, int]] | None = None
    for cand in scored:
        if cand.score < CANDIDATE_MARGIN * best.score:
            break
        span = extract_span(qtype, q, cand.sentence.text)
        if span is not None:
            chosen = (cand, span)
            break
    if chosen is None and qtype.kind in STRICT_TYPES:
        return Answer(q, False, "", "", qtype.kind, others, hits, best.score)
    if chosen is None:
        chosen = (best, (0, len(best.sentence.text)))
    cand, span = chosen
    text = cand.sentence.text[span[0] : span[1]]
    first = _citation(rt, cand.sentence, span, hits)
    citations = [first] + [c for c in others if c.chunk_id != first.chunk_id]
    # the passage that answers goes first among the passages considered
    lead = next((h for h in hits if h.chunk_id == first.chunk_id), None)
    lead = lead or hit_of(rt, first.chunk_id, cand.score)
    hits = [lead, *[h for h in hits if h.chunk_id != first.chunk_id][: max(k - 1, 0)]]
    return Answer(q, True, text, cand.sentence.text, qtype.kind, citations, hits, cand.score)


def answer(question: str, k: int = 5, index_dir: str | Path | None = None) -> Answer:
    """Answer a Chinese question from the archive with a verbatim span and citations.

    ``found`` is False when the archive does not answer it; the closest passages are still in
    ``citations`` and ``hits``. Raises ``ValueError`` for an empty, over-long or symbol-only
    question.
    """
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer, not {k!r}")
    clean_query(question)
    return answer_with(get_runtime(index_dir), question, k)
