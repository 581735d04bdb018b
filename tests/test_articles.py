"""Article segmentation on small inline pages and on the real seeds (scored against gold)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.evaluate import norm, read_jsonl, score_segmentation
from rag.ingest.articles import segment
from rag.ingest.pages import read_pages
from tests.conftest import SEEDS, SHARED_EVAL


def pages_from(tmp_path: Path, files: dict[str, str]):
    for name, text in files.items():
        (tmp_path / f"{name}.txt").write_text(text, encoding="utf-8")
    return read_pages(tmp_path)


FRONT = """　　□记者 张三 报道
　　本报8月11日讯 今天，新区举办港口物流博览会，吸引三百家企业参展。博览会为期三天，
展示智慧港口和冷链物流的新技术，（下转第二版）
 □记者 李四 报道
　　本报8月11日讯 今天上午，新区召开防汛工作会议，部署防汛安全工作。会议要求落实责任。

新区防汛会议召开
"""
SECOND = """港口物流博览会开幕
（上接第一版）并举办多场港口物流论坛。参展企业纷纷表示收获颇丰。

　　□记者 王五 报道
　　本报8月11日讯 新区图书馆今天开放夜间阅读区，满足市民读书需求。
"""


def test_bylines_datelines_headline_after_article(tmp_path):
    arts = segment(pages_from(tmp_path, {"p1": FRONT})).articles
    assert len(arts) == 2
    first, second = arts
    assert first.byline == "□记者 张三 报道"
    assert first.parts[0].text.startswith("本报8月11日讯")
    assert first.parts[0].jump_out == 2
    # the headline stands after its article, and is given to it by content
    assert second.headline == "新区防汛会议召开"
    assert first.headline is None and first.label_is_derived


def test_continuation_is_linked_and_titled_by_jump_headline(tmp_path):
    arts = segment(pages_from(tmp_path, {"p1": FRONT, "p2": SECOND})).articles
    expo = next(a for a in arts if "博览会" in a.text)
    assert expo.pages == ("p1", "p2")
    assert expo.headline == "港口物流博览会开幕"
    assert expo.headline_source == "jump_headline"
    assert "参展企业纷纷表示收获颇丰" in expo.text
    assert "上接" not in expo.text and "下转" not in expo.text


def test_orphan_continuation_stays_its_own_article(tmp_path):
    arts = segment(pages_from(tmp_path, {"p2": SECOND})).articles
    orphan = next(a for a in arts if "论坛" in a.text)
    assert orphan.pages == ("p2",)
    assert orphan.headline == "港口物流博览会开幕"


def test_trailing_byline_and_kicker(tmp_path):
    page = (
        "　　在深化改革中担当作为。推进体制机制改革。\n\n　 （本报记者 宋迎迎 整理）\n\n"
        "　　今年以来，企业产能提升。推出品牌。 （本报记者 王雪 整理）\n"
    )
    arts = segment(pages_from(tmp_path, {"p": page})).articles
    assert [norm(a.byline) for a in arts] == ["本报记者宋迎迎整理", "本报记者王雪整理"]
    assert arts[1].text.endswith("推出品牌。")


def test_page_without_articles_warns(tmp_path):
    seg = segment(pages_from(tmp_path, {"t": "只有标题\n"}))
    assert any("no recognisable article" in w for w in seg.warnings)


@pytest.fixture(scope="module")
def gold():
    path = SHARED_EVAL / "articles.jsonl"
    if not path.is_file():
        pytest.skip("gold segmentation not available")
    return read_jsonl(path)


def test_seed_segmentation_meets_targets(gold):
    score = score_segmentation(segment(read_pages(SEEDS)).articles, gold)
    assert score.boundaries_right >= 0.9 * score.gold, score.misses
    assert score.headlines_right >= 0.9 * score.gold, score.misses
    assert score.links_found == score.links_gold
    assert score.links_false == 0


def rewrap(raw: str, width: int) -> str:
    """Re-flow every paragraph of a page to ``width`` characters per line."""
    out: list[str] = []
    para: list[str] | None = None

    def flush() -> None:
        nonlocal para
        if para is None:
            return
        indent, text = para
        first = True
        while text:
            room = max(width - (len(indent) if first else 0), 1)
            out.append((indent if first else "") + text[:room])
            text, first = text[room:], False
        para = None

    for line in raw.split("\n"):
        stripped = line.lstrip(" \u3000")
        if not line.strip():
            flush()
            out.append("")
        elif stripped.startswith("#"):
            flush()
            out.append(line)
        elif stripped != line or para is None:
            flush()
            para = [line[: len(line) - len(stripped)], stripped.rstrip()]
        else:
            para[1] += stripped.rstrip()
    flush()
    return "\n".join(out)


def summary(articles):
    return [(a.pages, norm(a.headline), norm(a.text)) for a in articles]


@pytest.mark.parametrize("width", [11, 19])
def test_same_articles_at_other_column_widths(tmp_path, width):
    base = summary(segment(read_pages(SEEDS)).articles)
    for f in SEEDS.glob("*.txt"):
        (tmp_path / f.name).write_text(
            rewrap(f.read_text(encoding="utf-8"), width), encoding="utf-8"
        )
    assert summary(segment(read_pages(tmp_path)).articles) == base
