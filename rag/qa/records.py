"""What answering hands back: passages (:class:`Hit`), citations that hold their passage
(:class:`Citation`) and the reply (:class:`Answer`). Field names are the public contract."""

from __future__ import annotations

from dataclasses import dataclass, field

from rag.ingest.dates import format_date
from rag.ingest.layout import Box


def page_label(page: str, number: int | None, edition: str | None) -> str:
    """``第1版`` (with the edition's name before it when known); the page id when unknown."""
    if number is not None:
        return f"{edition} 第{number}版" if edition else f"第{number}版"
    return f"{edition} 版面 {page}" if edition else f"版面 {page}"


@dataclass(frozen=True)
class Hit:
    """One retrieved passage."""

    text: str  # verbatim passage
    page: str  # page id of the page the passage stands on
    pages: tuple[str, ...]  # every page of its article
    headline: str | None
    label: str  # headline, or a label from the article's first words
    article_id: str
    score: float
    chunk_id: int
    start: int  # span of ``text`` in the clean text of ``page``
    end: int
    date: str | None = None
    page_number: int | None = None  # the page's number in its issue (第N版), when known
    edition: str | None = None

    @property
    def date_text(self) -> str:
        """The date for display (``9月3日``), empty when unknown."""
        return format_date(self.date)

    @property
    def page_label(self) -> str:
        """How a reader of the paper names the page: ``第1版``, else the page id."""
        return page_label(self.page, self.page_number, self.edition)

    @property
    def title(self) -> str:
        """What a reader would cite: ``headline · 9月3日 · 第1版``."""
        head = self.headline or f"{self.label}（无标题）"
        return " · ".join(x for x in (head, self.date_text, self.page_label) if x)


@dataclass(frozen=True)
class Citation:
    """Where an answer (or a passage considered for it) stands: the passage itself, and the
    answer's offsets inside its text (-1 when the answer is not in it)."""

    passage: Hit
    answer_start: int = -1
    answer_end: int = -1
    # On a page read from a picture (a PDF page, a scan): the answer's and the passage's
    # boxes on the image ``rag.page_image(page)`` returns, one per printed line; the share of
    # the passage's characters that OCR read with low confidence. Empty / None on text pages.
    answer_boxes: tuple[Box, ...] = ()
    boxes: tuple[Box, ...] = ()
    illegible: float | None = None

    @property
    def low_confidence(self) -> bool:
        """Most of the passage was read by OCR with low confidence."""
        return self.illegible is not None and self.illegible > 0.5

    # the passage's fields, read through (a citation never copies them)
    page = property(lambda self: self.passage.page, doc="Page id of the passage.")
    pages = property(lambda self: self.passage.pages, doc="Every page of its article.")
    headline = property(lambda self: self.passage.headline, doc="The article's headline.")
    label = property(lambda self: self.passage.label, doc="Headline, or the first words.")
    date = property(lambda self: self.passage.date, doc="The article's date.")
    text = property(lambda self: self.passage.text, doc="The passage, verbatim.")
    article_id = property(lambda self: self.passage.article_id, doc="Its article.")
    chunk_id = property(lambda self: self.passage.chunk_id, doc="Its chunk in the index.")
    page_number = property(lambda self: self.passage.page_number, doc="第N版, when known.")
    edition = property(lambda self: self.passage.edition, doc="The edition, when known.")
    date_text = property(lambda self: self.passage.date_text, doc="The date for display.")
    page_label = property(lambda self: self.passage.page_label, doc="``第1版`` or the page id.")
    title = property(lambda self: self.passage.title, doc="``headline · 9月3日 · 第1版``.")


@dataclass(frozen=True)
class Answer:
    """The reply to a question."""

    question: str
    found: bool
    text: str  # the extractive answer ("" when not found)
    sentence: str  # the sentence holding it
    qtype: str
    citations: list[Citation] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list)
    score: float = 0.0
    resolved_question: str = ""  # what was searched (the question itself unless rewritten)
    reader: str = ""  # which extractor cut the span ("rules" or the reader's name)
    kind: str = "span"  # span | lead | issue | articles: which kind of answer this is
    items: list[str] = field(default_factory=list)  # a list answer's lines, one per citation
    date_note: str = ""  # how a date answer was read: ``9月3日（今天下午，本报9月3日讯）``
    notice: str = ""  # why a found-looking answer was declined (e.g. illegible scan text)
