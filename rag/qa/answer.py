"""Extractive answers: score the sentences of retrieved passages, let the trained reader read the
best of them with their neighbours, and cite the page and headline the span stands under.
Nothing is generated: every answer is a verbatim span of the clean archive text.

The reader's span score is combined with the retrieval evidence of its sentence and with how
well it fits the question's type (``rag.qa.spans.type_fit``); a span the question itself contains
is never the answer. The question is declined when the reader prefers "no answer" and the
evidence is weak, or when the evidence is too weak on its own. ``reader="rules"`` keeps the
older pattern-based extractor (``rag.qa.spans.extract_span``) for comparison.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rag.ingest.chunks import Sentence
from rag.ingest.pages import format_date
from rag.models.reader import READ_TOP, Reader, Span, load_reader, normalise_answer, tidy
from rag.qa.dialogue import Resolution, question_dates, resolve, turns_from
from rag.qa.retrieve import (
    Focus,
    Hit,
    Runtime,
    chunks_dated,
    clean_query,
    dated_filter,
    get_runtime,
    hit_of,
    hits_from,
    lexical_coverage,
    page_label,
    ranked_chunks,
    sentence_score,
    start_lexical,
    term_weights,
)
from rag.qa.spans import QuestionType, classify, extract_span, type_fit

RULES = "rules"
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
    page_number: int | None = None  # the page's number in its issue (第N版), when known
    edition: str | None = None

    @property
    def date_text(self) -> str:
        """The date for display, empty when unknown."""
        return format_date(self.date)

    @property
    def page_label(self) -> str:
        """How a reader of the paper names the page (``第1版``), else the page id."""
        return page_label(self.page, self.page_number, self.edition)

    @property
    def title(self) -> str:
        """What a reader would cite: ``headline · 8月11日 · 第1版``."""
        head = self.headline or f"{self.label}（无标题）"
        return " · ".join(x for x in (head, self.date_text, self.page_label) if x)


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
    resolved_question: str = ""  # what was searched (the question itself unless rewritten)
    reader: str = ""  # which extractor cut the span ("rules" or the reader's name)


# ----------------------------------------------------------------------------- scoring

POOL = 12  # chunks whose sentences are read for an answer
_ATTRIBUTION = re.compile(r"^[^。！？]{0,60}?(?:介绍|表示|说|指出|认为|告诉记者|强调)")


@dataclass(frozen=True)
class _Scored:
    sentence: Sentence
    score: float
    rank: int  # rank of the passage holding it


PREFER_SENTENCE_BONUS = 0.1  # sentences of the article the conversation is about


def _score_sentences(
    rt: Runtime,
    question: str,
    qv: np.ndarray,
    chunk_ids: list[int],
    prefer_article: str | None = None,
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
        art_ids: Sequence[int] = index.article_sentences.get(chunk.article_id, range(0))
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
        header = index.articles.header_of(s.article_id)
        lexical = lexical_coverage(s.text, weights, header)
        own[sid] = sentence_score(lexical, dense) - 0.01 * rank_of[sid]
        if s.article_id == prefer_article:
            own[sid] += PREFER_SENTENCE_BONUS
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
    info = index.pages.get(chunk.page)
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
        page_number=info.number if info else None,
        edition=info.edition if info else None,
    )


def _hit_citation(h: Hit) -> Citation:
    return Citation(
        h.page,
        h.pages,
        h.headline,
        h.label,
        h.date,
        h.text,
        -1,
        -1,
        h.article_id,
        h.chunk_id,
        h.page_number,
        h.edition,
    )


@dataclass(frozen=True)
class _Asked:
    """A question after resolution and retrieval: what both extractors start from."""

    asked: str  # the question as asked (cleaned)
    searched: str  # what was searched (the resolved follow-up, else ``asked``)
    qtype: QuestionType
    k: int
    hits: list[Hit]
    scored: list[_Scored]
    prefer_article: str | None

    @property
    def others(self) -> list[Citation]:
        return [_hit_citation(h) for h in self.hits]

    def declined(self, score: float, reader: str) -> Answer:
        """The reply when the archive does not answer: the closest passages, no span."""
        return Answer(
            self.asked,
            False,
            "",
            "",
            self.qtype.kind,
            self.others,
            self.hits,
            score,
            self.searched,
            reader,
        )

    def found(
        self, rt: Runtime, sentence: Sentence, span: tuple[int, int], score: float, reader: str
    ) -> Answer:
        """The reply with a span of ``sentence``, its passage cited (and listed) first."""
        first = _citation(rt, sentence, span, self.hits)
        citations = [first] + [c for c in self.others if c.chunk_id != first.chunk_id]
        lead = next((h for h in self.hits if h.chunk_id == first.chunk_id), None)
        lead = lead or hit_of(rt, first.chunk_id, score)
        rest = [h for h in self.hits if h.chunk_id != first.chunk_id][: max(self.k - 1, 0)]
        return Answer(
            self.asked,
            True,
            sentence.text[span[0] : span[1]],
            sentence.text,
            self.qtype.kind,
            citations,
            [lead, *rest],
            score,
            self.searched,
            reader,
        )


def _ask(
    rt: Runtime,
    question: str,
    k: int,
    history: Sequence[object] | None = None,
    date_range: tuple[str | None, str | None] | None = None,
) -> _Asked:
    """Resolve a follow-up, then retrieve: pages of a date the question names come first,
    the previous answer's article is preferred, a date range filters."""
    q = clean_query(question)
    res = resolve(q, turns_from(history)) if history else Resolution(q, "standalone")
    searched = clean_query(res.question)
    qtype = classify(searched)
    lexical = start_lexical(rt, searched)  # BM25 runs while the question is embedded
    qv = rt.embedder.encode_queries([searched])[0]
    allowed = dated_filter(rt, date_range)
    focus = Focus(allowed, res.prefer_article)
    ranked: list[tuple[int, float]] = []
    named = question_dates(searched)
    if named:
        dated = chunks_dated(rt, lambda d: any(n.matches(d) for n in named))
        if allowed is not None:
            dated &= allowed
        if dated:
            ranked = ranked_chunks(rt, searched, qv, focus=Focus(dated, res.prefer_article))
    taken = {d for d, _ in ranked}
    more = ranked_chunks(rt, searched, qv, focus=focus, lexical=lexical)
    ranked += [r for r in more if r[0] not in taken]
    hits = hits_from(rt, ranked, k) if ranked else []
    scored = (
        _score_sentences(rt, searched, qv, [d for d, _ in ranked[:POOL]], res.prefer_article)
        if ranked
        else []
    )
    return _Asked(q, searched, qtype, k, hits, scored, res.prefer_article)


def answer_by_rules(rt: Runtime, a: _Asked) -> Answer:
    """Answer with the pattern-based span rules (the extractor before the reader)."""
    if not a.scored or a.scored[0].score < MIN_EVIDENCE:
        return a.declined(a.scored[0].score if a.scored else 0.0, RULES)
    best = a.scored[0]
    chosen: tuple[_Scored, tuple[int, int]] | None = None
    for cand in a.scored:
        if cand.score < CANDIDATE_MARGIN * best.score:
            break
        span = extract_span(a.qtype, a.searched, cand.sentence.text)
        if span is not None:
            chosen = (cand, span)
            break
    if chosen is None and a.qtype.kind in STRICT_TYPES:
        return a.declined(best.score, RULES)
    if chosen is None:
        chosen = (best, (0, len(best.sentence.text)))
    cand, span = chosen
    return a.found(rt, cand.sentence, span, cand.score, RULES)


# ----------------------------------------------------------------------------- reader

READER_WINDOWS = 4  # sentence windows the reader reads per question
WINDOW_NEIGHBOURS = 1  # sentences either side of an evidence sentence
MAX_WINDOW_CHARS = 180  # about what one 160-token reader window holds beside a question
EVIDENCE_WEIGHT = 10.0  # reader logits per unit of sentence evidence (benchmarks/tune_answer.py)
TYPE_WEIGHT = 2.0  # reader logits per unit of type fit
MIN_READER_EVIDENCE = 0.4  # below this nothing in the archive answers
SURE_EVIDENCE = 1.0  # at or above this (near-verbatim matches only) "no answer" is overruled
NULL_MARGIN = 2.0  # span score minus no-answer score needed when evidence is middling
FILTER_TYPES = {"number"}  # question types whose candidates must fit (type_fit above -1)


@dataclass(frozen=True)
class _Window:
    text: str
    sentence_ids: tuple[int, ...]
    starts: tuple[int, ...]  # offset of each sentence in ``text``
    evidence: float  # of the sentence the window was built around


def _windows(rt: Runtime, scored: list[_Scored]) -> list[_Window]:
    """The best evidence sentences, each with its neighbours as far as a window holds them;
    a sentence already inside a window costs nothing; windows merge when the union fits."""
    index = rt.index
    best = scored[0].score if scored else 0.0
    spans: list[list] = []  # [article id, first position, last position, evidence]

    def size(aid: str, first: int, last: int) -> int:
        sids = index.article_sentences[aid][first : last + 1]
        return sum(len(index.sentences[i].text) for i in sids)

    for cand in scored:
        if len(spans) >= READER_WINDOWS or cand.score < 0.5 * best:
            break
        aid = cand.sentence.article_id
        art = index.article_sentences[aid]
        pos = art.index(cand.sentence.sentence_id)
        if any(a == aid and f <= pos <= last for a, f, last, _ in spans):
            continue
        lo, hi = max(0, pos - WINDOW_NEIGHBOURS), min(len(art) - 1, pos + WINDOW_NEIGHBOURS)
        while size(aid, lo, hi) > MAX_WINDOW_CHARS and (lo < pos or hi > pos):
            # drop the longer neighbour; the evidence sentence always stays
            left = len(index.sentences[art[lo]].text) if lo < pos else -1
            right = len(index.sentences[art[hi]].text) if hi > pos else -1
            lo, hi = (lo + 1, hi) if left >= right else (lo, hi - 1)
        for w in spans:
            a, f, last, _ = w
            joined = a == aid and lo <= last + 1 and hi >= f - 1
            if joined and size(aid, min(f, lo), max(last, hi)) <= MAX_WINDOW_CHARS:
                w[1], w[2] = min(f, lo), max(last, hi)
                break
        else:
            spans.append([aid, lo, hi, cand.score])
    out = []
    for aid, first, last, ev in spans:
        sids = index.article_sentences[aid][first : last + 1]
        texts = [index.sentences[i].text for i in sids]
        starts, at = [], 0
        for t in texts:
            starts.append(at)
            at += len(t)
        out.append(_Window("".join(texts), tuple(sids), tuple(starts), ev))
    return out


@dataclass(frozen=True)
class _Candidate:
    span: Span
    sentence: Sentence
    start: int  # offsets in the sentence
    end: int
    evidence: float
    fit: float  # type_fit of the span to the question
    score: float


def _candidates(
    rt: Runtime,
    question: str,
    qtype: QuestionType,
    wins: list[_Window],
    spans: list[Span],
    evidence: dict[int, float],
) -> list[_Candidate]:
    """Reader spans placed in their sentences, filtered and scored, best first."""
    q_norm = normalise_answer(question)
    out: list[_Candidate] = []
    seen: set[tuple[int, int, int]] = set()
    for sp in spans:
        w = wins[sp.context]
        n = max(i for i, st in enumerate(w.starts) if st <= sp.start)
        sent = rt.index.sentences[w.sentence_ids[n]]
        a = sp.start - w.starts[n]
        b = min(sp.end - w.starts[n], len(sent.text))  # a span never leaves its sentence
        a, b = tidy(sent.text, a, b)  # cut at the sentence end: trim what the cut left
        if a >= b:
            continue
        text = sent.text[a:b]
        norm = normalise_answer(text)
        if not norm or norm in q_norm or (sent.sentence_id, a, b) in seen:
            continue  # the question's own words are never its answer
        seen.add((sent.sentence_id, a, b))
        ev = evidence.get(sent.sentence_id, 0.8 * w.evidence)
        fit = type_fit(qtype, text)
        score = sp.ranked + EVIDENCE_WEIGHT * ev + TYPE_WEIGHT * fit
        out.append(_Candidate(sp, sent, a, b, ev, fit, score))
    out.sort(key=lambda c: -c.score)
    return out


def choose(
    rt: Runtime, a: _Asked, wins: list[_Window], spans: list[Span]
) -> tuple[_Candidate | None, float]:
    """The reader's answer among its spans, or None to decline; with the score to report.

    Declines when the evidence is too weak, or when the chosen span barely beats the reader's
    "no answer" score and the evidence is not strong enough to overrule it.
    """
    if not a.scored or a.scored[0].score < MIN_READER_EVIDENCE:
        return None, a.scored[0].score if a.scored else 0.0
    evidence = {c.sentence.sentence_id: c.score for c in a.scored}
    cands = _candidates(rt, a.searched, a.qtype, wins, spans, evidence)
    if a.qtype.kind in FILTER_TYPES:
        # 多少 asks for a quantity: a span without any number is no answer to it. On the CMRC
        # 2018 trial no number question loses its answer this way (date questions would:
        # 九岁的一天, 春季化雪的时候 answer 何时, so dates stay a prior only)
        cands = [c for c in cands if c.fit > -1]
    if not cands:
        return None, a.scored[0].score
    top = cands[0]
    # the chosen span's own margin, not the best of all spans: on public data (tune_answer.py)
    # it declines more questions the archive cannot answer at about the same F1
    if top.span.margin < NULL_MARGIN and top.evidence < SURE_EVIDENCE:
        return None, top.score
    return top, top.score


def answer_by_reader(rt: Runtime, a: _Asked, reader: Reader) -> Answer:
    """Answer with a trained reader over the best sentence windows of the retrieved passages."""
    name = getattr(reader, "name", "reader")
    wins = _windows(rt, a.scored) if a.scored and a.scored[0].score >= MIN_READER_EVIDENCE else []
    spans = reader.read(a.searched, [w.text for w in wins], top=READ_TOP) if wins else []
    top, score = choose(rt, a, wins, spans)
    if top is None:
        return a.declined(score, name)
    return a.found(rt, top.sentence, (top.start, top.end), score, name)


def answer_with(
    rt: Runtime,
    question: str,
    k: int = 5,
    reader: Reader | str | Path | None = None,
    history: Sequence[object] | None = None,
    date_range: tuple[str | None, str | None] | None = None,
) -> Answer:
    """Answer ``question`` from a loaded runtime (see :func:`answer`)."""
    if reader == RULES:
        return answer_by_rules(rt, _ask(rt, question, k, history, date_range))
    if reader is None or isinstance(reader, (str, Path)):
        reader = load_reader(reader)
    return answer_by_reader(rt, _ask(rt, question, k, history, date_range), reader)


def answer(
    question: str,
    k: int = 5,
    index_dir: str | Path | None = None,
    history: Sequence[object] | None = None,
    reader: Reader | str | Path | None = None,
    date_range: tuple[str | None, str | None] | None = None,
) -> Answer:
    """Answer a Chinese question from the archive with a verbatim span and citations.

    ``found`` is False when the archive does not answer it; the closest passages are still in
    ``citations`` and ``hits``. ``history`` holds the earlier turns of a conversation, oldest
    first, as ``(question, Answer)`` pairs (or question strings): a follow-up is resolved
    against them and ``resolved_question`` says what was searched. ``reader`` is a reader
    directory, a :class:`rag.models.reader.Reader`, ``"rules"`` for the pattern extractor, or None
    for ``$RAG_READER`` / the packaged reader. ``date_range`` (``("2022-08-01", None)``,
    ``("--08-11", "--08-11")``) keeps only articles dated inside it. Raises ``ValueError``
    for an empty, over-long or symbol-only question or a malformed date.
    """
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer, not {k!r}")
    clean_query(question)
    return answer_with(get_runtime(index_dir), question, k, reader, history, date_range)
