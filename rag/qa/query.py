"""A question read once: cleaned, normalised, resolved against its conversation, classified,
tokenised and tagged, with the dates it names and the filters the caller set.

Everything after this (retrieval, sentence evidence, the reader, the router) reads the
:class:`Query`; nothing segments the question again.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, replace

from rag.ingest.dates import WRITTEN_DATE, DateRef, check_stored, find_dates, in_range
from rag.ingest.tokenize import normalise, to_simplified, tokenize
from rag.qa.dialogue import Resolution, Tagged, readings, resolve, turns_from
from rag.qa.records import Answer, Citation, Hit
from rag.qa.spans import QuestionType, classify, question_terms

MAX_QUERY_CHARS = 500
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\ufeff]")

DateRange = tuple[str | None, str | None]


@dataclass(frozen=True)
class Query:
    """What a question is taken to ask, in its conversation."""

    asked: str  # the question as asked, cleaned
    text: str  # what is searched: the resolved follow-up, else ``asked``
    normalised: str  # ``text`` in one script and width (NFKC, lower case)
    resolution: Resolution
    qtype: QuestionType
    tokens: tuple[str, ...]  # lexical (BM25) tokens of ``text``
    terms: tuple[str, ...]  # its content words: tokens without question or stop words
    tags: tuple[tuple[str, str], ...]  # jieba words of ``text`` with their POS flags
    dates: tuple[DateRef, ...]  # dates or periods the question names
    date_range: DateRange | None = None  # the caller's filter (a range, not a preference)
    kind: str = "span"  # which handler answers it (see rag.qa.answer.HANDLERS)
    subject: str = ""  # what a whole-article or coverage question names (a title, a topic)

    @property
    def prefer_article(self) -> str | None:
        """The article the conversation is about (its previous answer's), if any."""
        return self.resolution.prefer_article

    def reply(
        self,
        found: bool,
        hits: list[Hit],
        citations: list[Citation] | None = None,
        *,
        reader: str,
        score: float = 0.0,
        text: str = "",
        sentence: str = "",
        items: Sequence[str] = (),
        date_note: str = "",
    ) -> Answer:
        """The :class:`Answer` to this question (every handler's reply is made here);
        ``citations`` default to one per hit."""
        return Answer(
            question=self.asked,
            found=found,
            text=text,
            sentence=sentence,
            qtype=self.qtype.kind,
            citations=citations if citations is not None else [Citation(h) for h in hits],
            hits=hits,
            score=score,
            resolved_question=self.text,
            reader=reader,
            kind=self.kind,
            items=list(items),
            date_note=date_note,
        )


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


def check_date_range(date_range: DateRange | None) -> DateRange | None:
    """A date range with both ends checked (``ValueError`` for a malformed or reversed one);
    None when it sets no bound."""
    if not date_range or not any(date_range):
        return None
    start, end = date_range
    for bound in (start, end):
        if bound:
            check_stored(bound)
    if start and end and not in_range(start, start, end):
        raise ValueError(
            f"结束日期早于起始日期，请重新选择 (the range ends before it starts: {start} > {end})"
        )
    return (start, end)


# Questions about whole articles, issues and coverage, as readers of a paper ask them. Each
# pattern names the kind of answer, and its group ``x`` (when there is one) the title or topic.
_QUOTED = r"[「『“《\"](?P<x>[^」』”》\"]{2,80})[」』”》\"]"
_PIECE = r"(?:报道|文章|新闻|稿子|稿件|消息|通讯|评论)"
_SUMMARY = (
    r"(?:主要)?(?:讲|说|写|谈|报道|介绍|讲述|反映)(?:了|的是|的)?(?:什么|哪些|啥|些什么)(?:内容|事情?)?"
    r"|(?:的)?(?:主要)?内容(?:是什么|有哪些|是啥)?|大意|概要|摘要|梗概|要点"
)
_LEAD = (
    re.compile(rf"{_QUOTED}(?:这|该|那)?(?:一)?[篇则条]?{_PIECE}?[，,]?(?:{_SUMMARY})"),
    re.compile(rf"^(?:请)?(?:概括|总结|简述|介绍)(?:一下)?{_QUOTED}"),
    re.compile(rf"^(?:标题为|题为|名为)?{_QUOTED}(?:一文|这篇|的{_PIECE}|{_PIECE})"),
    re.compile(rf"^(?:标题为|题为)(?P<x>[^，,？?]{{4,60}})的{_PIECE}(?:{_SUMMARY})"),
    re.compile(
        rf"^(?P<x>[^，,？?]{{4,60}}?)(?:这|该|那)(?:一)?[篇则条]{_PIECE}[，,]?(?:{_SUMMARY})"
    ),
)
_TOPIC = (
    re.compile(
        rf"(?:有)?哪些(?:是)?(?:关于|有关|涉及|讲|谈|报道了?|提到)(?P<x>.{{2,40}}?)的{_PIECE}"
    ),
    re.compile(rf"(?:关于|有关|涉及)(?P<x>.{{2,40}}?)的{_PIECE}(?:都)?有(?:哪些|什么|多少|几篇)"),
    re.compile(
        rf"哪些{_PIECE}(?:提到|提及|涉及|谈到|讲到|报道|关于|与)了?(?P<x>.{{2,40}}?)(?:有关|相关)?[？?。]*$"
    ),
    re.compile(
        rf"(?P<verb>查找|查询|搜索|寻找|找|查|搜|列出)(?:一下|找|找看)?(?:关于|有关)?"
        rf"(?P<x>.{{2,40}}?)的(?:相关)?{_PIECE}"
    ),
    re.compile(rf"^(?P<x>.{{2,40}}?)(?:的|相关的?){_PIECE}(?:都)?有(?:哪些|什么|几篇)"),
)
_ISSUE = re.compile(
    rf"(?:报纸|报上|本报|这一?期|当期|当天|那天|这天|版面|头版|[第首][一二三四五六七八九十\d]+版|各版)"
    rf"[^？?]{{0,8}}(?:有|登|刊|发|是)?[^？?]{{0,6}}(?:哪些|什么|啥|几篇)(?:{_PIECE}|内容|新闻|标题)?"
    rf"|(?:报纸|本报|头版|这一?期)[^？?]{{0,6}}(?:{_PIECE}|标题)(?:有哪些|是什么)"
    rf"|^[^，,？?]{{0,12}}?[日号](?:的|都|有|刊登|刊发|登)*{_PIECE}(?:都)?有(?:哪些|什么)"
)


_PAIRS = {"「": "」", "『": "』", "“": "”", "《": "》", '"': '"'}


def _unquote(title: str) -> str:
    """A title without the quote marks around it (``「X」`` → ``X``; ``“微改革”助推`` stays)."""
    if len(title) > 2 and _PAIRS.get(title[0]) == title[-1]:
        inner = title[1:-1]
        if title[0] not in inner and title[-1] not in inner:
            return inner
    return title


_PAGE_NAMED = re.compile(r"头版|[第首][一二三四五六七八九十\d]+版")


# what a question asking for one figure or one person wants: a span, never a list of articles
_ONE_THING = frozenset({"number", "person"})


def route(
    text: str,
    dates: Sequence[DateRef] = (),
    tagged: Tagged | None = None,
    asks: str = "",
) -> tuple[str, str]:
    """Which handler answers a question, and the title or topic it names.

    ``lead``: a whole article (``「标题」这篇报道讲了什么？``); ``issue``: the pages of a date
    (``9月3日的报纸有哪些报道？``); ``articles``: the coverage of a topic (``有哪些关于X的报道？``);
    else ``span``: a span of one sentence answers it. Cues are read as words (``tagged``: the
    question's jieba words): the ``查`` of ``检查`` or ``调查`` asks for nothing. ``asks``: the
    question's type (:func:`rag.qa.spans.classify`); a figure or a person is a span.
    """
    q = text.strip()
    tagged = tagged if tagged is not None and tagged.text == q else Tagged.of(q)
    starts = {a for a, _, _, _ in tagged.words} | {len(q)}
    ends = {b for _, b, _, _ in tagged.words} | {0}

    def worded(m: re.Match[str]) -> bool:
        """The match starts at a word's start, and a leading verb is a word of its own."""
        if m.start() not in starts:
            return False
        verb = m.groupdict().get("verb")
        return verb is None or (m.start("verb") in starts and m.end("verb") in ends)

    for pattern in _LEAD:
        m = next((m for m in pattern.finditer(q) if worded(m)), None)
        if m:
            return "lead", _unquote(m.group("x").strip())
    if asks not in _ONE_THING:
        for pattern in _TOPIC:
            m = next((m for m in pattern.finditer(q) if worded(m)), None)
            if m and not _ISSUE_ONLY.fullmatch(m.group("x")):
                return "articles", m.group("x").strip(" ，,、的")
    dated = any(d.day is not None for d in dates)
    if (dated or _PAGE_NAMED.search(q)) and any(worded(m) for m in _ISSUE.finditer(q)):
        return "issue", ""
    return "span", ""


# a "topic" that only names the issue (9月3日的报道有哪些) is an issue question
_ISSUE_ONLY = re.compile(
    rf"(?:{WRITTEN_DATE.pattern})(?:的)?(?:报纸|本报|头版)?|今天|昨天|头版|本期|这一?期"
)


def read_question(
    question: str,
    history: Sequence[object] | None = None,
    date_range: DateRange | None = None,
) -> Query:
    """Read a question once: clean it, resolve a follow-up against ``history`` (earlier turns,
    oldest first), then classify, tokenise and tag what will be searched.

    Raises ``ValueError`` for an empty, over-long or symbol-only question or a bad date range.
    """
    asked = clean_query(question)
    date_range = check_date_range(date_range)
    plain = to_simplified(asked)  # a traditional-script question is read as simplified
    tagged = Tagged.of(plain)
    if history:
        resolution = resolve(plain, turns_from(history), tagged)
    else:
        resolution = Resolution(plain, "standalone")
    return _read(asked, plain, tagged, resolution, date_range)


def read_readings(
    question: str,
    history: Sequence[object] | None = None,
    date_range: DateRange | None = None,
) -> list[Query]:
    """Every reading of a follow-up (``rag.qa.dialogue.readings``), read as
    :func:`read_question` reads one; the first is the one it would give. Without history,
    the question alone."""
    asked = clean_query(question)
    date_range = check_date_range(date_range)
    plain = to_simplified(asked)
    tagged = Tagged.of(plain)
    if not history:
        return [_read(asked, plain, tagged, Resolution(plain, "standalone"), date_range)]
    return [
        _read(asked, plain, tagged, r, date_range)
        for r in readings(plain, turns_from(history), tagged)
    ]


def _read(
    asked: str,
    plain: str,
    tagged: Tagged,
    resolution: Resolution,
    date_range: DateRange | None,
) -> Query:
    """The query of one reading of a question (``plain``: the asked text in simplified)."""
    text = clean_query(resolution.question) if resolution.rewritten else plain
    if text != plain:
        tagged = Tagged.of(text)
    tokens = tuple(tokenize(text))
    query = Query(
        asked=asked,
        text=text,
        normalised=normalise(text),
        resolution=resolution,
        qtype=classify(text, tagged.pairs),
        tokens=tokens,
        terms=tuple(question_terms(text, tokens)),
        tags=tuple(tagged.pairs),
        dates=tuple(m.date for m in find_dates(text)),
        date_range=date_range,
    )
    kind, subject = route(text, query.dates, tagged, query.qtype.kind)
    return query if kind == query.kind else replace(query, kind=kind, subject=subject)
