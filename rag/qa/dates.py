"""Dates in news sentences: the date a sentence gives for its event, and relative dates
(``今天下午``, ``昨天``, ``日前``) read against the report's own date (its dateline
``本报9月3日讯``, else the date of its page). No year is invented: a page dated without a year
gives a date without one.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from rag.ingest.dates import NUMBER, YEAR, find_dates, format_date, parse_stored

# An absolute date or period as news writes it (年 alone, 月, 月日, 月底 …).
# Numerals as rag.ingest.dates reads them (Arabic or Chinese).
ABSOLUTE = re.compile(
    rf"(?:{YEAR}年)?{NUMBER}月(?:{NUMBER}[日号](?:[上下]午|晚|凌晨|早上|晚上|\d{{1,2}}时)?|底|初|中旬|上旬|下旬|份)?"
    rf"|(?:今|去|明|前)年{NUMBER}月(?:{NUMBER}日|底|初|份)?"
    rf"|{YEAR}年(?:底|初|上半年|下半年)?"
    r"|(?:今年|去年|明年)(?:上半年|下半年|年底|年初|底|初)?"
)
# Days named relative to the day of the report, with how many days before it they fall.
_RELATIVE_DAYS = {
    "今天": 0,
    "今日": 0,
    "当天": 0,
    "当日": 0,
    "今晨": 0,
    "昨天": 1,
    "昨日": 1,
    "昨晚": 1,
    "前天": 2,
    "前日": 2,
    "明天": -1,
    "明日": -1,
}
_VAGUE = ("日前", "近日", "近期", "本周", "上周", "连日来", "近来")
RELATIVE = re.compile(
    "(?:"
    + "|".join(sorted([*_RELATIVE_DAYS, *_VAGUE], key=len, reverse=True))
    + r")(?:[上下]午|凌晨|早上|晚上|晚间|上午|傍晚|中午|\d{1,2}时(?:\d{1,2}分)?)*"
)


@dataclass(frozen=True)
class DateReading:
    """A date answer read from a relative one: the date, and how it was read."""

    text: str  # ``9月3日`` (``9月2日`` for 昨天 in a report of 9月3日)
    note: str  # ``9月3日（今天下午，本报9月3日讯）``


def report_date(dateline: str | None, page_date: str | None) -> tuple[str | None, str]:
    """The report's date (stored form ``--08-11`` / ``2022-08-11``) and where it stands: its
    dateline when the dateline names a day, else the page's date."""
    named = next((m.date for m in find_dates(dateline or "") if m.date.stored), None)
    if named is not None:
        stored = named.stored or ""
        if named.year is None and page_date and page_date[:4].isdigit():
            stored = f"{page_date[:4]}{stored[1:]}"
        if parse_stored(stored):  # 2月29日 in a year without one is no date
            return stored, dateline or ""
    if page_date:
        return page_date, f"本期报纸 {format_date(page_date)}"
    return None, ""


def _shift(stored: str, days: int) -> str | None:
    """A stored date moved back ``days`` days; None when a date without a year would cross a
    month's end (the year would be needed to know the month's length)."""
    parts = parse_stored(stored)
    if parts is None:
        return None
    year, month, day = parts
    if days == 0:
        return stored
    y = year if year is not None else 2000  # a leap year: 2月29日 is a day; only days are used
    try:
        moved = dt.date(y, month, day) - dt.timedelta(days=days)
    except OverflowError:
        return None
    if year is None and moved.month != month:
        return None  # 2月28日 or 29日? the year would say
    prefix = f"{moved.year:04d}" if year is not None else "-"
    return f"{prefix}-{moved.month:02d}-{moved.day:02d}"


def read_relative(phrase: str, dateline: str | None, page_date: str | None) -> DateReading | None:
    """``今天下午`` in a report of 9月3日 → ``9月3日``; ``日前`` → ``9月3日前``; None when
    the report's date is unknown or ``phrase`` names no day relative to it."""
    m = RELATIVE.match(phrase)
    if not m:
        return None
    stored, source = report_date(dateline, page_date)
    if stored is None:
        return None
    word = next(
        (w for w in sorted(_RELATIVE_DAYS, key=len, reverse=True) if phrase.startswith(w)), None
    )
    if word is None:  # 日前, 近日 …: before the report, on a day it does not say
        text = f"{format_date(stored)}前"
    else:
        shifted = _shift(stored, _RELATIVE_DAYS[word])
        if shifted is None:
            return None
        text = format_date(shifted)
    return DateReading(text, f"{text}（{m.group()}，{source}）")


def date_spans(sentence: str) -> list[tuple[int, int, bool]]:
    """The dates of a sentence as ``(start, end, relative)``, in order; a dateline's date
    (``本报9月3日讯``) is the report's, not an event's, and is left out."""
    out = []
    for m in ABSOLUTE.finditer(sentence):
        before = sentence[max(0, m.start() - 3) : m.start()]
        if before.endswith("本报") and sentence[m.end() : m.end() + 1] == "讯":
            continue
        out.append((m.start(), m.end(), False))
    for m in RELATIVE.finditer(sentence):
        if not any(a <= m.start() < b for a, b, _ in out):
            out.append((m.start(), m.end(), True))
    out.sort()
    return out
