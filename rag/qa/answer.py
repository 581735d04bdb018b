"""Extractive answers: a question read once (:func:`rag.qa.query.read_question`) goes to the
handler of its kind; the span handler scores the sentences of the retrieved passages, lets a
reader read the best of them with their neighbours, and cites the passage the span stands in.
Nothing is generated: every answer is a verbatim span of the clean archive text.

A reader's span score is combined with the retrieval evidence of its sentence and with how well
it fits the question's type (``rag.qa.spans.type_fit``); a span the question itself contains is
never the answer. The question is declined when the chosen span barely beats the reader's "no
answer" score and the evidence cannot overrule it, or when the evidence is too weak on its own.
Settings come in an :class:`~rag.qa.config.AnswerConfig`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from rag.ingest.chunks import Sentence
from rag.ingest.dates import parse_stored
from rag.ingest.pages import DATELINE
from rag.ingest.tokenize import fold
from rag.models.reader import Reader, Span, load_reader, normalise_answer, read_many, tidy
from rag.qa.config import AnswerConfig, check_features
from rag.qa.dates import DateReading, date_spans, read_relative
from rag.qa.dialogue import PRONOUNS
from rag.qa.digest import answer_articles, answer_issue, answer_lead
from rag.qa.locate import locate
from rag.qa.query import DateRange, Query, read_question, read_readings
from rag.qa.records import Answer, Citation, Hit
from rag.qa.retrieve import Runtime, check_k, get_runtime, hit_of, hits_from, rank
from rag.qa.spans import (
    RULES,
    RulesReader,
    aligned_segment,
    clause_alignment,
    event_words,
    measure_fit,
    question_terms,
    span_pieces,
    type_fit,
)

# ----------------------------------------------------------------------------- evidence

_ATTRIBUTION = re.compile(r"^[^。！？]{0,60}?(?:介绍|表示|说|指出|认为|告诉记者|强调)")
_CLOSED = re.compile(r"[。！？；!?;…][”’」』）)]*$")


@dataclass(frozen=True)
class Scored:
    """A sentence of a retrieved passage with its evidence for the question."""

    sentence: Sentence
    score: float
    rank: int  # rank of the passage holding it


def score_sentences(
    rt: Runtime, query: Query, qv: np.ndarray, chunk_ids: list[int], cfg: AnswerConfig
) -> list[Scored]:
    """Score the sentences of the pooled passages (and the two after each) by evidence.

    A sentence that finishes one broken off (by a jump to another page) or that attributes
    the quote before it inherits that sentence's evidence.
    """
    index = rt.index
    weights = rt.weights(query)
    rank_of: dict[int, int] = {}
    for at, cid in enumerate(chunk_ids):
        chunk = index.chunks[cid]
        art_ids: Sequence[int] = index.article_sentences.get(chunk.article_id, range(0))
        ids = list(chunk.sentence_ids)
        if ids and ids[-1] in art_ids:
            pos = art_ids.index(ids[-1])
            ids.extend(art_ids[pos + 1 : pos + 3])
        for sid in ids:
            rank_of.setdefault(sid, at)
    own: dict[int, float] = {}
    for sid in rank_of:
        s = index.sentences[sid]
        dense = float(index.sentence_vectors[sid] @ qv)
        header = index.articles.header_of(s.article_id)
        own[sid] = rt.evidence(s.text, weights, header, dense) - 0.01 * rank_of[sid]
        if query.prefer_article and s.article_id == query.prefer_article:
            own[sid] += cfg.prefer_sentence_bonus
    final = dict(own)
    for sid in sorted(rank_of):
        prev = sid - 1
        if prev not in own or index.sentences[prev].article_id != index.sentences[sid].article_id:
            continue
        p_text = index.sentences[prev].text
        broken = not _CLOSED.search(p_text)
        attributes = p_text.endswith(("”", "」")) and bool(
            _ATTRIBUTION.match(index.sentences[sid].text)
        )
        if broken or attributes:
            final[sid] = max(final[sid], final[prev] + 0.001)
    out = [Scored(index.sentences[sid], sc, rank_of[sid]) for sid, sc in final.items()]
    out.sort(key=lambda x: -x.score)
    return out


@dataclass(frozen=True)
class Evidence:
    """A read question with what retrieval found for it: what every handler starts from."""

    query: Query
    k: int
    hits: list[Hit]
    scored: list[Scored]

    @property
    def best(self) -> float:
        """The best sentence's evidence (0 when nothing was found)."""
        return self.scored[0].score if self.scored else 0.0

    def declined(self, score: float, reader: str) -> Answer:
        """The reply when the archive does not answer: the closest passages, no span."""
        return self.query.reply(False, self.hits, reader=reader, score=score)

    def found(
        self,
        rt: Runtime,
        sentence: Sentence,
        span: tuple[int, int],
        score: float,
        reader: str,
        reading: DateReading | None = None,
    ) -> Answer:
        """The reply with a span of ``sentence``, its passage cited (and listed) first; a
        relative date (``今天下午``) answers with the date it was ``reading`` as."""
        index = rt.index
        lead = next(
            (h for h in self.hits if sentence.sentence_id in index.chunks[h.chunk_id].sentence_ids),
            None,
        ) or hit_of(rt, int(index.sentence_chunk[sentence.sentence_id]), score)
        at = lead.text.find(sentence.text)
        start, end = (at + span[0], at + span[1]) if at >= 0 else (-1, -1)
        first = Citation(lead, start, end)
        others = [Citation(h) for h in self.hits if h.chunk_id != lead.chunk_id]
        rest = [h for h in self.hits if h.chunk_id != lead.chunk_id][: max(self.k - 1, 0)]
        return self.query.reply(
            True,
            [lead, *rest],
            [first, *others],
            reader=reader,
            score=score,
            text=reading.text if reading else sentence.text[span[0] : span[1]],
            sentence=sentence.text,
            date_note=reading.note if reading else "",
        )


def gather(rt: Runtime, query: Query, k: int, cfg: AnswerConfig) -> Evidence:
    """Retrieve for a question and score the sentences of its best passages."""
    found = rank(rt, query)
    ranked = found.ranked
    hits = hits_from(rt, ranked, k) if ranked else []
    pool = [d for d, _ in ranked[: cfg.pool]]
    scored = score_sentences(rt, query, found.vector, pool, cfg) if ranked else []
    return Evidence(query, k, hits, scored)


# ----------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class Window:
    """Sentences of one article read together; ``starts`` are their offsets in ``text``."""

    text: str
    sentence_ids: tuple[int, ...]
    starts: tuple[int, ...]
    evidence: float  # of the sentence the window was built around


def windows(rt: Runtime, scored: list[Scored], cfg: AnswerConfig) -> list[Window]:
    """The best evidence sentences, each with its neighbours as far as a window holds them;
    a sentence already inside a window costs nothing; windows merge when the union fits."""
    index = rt.index
    best = scored[0].score if scored else 0.0
    spans: list[list] = []  # [article id, first position, last position, evidence]

    def size(aid: str, first: int, last: int) -> int:
        sids = index.article_sentences[aid][first : last + 1]
        return sum(len(index.sentences[i].text) for i in sids)

    for cand in scored:
        if len(spans) >= cfg.windows or cand.score < cfg.window_share * best:
            break
        aid = cand.sentence.article_id
        art = index.article_sentences[aid]
        pos = art.index(cand.sentence.sentence_id)
        if any(a == aid and f <= pos <= last for a, f, last, _ in spans):
            continue
        near = cfg.window_neighbours
        lo, hi = max(0, pos - near), min(len(art) - 1, pos + near)
        while size(aid, lo, hi) > cfg.max_window_chars and (lo < pos or hi > pos):
            # drop the longer neighbour; the evidence sentence always stays
            left = len(index.sentences[art[lo]].text) if lo < pos else -1
            right = len(index.sentences[art[hi]].text) if hi > pos else -1
            lo, hi = (lo + 1, hi) if left >= right else (lo, hi - 1)
        for w in spans if cfg.merge_windows else ():
            a, f, last, _ = w
            joined = a == aid and lo <= last + 1 and hi >= f - 1
            if joined and size(aid, min(f, lo), max(last, hi)) <= cfg.max_window_chars:
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
        out.append(Window("".join(texts), tuple(sids), tuple(starts), ev))
    return out


# answered with a clause or a phrase of any shape, not a typed phrase inside one
_CLAUSE_TYPES = frozenset({"reason", "yesno", "what"})


@dataclass(frozen=True)
class Candidate:
    """A reader's span placed in its sentence, with what it is ranked by."""

    span: Span
    sentence: Sentence
    start: int  # offsets in the sentence
    end: int
    evidence: float
    fit: float  # type_fit of the span to the question
    score: float
    align: float = 0.0  # clause_alignment of the span with the question


@dataclass(frozen=True)
class Placing:
    """What a question says about where its answer stands, worked out once per question: its
    words' weights (without the noun it asks for) and a date question's event verbs."""

    around: dict[str, float]
    events: tuple[str, ...]
    placed: bool  # a short typed answer (not a clause): clause alignment applies

    @classmethod
    def of(cls, rt: Runtime, query: Query, cfg: AnswerConfig) -> Placing:
        """The placing of a read question."""
        weights = rt.weights(query)
        placed = query.qtype.kind not in _CLAUSE_TYPES
        # the noun the question asks for (哪个居民小区 → 居民小区) describes the answer itself
        hint = query.qtype.hint
        around = {t: w for t, w in weights.items() if not (hint and t in hint)}
        events = tuple(event_words(query.tags)) if query.qtype.kind == "date" else ()
        return cls(around, events, placed)


def candidates(
    rt: Runtime,
    query: Query,
    wins: list[Window],
    spans: list[Span],
    evidence: dict[int, float],
    cfg: AnswerConfig,
) -> list[Candidate]:
    """Reader spans placed in their sentences, filtered and scored, best first."""
    q_norm = normalise_answer(query.text)
    placing = Placing.of(rt, query, cfg)
    out: list[Candidate] = []
    seen: set[tuple[int, int, int]] = set()
    # the best reading of a text counts (a window read again proposes spans already seen)
    for sp in sorted(spans, key=lambda x: -x.score):
        w = wins[sp.context]
        n = max(i for i, st in enumerate(w.starts) if st <= sp.start)
        printed = rt.index.sentences[w.sentence_ids[n]]
        # ranked on the text in one script; the answer keeps the printed sentence
        sent = replace(printed, text=fold(printed.text))
        a = sp.start - w.starts[n]
        b = min(sp.end - w.starts[n], len(sent.text))  # a span never leaves its sentence
        a, b = tidy(sent.text, a, b)  # cut at the sentence end: trim what the cut left
        if a >= b:
            continue
        # a typed answer stops at its clause: its first clause is a candidate beside it
        pieces = span_pieces(query.qtype, sent.text, a, b) if cfg.trim_edges else [(a, b)]
        for a, b in pieces:
            text = sent.text[a:b]
            norm = normalise_answer(text)
            if a >= b or not norm or norm in q_norm or (sent.sentence_id, a, b) in seen:
                continue  # the question's own words are never its answer
            seen.add((sent.sentence_id, a, b))
            ev = evidence.get(sent.sentence_id, 0.8 * w.evidence)
            feats = span_features(query, placing, sp, sent, a, b, ev, cfg)
            fit, align = feats[3], feats[4]
            out.append(Candidate(sp, printed, a, b, ev, fit, span_score(feats, cfg), align))
    out.sort(key=lambda c: -c.score)
    return out


# What a candidate span is ranked by (:func:`span_features`), each weighed by the
# ``AnswerConfig`` field beside it: the reader's span score counts as is.
SPAN_FEATURES = (
    ("reader", None),  # the reader's span score (start + end logits, rag.models.reader.Span)
    ("length", "length_prior"),  # log(1 + answer chars)
    ("evidence", "evidence_weight"),  # its sentence's evidence for the question
    ("fit", "type_weight"),  # type fit of the span to the question (rag.qa.spans.type_fit)
    ("align", "align_weight"),  # clause alignment (rag.qa.spans.clause_alignment)
    ("event_missing", "event_weight"),  # a date whose sentence names none of the event's verbs
    ("measure", "measure_weight"),  # a rate beside what changed (rag.qa.spans.measure_fit)
)


def span_weights(cfg: AnswerConfig) -> tuple[float, ...]:
    """The weight of each of :data:`SPAN_FEATURES` in ``cfg`` (the reader's score: 1; a date's
    missing event counts against)."""
    out = []
    for name, field_name in SPAN_FEATURES:
        w = 1.0 if field_name is None else float(getattr(cfg, field_name))
        out.append(-w if name == "event_missing" else w)
    return tuple(out)


def span_features(
    query: Query,
    placing: Placing,
    sp: Span,
    sent: Sentence,
    a: int,
    b: int,
    ev: float,
    cfg: AnswerConfig,
) -> tuple[float, ...]:
    """:data:`SPAN_FEATURES` of ``sent.text[a:b]`` as an answer (a feature whose weight in
    ``cfg`` is 0 is not worked out)."""
    text = sent.text[a:b]
    fit = type_fit(query.qtype, text)
    on = placing.placed
    align = clause_alignment(sent.text, a, b, placing.around) if cfg.align_weight and on else 0.0
    # a date is the answer only in a sentence that names the question's event
    missing = bool(placing.events) and not any(e in sent.text for e in placing.events)
    # a rate follows the subject whose change it gives
    named = measure_fit(query.qtype, sent.text, a) if cfg.measure_weight else 0.0
    length = math.log1p(sp.end - sp.start)
    return (sp.score, length, ev, fit, align, float(missing), named)


def span_score(feats: Sequence[float], cfg: AnswerConfig) -> float:
    """A candidate's score: its :func:`span_features` weighed by ``cfg``
    (:func:`span_weights`)."""
    return sum(w * f for w, f in zip(span_weights(cfg), feats, strict=True))


def choose(
    rt: Runtime, ev: Evidence, wins: list[Window], spans: list[Span], cfg: AnswerConfig
) -> tuple[Candidate | None, float]:
    """The answer among a reader's spans, or None to decline; with the score to report.

    Declines when the evidence is too weak, or when the chosen span barely beats the reader's
    "no answer" score and the evidence is not strong enough to overrule it.
    """
    if not ev.scored or ev.best < cfg.min_evidence:
        return None, ev.best
    evidence = {c.sentence.sentence_id: c.score for c in ev.scored}
    cands = candidates(rt, ev.query, wins, spans, evidence, cfg)
    if ev.query.qtype.kind in cfg.filter_types:
        # 多少 asks for a quantity: a span without any number is no answer to it. On the CMRC
        # 2018 trial no number question loses its answer this way (date questions would:
        # 九岁的一天, 春季化雪的时候 answer 何时, so dates stay a prior only)
        cands = [c for c in cands if c.fit > -1]
    if not cands:
        return None, ev.best
    top = cands[0]
    if cfg.decline_weights:
        if decline_score(rt, ev, top, cfg.decline_weights) < 0:
            return None, top.score
        return top, top.score
    # the chosen span's own margin, not the best of all spans: on public data (tune_answer.py)
    # it declines more questions the archive cannot answer at about the same F1
    if top.span.margin < cfg.null_margin and top.evidence < cfg.sure_evidence:
        return None, top.score
    return top, top.score


DECLINE_FEATURES = ("margin", "evidence", "best", "fit", "covered", "length", "year_missing")
_YEAR = re.compile(r"(?<!\d)(\d{4})\s*年")


def year_missing(rt: Runtime, query: Query, sentence: Sentence) -> float:
    """1 when the question names a year (``2015年``) that the answer's article never names,
    in its text or its date: a figure of another year is a near miss, not the answer. 0 when
    the question names no year, or the article names it (a lead often names the year and a
    later sentence the figure, so the sentence alone is not enough)."""
    years = set(_YEAR.findall(query.text))
    if not years:
        return 0.0
    ids = rt.index.article_sentences.get(sentence.article_id, ())
    text = "".join(rt.index.sentences[i].text for i in ids) or sentence.text
    found = set(re.findall(r"(?<!\d)\d{4}(?!\d)", fold(text)))
    date = parse_stored(rt.index.articles.date_of(sentence.article_id))
    if date is not None and date[0] is not None:
        found.add(str(date[0]))
    return 0.0 if years & found else 1.0


def decline_features(rt: Runtime, ev: Evidence, top: Candidate) -> tuple[float, ...]:
    """What the no-answer decision weighs (:data:`DECLINE_FEATURES`): the chosen span's margin
    over the reader's "no answer", its sentence's evidence, the best evidence found, its type
    fit, the (idf-weighted) share of the question's words its sentence holds, its length (up to
    30 characters, as a share of 30), and whether a year the question names is missing there
    (:func:`year_missing`)."""
    weights = rt.weights(ev.query)
    total = sum(weights.values()) or 1.0
    low = fold(top.sentence.text).lower()
    covered = sum(w for t, w in weights.items() if t in low) / total
    length = min(top.end - top.start, 30) / 30
    missing = year_missing(rt, ev.query, top.sentence)
    return (top.span.margin, top.evidence, ev.best, top.fit, covered, length, missing)


def decline_score(rt: Runtime, ev: Evidence, top: Candidate, weights: tuple[float, ...]) -> float:
    """The logistic no-answer decision, fitted on public data
    (``benchmarks/calibrate_decline.py``): ``weights`` are a bias then one weight per
    feature; below 0 the question is declined."""
    feats = decline_features(rt, ev, top)
    return weights[0] + sum(w * f for w, f in zip(weights[1:], feats, strict=True))


def read(
    rt: Runtime, ev: Evidence, reader: Reader, cfg: AnswerConfig
) -> tuple[list[Window], list[Span]]:
    """The windows a reader reads for a question, and the spans it proposes in them."""
    wins = windows(rt, ev.scored, cfg) if ev.scored and ev.best >= cfg.min_evidence else []
    # read in one script: a page printed in traditional script is read folded (one character
    # for one, so the spans' offsets name the printed characters)
    texts = [fold(w.text) for w in wins]
    spans = reader.read(ev.query.text, texts, top=cfg.read_top) if wins else []
    return wins, spans


# ----------------------------------------------------------------------------- handlers


def answer_span(rt: Runtime, query: Query, k: int, reader: Reader, cfg: AnswerConfig) -> Answer:
    """A span of one sentence answers the question (who, what, where, how many …)."""
    ev = gather(rt, query, k, cfg)
    wins, spans = read(rt, ev, reader, cfg)
    return reply_of(rt, decide(rt, ev, wins, spans, reader, cfg), reader)


@dataclass(frozen=True)
class Decided:
    """What reading one question came to: its evidence and the span chosen (None: declined)."""

    ev: Evidence
    top: Candidate | None
    score: float


def decide(
    rt: Runtime,
    ev: Evidence,
    wins: list[Window],
    spans: list[Span],
    reader: Reader,
    cfg: AnswerConfig,
) -> Decided:
    """The span chosen among a reader's spans (:func:`choose`), the clause it aligns with read
    again when the sentence runs parallel (:func:`refocus`)."""
    top, score = choose(rt, ev, wins, spans, cfg)
    if top is not None and cfg.refocus and ev.query.qtype.kind not in _CLAUSE_TYPES:
        more = refocus(rt, ev, top, reader, cfg, len(wins))
        if more is not None:
            top, score = choose(rt, ev, [*wins, more[0]], [*spans, *more[1]], cfg)
    return Decided(ev, top, score)


def reply_of(rt: Runtime, done: Decided, reader: Reader) -> Answer:
    """The answer a decision gives (a date read against its report's dateline)."""
    name = getattr(reader, "name", "reader")
    top, ev = done.top, done.ev
    if top is None:
        return ev.declined(done.score, name)
    span, reading = (top.start, top.end), None
    if ev.query.qtype.kind == "date":
        span, reading = read_date(rt, top)
    return ev.found(rt, top.sentence, span, done.score, name, reading)


# ----------------------------------------------------------------------------- follow-ups

READING_KINDS = ("first", "standalone", "slot", "added", "attribute", "pronoun", "subject")
FOLLOW_FEATURES = (
    *DECLINE_FEATURES,
    "own_words",
    "prefer",
    "repeats",
    "clash",
    "pronoun_left",
    *(f"kind:{k}" for k in READING_KINDS),
)


check_features("decline_weights", DECLINE_FEATURES)
check_features("follow_weights", FOLLOW_FEATURES)


def follow_features(rt: Runtime, done: Decided, at: int) -> tuple[float, ...]:
    """What choosing among the readings of a follow-up weighs (:data:`FOLLOW_FEATURES`) for
    reading number ``at`` (0: the rule's) that found a span: the no-answer decision's features
    (:func:`decline_features`), the share of the words the user typed that the span's sentence
    holds, whether it stands in the previous answer's article, whether it repeats the previous
    answer, whether the reading puts the new words where their kind does not fit
    (``Resolution.clash``), whether it still holds a pronoun, and the kind of reading."""
    query, top = done.ev.query, done.top
    assert top is not None, "only a reading that found a span is weighed"
    kind = "first" if at == 0 else query.resolution.kind
    kinds = tuple(float(kind == k) for k in READING_KINDS)
    own = typed_terms(query.asked)
    low = fold(top.sentence.text).lower()
    typed = sum(t in low for t in own) / len(own) if own else 1.0
    prefer = float(bool(query.prefer_article) and top.sentence.article_id == query.prefer_article)
    said = normalise_answer(top.sentence.text[top.start : top.end])
    before = normalise_answer(query.resolution.previous)
    repeats = float(bool(said) and bool(before) and (said in before or before in said))
    clash = float(query.resolution.clash)
    # a pronoun read as asked (its antecedent in no reading's words) searches for nothing
    left = float(any(w in PRONOUNS for w, _ in query.tags))
    return (*decline_features(rt, done.ev, top), typed, prefer, repeats, clash, left, *kinds)


@lru_cache(maxsize=256)
def typed_terms(asked: str) -> tuple[str, ...]:
    """The content words the user typed, the same for every reading of a follow-up: tokenised
    once."""
    return tuple(question_terms(fold(asked)))


def follow_score(feats: Sequence[float], weights: Sequence[float]) -> float:
    """The fitted logit that a reading's answer is right (``benchmarks/fit_followups.py``)."""
    return weights[0] + sum(w * f for w, f in zip(weights[1:], feats, strict=True))


def answer_readings(
    rt: Runtime, queries: list[Query], k: int, reader: Reader, cfg: AnswerConfig
) -> Answer:
    """A follow-up read every way it may be meant (``queries``, the rule's reading first),
    the reading whose answer the fitted score trusts most answering; below 0 the question is
    declined. The answer's ``resolved_question`` is the reading chosen.

    The rule's reading is read first, with the windows of any question; when its score reaches
    ``cfg.follow_sure`` it answers alone. Otherwise the other readings are searched and their
    best ``cfg.follow_windows`` windows read in one batch (:func:`decide_readings`)."""
    done = decide_readings(rt, queries, k, reader, cfg, sure=cfg.follow_sure)
    best, best_score = None, -math.inf
    for at, d in enumerate(done):
        if d.top is None:
            continue
        sc = follow_score(follow_features(rt, d, at), cfg.follow_weights)
        if sc > best_score:
            best, best_score = d, sc
    if best is None or best_score < 0:
        return reply_of(rt, Decided(done[0].ev, None, done[0].score), reader)
    return reply_of(rt, best, reader)


def decide_readings(
    rt: Runtime,
    queries: list[Query],
    k: int,
    reader: Reader,
    cfg: AnswerConfig,
    sure: float = math.inf,
) -> list[Decided]:
    """Every reading of a follow-up decided with the no-answer decision left to the fitted
    score: the rule's (``queries[0]``) as any question is read, then, unless its score reaches
    ``sure``, the others with ``cfg.follow_windows`` windows each, read in one batch."""
    opened = open_to_all(cfg)
    done = decide_all(rt, queries[:1], k, reader, opened)
    rule = done[0] if done else None
    sure_of_rule = (
        rule is not None
        and rule.top is not None
        and bool(cfg.follow_weights)
        and follow_score(follow_features(rt, rule, 0), cfg.follow_weights) >= sure
    )
    if sure_of_rule:
        return done
    # the other readings read their best window(s), without refocusing (measured on the public
    # dialogues: 4 windows each and refocusing cost twice the time for no more right answers)
    rest = replace(opened, windows=min(cfg.windows, cfg.follow_windows), refocus=False)
    return done + decide_all(rt, queries[1:], k, reader, rest) if queries[1:] else done


def open_to_all(cfg: AnswerConfig) -> AnswerConfig:
    """``cfg`` without its no-answer decision: every reading with a span answers."""
    return replace(cfg, decline_weights=(), null_margin=-math.inf)


def decide_all(
    rt: Runtime, queries: list[Query], k: int, reader: Reader, cfg: AnswerConfig
) -> list[Decided]:
    """:func:`decide` for several readings of one question, their windows read in one batch."""
    evs = [gather(rt, q, k, cfg) for q in queries]
    wins = [
        windows(rt, ev.scored, cfg) if ev.scored and ev.best >= cfg.min_evidence else []
        for ev in evs
    ]
    items = [(ev.query.text, [fold(w.text) for w in ws]) for ev, ws in zip(evs, wins, strict=True)]
    spans = read_many(reader, items, top=cfg.read_top)
    return [
        decide(rt, ev, ws, sp, reader, cfg) for ev, ws, sp in zip(evs, wins, spans, strict=True)
    ]


def refocus(
    rt: Runtime, ev: Evidence, top: Candidate, reader: Reader, cfg: AnswerConfig, at: int
) -> tuple[Window, list[Span]] | None:
    """When the chosen span's sentence is made of parallel parts (``在A建设X，在B建设Y，…``)
    and the question aligns with another part than the span's, the reader reads that part
    alone (a window of its own, number ``at``): beside its neighbours a reader often takes the
    neighbouring pair's answer."""
    sent = top.sentence
    seg = aligned_segment(sent.text, rt.weights(ev.query))
    if seg is None or seg[0] <= top.start < seg[1]:
        return None
    a, b = seg
    window = Window(sent.text[a:b], (sent.sentence_id,), (-a,), ev.best)
    found = reader.read(ev.query.text, [fold(window.text)], top=cfg.read_top)
    return window, [replace(sp, context=at) for sp in found]


def read_date(rt: Runtime, top: Candidate) -> tuple[tuple[int, int], DateReading | None]:
    """A date answer's span, and how a relative date was read.

    A span that is (or opens with) the sentence's dateline (``本报9月3日讯``) is the report's
    date, not its event's: the span loses the dateline, and when nothing is left, the
    sentence's own relative date (``今天下午``) is taken. A relative date is read against the
    report's dateline, else its page's date. Absolute dates stay as the reader cut them
    (``正德五年（1510年）十月``, ``2至4月`` are dates too)."""
    sent = top.sentence
    start, end = top.start, top.end
    line = DATELINE.match(sent.text)
    if line and start < line.end():
        start = max(start, line.end())
        start += len(sent.text[start:end]) - len(sent.text[start:end].lstrip(" \u3000，,"))
    dates = date_spans(sent.text)
    if start >= end:  # the dateline alone: the event's day is the relative one it says
        relative = [d for d in dates if d[2]]
        if not relative:
            return (top.start, top.end), None
        start, end = relative[0][0], relative[0][1]
    inside = [d for d in dates if d[2] and d[0] < end and d[1] > start]
    if not inside:
        return (start, end), None
    a, b, _ = inside[0]
    art = rt.index.articles[sent.article_id]
    reading = read_relative(sent.text[a:b], art.dateline, art.date)
    return ((a, b), reading) if reading else ((start, end), None)


Handler = Callable[[Runtime, Query, int, Reader, AnswerConfig], Answer]
HANDLERS: dict[str, Handler] = {
    "span": answer_span,
    "lead": answer_lead,
    "issue": answer_issue,
    "articles": answer_articles,
}


def reader_of(reader: Reader | str | Path | None = None) -> Reader:
    """A reader object: ``"rules"`` (the pattern extractor), a reader directory, a
    :class:`~rag.models.reader.Reader`, or None for ``$RAG_READER`` / the packaged one."""
    if isinstance(reader, str) and reader == RULES:
        return RulesReader()
    if reader is None or isinstance(reader, (str, Path)):
        return load_reader(reader)
    return reader


def answer_query(
    rt: Runtime,
    query: Query,
    k: int = 5,
    reader: Reader | str | Path | None = None,
    config: AnswerConfig | None = None,
) -> Answer:
    """Answer a read question from a loaded runtime with the handler of its kind."""
    chosen = reader_of(reader)
    cfg = config or getattr(chosen, "config", None) or AnswerConfig()
    try:
        handler = HANDLERS[query.kind]
    except KeyError:
        valid = ", ".join(sorted(HANDLERS))
        raise ValueError(f"unknown question kind {query.kind!r}; valid: {valid}") from None
    return locate(rt, handler(rt, query, k, chosen, cfg))


def answer(
    question: str,
    k: int = 5,
    index_dir: str | Path | None = None,
    history: Sequence[object] | None = None,
    reader: Reader | str | Path | None = None,
    date_range: DateRange | None = None,
    config: AnswerConfig | None = None,
) -> Answer:
    """Answer a Chinese question from the archive with a verbatim span and citations.

    ``found`` is False when the archive does not answer it; the closest passages are still in
    ``citations`` and ``hits``. ``history`` holds the earlier turns of a conversation, oldest
    first, as ``(question, Answer)`` pairs (or question strings): a follow-up is resolved
    against them and ``resolved_question`` says what was searched. ``reader`` is a reader
    directory, a :class:`rag.models.reader.Reader`, ``"rules"`` for the pattern extractor, or
    None for ``$RAG_READER`` / the packaged reader. ``date_range`` (``("2022-08-01", None)``,
    ``("--08-11", "--08-11")``) keeps only articles dated inside it. ``config`` overrides the
    answering settings. Raises ``ValueError`` for an empty, over-long or symbol-only question, a
    malformed or reversed date range, or a bad ``k``.
    """
    check_k(k)
    if not history:
        return answer_query(
            get_runtime(index_dir), read_question(question, None, date_range), k, reader, config
        )
    queries = read_readings(question, history, date_range)
    rt = get_runtime(index_dir)
    chosen = reader_of(reader)
    cfg = config or getattr(chosen, "config", None) or AnswerConfig()
    spans = [q for q in queries if q.kind == "span"]
    # a question that stands on its own (it names its subject) is answered as asked, whatever
    # the history: other readings would graft the previous question's words onto it
    standalone = queries[0].resolution.kind == "standalone"
    if queries[0].kind != "span" or standalone or len(spans) < 2 or not cfg.follow_weights:
        return answer_query(rt, queries[0], k, chosen, cfg)
    return locate(rt, answer_readings(rt, spans, k, chosen, cfg))
