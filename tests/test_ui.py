"""The chat page: formatter and chat logic with fakes, then the real page in headless Chromium."""

from __future__ import annotations

import contextlib
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest

from rag.errors import RagError
from rag.ingest.articles import Article, Paragraph, Part
from rag.qa.records import Answer, Citation, Hit
from ui.app import NOT_FOUND, ChatService, format_answer, format_article, format_evidence

EVIL = "<script>alert(1)</script><img src=x onerror=alert(2)>"


def citation(text="联盟覆盖智能家电、高端化工。", headline="产业链党建联盟成立", start=6, end=15):
    passage = Hit(
        text=text,
        page="p1",
        pages=("p1", "p2"),
        headline=headline,
        label="联盟覆盖…",
        article_id="p1:a1",
        score=1.0,
        chunk_id=0,
        start=0,
        end=len(text),
        date="--08-11",
    )
    return Citation(passage, answer_start=start, answer_end=end)


def fake_answer(found=True, text="智能家电、高端化工", cit=None):
    c = cit or citation()
    return Answer(
        question="q",
        found=found,
        text=text if found else "",
        sentence=c.text if found else "",
        qtype="list",
        citations=[c],
        hits=[],
    )


def fake_article():
    return Article(
        article_id="p1:a1",
        parts=(
            Part("p1", (Paragraph("联盟覆盖智能家电、高端化工。", 0, 14),)),
            Part("p2", (Paragraph(f"续：{EVIL}", 0, 10),), jump_in=1),
        ),
        headline="产业链党建联盟成立",
        headline_source="headline",
        other_titles=(),
        byline="□记者 某某 报道",
        dateline=None,
        date="--08-11",
        label="产业链党建联盟成立",
        label_is_derived=False,
    )


def test_answer_shows_span_sentence_and_citations():
    md = format_answer(fake_answer())
    assert "**智能家电、高端化工**" in md
    assert "\\[1\\] 产业链党建联盟成立 · 8月11日 · 版面 p1" in md
    numbered = fake_answer(cit=Citation(replace(citation().passage, page_number=1), 6, 15))
    assert "\\[1\\] 产业链党建联盟成立 · 8月11日 · 第1版" in format_answer(numbered)


def test_follow_up_shows_what_it_was_taken_to_mean():
    a = replace(fake_answer(), question="由谁组建？", resolved_question="联盟由谁组建？")
    assert "理解为：联盟由谁组建？" in format_answer(a)
    same = replace(fake_answer(), question="联盟由谁组建？", resolved_question="联盟由谁组建？")
    assert "理解为" not in format_answer(same)


def test_not_found_message():
    md = format_answer(fake_answer(found=False))
    assert NOT_FOUND in md and "产业链党建联盟成立" in md
    assert NOT_FOUND in format_evidence(fake_answer(found=False))


def test_archive_and_user_text_are_escaped():
    evil = fake_answer(
        text=EVIL, cit=citation(text=f"前{EVIL}后", headline=EVIL, start=1, end=1 + len(EVIL))
    )
    for out in (format_answer(evil), format_evidence(evil), format_article(fake_article())):
        assert "<script" not in out and "<img" not in out
        assert "&lt;script&gt;" in out
    assert "<mark>&lt;script&gt;" in format_evidence(evil)


def test_quotes_and_marks_in_archive_text_show_as_themselves():
    # was: html.escape then markdown escapes, so an apostrophe showed as the literal &#x27;
    cit = citation(text="Xi'an 的“丝路”项目 > 5个 #1", headline="Xi'an 项目 *重点*", start=0, end=6)
    md = format_answer(fake_answer(text="Xi'an", cit=cit))
    assert "&#x27;" not in md and "&amp;#" not in md and "\\&" not in md
    assert "Xi'an" in md and "&gt; 5个" in md and "\\#1" in md and "\\*重点\\*" in md


def test_reversed_date_range_is_refused_without_years():
    # was: --08-11 then --07-18 passed the check ("--08" != "--07" skipped it) and the page
    # answered 档案中没有找到答案 instead of saying the range is reversed
    svc = ChatService(
        answer_fn=lambda q, k, h, d: fake_answer(), article_fn=lambda a: fake_article()
    )
    for start, end in (
        ("--08-11", "--07-18"),
        ("2022-08-11", "2022-07-18"),
        ("2022-08-11", "--07-18"),
    ):
        with pytest.raises(ValueError, match="结束日期早于起始日期"):
            svc.ask("问题", [], 3, [], start, end)
    assert svc.ask("问题", [], 3, [], "--07-18", "--08-11").answer is not None


def test_article_view_has_every_page_and_highlight():
    out = format_article(fake_article(), citation())
    assert "版面 p1" in out and "版面 p2" in out
    assert "<mark>" in out
    named = format_article(fake_article(), citation(), {"p1": "第1版", "p2": "第2版"})
    assert "— 第2版 —" in named and "p2" not in named


def test_chat_service_with_fake_answer_function():
    calls = []

    def answer_fn(q, k, history, date_range):
        calls.append((q, k, [t[0] for t in history], date_range))
        return fake_answer()

    svc = ChatService(answer_fn=answer_fn, article_fn=lambda aid: fake_article())
    r1 = svc.ask("联盟覆盖哪些产业？", [], 3)
    r2 = svc.ask("再问一次", r1.history, 3, r1.turns, "--08-01", "--08-31")
    assert calls == [
        ("联盟覆盖哪些产业？", 3, [], (None, None)),
        ("再问一次", 3, ["联盟覆盖哪些产业？"], ("--08-01", "--08-31")),
    ]
    assert [t[0] for t in r2.turns] == ["联盟覆盖哪些产业？", "再问一次"]
    with pytest.raises(ValueError, match="结束日期早于起始日期"):
        svc.ask("再问", [], 3, [], "--08-31", "--08-01")
    assert [m["role"] for m in r2.history] == ["user", "assistant", "user", "assistant"]
    assert r1.choices[0].startswith("[1] 产业链党建联盟成立")
    assert "版面 p2" in svc.show(r1.answer, r1.choices[0])
    assert svc.show(r1.answer, "[9] nothing") == ""
    user_md = svc.ask(EVIL, [], 3).history[0]["content"]
    assert "<script" not in user_md


@pytest.mark.parametrize("bad", ["", "   ", "问" * 501])
def test_chat_service_refuses_bad_questions(bad):
    svc = ChatService(
        answer_fn=lambda q, k, h, d: fake_answer(), article_fn=lambda a: fake_article()
    )
    with pytest.raises(ValueError, match=r"请输入问题|问题太长"):
        svc.ask(bad, [], 5)


# ----------------------------------------------------------------------------- the real page


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serve(index: Path) -> Iterator[str]:
    """The chat page of ``index`` served by ``python -m ui`` on a free port; yields its URL."""
    from tests.conftest import ROOT

    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ui", "--index", str(index), "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 180
    try:
        while time.time() < deadline:
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError("the UI process exited") from None
                time.sleep(1)
        else:
            raise RuntimeError("the UI did not come up")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def chromium(playwright):  # type: ignore[no-untyped-def]
    """Debian's Chromium, headless (Playwright cannot download its own browser here)."""
    return playwright.chromium.launch(
        executable_path="/usr/bin/chromium",
        args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    )


@pytest.fixture(scope="module")
def server(seed_index):
    with serve(seed_index) as url:
        yield url


@pytest.mark.slow
def test_browser_question_dialogue_date_filter(server, tmp_path: Path):
    if not Path("/usr/bin/chromium").exists():
        pytest.fail("Debian's chromium is not installed (scripts/test.sh installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = chromium(p)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(server)
        box = page.locator("#question textarea")
        chat = page.locator("#chat")

        def ask(question: str, expect: str) -> None:
            box.fill(question)
            box.press("Enter")
            chat.get_by_text(expect).last.wait_for(timeout=120_000)

        # a question: the span emphasised, the citation named as a reader would, the article
        ask("西海岸新区首批成立了哪些产业链党建联盟？", "基因科技")
        assert chat.locator("strong", has_text="基因科技").count() >= 1
        assert "把“红色引擎”建在产业链上 · 8月11日 · 第1版" in chat.inner_text()
        page.locator("#citations label").first.click()
        article = page.locator("#article")
        article.get_by_text("第2版").first.wait_for(timeout=30_000)
        assert "把“红色引擎”建在产业链上" in article.inner_text()
        assert article.locator("mark").count() >= 1
        assert "003_f95bffb9c810cf88" not in article.inner_text()

        # a three-turn conversation after 清空对话: the follow-up is understood and answered
        page.get_by_role("button", name="清空对话").click()
        page.wait_for_function("!document.querySelector('#chat').innerText.includes('基因科技')")
        ask("变频控制产业园计划建在哪个街道？", "隐珠街道")
        ask("装备制造产业园呢？", "理解为：装备制造产业园计划建在哪个街道？")
        # answered with an emphasised span of the cited passage, highlighted in the evidence
        assert chat.locator("strong", has_text="街道").count() >= 2
        evidence = page.locator("#evidence")
        assert evidence.locator("mark", has_text="街道").count() >= 1
        assert "[1]" in evidence.inner_text()
        ask("那日韩产业园呢？", "理解为：日韩产业园计划建在哪个街道？")
        assert chat.inner_text().count("理解为") == 2
        page.screenshot(path=str(tmp_path / "dialogue.png"), full_page=True)

        # an issue question: the day's articles as a numbered list, one cited line each
        page.get_by_role("button", name="清空对话").click()
        page.wait_for_function("!document.querySelector('#chat').innerText.includes('理解为')")
        ask("8月11日的报纸有哪些报道？", "这一天的报纸共")
        assert chat.locator("ol li").count() >= 4
        assert (
            "把“红色引擎”建在产业链上 · 8月11日 · 第1版" in chat.locator("ol li").first.inner_text()
        )

        # the date filter: only 7月18日 pages, so an 8月11日 answer is not found there
        page.get_by_role("button", name="清空对话").click()
        for sel in ("#date-from", "#date-to"):
            page.locator(f"{sel} input").click()
            page.locator(f"{sel} [role=option]", has_text="7月18日").click()
        ask("西海岸新区首批成立了哪些产业链党建联盟？", "档案中没有找到答案")
        titles = [t.inner_text() for t in page.locator("#evidence .ev-title").all()]
        assert titles and all("7月18日" in t for t in titles)
        shot = tmp_path / "chat.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000
        # an empty question is a Chinese error, not a stack trace
        box.fill("")
        page.locator("#send").click()
        page.get_by_text("请输入问题").first.wait_for(timeout=30_000)
        browser.close()


@pytest.mark.slow
def test_twenty_concurrent_questions_are_all_answered(server):
    from gradio_client import Client

    client = Client(server, verbose=False)
    questions = [
        "西海岸新区首批成立了哪些产业链党建联盟？",
        "青岛自贸片区与哪家司法机构建立了联动创新战略合作？",
        "新区4项技术入选了什么目录？",
        "黄岛口岸1至7月出口商用车多少辆？",
    ] * 5

    def ask(q: str) -> tuple[float, str]:
        t0 = time.perf_counter()
        result = client.predict(q, [], 5, "", "", api_name="/ask")
        return time.perf_counter() - t0, str(result[0][-1]["content"])

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(ask, questions))
    assert len(results) == 20
    assert all(text for _, text in results)
    times = sorted(t for t, _ in results)
    p95 = times[int(0.95 * (len(times) - 1))]
    print(f"20 concurrent questions: p50 {statistics.median(times):.2f}s, p95 {p95:.2f}s")


def test_list_answers_are_shown_as_lists_and_escaped():
    cits = [citation(headline=f"报道{i}{EVIL}") for i in range(3)]
    ans = replace(
        fake_answer(cit=cits[0]),
        kind="issue",
        citations=cits,
        items=[c.title for c in cits],
        text="\n".join(c.title for c in cits),
    )
    md = format_answer(ans)
    assert "<script>" not in md and "&lt;script&gt;" in md
    lines = [ln for ln in md.splitlines() if ln[:2] in ("1.", "2.", "3.")]
    assert len(lines) == 3 and lines[1].startswith("2. 报道1") and lines[1].endswith("\\[2\\]")
    assert "共 3 篇报道" in md


def test_a_date_answer_says_how_it_was_read():
    c = citation(text="本报8月11日讯今天下午，会议召开。", start=8, end=12)
    ans = replace(
        fake_answer(cit=c, text="8月11日"),
        qtype="date",
        date_note="8月11日（今天下午，本报8月11日讯）",
    )
    md = format_answer(ans)
    assert "**答案：8月11日**" in md and "日期推算：8月11日（今天下午，本报8月11日讯）" in md
    assert "**今天下午**" in md  # the words of the page that were read, marked in the sentence


def test_a_lead_is_shown_with_its_source():
    c = citation(text="新区今天开放夜间阅读区。", start=0, end=12)
    ans = replace(fake_answer(cit=c, text=c.text), kind="lead")
    md = format_answer(ans)
    assert md.startswith("**导语：** 新区今天开放夜间阅读区") and "产业链党建联盟成立" in md


def test_illegible_scans_are_said_so_and_page_views_come_from_the_citation(tmp_path):
    from PIL import Image

    from rag.qa.records import Box
    from ui.app import LOW_CONFIDENCE_NOTE, page_views

    low = replace(citation(), illegible=0.9, boxes=(Box("p1", 10, 10, 60, 30),))
    declined = replace(fake_answer(found=False, cit=low), notice="答案所在的文字扫描不清")
    shown = format_answer(declined)
    assert "答案所在的文字扫描不清" in shown and LOW_CONFIDENCE_NOTE in shown
    assert LOW_CONFIDENCE_NOTE in format_evidence(declined)
    # the cited page with the passage shaded, the article's other page with its text; a page
    # without a picture is left out
    Image.new("RGB", (100, 50), "white").save(tmp_path / "p1.png")
    Image.new("RGB", (100, 50), "white").save(tmp_path / "p2.png")
    cite = replace(low, answer_boxes=(Box("p1", 20, 12, 40, 28),))
    images = {"p1": tmp_path / "p1.png", "p2": tmp_path / "p2.png"}
    views = page_views(
        cite, images.__getitem__, lambda aid: {"p2": (Box("p2", 5, 5, 50, 20),)}, {"p1": "第1版"}
    )
    assert [caption for _, caption in views] == ["第1版 · 引文所在页", "p2 · 本文另一部分"]
    first = views[0][0]
    assert first.getpixel((30, 20))[2] < 150  # the answer: yellow
    assert first.getpixel((12, 12))[2] > first.getpixel((12, 12))[0]  # the passage: blue
    assert first.getpixel((90, 45)) == (255, 255, 255)  # the rest untouched
    missing = page_views(cite, lambda p: (_ for _ in ()).throw(RagError("no picture")), dict, {})
    assert missing == []


def test_a_large_scan_is_shown_reduced_and_decoded_once(tmp_path, monkeypatch):
    from PIL import Image

    import rag.ingest.scans as scans
    from rag.qa.records import Box
    from ui import app

    path = tmp_path / "big.jpg"
    Image.new("RGB", (6000, 9000), "white").save(path, quality=50)
    answer = (Box("big", 3000, 4500, 3600, 4620),)
    decoded = []
    real = scans.reduced_picture
    monkeypatch.setattr(scans, "reduced_picture", lambda *a: decoded.append(a) or real(*a))
    shown = app.draw_page(path, answer, (Box("big", 600, 600, 5400, 900),))
    assert max(shown.size) == app.DISPLAY_MAX_SIDE  # not a full-size (216 MB RGBA) copy
    scale = app.DISPLAY_MAX_SIDE / 9000
    r, _, b = shown.getpixel((round(3300 * scale), round(4560 * scale)))
    assert r > 200 and b < 150  # the answer, where its boxes fall once reduced
    assert shown.getpixel((10, 10)) == (255, 255, 255)
    app.draw_page(path, (), ())
    assert len(decoded) == 1  # the reduced picture is kept for the next question


def test_the_page_cleans_gradios_cache(tmp_path):
    from ui.app import ChatService, build_app

    demo = build_app(ChatService(lambda *a: None, lambda a: None))  # type: ignore[arg-type]
    assert demo.delete_cache and demo.delete_cache[1] <= 24 * 3600
