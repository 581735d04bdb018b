"""Question types, span extraction on inline examples, and answers on the real seeds."""

from __future__ import annotations

import pytest

from rag.evaluate import char_f1, gold_titles_from, read_jsonl, score_answers
from rag.qa.spans import classify, extract_span
from tests.conftest import SHARED_EVAL


def span(question: str, sentence: str) -> str | None:
    sp = extract_span(classify(question), question, sentence)
    return sentence[sp[0] : sp[1]] if sp else None


@pytest.mark.parametrize(
    "question,kind",
    [
        ("新区有多少个项目？", "number"),
        ("会议在什么时候召开？", "date"),
        ("这话是谁说的？", "person"),
        ("哪家公司负责节能？", "org"),  # 部门: an org in under half of public questions
        ("在哪个街道建设产业园？", "place"),
        ("联盟覆盖哪些产业链？", "list"),
        ("为什么要组建联盟？", "reason"),
        ("是否调整组织关系？", "yesno"),
        ("遵循什么原则？", "what"),
    ],
)
def test_classify(question, kind):
    assert classify(question).kind == kind


def test_number_with_unit():
    s = "全区新签约亿元以上项目208个、总投资1209亿元，同比增长30%以上。"
    assert span("新签约亿元以上项目有多少个？", s) == "208个"
    assert span("同比增长了多少？", s) == "30%以上"
    assert span("新签约项目有多少个、总投资多少？", s) == "208个、总投资1209亿元"


def test_money_question_needs_money():
    assert span("增资的金额是多少？", "自2023年7月以来，集团在中国增设生产线。") is None


def test_date():
    assert span("会议是哪天召开的？", "3月18日召开的全区工作会议明确提出要求。") == "3月18日"
    assert span("力争在什么时候完成目标？", "力争10月底完成全年经济社会发展目标。") == "10月底"


def test_person_and_speaker():
    s = "工委组织部副部长宗武邦介绍，通过将组织链嵌入产业链，发挥作用。"
    assert span("这番话出自谁之口？", s) == "宗武邦"
    assert span("首任书记是谁？", "今天下午，新区团委揭牌成立。") is None


def test_org_and_place():
    assert (
        span("与哪家司法机构建立了合作？", "片区与青岛海事法院建立联动创新战略合作。")
        == "青岛海事法院"
    )
    # the org hints are measured on public questions (rag/qa/lexicon.json): 单位 is one, 部门
    # is not (answered by an organisation in under half of the questions that name it)
    assert (
        span("是哪个单位推动节能宣传？", "近年来，区发改局通过举办现场会等举措推动节能宣传。")
        == "区发改局"
    )


def test_list_is_whole():
    s = "成立仪式上，智能家电、高端化工、船舶海工、芯屏、影视、基因科技等6个联盟揭牌。"
    assert span("分别覆盖哪些产业链？", s) == "智能家电、高端化工、船舶海工、芯屏、影视、基因科技"


def test_what_and_reason_and_yesno():
    assert (
        span("遵循什么原则？", "严格按照“先有预算、后有支出”的原则，从严控制预算追加。")
        == "先有预算、后有支出"
    )
    assert (
        span("推进哪项改革？", "多措并举推进土地集约高效利用，扎实推进“标准地”改革。")
        == "“标准地”改革"
    )
    s = "推动干部培训由“短期速成”向“长期长效”转变。"
    assert span("希望干部培训实现什么转变？", s) == "由“短期速成”向“长期长效”转变"
    assert span("为什么开展培训？", "为了提升服务能力，区里开展培训。") == "提升服务能力"
    s = "联盟属于功能性党组织，不改变隶属关系，不调整党员组织关系，主要任务是搭建平台。"
    assert span("党员组织关系要不要调整？", s) == "不调整党员组织关系"


def test_char_f1():
    assert char_f1("青岛海事法院", "青岛海事法院") == 1.0
    assert char_f1("海事法院", "青岛海事法院") == pytest.approx(2 * 1 * (4 / 6) / (1 + 4 / 6))
    assert char_f1("", "甲") == 0.0


@pytest.mark.slow
@pytest.mark.parametrize("bad", ["", "？？？", "问" * 100_000])
def test_bad_questions(seed_index, runtime, bad):
    import rag

    with pytest.raises(ValueError):
        rag.answer(bad, index_dir=seed_index)


@pytest.mark.slow
def test_unrelated_question_is_declined(seed_index, runtime):
    import rag

    ans = rag.answer("火星探测器的发射时间是什么时候？", index_dir=seed_index)
    assert not ans.found and ans.text == "" and ans.citations


@pytest.mark.slow
def test_answer_is_verbatim_and_cited(seed_index, runtime):
    import rag

    ans = rag.answer("西海岸新区首批成立了哪些产业链党建联盟？", index_dir=seed_index)
    assert ans.found
    assert "智能家电" in ans.text and "基因科技" in ans.text
    c = ans.citations[0]
    assert c.text[c.answer_start : c.answer_end] == ans.text
    assert ans.text in ans.sentence
    assert c.headline == "把“红色引擎”建在产业链上"
    assert c.pages[0].startswith("000_")
    # a citation holds its passage (the first hit), never a copy of its fields
    assert c.passage is ans.hits[0] and c.title == ans.hits[0].title
    assert ans.kind == "span"


def test_rules_are_a_reader():
    from rag.models.reader import Reader
    from rag.qa.spans import RulesReader

    rules: Reader = RulesReader()
    spans = rules.read(
        "新区有多少个项目？", ["会议很成功。", "新区共有208个项目，总投资1209亿元。"]
    )
    assert spans and spans[0].context == 1
    assert "208个" in "新区共有208个项目，总投资1209亿元。"[spans[0].start : spans[0].end]
    assert rules.read("新区有多少个项目？", ["会议很成功。"]) == []  # strict type: no fallback
    loose = rules.read("会议怎么样？", ["会议很成功。"])
    assert [(s.start, s.end) for s in loose] == [(0, len("会议很成功。"))]


@pytest.mark.slow
def test_dev_set_targets(seed_index, runtime, graph_reader):
    qa = SHARED_EVAL / "qa_dev.jsonl"
    if not qa.is_file():
        pytest.skip("dev QA not available")
    import rag

    titles = gold_titles_from(read_jsonl(SHARED_EVAL / "articles.jsonl"))
    s = score_answers(
        read_jsonl(qa),
        lambda q: rag.answer(q, index_dir=seed_index, reader=graph_reader),
        titles,
    )
    # measured (README), float (shipped) / int8: hit@1 0.96 / 0.96, contains 0.76 / 0.80, char
    # F1 0.80 / 0.79, page 0.96, headline 1.00 (of 15), 2 of 3 declined, answered 0.96. The
    # graphs differ by a question (and int8 by CPU); a floor two questions (0.08) under the
    # lower one trips on a regression, not on which graph or CPU answers
    assert s.hit1 >= 0.92
    assert s.contains >= 0.68 and s.median_len <= 30
    assert s.f1 >= 0.72
    assert s.page_right >= 0.92 and s.headline_right >= 0.93
    assert s.abstain_right >= 2 and s.answered >= 0.92
    rules = score_answers(
        read_jsonl(qa), lambda q: rag.answer(q, index_dir=seed_index, reader="rules"), titles
    )
    # measured: contains 0.92, char F1 0.874, 3 of 3 declined, page and headline 1.00 (0.96 /
    # 0.958 before #28 took the word lists lifted from dev sentences out of the pattern rules)
    assert rules.contains >= 0.88 and rules.f1 >= 0.84 and rules.abstain_right >= 3


@pytest.mark.slow
def test_rag_ask_cites_as_a_reader_would(seed_index, runtime, capsys):
    from rag.cli import main

    assert (
        main(
            [
                "ask",
                "青岛自贸片区与哪家司法机构建立了联动创新战略合作？",
                "--index",
                str(seed_index),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "青岛海事法院"
    cites = [line for line in out if line.startswith("[")]
    assert cites and all(" · " in c for c in cites)  # headline · date · 第N版, one record's title
    assert main(["ask", "会议", "--index", str(seed_index), "-k", "0"]) == 2
