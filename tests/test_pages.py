"""Reading and cleaning OCR pages: encodings, bad files, layout phenomena, offset map."""

from __future__ import annotations

import pytest

from rag.errors import PageReadError
from rag.ingest.dates import format_date
from rag.ingest.pages import (
    clean_page_text,
    decode_bytes,
    infer_date,
    read_page,
    read_pages,
)

TEXT = "　　本报8月11日讯 今天下午，会议召开。\n"


@pytest.mark.parametrize(
    "data,encoding",
    [
        (TEXT.encode("utf-8"), "utf-8"),
        (b"\xef\xbb\xbf" + TEXT.encode("utf-8"), "utf-8-sig"),
        (TEXT.encode("gbk"), "gb18030"),
        (TEXT.encode("utf-16"), "utf-16"),
        (TEXT.encode("utf-16-le"), "utf-16-le"),
    ],
)
def test_decodes_common_encodings(data, encoding):
    text, enc = decode_bytes(data)
    assert text.lstrip("\ufeff") == TEXT
    assert enc == encoding


def test_binary_is_refused():
    with pytest.raises(PageReadError):
        decode_bytes(bytes(range(256)) * 4)


def test_bad_files_give_warnings_and_are_kept(tmp_path):
    (tmp_path / "a.txt").write_bytes(b"")
    (tmp_path / "b.txt").write_bytes(bytes(range(256)) * 4)
    (tmp_path / "c.txt").write_bytes(TEXT.replace("\n", "\r\n").encode("gbk"))
    pages = read_pages(tmp_path)
    assert [p.page_id for p in pages] == ["a", "b", "c"]
    assert any("empty" in w for w in pages[0].warnings)
    assert any("binary" in w for w in pages[1].warnings)
    assert pages[2].text.startswith("本报8月11日讯")
    assert "\r" not in pages[2].text


def test_column_breaks_are_joined_and_letter_spacing_removed():
    raw = (
        "　　早在2020年9月，西海岸新区就启动了\n气 候 投 融 资 试 点 工\n"
        "作。我省在《山东省国\n\n民经济》中支持。\n"
    )
    text, offsets, units = clean_page_text(raw)
    assert (
        text
        == "早在2020年9月，西海岸新区就启动了气候投融资试点工作。我省在《山东省国民经济》中支持。"
    )
    assert len(units) == 1
    # every clean character maps back to the same character of the raw page
    assert all(raw[offsets[i]] == ch for i, ch in enumerate(text))


def test_latin_spaces_stay():
    text, _, _ = clean_page_text("　　引入 VR 全景技术与 open source 工具。\n")
    assert "open source" in text


def test_markdown_marks_are_layout_not_text():
    raw = "## 聚链成势,攀高逐新\n\n**稳扎稳打有干头** 打头阵\n\n正文第一段。\n"
    text, _, units = clean_page_text(raw)
    assert "#" not in text and "*" not in text
    assert units[0].heading_mark and units[0].kind == "title"


def test_dates_inferred_not_invented():
    assert infer_date("本报8月11日讯 今天") == "--08-11"
    assert infer_date("没有日期") is None
    assert format_date("--08-11") == "8月11日"
    assert format_date("2022-08-11") == "2022年8月11日"


def test_manifest_gives_metadata(tmp_path):
    (tmp_path / "p1.txt").write_text(TEXT, encoding="utf-8")
    (tmp_path / "pages.json").write_text(
        '{"pages": {"p1": {"date": "2022-08-11", "edition": "西海岸新闻", "page": 3}}}',
        encoding="utf-8",
    )
    page = read_pages(tmp_path)[0]
    assert (page.date, page.edition, page.number) == ("2022-08-11", "西海岸新闻", 3)


def test_raw_span_maps_back(tmp_path):
    p = tmp_path / "x.txt"
    p.write_text("　　第一段文字。\n\n　　第二段 文 字。\n", encoding="utf-8")
    page = read_page(p)
    i = page.text.index("第二段")
    s, e = page.raw_span(i, i + 3)
    assert page.raw[s:e] == "第二段"
