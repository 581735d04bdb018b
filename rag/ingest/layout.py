"""Reading order of a page image: text lines with character boxes into the text of a page file.

A scanned or PDF page arrives as text lines, each with a box per character (from the PDF's text
layer or from OCR). This module undoes a small skew, orders the lines by a recursive XY-cut and
writes them out as the plain text the page reader cleans (:mod:`rag.ingest.pages`): one line per
printed line, a blank line between layout blocks, an indented line (two ideographic spaces) where
a paragraph starts. Every character of that text keeps its box on the image and the confidence of
its line, so the clean text maps back to the page image.

The XY-cut prefers, in turn: a wide horizontal gap (between bands of articles), a vertical gap
whose two sides start at the same height (columns, or articles side by side), then any
horizontal gap taller than a line's gap (a headline above its columns). A vertical gap beside a
headline that stands higher than the column next to it is not a column break.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

INDENT = "\u3000\u3000"


@dataclass(frozen=True)
class Box:
    """A rectangle on a page image, in the pixels of :func:`rag.page_image`'s picture."""

    page: str
    x0: float
    y0: float
    x1: float
    y1: float


@dataclass(frozen=True)
class Line:
    """A printed line: its characters, a box per character and the line's confidence."""

    text: str
    boxes: tuple[tuple[float, float, float, float], ...]  # x0, y0, x1, y1 per character
    confidence: float = 1.0


@dataclass(frozen=True)
class PageText:
    """What a page image reads as: page-file text with a box and a confidence per character
    (NaN boxes for the spaces and newlines the layout wrote)."""

    raw: str
    boxes: np.ndarray  # (len(raw), 4) float32
    confidence: np.ndarray  # (len(raw),) float32
    skew_degrees: float = 0.0


# ----------------------------------------------------------------------------- geometry


def skew_of(lines: Sequence[Line]) -> float:
    """The page's skew in degrees: the median slope of long lines' character centres."""
    slopes = []
    for ln in lines:
        if len(ln.boxes) < 6:
            continue
        a = np.asarray(ln.boxes)
        xs, ys = (a[:, 0] + a[:, 2]) / 2, (a[:, 1] + a[:, 3]) / 2
        if np.ptp(xs) <= 0:
            continue
        slopes.append(float(np.polyfit(xs, ys, 1)[0]))
    return math.degrees(math.atan(float(np.median(slopes)))) if slopes else 0.0


def _deskewed(lines: Sequence[Line], degrees: float) -> list[tuple[float, float, float, float]]:
    """Each line's box after rotating its character centres by ``-degrees``."""
    rad = math.radians(degrees)
    cos, sin = math.cos(rad), math.sin(rad)
    out = []
    for ln in lines:
        a = np.asarray(ln.boxes, dtype=np.float64)
        cx, cy = (a[:, 0] + a[:, 2]) / 2, (a[:, 1] + a[:, 3]) / 2
        half_w, half_h = (a[:, 2] - a[:, 0]) / 2, (a[:, 3] - a[:, 1]) / 2
        rx, ry = cx * cos + cy * sin, -cx * sin + cy * cos
        out.append(
            (
                float((rx - half_w).min()),
                float((ry - half_h).min()),
                float((rx + half_w).max()),
                float((ry + half_h).max()),
            )
        )
    return out


def _gaps(intervals: list[tuple[float, float]], min_gap: float) -> list[tuple[float, float]]:
    """Empty stretches at least ``min_gap`` wide between the union of ``intervals``."""
    out = []
    spans = sorted(intervals)
    reach = spans[0][1]
    for a, b in spans[1:]:
        if a - reach >= min_gap:
            out.append((reach, a))
        reach = max(reach, b)
    return out


def xy_cut(boxes: list[tuple[float, float, float, float]], line_h: float) -> list[list[int]]:
    """Blocks of line indexes in reading order (see the module's docstring)."""
    order: list[list[int]] = []
    _cut(list(range(len(boxes))), boxes, line_h, order)
    return order


def _split(idx: list[int], boxes, axis: int, at: list[float]) -> list[list[int]]:  # type: ignore[no-untyped-def]
    parts: list[list[int]] = [[] for _ in range(len(at) + 1)]
    for i in idx:
        centre = (boxes[i][axis] + boxes[i][axis + 2]) / 2
        parts[sum(1 for c in at if centre > c)].append(i)
    return [p for p in parts if p]


def _columns(
    idx: list[int], boxes, gaps: list[tuple[float, float]], line_h: float
) -> list[list[int]]:  # type: ignore[no-untyped-def]
    """Cut at every vertical gap when no piece starts with a headline over the others' tops;
    else at the widest (then leftmost) single gap where neither side does; else nothing."""
    if not gaps:
        return []

    def level(parts: list[list[int]]) -> bool:
        # no piece may start with a headline (a line taller than the body's) standing above
        # where another piece starts: the columns under it belong to it
        firsts = [min(p, key=lambda i: boxes[i][1]) for p in parts]
        lowest = max(boxes[i][1] for i in firsts)
        return not any(
            boxes[i][3] - boxes[i][1] > 1.3 * line_h and lowest - boxes[i][1] > 0.9 * line_h
            for i in firsts
        )

    parts = _split(idx, boxes, 0, [(a + b) / 2 for a, b in gaps])
    if level(parts):
        return parts
    for a, b in sorted(gaps, key=lambda g: (-(g[1] - g[0]) // (0.25 * line_h), g[0])):
        parts = _split(idx, boxes, 0, [(a + b) / 2])
        if len(parts) == 2 and level(parts):
            return parts
    return []


def _cut(idx: list[int], boxes, line_h: float, order: list[list[int]]) -> None:  # type: ignore[no-untyped-def]
    if len(idx) <= 1:
        order.append(idx)
        return
    ys = [(boxes[i][1], boxes[i][3]) for i in idx]
    wide = _gaps(ys, 1.8 * line_h)
    if wide:
        for p in _split(idx, boxes, 1, [(a + b) / 2 for a, b in wide]):
            _cut(p, boxes, line_h, order)
        return
    # columns, perhaps under a few lines standing across them (a headline, a long byline):
    # those lines come first, each a block of its own
    by_top = sorted(idx, key=lambda i: boxes[i][1])
    best: tuple[list[int], list[list[int]]] | None = None
    for k in range(min(3, len(idx) - 2) + 1):
        head, body = by_top[:k], by_top[k:]
        if head and max(boxes[i][3] for i in head) > min(boxes[i][1] for i in body) + 0.3 * line_h:
            break
        xs = [(boxes[i][0], boxes[i][2]) for i in body]
        parts = _columns(body, boxes, _gaps(xs, 0.7 * line_h), line_h)
        if len(parts) >= 2 and (best is None or len(parts) > len(best[1])):
            best = (head, parts)
    if best is not None:
        order.extend([i] for i in best[0])
        for p in best[1]:
            _cut(p, boxes, line_h, order)
        return
    rows = _gaps(ys, 0.9 * line_h)
    parts = _split(idx, boxes, 1, [(a + b) / 2 for a, b in rows]) if rows else []
    if len(parts) <= 1:
        order.append(sorted(idx, key=lambda i: (boxes[i][1], boxes[i][0])))
        return
    for p in parts:
        _cut(p, boxes, line_h, order)


# ----------------------------------------------------------------------------- page text


def page_text(lines: Sequence[Line]) -> PageText:
    """Lines in reading order as page-file text, with a box and confidence per character."""
    lines = [ln for ln in lines if ln.text and len(ln.boxes) == len(ln.text)]
    if not lines:
        return PageText("", np.zeros((0, 4), np.float32), np.zeros(0, np.float32))
    skew = skew_of(lines)
    boxes = _deskewed(lines, skew)
    heights = sorted(b[3] - b[1] for b in boxes)
    line_h = heights[len(heights) // 2]
    chars: list[str] = []
    char_boxes: list[tuple[float, float, float, float]] = []
    conf: list[float] = []
    nan = (math.nan,) * 4

    def put(text: str, bxs: Sequence[tuple[float, float, float, float]], c: float) -> None:
        chars.extend(text)
        char_boxes.extend(bxs)
        conf.extend([c] * len(text))

    for block in xy_cut(boxes, line_h):
        left = min(boxes[i][0] for i in block)
        for i in block:
            ln = lines[i]
            tall = boxes[i][3] - boxes[i][1] > 1.3 * line_h  # a headline is centred, not indented
            if boxes[i][0] - left >= 1.2 * line_h and not tall:
                put(INDENT, [nan, nan], 1.0)
            put(ln.text, ln.boxes, ln.confidence)
            put("\n", [nan], 1.0)
        put("\n", [nan], 1.0)
    return PageText(
        "".join(chars),
        np.asarray(char_boxes, dtype=np.float32).reshape(-1, 4),
        np.asarray(conf, dtype=np.float32),
        skew,
    )


def lines_of_chars(
    chars: Sequence[tuple[str, tuple[float, float, float, float]]],
) -> list[Line]:
    """Group a PDF text layer's characters (in drawing order) into printed lines: a character
    joins the line before it when it stands level with it and close after it."""
    lines: list[Line] = []
    text: list[str] = []
    bxs: list[tuple[float, float, float, float]] = []

    def close() -> None:
        if text:
            lines.append(Line("".join(text), tuple(bxs)))
        text.clear()
        bxs.clear()

    for ch, box in chars:
        if ch in "\r\n" or ch.isspace():
            continue
        if bxs:
            _px0, py0, px1, py1 = bxs[-1]
            h = max(py1 - py0, box[3] - box[1], 1e-6)
            level = abs((py0 + py1) / 2 - (box[1] + box[3]) / 2) < 0.5 * h
            near = -0.3 * h <= box[0] - px1 <= 0.6 * h
            if not (level and near):
                close()
        text.append(ch)
        bxs.append(box)
    close()
    return lines
