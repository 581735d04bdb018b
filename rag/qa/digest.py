"""Answers made of whole articles: an article's lead, the headlines of an issue, the articles
that report on a topic. Each is a handler of the question router (``rag.qa.answer.HANDLERS``)
and, like a span, is archive text with a citation for every line.

- ``lead``: ``「标题」这篇报道讲了什么？`` → the article whose headline the question names, answered
  with its first sentence or two (the 导语), cited where they stand;
- ``issue``: ``9月3日的报纸有哪些报道？`` → every article that starts on that date's pages, in
  page order (``头版``/``第2版`` keep that page only), one line each;
- ``articles``: ``有哪些关于X的报道？`` → the articles whose text names X, most relevant first, one
  line each; an article continued on another page is one article.
"""

from __future__ import annotations

import re
import unicodedata

from rag.ingest.dates import in_range
from rag.ingest.dates import number as chinese_number
from rag.ingest.pages import DATELINE
from rag.qa.query import Query
from rag.qa.records import Answer, Citation, Hit
from rag.qa.retrieve import Runtime, hit_of, hits_from, lexical_coverage, rank

LEAD_CHARS = 60  # a first sentence shorter than this is followed by the second in a lead
MAX_LEAD_CHARS = 220
TITLE_MATCH = 0.6  # share of a named title's character pairs that the headline must hold
TOPIC_COVERAGE = 0.7  # idf-weighted share of the topic's words a passage must hold
MAX_ITEMS = 10  # lines of an ``articles`` answer
READER = "archive"  # what Answer.reader says of an answer made of whole articles
_CANDIDATES = 40  # ranked passages whose articles may be the one a title names

_BYLINE_START = re.compile(
    r"^[□■◇口]?\s*(?:本报)?(?:首席|见习|特约)?(?:记者|通讯员)[^。，,]{0,20}?报道\s*"
)
_NOT_TEXT = re.compile(r"[\W_]+")


def _pairs(text: str) -> set[str]:
    t = _NOT_TEXT.sub("", unicodedata.normalize("NFKC", text).lower())
    return {t[i : i + 2] for i in range(len(t) - 1)} or ({t} if t else set())


def title_match(title: str, heads: list[str]) -> float:
    """Share of ``title``'s character pairs found in the best of ``heads`` (a headline, its
    kicker and subtitles), so that a title quoted with a word missing or its marks changed
    still finds its article."""
    want = _pairs(title)
    if not want:
        return 0.0
    return max((len(want & _pairs(h)) / len(want) for h in heads if h), default=0.0)


def lead_of(rt: Runtime, article_id: str) -> tuple[int, str]:
    """The first chunk of an article and its lead: the first sentence (the second too when the
    first is short), without the dateline or byline it opens with."""
    index = rt.index
    sids = list(index.article_sentences.get(article_id, range(0)))
    if not sids:
        return -1, ""
    first = index.sentences[sids[0]]
    text = first.text
    cut = DATELINE.match(text)
    text = text[cut.end() :] if cut else text
    by = _BYLINE_START.match(text)
    text = text[by.end() :] if by else text
    text = text.lstrip(" \u3000，,：:")
    for sid in sids[1:3]:
        nxt = index.sentences[sid]
        if len(text) >= LEAD_CHARS or nxt.part != first.part:
            break
        if len(text) + len(nxt.text) > MAX_LEAD_CHARS:
            break
        text += nxt.text
    return int(index.sentence_chunk[sids[0]]), text


def answer_lead(rt: Runtime, query: Query, k: int, *_: object) -> Answer:
    """A whole article: the one whose headline the question names, answered with its lead."""
    ranked = rank(rt, query).ranked
    hits = hits_from(rt, ranked, k) if ranked else []
    arts = rt.index.articles
    best: tuple[float, float, str] | None = None
    seen: set[str] = set()
    for cid, score in ranked[:_CANDIDATES]:
        aid = rt.index.chunk_article[cid]
        if aid in seen:
            continue
        seen.add(aid)
        art = arts[aid]
        match = title_match(query.subject, [art.headline or "", *art.other_titles, art.label])
        if best is None or (match, score) > best[:2]:
            best = (match, score, aid)
    if best is None or best[0] < TITLE_MATCH:
        return query.reply(False, hits, reader=READER)
    match, score, aid = best
    cid, lead = lead_of(rt, aid)
    if cid < 0 or not lead:
        return query.reply(False, hits, reader=READER)
    hit = hit_of(rt, cid, score)
    at = hit.text.find(lead)
    cited = Citation(hit, at, at + len(lead)) if at >= 0 else Citation(hit)
    others = [h for h in hits if h.article_id != aid]
    return query.reply(
        True,
        [hit, *others][:k],
        [cited, *(Citation(h) for h in others)],
        reader=READER,
        text=lead,
        sentence=lead,
        score=match,
    )


def _page_order(rt: Runtime, page: str) -> tuple[str, int, str]:
    info = rt.index.pages[page]
    return (info.date or "", info.number if info.number is not None else 10_000, page)


def answer_issue(rt: Runtime, query: Query, k: int, *_: object) -> Answer:
    """The articles of the pages of a date, in page order, one line each (its headline, or the
    label of its first words, with date and page)."""
    pages = rt.index.pages
    days = [d for d in query.dates if d.day is not None]
    chosen = [p for p, info in pages.items() if any(d.matches(info.date) for d in days)]
    if query.date_range:  # the reader's date filter holds here too
        start, end = query.date_range
        chosen = [p for p in chosen if in_range(pages[p].date, start, end)]
    m = re.search(r"头版|[第首]([一二三四五六七八九十\d]+)版", query.text)
    if m:
        number = (
            1
            if m.group(0) == "头版" or m.group(0).startswith("首")
            else (chinese_number(m.group(1)) or 1)
        )
        numbered = [p for p in chosen if pages[p].number == number]
        if numbered or any(pages[p].number is not None for p in chosen):
            chosen = numbered
        else:  # pages without numbers: the first page of the date stands for its front page
            chosen = sorted(chosen, key=lambda p: _page_order(rt, p))[:1]
    starts = rt.articles_starting()
    hits = [
        hit_of(rt, cid, 0.0)
        for page in sorted(chosen, key=lambda p: _page_order(rt, p))
        for _, cid in starts.get(page, [])
    ]
    if not hits:
        return query.reply(False, [], reader=READER)
    items = [h.title for h in hits]
    return query.reply(True, hits, reader=READER, items=items, text="\n".join(items), score=1.0)


def answer_articles(rt: Runtime, query: Query, k: int, *_: object) -> Answer:
    """The articles that report on a topic, most relevant first: every article one of whose
    passages holds (almost) all the topic's words, in the order retrieval ranks them."""
    ranked = rank(rt, query).ranked
    index = rt.index
    weights = rt.weights(query)
    topic = unicodedata.normalize("NFKC", query.subject).lower()
    named = {t: w for t, w in weights.items() if t in topic} or weights
    chosen: list[Hit] = []
    seen: set[str] = set()
    for cid, score in ranked:
        aid = index.chunk_article[cid]
        if aid in seen:
            continue
        if query.dates and not any(d.matches(index.articles.date_of(aid)) for d in query.dates):
            continue
        text = index.chunks[cid].text
        if lexical_coverage(text, named, index.articles.header_of(aid)) < TOPIC_COVERAGE:
            continue
        seen.add(aid)
        chosen.append(hit_of(rt, cid, score))
        if len(chosen) >= MAX_ITEMS:
            break
    if not chosen:
        return query.reply(False, hits_from(rt, ranked, k) if ranked else [], reader=READER)
    items = [h.title for h in chosen]
    return query.reply(
        True, chosen, reader=READER, items=items, text="\n".join(items), score=chosen[0].score
    )
