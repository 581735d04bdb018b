"""The chat page: Gradio Blocks built from injected functions; no retrieval logic here.

Every piece of archive or user text shown is escaped (HTML and markdown) before it is rendered.
"""

from __future__ import annotations

import html
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.errors import RagError
from rag.ingest.articles import Article
from rag.ingest.dates import format_date
from rag.qa.query import check_date_range
from rag.qa.records import Answer, Box, Citation

NOT_FOUND = "档案中没有找到答案"
MAX_QUESTION_CHARS = 500


def _md(text: str) -> str:
    """Text shown as itself in markdown: its marks backslash-escaped, then ``& < >`` as
    entities (escaping the other way round turned ``'`` into ``&#x27;`` and then escaped the
    entity's ``#``, so readers saw ``&#x27;``; quotes are harmless outside attributes, and
    ``>`` becomes ``&gt;``, which opens no quote block)."""
    marked = re.sub(r"([\\`*_{}\[\]()#+\-.!|~])", r"\\\1", text)
    return html.escape(marked, quote=False).replace("\n", " ")


def format_answer(answer: Answer) -> str:
    """The chat reply for an answer, as escaped markdown."""
    resolved = answer.resolved_question
    understood = f"*理解为：{_md(resolved)}*" if resolved and resolved != answer.question else ""
    if not answer.found:
        lines = [f"**{NOT_FOUND}**。以下是最接近的段落："]
        if answer.notice:
            lines.insert(0, f"**{_md(answer.notice)}**")
        if understood:
            lines.insert(0, understood)
        for i, c in enumerate(answer.citations[:3], 1):
            lines.append(f"\\[{i}\\] {_md(cite_title(c))}")
        return "\n\n".join(lines)
    if answer.kind in LIST_KINDS:
        return _format_list(answer, understood)
    if answer.kind == "lead":
        lines = [f"**导语：** {_md(answer.text)} \\[1\\]", "出处："]
        if understood:
            lines.insert(0, understood)
        lines += [f"\\[{i}\\] {_md(cite_title(c))}" for i, c in enumerate(answer.citations, 1)]
        return "\n\n".join(lines)
    sentence = answer.sentence
    # the words the citation marks: the answer itself, or the relative date it was read from
    first = answer.citations[0] if answer.citations else None
    marked = answer.text
    if first is not None and 0 <= first.answer_start < first.answer_end <= len(first.text):
        marked = first.text[first.answer_start : first.answer_end]
    at = sentence.find(marked)
    if at >= 0:
        shown = _md(sentence[:at]) + f"**{_md(marked)}**" + _md(sentence[at + len(marked) :])
    else:
        shown = f"**{_md(answer.text)}**"
    lines = [f"**答案：{_md(answer.text)}**", f"原文：{shown} \\[1\\]", "出处："]
    if answer.date_note:
        lines.insert(1, f"日期推算：{_md(answer.date_note)}")
    if understood:
        lines.insert(0, understood)
    for i, c in enumerate(answer.citations, 1):
        lines.append(f"\\[{i}\\] {_md(cite_title(c))}")
    return "\n\n".join(lines)


LOW_CONFIDENCE_NOTE = "（扫描件识别置信度低，请对照原版页面）"


def cite_title(c: Citation) -> str:
    """A citation's title, with a warning when OCR read most of its passage unsurely."""
    return c.title + (LOW_CONFIDENCE_NOTE if c.low_confidence else "")


LIST_KINDS = frozenset({"issue", "articles"})
_LIST_HEADS = {"issue": "这一天的报纸共 {n} 篇报道：", "articles": "相关报道 {n} 篇："}


def _format_list(answer: Answer, understood: str) -> str:
    """A list answer (an issue's articles, a topic's coverage) as a numbered markdown list,
    one cited line each."""
    head = _LIST_HEADS.get(answer.kind, "{n} 条：").format(n=len(answer.items))
    lines = [f"**{head}**"]
    if understood:
        lines.insert(0, understood)
    items = "\n".join(f"{i}. {_md(item)} \\[{i}\\]" for i, item in enumerate(answer.items, 1))
    return "\n\n".join([*lines, items])


def _highlight(text: str, start: int, end: int) -> str:
    if 0 <= start < end <= len(text):
        return (
            html.escape(text[:start])
            + "<mark>"
            + html.escape(text[start:end])
            + "</mark>"
            + html.escape(text[end:])
        )
    return html.escape(text)


def format_evidence(answer: Answer | None) -> str:
    """The evidence panel: cited passages with the answer span highlighted (escaped HTML)."""
    if answer is None:
        return "<p class='ev-empty'>提问后，这里显示引用的原文段落。</p>"
    parts = []
    if not answer.found:
        parts.append(f"<p><strong>{NOT_FOUND}</strong>，以下是最接近的段落。</p>")
    for i, c in enumerate(answer.citations, 1):
        body = _highlight(c.text, c.answer_start, c.answer_end).replace("\n", "<br>")
        parts.append(
            f"<div class='ev-item'><div class='ev-title'>[{i}] {html.escape(cite_title(c))}"
            f"</div><div class='ev-text'>{body}</div></div>"
        )
    return "\n".join(parts)


def format_article(
    article: Article, citation: Citation | None = None, labels: Mapping[str, str] | None = None
) -> str:
    """A whole clean article (every page it spans) with the cited passage highlighted.

    ``labels`` names pages as a reader would (``第2版``); page ids are shown otherwise."""
    labels = labels or {}

    def name(page_id: str) -> str:
        return labels.get(page_id) or f"版面 {page_id}"

    head = html.escape(article.headline or f"{article.label}（无标题）")
    meta = " · ".join(
        x
        for x in (
            "、".join(name(p) for p in article.pages),
            format_date(article.date),
            article.byline or "",
        )
        if x
    )
    out = [f"<h3 class='art-title'>{head}</h3>"]
    if article.other_titles:
        out.append(f"<p class='art-kicker'>{html.escape(' / '.join(article.other_titles))}</p>")
    out.append(f"<p class='art-meta'>{html.escape(meta)}</p>")
    for part in article.parts:
        out.append(f"<p class='art-page'>— {html.escape(name(part.page_id))} —</p>")
        for para in part.paragraphs:
            text = para.text
            if citation is not None and citation.page == part.page_id:
                passage = citation.text
                at = text.find(passage) if passage in text else -1
                if at >= 0:
                    out.append(f"<p>{_highlight(text, at, at + len(passage))}</p>")
                    continue
                # a passage spanning paragraphs: highlight each paragraph inside it
                if text and text in passage:
                    out.append(f"<p><mark>{html.escape(text)}</mark></p>")
                    continue
            out.append(f"<p>{html.escape(text)}</p>")
    return "\n".join(out)


@dataclass
class ChatTurnResult:
    """What one question produces for the page."""

    history: list[dict[str, str]]
    evidence: str
    choices: list[str]
    answer: Answer | None = None
    turns: list[tuple[str, Answer]] = field(default_factory=list)  # the conversation so far
    views: list[tuple[Any, str]] = field(default_factory=list)  # page images, with captions


# the answer's words: a yellow fill with an orange edge; the rest of the passage (and of the
# article on its other pages) shaded blue
ANSWER_FILL = (255, 210, 0, 120)
ANSWER_EDGE = (235, 90, 0, 255)
PASSAGE_FILL = (40, 120, 255, 48)


# A page is shown at most this many pixels on its long side (full screen on a 4K display):
# a 6000x9000 scan is 200 MB as RGBA, its view 11 MB. Reduced pictures are kept for the last
# few pages shown, so a page asked about again is not decoded again.
DISPLAY_MAX_SIDE = 2400
_REDUCED_KEPT = 12
_reduced: OrderedDict[tuple[str, int], tuple[Any, float]] = OrderedDict()
_reduced_lock = threading.Lock()


def display_picture(image: Path) -> tuple[Any, float]:
    """The page picture reduced for display (shared: copy it before drawing) and its scale
    from the picture's pixels (where boxes stand)."""
    from rag.ingest.scans import reduced_picture

    key = (str(image), image.stat().st_mtime_ns)
    with _reduced_lock:
        if key in _reduced:
            _reduced.move_to_end(key)
            return _reduced[key]
    reduced = reduced_picture(image, DISPLAY_MAX_SIDE)
    with _reduced_lock:
        _reduced[key] = reduced
        while len(_reduced) > _REDUCED_KEPT:
            _reduced.popitem(last=False)
    return reduced


def draw_page(image: Path, answer_boxes: Sequence[Box], shaded: Sequence[Box]) -> Any:
    """The page image, reduced for display, with the passage shaded and the answer highlighted
    (a PIL image)."""
    from PIL import Image, ImageDraw

    base, scale = display_picture(image)
    layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    pad = 2

    def rect(b: Box) -> tuple[float, float, float, float]:
        return (b.x0 * scale - pad, b.y0 * scale - pad, b.x1 * scale + pad, b.y1 * scale + pad)

    for b in shaded:
        draw.rectangle(rect(b), fill=PASSAGE_FILL)
    for b in answer_boxes:
        draw.rectangle(rect(b), fill=ANSWER_FILL, outline=ANSWER_EDGE, width=3)
    shown = base.convert("RGBA")
    shown.alpha_composite(layer)
    return shown.convert("RGB")


def page_views(
    cite: Citation,
    image_of: Callable[[str], Path],
    article_boxes_of: Callable[[str], dict[str, tuple[Box, ...]]],
    labels: Mapping[str, str],
) -> list[tuple[Any, str]]:
    """The pictures of every page of a cited article: on the cited page the answer
    highlighted and the passage shaded, on the article's other pages its text shaded. Pages
    read from text have no picture and are left out."""
    views: list[tuple[Any, str]] = []
    others: dict[str, tuple[Box, ...]] | None = None
    for page in cite.pages or (cite.page,):
        name = labels.get(page, page)
        try:
            path = image_of(page)
            if page == cite.page:
                views.append(
                    (draw_page(path, cite.answer_boxes, cite.boxes), f"{name} · 引文所在页")
                )
                continue
            if others is None:
                others = article_boxes_of(cite.article_id)
            views.append((draw_page(path, (), others.get(page, ())), f"{name} · 本文另一部分"))
        except (RagError, OSError):
            continue  # a picture gone or unreadable: the text citation stands alone
    return views


AnswerFn = Callable[[str, int, list[tuple[str, Answer]], tuple[str | None, str | None]], Answer]
MAX_TURNS = 6  # earlier turns passed on to resolve a follow-up


@dataclass
class ChatService:
    """The page's behaviour, separated from Gradio so it can be tested with fakes.

    ``answer_fn(question, k, history, date_range)`` answers one question given the earlier
    turns of the conversation, oldest first.
    """

    answer_fn: AnswerFn
    article_fn: Callable[[str], Article]
    page_labels: Mapping[str, str] = field(default_factory=dict)  # page id -> 第N版
    errors: tuple[type[BaseException], ...] = (ValueError, RagError)
    image_fn: Callable[[str], Path] | None = None  # page id -> its picture (rag.page_image)
    article_boxes_fn: Callable[[str], dict[str, tuple[Box, ...]]] | None = None

    def ask(
        self,
        question: str,
        history: list[dict[str, str]] | None,
        k: int,
        turns: list[tuple[str, Answer]] | None = None,
        date_from: str | None = None,
        date_to: str | None = None,
    ) -> ChatTurnResult:
        """Answer a question in its conversation and append the turn to the chat history.

        Raises ``ValueError`` with a Chinese message for an empty or over-long question or
        a date range that ends before it starts.
        """
        q = (question or "").strip()
        if not q:
            raise ValueError("请输入问题。")
        if len(q) > MAX_QUESTION_CHARS:
            raise ValueError(
                f"问题太长（{len(q)} 个字符），请控制在 {MAX_QUESTION_CHARS} 个字符以内。"
            )
        start, end = (date_from or None), (date_to or None)
        check_date_range((start, end))  # a reversed range is refused, with or without years
        earlier = list(turns or [])[-MAX_TURNS:]
        ans = self.answer_fn(q, int(k), earlier, (start, end))
        history = [*list(history or []), {"role": "user", "content": _md(q)}]
        history.append({"role": "assistant", "content": format_answer(ans)})
        choices = [f"[{i}] {c.title}" for i, c in enumerate(ans.citations, 1)]
        return ChatTurnResult(
            history,
            format_evidence(ans),
            choices,
            ans,
            [*earlier, (q, ans)],
            self.views(ans, None),
        )

    def views(self, answer: Answer | None, choice: str | None) -> list[tuple[Any, str]]:
        """Page pictures of the chosen citation (the first one when none is chosen)."""
        if answer is None or not answer.citations or self.image_fn is None:
            return []
        c = self._cited(answer, choice) if choice else answer.citations[0]
        if c is None or not c.boxes:
            return []
        boxes_of = self.article_boxes_fn or (lambda _article_id: {})
        return page_views(c, self.image_fn, boxes_of, self.page_labels)

    @staticmethod
    def _cited(answer: Answer, choice: str) -> Citation | None:
        m = re.match(r"\[(\d+)\]", choice)
        if not m or not 1 <= int(m.group(1)) <= len(answer.citations):
            return None
        return answer.citations[int(m.group(1)) - 1]

    def show(self, answer: Answer | None, choice: str | None) -> str:
        """The article behind the chosen citation (``choice`` is one of the labels)."""
        if answer is None or not choice:
            return ""
        c = self._cited(answer, choice)
        if c is None:
            return ""
        return format_article(self.article_fn(c.article_id), c, self.page_labels)


CSS = """
.ev-item {margin-bottom: 0.8em; padding: 0.5em; border-left: 3px solid #c33;}
.ev-title, .art-title {font-weight: bold;}
mark {background: #ffe066;}
.art-meta, .art-page, .art-kicker {color: #666; font-size: 0.9em;}
"""


def date_choices(dates: list[str]) -> list[tuple[str, str]]:
    """Dropdown choices for the date filter: ``全部`` then the archive's dates."""
    return [("全部", ""), *[(format_date(d) or d, d) for d in dates]]


def build_app(
    service: ChatService,
    summary: str = "",
    examples: list[str] | None = None,
    dates: list[str] | None = None,
    page_images: bool = True,
) -> Any:
    """The Gradio Blocks of the chat page (``page_images``: the archive has page pictures, so
    the page view with the highlighted answer is shown)."""
    import gradio as gr

    # page views are written to Gradio's cache for every question: files older than an hour
    # are deleted every ten minutes
    with gr.Blocks(title="报纸档案问答", delete_cache=(600, 3600)) as demo:
        gr.Markdown("# 报纸档案问答")
        if summary:
            gr.Markdown(_md(summary))
        state = gr.State(None)
        turns = gr.State([])
        with gr.Row():
            with gr.Column(scale=3):
                chat = gr.Chatbot(label="问答", height=520, sanitize_html=True, elem_id="chat")
                question = gr.Textbox(
                    label="问题",
                    placeholder="用中文提问，例如：某项工作是哪天召开会议部署的？",
                    elem_id="question",
                )
                with gr.Row():
                    send = gr.Button("提问", variant="primary", elem_id="send")
                    clear = gr.Button("清空对话")
                k = gr.Slider(1, 10, value=5, step=1, label="显示的段落数")
                with gr.Row():
                    choices = date_choices(dates or [])
                    date_from = gr.Dropdown(
                        choices, value="", label="起始日期", elem_id="date-from"
                    )
                    date_to = gr.Dropdown(choices, value="", label="结束日期", elem_id="date-to")
                if examples:
                    gr.Examples(
                        examples=[[e] for e in examples], inputs=[question], label="示例问题"
                    )
            with gr.Column(scale=2):
                pictures = gr.Gallery(
                    label="原版页面（黄色为答案，蓝色为引文；点击放大）",
                    columns=1,
                    height=560,
                    format="png",
                    object_fit="contain",
                    allow_preview=True,
                    preview=True,
                    buttons=["fullscreen", "download"],
                    elem_id="page-images",
                    visible=page_images,
                )
                gr.Markdown("### 引用的原文")
                evidence = gr.HTML(format_evidence(None), elem_id="evidence")
                cites = gr.Radio(choices=[], label="点击引用查看全文", elem_id="citations")
                article = gr.HTML("", elem_id="article")

        def on_ask(  # type: ignore[no-untyped-def]
            q: str,
            history: list[dict[str, str]] | None,
            kk: int,
            start: str | None,
            end: str | None,
            earlier: list[tuple[str, Answer]] | None,
        ):
            try:
                r = service.ask(q, history, kk, earlier, start, end)
            except service.errors as exc:
                raise gr.Error(_chinese_error(exc)) from None
            return (
                r.history,
                r.evidence,
                gr.update(choices=r.choices, value=None),
                "",
                r.answer,
                "",
                r.turns,
                # opened on the cited page, large
                gr.update(value=r.views, selected_index=0 if r.views else None),
            )

        inputs = [question, chat, k, date_from, date_to, turns]
        outputs = [chat, evidence, cites, article, state, question, turns, pictures]
        send.click(on_ask, inputs, outputs, api_name="ask")
        question.submit(on_ask, inputs, outputs, api_visibility="private")
        cites.change(service.show, [state, cites], [article], api_visibility="private")
        cites.change(
            lambda a, c: gr.update(
                value=(v := service.views(a, c)), selected_index=0 if v else None
            ),
            [state, cites],
            [pictures],
            api_visibility="private",
        )
        clear.click(
            lambda: (
                [],
                format_evidence(None),
                gr.update(choices=[], value=None),
                "",
                None,
                [],
                [],
            ),
            None,
            [chat, evidence, cites, article, state, turns, pictures],
        )
    return demo


def _chinese_error(exc: BaseException) -> str:
    from rag.errors import IndexMismatchError, IndexMissingError, ModelError

    if isinstance(exc, IndexMissingError):
        return "还没有索引，请先运行 rag build seeds 建立索引。"
    if isinstance(exc, IndexMismatchError):
        return "索引与当前版本或模型不一致，请运行 rag build seeds --full 重建索引。"
    if isinstance(exc, ModelError):
        return "模型无法加载，请检查安装（详见命令行输出）。"
    text = str(exc)
    # our ValueErrors carry a Chinese message first, an English gloss in brackets after it
    return (
        text.split(" (")[0]
        if re.search(r"[\u4e00-\u9fff]", text)
        else "问题无法处理，请换一种问法。"
    )
