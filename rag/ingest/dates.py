"""The one date reader: dates as Chinese text writes them, and the stored form pages keep.

A date is written with Arabic or Chinese numerals (``2022年9月3日``, ``九月三日``,
``二〇二二年十一月``, ``廿三日``); pages, articles and the index store it as ``2022-09-03`` or,
with no year known, ``--09-03`` (no year is invented). Every part of the package that reads a
date (datelines, page metadata, questions, date filters, answers) reads it here, and a date no
calendar has (``2月30日``, ``13月``) is not a date: it is skipped, never an exception deep inside
retrieval.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass

# Numerals: Arabic (ASCII or full width, normalised by ``int``) and Chinese. A year is written
# digit by digit (二〇二二), a month or a day as a number (十一, 二十三, 廿三, 卅一). The
# characters and their values are Unicode's (Unihan kPrimaryNumeric: 〇 零 一…九 两 十 廿 卅;
# ○, the circle OCR and typists put for 〇, as GB/T 15835-2011 notes it is written in years).
_CN_DIGIT = {c: i for i, c in enumerate("〇一二三四五六七八九")} | {"零": 0, "○": 0, "两": 2}
_TENS = {"十": 10, "廿": 20, "卅": 30}
YEAR = r"(?:\d{4}|[〇零○一二三四五六七八九]{4})"
NUMBER = (
    r"(?:\d{1,2}|[一二三四五六七八九]?十[一二三四五六七八九]?|[廿卅][一二三四五六七八九]?"
    r"|[一二三四五六七八九两])"
)

# A date or period a text names: year, month, day, any of them left out but the month between a
# year and a day. Named groups: y (year), m (month), d (day).
WRITTEN_DATE = re.compile(
    rf"(?:(?P<y>{YEAR})\s*年\s*)?(?P<m>{NUMBER})\s*月(?:\s*(?P<d>{NUMBER})\s*[日号])?"
    rf"|(?P<y_only>{YEAR})\s*年(?!\s*{NUMBER}\s*月)"
)
_STORED = re.compile(r"(\d{4}|-)-(\d{2})-(\d{2})")


def number(text: str) -> int | None:
    """A numeral as written in a date or a page number: ``12``, ``十二``, ``二十三``, ``廿三``,
    ``二〇二二``, ``一九九七``; None when ``text`` is not one."""
    s = text.strip()
    if not s:
        return None
    if s.isdigit():
        try:
            return int(s)  # also full-width digits
        except ValueError:
            return None
    if all(c in _CN_DIGIT for c in s):
        if len(s) == 1:
            return _CN_DIGIT[s]
        if "两" in s:
            return None
        return int("".join(str(_CN_DIGIT[c]) for c in s))  # a year, digit by digit
    for tens_char, tens in _TENS.items():
        if tens_char in s:
            head, _, tail = s.partition(tens_char)
            if len(head) > 1 or len(tail) > 1 or (head and tens != 10):
                return None
            if head and head not in _CN_DIGIT:
                return None
            if tail and tail not in _CN_DIGIT:
                return None
            lead = _CN_DIGIT[head] if head else 1
            if head and lead == 0:
                return None
            return lead * tens + (_CN_DIGIT[tail] if tail else 0)
    return None


def valid(year: int | None, month: int | None, day: int | None) -> bool:
    """Whether a calendar has this date (a day without a year may be 29 February)."""
    if month is None:
        return day is None and (year is None or 1 <= year <= 9999)
    if not 1 <= month <= 12:
        return False
    if year is not None and not 1 <= year <= 9999:
        return False
    if day is None:
        return True
    try:
        dt.date(year if year is not None else 2000, month, day)  # 2000: a leap year
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class DateRef:
    """A date or period: a day, a month or a year; None parts are open. Always a real date
    (see :func:`find_dates`)."""

    year: int | None
    month: int | None
    day: int | None

    def matches(self, stored: str | None) -> bool:
        """Whether a stored date (``2022-08-11`` or ``--08-11``) falls in this date or period.

        A stored date without a year matches any year (no year is invented)."""
        parts = parse_stored(stored)
        if parts is None:
            return False
        year, month, day = parts
        if self.year is not None and year is not None and self.year != year:
            return False
        if self.year is not None and year is None and self.month is None:
            return False  # "2022年" cannot be told from a page without a year
        if self.month is not None and self.month != month:
            return False
        return self.day is None or self.day == day

    def bounds(self) -> tuple[dt.date, dt.date] | None:
        """The first and last day of this date or period; None without a year."""
        if self.year is None:
            return None
        if self.month is None:
            return dt.date(self.year, 1, 1), dt.date(self.year, 12, 31)
        first = dt.date(self.year, self.month, self.day or 1)
        if self.day is not None:
            return first, first
        return first, dt.date(self.year, self.month, calendar.monthrange(self.year, self.month)[1])

    @property
    def stored(self) -> str | None:
        """The stored form of a whole date (``2022-09-03``, ``--09-03``); None for a period."""
        if self.month is None or self.day is None:
            return None
        year = f"{self.year:04d}" if self.year is not None else "-"
        return f"{year}-{self.month:02d}-{self.day:02d}"


@dataclass(frozen=True)
class DateMention:
    """A date named in a text: where it stands and what it names."""

    start: int
    end: int
    date: DateRef


def find_dates(text: str) -> Iterator[DateMention]:
    """The dates and periods ``text`` names, in order (``9月3日``, ``九月三日``, ``2022年``,
    ``二〇二二年十一月``); a date no calendar has (``2月30日``) is skipped."""
    for m in WRITTEN_DATE.finditer(text):
        if m.group("y_only"):
            year = number(m.group("y_only"))
            ref = DateRef(year, None, None)
        else:
            year = number(m.group("y")) if m.group("y") else None
            day = number(m.group("d")) if m.group("d") else None
            ref = DateRef(year, number(m.group("m")), day)
        if valid(ref.year, ref.month, ref.day):
            yield DateMention(m.start(), m.end(), ref)


def parse_stored(stored: str | None) -> tuple[int | None, int, int] | None:
    """``(year or None, month, day)`` of a stored date; None when it is not one (or no
    calendar has it)."""
    m = _STORED.fullmatch(stored or "")
    if not m:
        return None
    year = int(m.group(1)) if m.group(1) != "-" else None
    month, day = int(m.group(2)), int(m.group(3))
    return (year, month, day) if valid(year, month, day) else None


def stored_date(text: str | None) -> str | None:
    """A date as pages store it, from the stored form itself or a written date
    (``2022年9月3日``, ``九月三日``); None when ``text`` names no whole, real date."""
    if not text:
        return None
    text = text.strip()
    if parse_stored(text):
        return text
    for mention in find_dates(text):
        if mention.date.stored:
            return mention.date.stored
    return None


def check_stored(text: str) -> str:
    """A date bound as a caller gives it (``2022-08-11`` or ``--08-11``), checked; raises
    ``ValueError`` (in Chinese and English) for anything else."""
    if parse_stored(text) is None:
        raise ValueError(f"日期格式应为 2022-08-11 或 --08-11，且须是真实日期 (bad date {text!r})")
    return text


def format_date(date: str | None) -> str:
    """Human form of a stored date: ``2022年9月3日`` or ``9月3日``; empty when unknown."""
    if not date:
        return ""
    parts = parse_stored(date)
    if parts is None:
        return date
    year, month, day = parts
    return f"{year}年{month}月{day}日" if year is not None else f"{month}月{day}日"


def in_range(stored: str | None, start: str | None, end: str | None) -> bool:
    """Whether a stored date lies in ``[start, end]`` (ISO dates or ``--MM-DD``; open ends).

    Dates without a year compare by month and day; a malformed or impossible bound raises
    ``ValueError`` (:func:`check_stored`)."""
    for bound in (start, end):
        if bound:
            check_stored(bound)
    parts = parse_stored(stored)
    if parts is None:
        return False
    year, month, day = parts
    for bound, lower in ((start, True), (end, False)):
        if not bound:
            continue
        by, bm, bd = parse_stored(bound) or (None, 1, 1)
        if year is not None and by is not None:
            ok = (year, month, day) >= (by, bm, bd) if lower else (year, month, day) <= (by, bm, bd)
        else:
            ok = (month, day) >= (bm, bd) if lower else (month, day) <= (bm, bd)
        if not ok:
            return False
    return True
