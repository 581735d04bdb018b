"""A question is read once: the query record, and how many times jieba segments per turn."""

from __future__ import annotations

from collections import Counter

import pytest

from rag.qa.dialogue import Tagged, Turn
from rag.qa.query import check_date_range, read_question
from rag.qa.spans import classify, question_terms


@pytest.fixture
def segmentations(monkeypatch):
    """Every text jieba segments, by call (posseg for tags, cut_for_search for tokens)."""
    import jieba
    import jieba.posseg

    from rag.qa.answer import typed_terms
    from rag.qa.dialogue import _tagged

    # texts tagged by earlier tests stay in the LRU caches: counted from empty ones
    _tagged.cache_clear()
    typed_terms.cache_clear()
    seen: Counter[tuple[str, str]] = Counter()
    cut, tag = jieba.cut_for_search, jieba.posseg.cut

    def counting_cut(text, *a, **kw):
        seen[("tokens", text)] += 1
        return cut(text, *a, **kw)

    def counting_tag(text, *a, **kw):
        seen[("tags", text)] += 1
        return tag(text, *a, **kw)

    monkeypatch.setattr(jieba, "cut_for_search", counting_cut)
    monkeypatch.setattr(jieba.posseg, "cut", counting_tag)
    return seen


def test_a_standalone_question_is_segmented_once_for_tags_and_once_for_tokens(segmentations):
    q = read_question("青岛自贸片区与哪家司法机构建立了联动创新战略合作？")
    assert sorted(kind for kind, _ in segmentations.elements()) == ["tags", "tokens"]
    assert q.text == q.asked and q.qtype.kind == "org" and q.kind == "span"
    assert "司法" in q.terms and "哪家" not in q.terms
    # the record holds what the older separate calls computed
    assert q.qtype == classify(q.text) and list(q.terms) == question_terms(q.text)


def test_a_follow_up_segments_each_text_once(segmentations):
    history = [Turn("变频控制产业园计划建在哪个街道？", "隐珠街道", "p000-a1", True)]
    q = read_question("装备制造产业园呢？", history)
    assert q.text == "装备制造产业园计划建在哪个街道？" and q.prefer_article == "p000-a1"
    counts = Counter(kind for kind, _ in segmentations.elements())
    # tags: the follow-up, the previous question, the rewritten question; tokens: what is searched
    assert counts == {"tags": 3, "tokens": 1}
    assert max(segmentations.values()) == 1  # no text twice


def test_tagged_slices_reuse_the_words_and_retag_only_a_cut_word():
    t = Tagged.of("那么装备制造产业园呢")
    whole = [w for _, _, w, _ in t.words]
    at = len(whole[0])
    assert [w for _, _, w, _ in t.sub(at).words] == whole[1:]
    inside = t.sub(1)  # falls inside the first word: tagged anew
    assert inside.text == t.text[1:] and "".join(w for _, _, w, _ in inside.words) == t.text[1:]


@pytest.mark.parametrize(
    "bad", [("--08-11", "--07-18"), ("2022-08-11", "2022-07-18"), ("8月11日", None)]
)
def test_bad_date_ranges_are_refused(bad):
    with pytest.raises(ValueError):
        check_date_range(bad)
    with pytest.raises(ValueError):
        read_question("会议在哪天召开？", date_range=bad)


def test_open_and_empty_ranges():
    assert check_date_range(None) is None and check_date_range((None, None)) is None
    assert check_date_range(("--07-18", None)) == ("--07-18", None)
    assert read_question("会议？", date_range=("--07-01", "--07-31")).date_range == (
        "--07-01",
        "--07-31",
    )


@pytest.mark.slow
def test_answering_a_turn_segments_the_question_once(seed_index, runtime, segmentations):
    import rag

    q1 = "变频控制产业园计划建在哪个街道？"
    a1 = rag.answer(q1, index_dir=seed_index)
    first = Counter(kind for kind, _ in segmentations.elements())
    assert first == {"tags": 1, "tokens": 1}, segmentations
    segmentations.clear()
    a2 = rag.answer("装备制造产业园呢？", index_dir=seed_index, history=[(q1, a1)])
    assert a2.resolved_question == "装备制造产业园计划建在哪个街道？"
    # a follow-up is read several ways (#28): each reading is segmented once, the words typed
    # are tokenised once for all readings, the previous question tagged once
    from rag.qa.dialogue import READINGS

    kinds = Counter(kind for kind, _ in segmentations.elements())
    assert 1 <= kinds["tokens"] <= READINGS + 1, segmentations
    assert max(segmentations.values()) == 1, segmentations


@pytest.mark.parametrize(
    "question,kind",
    [
        ("检查组发布的消息中提到了多少家企业？", "span"),  # 查 inside 检查 searches nothing
        ("调查显示，哪些人的报道最多？", "span"),  # nor inside 调查
        ("关于气候投融资的报道有多少篇？", "span"),  # a figure is a span, never a list
        ("谁写了关于港口的报道？", "span"),
        ("查一下关于港口物流的报道", "articles"),
        ("有哪些关于港口物流的报道？", "articles"),
        ("九月三日的报纸有哪些报道？", "issue"),  # Chinese numerals name the issue
        ("9月3日的报纸有哪些报道？", "issue"),
        ("二〇二二年九月三日的报纸有哪些报道？", "issue"),
        ("2023年2月30日的报纸有哪些报道？", "span"),  # no such day, no issue
    ],
)
def test_questions_are_routed_by_words(question, kind):
    assert read_question(question).kind == kind


@pytest.mark.parametrize(
    "question",
    ["2023年2月30日召开了什么会议？", "二〇二三年二月三十日的报纸有哪些报道？"],
)
def test_an_impossible_date_is_no_date(question):
    assert read_question(question).dates == ()


@pytest.fixture(scope="module")
def dated_index(tmp_path_factory, embedder):
    """Two seed pages with years in pages.json: dates of the archive have years."""
    import json
    import shutil

    from rag.store.index import build_index
    from tests.conftest import SEEDS

    folder = tmp_path_factory.mktemp("dated")
    pages = sorted(SEEDS.glob("*.txt"))[:2]
    for p in pages:
        shutil.copy(p, folder / p.name)
    meta = {p.stem: {"date": f"2023-02-{27 + i}"} for i, p in enumerate(pages)}
    (folder / "pages.json").write_text(json.dumps(meta), encoding="utf-8")
    path = tmp_path_factory.mktemp("dated-idx") / "index"
    build_index(folder, path, embedder)
    return path


@pytest.mark.slow
@pytest.mark.parametrize(
    "question",
    [
        "2023年2月30日召开了什么会议？",
        "二〇二三年二月廿八日的报纸有哪些报道？",
        "9999年召开了什么会议？",
    ],
)
def test_dated_questions_never_crash(dated_index, question):
    import rag
    from ui.app import ChatService

    assert rag.retrieve(question, index_dir=dated_index)
    ans = rag.answer(question, index_dir=dated_index)
    assert ans.question == question
    chat = ChatService(
        lambda q, k, h, d: rag.answer(q, k=k, index_dir=dated_index, history=h, date_range=d),
        lambda a: None,  # type: ignore[arg-type,return-value]
    )
    assert chat.ask(question, [], 5).history[-1]["role"] == "assistant"  # the page answers
    if "廿八" in question:  # 2023-02-28 is a real day with a page
        assert ans.kind == "issue" and ans.found
