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

from rag.ingest.tokenize import normalise, tokenize
from rag.qa.dialogue import (
    DateRef,
    Resolution,
    Tagged,
    in_range,
    question_dates,
    resolve,
    turns_from,
)
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

    @property
    def prefer_article(self) -> str | None:
        """The article the conversation is about (its previous answer's), if any."""
        return self.resolution.prefer_article


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
    in_range(start or "--01-01", start, end)  # raises on a malformed end
    if start and end and not in_range(start, start, end):
        raise ValueError(
            f"结束日期早于起始日期，请重新选择 (the range ends before it starts: {start} > {end})"
        )
    return (start, end)


def kind_of(query: Query) -> str:
    """Which handler answers a question. One kind today: a span of one sentence."""
    return "span"


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
    tagged = Tagged.of(asked)
    if history:
        resolution = resolve(asked, turns_from(history), tagged)
    else:
        resolution = Resolution(asked, "standalone")
    text = clean_query(resolution.question) if resolution.rewritten else asked
    if text != asked:
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
        dates=tuple(question_dates(text)),
        date_range=date_range,
    )
    kind = kind_of(query)
    return query if kind == query.kind else replace(query, kind=kind)
