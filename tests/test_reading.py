"""Answers a news reader can trust: routing by kind, either script, dates read from datelines,
parallel clauses, span edges, follow-ups, whole articles, issues and coverage.

Unit tests use constructed sentences; the slow ones ask the real seeds through ``rag.answer``.
"""

from __future__ import annotations

import pytest

from rag.evaluate import read_jsonl, score_dialogues, score_reading
from rag.ingest.dates import DateRef
from rag.qa.dates import date_spans, read_relative, report_date
from rag.qa.dialogue import Turn, readings, resolve
from rag.qa.query import read_question, route
from rag.qa.retrieve import time_prior
from rag.qa.spans import (
    QuestionType,
    aligned_segment,
    clause_alignment,
    event_words,
    trim_span,
    type_fit,
)
from tests.conftest import SHARED_EVAL

# ----------------------------------------------------------------------------- routing


@pytest.mark.parametrize(
    "question,kind,subject",
    [
        ("「港口物流博览会开幕」这篇报道讲了什么？", "lead", "港口物流博览会开幕"),
        ("《新区召开防汛会议》的主要内容是什么？", "lead", "新区召开防汛会议"),
        ("“微改革”助推大发展这篇文章说了什么？", "lead", "“微改革”助推大发展"),
        ("请概括一下「图书馆开放夜间阅读区」", "lead", "图书馆开放夜间阅读区"),
        ("9月3日的报纸有哪些报道？", "issue", ""),
        ("5月20日头版有哪些新闻？", "issue", ""),
        ("3月2日第3版登了什么？", "issue", ""),
        ("6月1日的报道有哪些？", "issue", ""),
        ("有哪些关于港口物流的报道？", "articles", "港口物流"),
        ("关于乡村振兴的新闻有哪些？", "articles", "乡村振兴"),
        ("哪些报道提到了海洋经济？", "articles", "海洋经济"),
        ("防汛工作的相关报道有哪些？", "articles", "防汛工作"),
        ("“红色引擎”指的是什么？", "span", ""),
        ("9月3日召开的会议讨论了什么？", "span", ""),
        ("这项政策的主要内容是什么？", "span", ""),
    ],
)
def test_questions_are_routed_by_kind(question, kind, subject):
    q = read_question(question)
    assert (q.kind, q.subject) == (kind, subject)
    assert route(q.text, q.dates) == (kind, subject)


def test_traditional_script_is_read_as_simplified():
    q = read_question("青島自貿片區與哪家司法機構建立了合作？")
    assert q.asked == "青島自貿片區與哪家司法機構建立了合作？"  # as asked
    assert q.text == "青岛自贸片区与哪家司法机构建立了合作？"  # as searched and read
    assert "青岛" in q.tokens and q.qtype.kind == "org"
    # one variant character in a simplified question is the archive's spelling, not a script
    assert read_question("凉茶舖又叫什么？").text == "凉茶舖又叫什么？"


# ----------------------------------------------------------------------------- dates


def test_relative_dates_are_read_against_the_dateline():
    today = read_relative("今天下午", "本报8月11日讯", "--08-11")
    assert today is not None
    assert today.text == "8月11日" and today.note == "8月11日（今天下午，本报8月11日讯）"
    assert read_relative("昨天", "本报8月11日讯", None).text == "8月10日"  # type: ignore[union-attr]
    assert read_relative("前天上午", "本报2022年3月2日讯", None).text == "2022年2月28日"  # type: ignore[union-attr]
    assert read_relative("日前", "本报讯", "--07-18").text == "7月18日前"  # type: ignore[union-attr]
    # no dateline date: the page's date, said so
    page = read_relative("今天", "本报讯", "--07-18")
    assert page is not None and page.text == "7月18日" and "本期报纸" in page.note
    assert read_relative("今天", None, None) is None  # nothing to read it against
    assert read_relative("昨天", "本报3月1日讯", None) is None  # 2月28日 or 29日: no year
    assert read_relative("会议", "本报8月11日讯", None) is None
    assert report_date("本报8月11日讯", "2022-08-11") == ("2022-08-11", "本报8月11日讯")


def test_dates_of_a_sentence_leave_the_dateline_out():
    s = "本报8月11日讯今天下午，会议召开，会议回顾了2020年9月以来的工作。"
    found = [(s[a:b], rel) for a, b, rel in date_spans(s)]
    assert found == [("今天下午", True), ("2020年9月", False)]
    assert type_fit(QuestionType("date"), "今天下午") == 1.0


def test_event_words_name_what_a_date_question_asks_about():
    q = read_question("新区是哪天入选试点名单的？")
    assert "入选" in event_words(q.tags)
    assert "是" not in event_words(q.tags)


def test_a_year_in_the_question_is_a_soft_prior_around_the_event():
    assert time_prior(DateRef(2025, None, None), "2024-12-27") == 0.5  # plans come before
    assert time_prior(DateRef(2022, None, None), "2023-03-01") == 0.5  # figures come after
    assert time_prior(DateRef(2026, 7, None), "2026-08-05") == 1.0
    assert time_prior(DateRef(2026, 7, None), "2024-08-05") == 0.0
    assert time_prior(DateRef(2022, None, None), "--08-11") == 0.0  # no year invented
    assert time_prior(DateRef(None, 8, 11), "--08-11") == 1.0


# ----------------------------------------------------------------------------- clauses, edges

PARKS = "在东湖街道建设新材料产业园，在西山街道和高新区建设机器人产业园，在南港街道建设食品产业园。"


def test_the_clause_a_question_aligns_with_wins():
    weights = {"机器人": 3.0, "产业园": 2.0, "街道": 1.0, "建": 1.0}
    at = {p: PARKS.find(p) for p in ("东湖街道", "西山街道和高新区", "南港街道")}
    score = {p: clause_alignment(PARKS, a, a + len(p), weights) for p, a in at.items()}
    assert score["西山街道和高新区"] > 0 > score["东湖街道"]
    assert score["南港街道"] < 0
    seg = aligned_segment(PARKS, weights)
    assert seg is not None and PARKS[seg[0] : seg[1]].startswith("在西山街道")
    # one clause, or clauses that only continue each other: nothing to align
    assert clause_alignment("新区建设机器人产业园。", 2, 4, weights) == 0.0
    cont = "实现外贸进出口912.5亿元，同比增长约5%"
    assert clause_alignment(cont, cont.find("约5%"), len(cont), {"外贸": 2.0}) == 0.0


def test_a_rate_follows_the_subject_whose_change_it_gives():
    from rag.qa.spans import classify, measure_fit

    q = classify("全市上半年出口总额同比增长了多少？")
    assert q.rate and q.measured.endswith("出口总额")
    assert not classify("全市出口总额增长多少亿元？").rate  # an amount, not a rate
    s = "新增企业300户，同比增长12%；实现出口总额80亿元，同比增长约6%；"
    assert measure_fit(q, s, s.find("约6%")) == 1.0
    assert measure_fit(q, s, s.find("12%")) == 0.0


@pytest.mark.parametrize(
    "kind,sentence,span,expected",
    [
        ("number", "全年共取得十余项成果。", "十余", "十余项"),
        ("number", "建成超100万平方米厂房。", "100万平方米", "超100万平方米"),
        ("number", "以240.9环的成绩夺得金牌。", "240.9环的成绩夺得金牌", "240.9环"),
        ("number", "同比增长约5%；", "5%", "约5%"),
        ("number", "每季度至少召开一次会议。", "一次", "一次"),
        ("person", "国务院副总理张国清出席。", "国务院副总理张国清", "张国清"),
        ("date", "早在2020年9月，新区就启动了试点。", "2020年9月，新区就启动了试点", "2020年9月"),
        ("what", "早在2020年9月，新区就启动了试点。", "2020年9月，新区", "2020年9月，新区"),
    ],
)
def test_span_edges(kind, sentence, span, expected):
    a = sentence.find(span)
    s, e = trim_span(QuestionType(kind), sentence, a, a + len(span))
    assert sentence[s:e] == expected


# ----------------------------------------------------------------------------- follow-ups


def _resolved(question: str, previous: str, answer: str = "") -> str:
    return resolve(question, [Turn(previous, answer, None, bool(answer))]).question


def test_follow_ups_fill_the_slot_they_match():
    prev = "考察团在法国拜访并签约的是哪家企业？"
    assert _resolved("在意大利呢？", prev, "某某集团") == "考察团在意大利拜访并签约的是哪家企业？"
    assert _resolved("2021年呢？", "2022年新区生产总值是多少？") == "2021年新区生产总值是多少？"
    # a measure after a count is one of the readings (the attribute of the previous subject),
    # not the rule's: which one is meant is decided by what the archive answers
    play = Turn("话剧《雷雨》一共演了多少场？", "120场", "a", True)
    asked = [r.question for r in readings("票房收入呢？", [play])]
    assert "话剧《雷雨》的票房收入是多少？" in asked
    assert _resolved("机器人产业园呢？", "新材料产业园计划建在哪个街道？") == (
        "机器人产业园计划建在哪个街道？"
    )


def test_a_pronoun_stands_for_what_was_asked_about_not_the_answer():
    prev = "新区的在线验房机制是在哪个楼盘上试行的？"
    assert _resolved("它是什么时候开始试行的？", prev, "某某花园") == (
        "新区的在线验房机制是什么时候开始试行的？"
    )
    # 他 after a question for a person: the person answered
    assert (
        _resolved("他是什么时候上任的？", "谁担任新区团委书记？", "张三")
        == "张三是什么时候上任的？"
    )


def test_within_never_glues_a_figure_into_the_question():
    got = _resolved("其中有多少家是外资企业？", "新区今年新增了多少家企业？", "5000余家")
    assert "5000" not in got and got.startswith("新区")
    listed = _resolved("其中哪些是新兴产业？", "新区有哪些产业链？", "集成电路、新能源汽车")
    assert listed.startswith("集成电路、新能源汽车")


# ----------------------------------------------------------------------------- the real seeds


@pytest.mark.slow
def test_reading_dev_through_the_pipeline(seed_index, graph_reader):
    import rag

    path = SHARED_EVAL / "reading_dev.jsonl"
    if not path.is_file():
        pytest.skip("shared/eval is not beside this checkout")
    score = score_reading(
        read_jsonl(path), lambda q: rag.answer(q, index_dir=seed_index, reader=graph_reader)
    )
    # 10/10 measured on both graphs on one CPU; on another AMD EPYC the int8 graph reads one
    # date span otherwise (9/10, the code before #28 too): its logits move between CPUs (#27),
    # so the date class is held whole on the float graph only
    assert sum(score.right.values()) >= 8, score.failures
    strict = ("summary", "issue", "topic", "script") + (("date",) if graph_reader is None else ())
    for cls in strict:
        assert score.right[cls] == score.total[cls], score.failures


@pytest.mark.slow
def test_dialogues_dev_follow_ups(seed_index):
    import rag

    path = SHARED_EVAL / "dialogues_dev.jsonl"
    if not path.is_file():
        pytest.skip("shared/eval is not beside this checkout")
    score = score_dialogues(
        read_jsonl(path),
        lambda q, h: rag.answer(q, index_dir=seed_index, history=h),
    )
    # measured with the float graph (shipped): follow-ups 4/4, first questions 2/3 (int8: 3/4,
    # 3/3); four dev follow-ups say little, held back they score 0.67 (issue #28)
    assert score.right["follow-up"] >= score.total["follow-up"] - 1, score.failures
    turns = ("first", "follow-up")
    assert sum(score.right[c] for c in turns) >= sum(score.total[c] for c in turns) - 2, (
        score.failures
    )


@pytest.mark.slow
def test_whole_article_issue_and_coverage_answers(seed_index, runtime):
    import rag
    from rag.qa.digest import lead_of

    index = runtime.index
    # a whole article, named by its headline: its lead, cited where it stands
    aid = next(a for a in index.articles if index.articles[a].headline)
    head = index.articles[aid].headline
    ans = rag.answer(f"「{head}」这篇报道讲了什么？", index_dir=seed_index)
    assert ans.found and ans.kind == "lead" and ans.citations[0].article_id == aid
    c = ans.citations[0]
    assert c.text[c.answer_start : c.answer_end] == ans.text == lead_of(runtime, aid)[1]
    # an issue: every article that starts on that date's pages, in page order, once
    date = next(p.date for p in index.pages.values() if p.date and p.number)
    day = DateRef(None, int(date[-5:-3]), int(date[-2:]))
    ans = rag.answer(f"{day.month}月{day.day}日的报纸有哪些报道？", index_dir=seed_index)
    assert ans.found and ans.kind == "issue" and len(ans.items) == len(ans.citations) > 1
    ids = [c.article_id for c in ans.citations]
    assert len(ids) == len(set(ids))
    numbers = [index.pages[c.page].number or 0 for c in ans.citations]
    assert numbers == sorted(numbers) and all(c.date == date for c in ans.citations)
    front = rag.answer(f"{day.month}月{day.day}日头版有哪些报道？", index_dir=seed_index)
    assert front.found and {index.pages[c.page].number for c in front.citations} == {1}
    # coverage: articles holding the topic's words, each once, lines as a reader cites them
    ans = rag.answer("有哪些关于产业链的报道？", index_dir=seed_index)
    assert ans.found and ans.kind == "articles"
    assert ans.items == [c.title for c in ans.citations]
    assert len({c.article_id for c in ans.citations}) == len(ans.citations)
    assert all("产业链" in c.text or "产业链" in (c.headline or "") for c in ans.citations)
    # nothing on the topic: declined, with the closest passages
    none = rag.answer("有哪些关于火星探测的报道？", index_dir=seed_index)
    assert not none.found and none.kind == "articles"


@pytest.mark.slow
def test_a_relative_date_is_answered_with_the_reports_date(runtime):
    from rag.models.reader import Span
    from rag.qa.answer import Candidate, read_date

    index = runtime.index
    # every sentence saying 今天 in an article whose dateline names its day
    sentences = [
        s
        for s in index.sentences
        if "今天" in s.text and "月" in (index.articles[s.article_id].dateline or "")
    ]
    assert sentences
    for sent in sentences:
        at = sent.text.find("今天")
        cand = Candidate(Span(0, at, at + 2, 0.0, 0.0), sent, at, at + 2, 1.0, 1.0, 1.0)
        (a, b), reading = read_date(runtime, cand)
        dateline = index.articles[sent.article_id].dateline or ""
        assert sent.text[a:b].startswith("今天") and reading is not None
        assert reading.text in dateline and reading.note.endswith(f"，{dateline}）")


@pytest.mark.slow
def test_either_script_gets_the_same_answer(seed_index):
    import rag

    simple = rag.answer("新区有多少项重点技术入选节能低碳推广目录？", index_dir=seed_index)
    trad = rag.answer("新區有多少項重點技術入選節能低碳推廣目錄？", index_dir=seed_index)
    assert trad.found and trad.text == simple.text
    assert trad.question.startswith("新區") and trad.resolved_question.startswith("新区")


@pytest.mark.slow
def test_example_questions_are_answered(seed_index, runtime):
    import rag
    from rag.qa.examples import example_questions

    asked = example_questions(runtime, lambda q: rag.answer(q, index_dir=seed_index))
    kinds = [read_question(q).kind for q in asked]
    assert kinds == ["span", "lead", "issue"]
    assert all(rag.answer(q, index_dir=seed_index).found for q in asked)


@pytest.mark.slow
def test_the_no_answer_decision_is_the_fitted_model(seed_index):
    from dataclasses import replace

    import rag
    from rag.qa.answer import DECLINE_FEATURES
    from rag.qa.config import RULES_CONFIG, AnswerConfig

    shipped = AnswerConfig()
    assert len(shipped.decline_weights) == len(DECLINE_FEATURES) + 1  # a bias, then weights
    assert RULES_CONFIG.decline_weights == ()  # the rules have no no-answer score to weigh
    q = "新区有多少项重点技术入选节能低碳推广目录？"
    assert rag.answer(q, index_dir=seed_index).found
    never = replace(shipped, decline_weights=(-1e9, *[0.0] * len(DECLINE_FEATURES)))
    assert not rag.answer(q, index_dir=seed_index, config=never).found
    # the evidence weighs for answering: the same question, with its evidence weight
    # turned against it, is declined
    weights = list(shipped.decline_weights)
    weights[1 + DECLINE_FEATURES.index("evidence")] = -100.0
    assert not rag.answer(
        q, index_dir=seed_index, config=replace(shipped, decline_weights=tuple(weights))
    ).found


def test_fitted_weights_name_their_features_and_settings(caplog):
    import json
    import logging

    from rag.qa.answer import DECLINE_FEATURES, FOLLOW_FEATURES
    from rag.qa.config import FITTED, RetrievalConfig, check_fitted

    doc = json.loads(FITTED.read_text(encoding="utf-8"))
    assert doc["decline_weights"]["features"] == list(DECLINE_FEATURES)
    if doc["follow_weights"]["weights"]:
        assert doc["follow_weights"]["features"] == list(FOLLOW_FEATURES)
        assert len(doc["follow_weights"]["weights"]) == len(FOLLOW_FEATURES) + 1
    model = doc["fitted_for"]["model"]
    fitted_for = RetrievalConfig.from_dict(doc["fitted_for"]["retrieval"])
    assert fitted_for == RetrievalConfig()  # the shipped settings are the ones fitted for
    with caplog.at_level(logging.WARNING, logger="rag.qa.config"):
        assert check_fitted(model, fitted_for, "here")
        assert not caplog.records
        # an index recording other settings: the weights would be silently off; said aloud
        other = RetrievalConfig(dense_floor=0.5)
        assert not check_fitted(model, other, "there")
        assert "refit" in caplog.records[-1].getMessage()


def test_a_year_counts_as_named_anywhere_in_the_article_or_its_date(runtime):
    """``year_missing`` (a no-answer feature): a lead often names the year and a later sentence
    the figure, so a year named anywhere in the answer's article (or its date) is not missing;
    a year the article never names is."""
    import re

    from rag.qa.answer import year_missing

    index = runtime.index
    checked = 0
    for ids in index.article_sentences.values():
        texts = [index.sentences[i].text for i in ids]
        years = {y for t in texts for y in re.findall(r"(?<!\d)(20\d\d)(?!\d)", t)}
        for y in sorted(years):
            elsewhere = [i for i, t in zip(ids, texts, strict=True) if y not in t]
            if not elsewhere:
                continue
            sentence = index.sentences[elsewhere[-1]]
            asked = read_question(f"{y}年的产量是多少？")
            assert year_missing(runtime, asked, sentence) == 0.0
            never = next(str(n) for n in range(1900, 1990) if str(n) not in "".join(texts))
            assert year_missing(runtime, read_question(f"{never}年的产量是多少？"), sentence) == 1.0
            assert year_missing(runtime, read_question("产量是多少？"), sentence) == 0.0
            checked += 1
    assert checked >= 3  # the seeds hold articles naming a year away from some sentence
