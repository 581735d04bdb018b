"""The README's examples are tests: its Python API block runs on a fresh index of seeds/ and
gives what its comments say, and the chat page's examples answer as "The chat page" tells."""

from __future__ import annotations

import re

import pytest

from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    start = README.index(f"## {title}")
    end = README.find("\n## ", start + 1)
    return README[start : end if end > 0 else None]


def api_block() -> str:
    text = section("Python API")
    start = text.index("```python") + len("```python")
    return text[start : text.index("```", start)]


def says(comment: str) -> None:
    """The README still claims ``comment`` (so a changed README fails here, not silently)."""
    assert comment in README, f"the README no longer says {comment!r}: update this test"


@pytest.fixture(scope="module")
def api(seed_index, runtime, monkeypatch_module):
    monkeypatch_module.setenv("RAG_INDEX_DIR", str(seed_index))
    scope: dict = {}
    exec(compile(api_block(), "README.md", "exec"), scope)  # every line of the block runs
    return scope


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


@pytest.mark.slow
def test_the_python_api_block_gives_what_it_says(api):
    import rag

    ans, c, a2 = api["ans"], api["c"], api["a2"]
    says("ans.found, ans.text, ans.sentence  # True, '青岛海事法院'")
    assert ans.found and ans.text == "青岛海事法院" and ans.text in ans.sentence
    says("c.title, c.page_label  # '力争10月底完成全年目标 · 7月18日 · 版面 002_…', '版面 002_…'")
    assert c.title.startswith("力争10月底完成全年目标 · 7月18日 · 版面 002_")
    assert c.page_label.startswith("版面 002_")
    assert c.text[c.answer_start : c.answer_end] == ans.text and c.passage is ans.hits[0]
    says("a2.resolved_question  # '装备制造产业园计划建在哪个街道？'")
    assert a2.resolved_question == "装备制造产业园计划建在哪个街道？" and a2.found
    assert len(api["hits"]) == 5 and all(isinstance(h, rag.Hit) for h in api["hits"])
    lead = rag.answer("「新区4项技术入选市节能低碳推广目录」这篇报道讲了什么？")
    says(").kind  # 'lead': the article's lead")
    assert lead.kind == "lead" and lead.found
    first_line = "把“红色引擎”建在产业链上 · 8月11日 · 第1版"
    says(f"""rag.answer("8月11日的报纸有哪些报道？").items  # ['{first_line}'""")
    assert rag.answer("8月11日的报纸有哪些报道？").items[0] == first_line
    says("""rag.answer("八月十一日的报纸有哪些报道？").kind  # 'issue'""")
    issue = rag.answer("八月十一日的报纸有哪些报道？")
    assert issue.kind == "issue" and issue.found
    says("""rag.answer("有哪些关于气候投融资的报道？").kind  # 'articles'""")
    assert rag.answer("有哪些关于气候投融资的报道？").kind == "articles"
    says("""date_note  # '8月11日（今天下午，本报8月11日讯）'""")
    note = rag.answer("区政协议政性主席会议是哪天召开的？").date_note
    assert note == "8月11日（今天下午，本报8月11日讯）"


@pytest.mark.slow
def test_the_chat_page_examples_answer_as_told(seed_index, runtime):
    import rag
    from ui.app import ChatService

    chat = section("The chat page")
    for quoted in ("`装备制造产业园呢？`", "`变频控制产业园计划建在哪个街道？`"):
        assert quoted in chat
    says("`理解为：装备制造产业园计划建在哪个街道？`")
    says("`[1] 把“红色引擎”建在产业链上 · 8月11日 · 第1版`")
    says("`日期推算：8月11日（今天下午，本报8月11日讯）`")
    says("「档案中没有找到答案」")

    def answer_fn(q, k, history, dates):  # type: ignore[no-untyped-def]
        return rag.answer(q, k=k, index_dir=seed_index, history=history, date_range=dates)

    service = ChatService(answer_fn, lambda a: None)  # type: ignore[arg-type]
    first = service.ask("变频控制产业园计划建在哪个街道？", [], 5)
    second = service.ask("装备制造产业园呢？", first.history, 5, first.turns)
    assert "理解为：装备制造产业园计划建在哪个街道？" in second.history[-1]["content"]
    issue = service.ask("8月11日的报纸有哪些报道？", [], 5)
    assert "把“红色引擎”建在产业链上 · 8月11日 · 第1版" in issue.history[-1]["content"]
    assert "[1] 把“红色引擎”建在产业链上 · 8月11日 · 第1版" in issue.choices
    dated = service.ask("区政协议政性主席会议是哪天召开的？", [], 5)
    assert "日期推算：8月11日（今天下午，本报8月11日讯）" in dated.history[-1]["content"]
    for kind, question in (
        ("lead", re.search(r"`(「[^`]+」这篇报道讲了什么？)`", chat).group(1)),  # type: ignore[union-attr]
        ("articles", "有哪些关于港口物流的报道？"),
    ):
        assert f"`{question}`" in chat
        if kind == "articles":
            assert rag.answer(question, index_dir=seed_index).kind == kind
    absent = service.ask("火星基地的建设进度如何？", [], 5)
    assert "档案中没有找到答案" in absent.history[-1]["content"]
