"""Where a reply's words stand on the page image, and whether OCR could read them.

For a page read from a picture the index keeps a box and an OCR confidence per character of
the page's clean text (:mod:`rag.store.pictures`). A cited passage's characters are found in
that text through its sentences' spans (a passage joins sentences that need not stand side by
side on the page), their boxes merged into one rectangle per printed line. A span answer whose
characters OCR mostly read with low confidence is declined: the words may not be the page's.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np

from rag.ingest.layout import Box
from rag.ingest.pages import LOW_CONFIDENCE
from rag.qa.records import Answer, Citation, Hit
from rag.qa.retrieve import Runtime, get_runtime
from rag.store import pictures
from rag.store.index import default_index_dir
from rag.store.pictures import Geometry, geometry, records

ILLEGIBLE_NOTICE = "答案所在的文字扫描不清（识别置信度低），无法可靠作答。"


def passage_positions(rt: Runtime, hit: Hit) -> list[int]:
    """The page-text offset of every character of ``hit.text`` (-1 for a joining newline)."""
    index = rt.index
    if 0 <= hit.chunk_id < len(index.chunks):
        chunk = index.chunks[hit.chunk_id]
        if chunk.text == hit.text and chunk.page == hit.page:
            out: list[int] = []
            for sid in chunk.sentence_ids:
                sent = index.sentences[sid]
                if out and len(out) < len(hit.text) and hit.text[len(out)] == "\n":
                    out.append(-1)
                out.extend(range(sent.start, sent.start + len(sent.text)))
            if len(out) == len(hit.text):
                return out
    # a passage cut otherwise (a lead, a list line): its text stands from ``start`` on
    return [hit.start + i if ch != "\n" else -1 for i, ch in enumerate(hit.text)]


def line_boxes(page: str, geo: Geometry, positions: list[int]) -> tuple[Box, ...]:
    """Boxes over the characters at ``positions``: one per printed line (several along a
    skewed line, so that each stays about as tall as its characters)."""
    boxes: list[list[float]] = []  # x0, y0, x1, y1, tallest character
    n = len(geo.boxes)
    for p in positions:
        if not 0 <= p < n:
            continue
        x0, y0, x1, y1 = (float(v) for v in geo.boxes[p])
        if math.isnan(x0):
            continue
        if boxes:
            b = boxes[-1]
            h = max(b[4], y1 - y0, 1.0)
            level = abs((b[1] + b[3]) / 2 - (y0 + y1) / 2) < 0.6 * h
            # on a skewed scan a line climbs: a new box before the union grows taller
            flat = max(b[3], y1) - min(b[1], y0) <= 1.08 * h
            if level and flat and -0.5 * h <= x0 - b[2] <= 1.5 * h:
                boxes[-1] = [min(b[0], x0), min(b[1], y0), max(b[2], x1), max(b[3], y1), h]
                continue
        boxes.append([x0, y0, x1, y1, y1 - y0])
    return tuple(Box(page, *(round(v, 1) for v in b[:4])) for b in boxes)


def illegible_share(geo: Geometry, positions: list[int]) -> float | None:
    """The share of the printed characters at ``positions`` read with low OCR confidence."""
    idx = np.asarray([p for p in positions if 0 <= p < len(geo.boxes)], dtype=np.int64)
    if not len(idx):
        return None
    printed = idx[~np.isnan(geo.boxes[idx, 0])]
    if not len(printed):
        return None
    return float((geo.confidence[printed] < LOW_CONFIDENCE).mean())


def locate_citation(rt: Runtime, cite: Citation) -> Citation:
    """The citation with its boxes on the page image (unchanged for a text page)."""
    return _placed(rt, cite)[0]


def _placed(rt: Runtime, cite: Citation) -> tuple[Citation, float | None]:
    """The citation placed on its page image, and the illegible share of its answer's
    characters (None for a text page or a citation without an answer span)."""
    geo = geometry(rt.index.path, cite.page)
    if geo is None:
        return cite, None
    positions = passage_positions(rt, cite.passage)
    answer = (
        positions[cite.answer_start : cite.answer_end]
        if 0 <= cite.answer_start < cite.answer_end <= len(positions)
        else []
    )
    placed = replace(
        cite,
        boxes=line_boxes(cite.page, geo, positions),
        answer_boxes=line_boxes(cite.page, geo, answer),
        illegible=illegible_share(geo, positions),
    )
    return placed, illegible_share(geo, answer) if answer else None


def locate(rt: Runtime, reply: Answer) -> Answer:
    """``reply`` with every citation placed on its page image; a span answer resting on
    illegible OCR text is declined, its passages still cited."""
    if not records(rt.index.path):
        return reply  # an archive of text pages
    placed = [_placed(rt, c) for c in reply.citations]
    out = replace(reply, citations=[c for c, _ in placed])
    answer_share = placed[0][1] if placed else None
    if reply.found and reply.kind == "span" and answer_share is not None and answer_share > 0.5:
        return replace(out, found=False, text="", notice=ILLEGIBLE_NOTICE)
    return out


def page_image(page_id: str, index_dir: str | Path | None = None) -> Path:
    """The picture of page ``page_id`` (PNG or JPEG) kept in the index: the image it was read
    from, or its PDF page rendered once. Every :class:`~rag.qa.records.Box` is in its pixels.
    Raises :class:`~rag.errors.RagError` for a page read from text or an unknown page."""
    path = Path(index_dir) if index_dir is not None else default_index_dir()
    return pictures.page_image(path.resolve(), page_id)


def article_boxes(
    article_id: str, index_dir: str | Path | None = None
) -> dict[str, tuple[Box, ...]]:
    """Per page of an article read from pictures, the boxes of its text on that page (a
    continued article stands on several); empty for an article of text pages."""
    rt = get_runtime(index_dir)
    art = rt.index.articles[article_id]
    out: dict[str, tuple[Box, ...]] = {}
    for part in art.parts:
        geo = geometry(rt.index.path, part.page_id)
        if geo is None:
            continue
        positions = [i for para in part.paragraphs for i in range(para.start, para.end)]
        out[part.page_id] = out.get(part.page_id, ()) + line_boxes(part.page_id, geo, positions)
    return out
