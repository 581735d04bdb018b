"""The one date reader: numerals of both kinds, impossible dates, stored forms, ranges."""

from __future__ import annotations

import pytest

from rag.ingest.dates import (
    DateRef,
    find_dates,
    format_date,
    in_range,
    number,
    parse_stored,
    stored_date,
)
from rag.ingest.pages import infer_date
from rag.qa.dates import date_spans, report_date


def dates(text: str) -> list[DateRef]:
    return [m.date for m in find_dates(text)]


def test_dates_in_questions():
    assert dates("7月18日的报纸说了什么？") == [DateRef(None, 7, 18)]
    assert dates("2022年新区GDP是多少？") == [DateRef(2022, None, None)]
    assert dates("2022年8月的会议") == [DateRef(2022, 8, None)]
    assert dates("新区有多少个项目？") == []
    assert DateRef(None, 8, 11).matches("--08-11") and DateRef(None, 8, 11).matches("2022-08-11")
    assert not DateRef(2021, 8, 11).matches("2022-08-11")
    assert not DateRef(2022, None, None).matches("--08-11")  # no year is invented


@pytest.mark.parametrize(
    "text,expected",
    [
        ("九月三日的报纸有哪些报道？", DateRef(None, 9, 3)),
        ("二〇二二年的外贸", DateRef(2022, None, None)),
        ("二〇二二年十一月", DateRef(2022, 11, None)),
        ("十一月份的会议", DateRef(None, 11, None)),
        ("一九九七年七月一日", DateRef(1997, 7, 1)),
        ("十二月廿三日", DateRef(None, 12, 23)),
        ("三月卅一日", DateRef(None, 3, 31)),
        ("五月二十日", DateRef(None, 5, 20)),
        ("２０２２年８月１１日", DateRef(2022, 8, 11)),  # full-width digits
    ],
)
def test_chinese_numerals_are_dates(text, expected):
    assert dates(text) == [expected]


@pytest.mark.parametrize(
    "text", ["2023年2月30日召开了什么会议？", "13月1日", "4月31日", "二月三十日", "2023年2月29日"]
)
def test_impossible_dates_are_no_dates(text):
    assert dates(text) == []


def test_numbers():
    assert [number(s) for s in ("3", "十", "十二", "二十", "二十三", "廿", "廿三", "卅一")] == [
        3, 10, 12, 20, 23, 20, 23, 31,
    ]  # fmt: skip
    assert number("二〇二二") == 2022 and number("一九九七") == 1997
    assert number("十十") is None and number("") is None and number("abc") is None


def test_periods_have_bounds_to_the_calendars_end():
    import datetime as dt

    assert DateRef(2024, 2, None).bounds() == (dt.date(2024, 2, 1), dt.date(2024, 2, 29))
    assert DateRef(9999, 12, None).bounds() == (dt.date(9999, 12, 1), dt.date(9999, 12, 31))
    assert DateRef(None, 2, 3).bounds() is None


def test_stored_dates():
    assert parse_stored("2022-08-11") == (2022, 8, 11)
    assert parse_stored("--02-29") == (None, 2, 29)  # a day without a year may be a leap day
    assert parse_stored("2023-02-29") is None and parse_stored("--02-30") is None
    assert parse_stored("八月") is None and parse_stored(None) is None
    assert stored_date("2022年8月11日") == "2022-08-11"
    assert stored_date("八月十一日") == "--08-11"
    assert stored_date("2023-02-30") is None
    assert format_date("--08-11") == "8月11日" and format_date("2022-08-11") == "2022年8月11日"


def test_date_ranges():
    assert in_range("--08-11", "--08-01", "--08-31")
    assert not in_range("--07-18", "--08-01", None)
    assert in_range("2022-08-11", "2022-01-01", "2022-12-31")
    assert not in_range(None, "--08-01", None)
    with pytest.raises(ValueError, match="日期格式"):
        in_range("--08-11", "八月", None)
    with pytest.raises(ValueError, match="日期格式"):
        in_range("--08-11", "2023-02-30", None)


def test_datelines_and_sentences_read_chinese_numerals():
    assert infer_date("本报九月三日讯 今天上午，会议召开。") == "--09-03"
    assert infer_date("本报2月30日讯 会议召开。") is None
    assert report_date("本报九月三日讯", None)[0] == "--09-03"
    s = "会议于十一月三日召开，2023年2月30日不是一天。"
    assert next(s[a:b] for a, b, _ in date_spans(s)) == "十一月三日"
