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

When the page's picture was looked at (:mod:`rag.ingest.marks`), printed marks come first:
a rule, a frame's side or a panel's or photo's edge that runs across a region and that no line
crosses cuts it before any whitespace does (across first, then down), and a line that runs over
a vertical rule (OCR joins neighbouring columns over a narrow gutter) is cut in two there. Text
read inside a photo is the photo's, not the page's; a caption under a photo is read after the
article around it. The page header above the first rule across the page is furniture, kept
apart from the articles. Lines set vertically (taller than wide) head the region they stand in,
and a line printed at headline size (:data:`HEADLINE_SIZE` times the body's) is marked as a
title (``## ``) for the page reader.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

INDENT = "\u3000\u3000"
HEADLINE_SIZE = 1.45  # a line this many times the body's height is printed as a headline
VERTICAL_RATIO = 2.0  # a line box this many times taller than wide is set vertically
SPAN = 0.7  # a mark cuts a region when it runs along this share of the region
TITLE = "## "  # how the page reader (rag.ingest.pages) knows a title line
RULE_LINE = "\f"  # and a printed rule between articles (a line of its own)
# a white channel this many lines tall parts the lines OCR joined over it; a shorter one only
# where the line's characters stand apart (blanks of one column can line up for a few lines)
TRUSTED_GUTTER = 8.0
SHORT_GUTTER_GAP = 1.0  # a shorter one cuts where the characters stand this far apart (ems)
CAPTION_LINE = "\v"  # and a photo's caption (a line of its own before the caption's lines)
CAPTION = -3  # an item of the line sequence that stands before a caption
FLAG_CHARS = 8  # a section flag is at most this long
RULE = -2  # an item of the line sequence that stands for a rule


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
    furniture: str = ""  # the page header (page number, section, date), kept out of ``raw``


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


@dataclass
class _Cuts:
    """What the XY-cut looks at besides the lines' boxes: printed separators across and down
    (x0, y0, x1, y1), lines set vertically, captions to be read after their region."""

    hseps: list = field(default_factory=list)
    vseps: list = field(default_factory=list)
    vertical: set = field(default_factory=set)
    captions: dict = field(default_factory=dict)  # line index -> not yet placed
    # the narrowest gap between columns, in line heights: narrow gutters are told apart when
    # the picture was looked at (lines joined across them are cut already)
    column_gap: float = 0.7
    gutters: list = field(default_factory=list)  # white channels between columns (x0, y0, x1, y1)


def xy_cut(
    boxes: list[tuple[float, float, float, float]], line_h: float, cuts: _Cuts | None = None
) -> list[list[int]]:
    """Blocks of line indexes in reading order (see the module's docstring)."""
    order: list[list[int]] = []
    cuts = cuts or _Cuts()
    idx = [i for i in range(len(boxes)) if i not in cuts.captions]
    _cut(idx, boxes, line_h, order, cuts, True)
    rest = sorted(cuts.captions, key=lambda i: (boxes[i][1], boxes[i][0]))
    if rest:
        order += [[CAPTION], rest]
    return order


def _mark_cuts(idx: list[int], boxes, seps: list, axis: int) -> list[float]:  # type: ignore[no-untyped-def]
    """Where separators running along ``axis`` (0: across, 1: down) cut the region of ``idx``:
    along at least :data:`SPAN` of it, inside it, and crossing none of its lines."""
    lo = min(boxes[i][axis] for i in idx)
    hi = max(boxes[i][axis + 2] for i in idx)
    o = 1 - axis  # the axis the separator stands on
    olo = min(boxes[i][o] for i in idx)
    ohi = max(boxes[i][o + 2] for i in idx)
    out: list[float] = []
    for sep in seps:
        at = (sep[o] + sep[o + 2]) / 2
        if not olo < at < ohi:
            continue
        if min(sep[axis + 2], hi) - max(sep[axis], lo) < SPAN * (hi - lo):
            continue
        if any(boxes[i][o] < at < boxes[i][o + 2] for i in idx):
            continue
        if all(abs(at - c) > 1.0 for c in out):
            out.append(at)
    return sorted(out)


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


def _cut(
    idx: list[int], boxes, line_h: float, order: list[list[int]], cuts: _Cuts, marked: bool
) -> None:  # type: ignore[no-untyped-def]
    if not idx:
        return
    if marked:
        # printed marks first: across (rules between bands of articles), then down
        for axis in (0, 1):
            seps = cuts.hseps if axis == 0 else cuts.vseps
            at = _mark_cuts(idx, boxes, seps, axis) if seps else []
            parts = _split(idx, boxes, 1 - axis, at) if at else []
            if len(parts) > 1:
                for n, p in enumerate(parts):
                    if n:
                        order.append([])  # a rule: the page reader parts articles here
                    _cut(p, boxes, line_h, order, cuts, True)
                return
        # a region no mark cuts: its vertical lines head it, its photo's caption closes it
        # right column first, each read top to bottom
        heads = sorted(
            (i for i in idx if i in cuts.vertical),
            key=lambda i: (-round(boxes[i][2] / line_h), boxes[i][1]),
        )
        box = _bounds(idx, boxes)
        mine = [
            i
            for i in list(cuts.captions)
            if box[0] <= (boxes[i][0] + boxes[i][2]) / 2 <= box[2]
            and box[1] <= (boxes[i][1] + boxes[i][3]) / 2 <= box[3]
        ]
        for i in mine:
            del cuts.captions[i]
        order.extend([i] for i in heads)
        _cut([i for i in idx if i not in cuts.vertical], boxes, line_h, order, cuts, False)
        if mine:
            order.append([CAPTION])
            order.append(sorted(mine, key=lambda i: (boxes[i][1], boxes[i][0])))
        return
    _whitespace_cut(idx, boxes, line_h, order, cuts)


def _gutter_gaps(idx: list[int], boxes, line_h: float, gutters: list, gaps: list) -> list:  # type: ignore[no-untyped-def,type-arg]
    """Gutters seen on the picture that part the lines of ``idx`` into columns: running down
    most of their height, and no line reaching far over them on both sides (OCR's character
    boxes stand a little off, so a line may touch one)."""
    x0, y0, x1, y1 = _bounds(idx, boxes)
    out: list[tuple[float, float]] = []
    for g in gutters:
        at = (g[0] + g[2]) / 2
        if not x0 + line_h < at < x1 - line_h:
            continue
        if min(g[3], y1) - max(g[1], y0) < 0.6 * (y1 - y0):
            continue
        if any(a <= at <= b for a, b in gaps) or any(
            abs(at - (a + b) / 2) < line_h for a, b in out
        ):
            continue
        if any(boxes[i][0] < at - 0.5 * line_h and boxes[i][2] > at + 0.5 * line_h for i in idx):
            continue
        out.append((at - 0.5, at + 0.5))
    return out


def _bounds(idx: list[int], boxes) -> tuple[float, float, float, float]:  # type: ignore[no-untyped-def]
    return (
        min(boxes[i][0] for i in idx),
        min(boxes[i][1] for i in idx),
        max(boxes[i][2] for i in idx),
        max(boxes[i][3] for i in idx),
    )


def _whitespace_cut(
    idx: list[int], boxes, line_h: float, order: list[list[int]], cuts: _Cuts
) -> None:  # type: ignore[no-untyped-def]
    if len(idx) <= 1:
        order.append(idx)
        return
    ys = [(boxes[i][1], boxes[i][3]) for i in idx]
    wide = _gaps(ys, 1.8 * line_h)
    if wide:
        for p in _split(idx, boxes, 1, [(a + b) / 2 for a, b in wide]):
            _whitespace_cut(p, boxes, line_h, order, cuts)
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
        gaps = _gaps(xs, cuts.column_gap * line_h)
        if cuts.gutters:
            gaps = sorted(gaps + _gutter_gaps(body, boxes, line_h, cuts.gutters, gaps))
        parts = _columns(body, boxes, gaps, line_h)
        if len(parts) >= 2 and (best is None or len(parts) > len(best[1])):
            best = (head, parts)
    if best is not None:
        order.extend([i] for i in best[0])
        for p in best[1]:
            _whitespace_cut(p, boxes, line_h, order, cuts)
        return
    rows = _gaps(ys, 0.9 * line_h)
    parts = _split(idx, boxes, 1, [(a + b) / 2 for a, b in rows]) if rows else []
    if len(parts) <= 1:
        order.append(sorted(idx, key=lambda i: (boxes[i][1], boxes[i][0])))
        return
    for p in parts:
        _whitespace_cut(p, boxes, line_h, order, cuts)


# ----------------------------------------------------------------------------- page text


def _char_boxes_deskewed(line: Line, degrees: float) -> np.ndarray:
    """The line's character boxes with their centres turned by ``-degrees`` (n, 4)."""
    rad = math.radians(degrees)
    cos, sin = math.cos(rad), math.sin(rad)
    a = np.asarray(line.boxes, dtype=np.float64)
    cx, cy = (a[:, 0] + a[:, 2]) / 2, (a[:, 1] + a[:, 3]) / 2
    hw, hh = (a[:, 2] - a[:, 0]) / 2, (a[:, 3] - a[:, 1]) / 2
    rx, ry = cx * cos + cy * sin, -cx * sin + cy * cos
    return np.stack([rx - hw, ry - hh, rx + hw, ry + hh], axis=1)


def _cut_lines(
    lines: list[Line], degrees: float, vseps: list, line_h: float, gutters: Sequence = ()
) -> list[Line]:
    """Lines cut where a vertical rule runs between two of their characters, where a gutter
    does and the two stand apart (white between characters inside a column is no gutter), or
    where two characters stand further apart than a headline's letter spacing allows."""
    frames = [(ln, _char_boxes_deskewed(ln, degrees)) for ln in lines]
    gutter_set = {tuple(g) for g in gutters}
    vseps = list(vseps) + list(gutters)
    out: list[Line] = []
    for ln, b in frames:
        if len(ln.text) < 2:
            out.append(ln)
            continue
        h = float(np.median(b[:, 3] - b[:, 1]))
        if (
            float(np.ptp((b[:, 1] + b[:, 3]) / 2)) > np.ptp((b[:, 0] + b[:, 2]) / 2)
            or h > 1.3 * line_h
        ):
            out.append(ln)  # set vertically, or a headline: it stands across columns
            continue
        mid_y = float(np.median((b[:, 1] + b[:, 3]) / 2))
        # each separator crossing the line cuts it once, at the gap between characters nearest
        # to it (OCR's character boxes stand a little off where a line was joined)
        mids = (b[:-1, 2] + b[1:, 0]) / 2
        cuts = [0]
        kept: list[float] = []
        # the longest separator first: a short white channel beside it (the blank after a
        # comma, run on above the text) is the same gutter
        for v in sorted(vseps, key=lambda v: v[1] - v[3]):
            at = (v[0] + v[2]) / 2
            if not (v[1] <= mid_y <= v[3] and b[0, 0] + 0.5 * h < at < b[-1, 2] - 0.5 * h):
                continue
            if any(abs(at - k) < 2 * h for k in kept):
                continue
            k = int(np.argmin(np.abs(mids - at)))
            short = v[3] - v[1] < TRUSTED_GUTTER * line_h
            if tuple(v) in gutter_set and short and b[k + 1, 0] - b[k, 2] < SHORT_GUTTER_GAP * h:
                continue
            kept.append(at)
            cuts.append(k + 1)
        gaps = b[1:, 0] - b[:-1, 2]
        cuts += [k + 1 for k in np.nonzero(gaps > max(1.5 * h, 1.5 * line_h))[0].tolist()]
        cuts = sorted(set(cuts))
        cuts.append(len(ln.text))
        for a, z in itertools.pairwise(cuts):
            out.append(Line(ln.text[a:z], ln.boxes[a:z], ln.confidence))
    return out


def page_text(lines: Sequence[Line], marks=None) -> PageText:  # type: ignore[no-untyped-def]
    """Lines in reading order as page-file text, with a box and confidence per character.
    ``marks``: the page picture's rules, photos and panels (:class:`rag.ingest.marks.Marks`),
    in the frame of the lines turned by ``marks.skew_degrees``; without them, whitespace alone
    orders the lines."""
    lines = [ln for ln in lines if ln.text and len(ln.boxes) == len(ln.text)]
    if not lines:
        return PageText("", np.zeros((0, 4), np.float32), np.zeros(0, np.float32))
    skew = marks.skew_degrees if marks is not None else skew_of(lines)
    boxes = _deskewed(lines, skew)
    line_h = _body_height(lines, boxes)
    furniture: list[int] = []
    cuts = _Cuts()
    if marks is not None:
        hseps, vseps = marks.separators()
        lines = _cut_lines(lines, skew, vseps, line_h, marks.gutters)
        boxes = _deskewed(lines, skew)
        keep = [i for i, b in enumerate(boxes) if not _in_photo(b, marks.photos)]
        lines, boxes = [lines[i] for i in keep], [boxes[i] for i in keep]
        if not lines:
            return PageText("", np.zeros((0, 4), np.float32), np.zeros(0, np.float32), skew)
        line_h = _body_height(lines, boxes)
        lines = _line_ends_back(lines, boxes, line_h)
        boxes = _deskewed(lines, skew)
        vertical = {
            i for i, (ln, b) in enumerate(zip(lines, boxes, strict=True)) if _is_vertical(ln, b)
        }
        captions = {i: True for i in _captions(lines, boxes, vertical, marks.photos, line_h)}
        furniture = _header(boxes, hseps, line_h)
        # a section flag in its small printed box (要闻, 经济) is the page's, not an article's
        furniture += [
            i
            for i, b in enumerate(boxes)
            if i not in furniture
            and len(lines[i].text) <= FLAG_CHARS
            and any(_boxed(b, f, line_h) for f in marks.boxes)
        ]
        cuts = _Cuts(hseps, vseps, vertical, captions, 0.3, list(marks.gutters))
        for i in furniture:
            cuts.captions.pop(i, None)
            cuts.vertical.discard(i)
    chars: list[str] = []
    char_boxes: list[tuple[float, float, float, float]] = []
    conf: list[float] = []
    nan = (math.nan,) * 4

    def put(text: str, bxs: Sequence[tuple[float, float, float, float]], c: float) -> None:
        chars.extend(text)
        char_boxes.extend(bxs)
        conf.extend([c] * len(text))

    body = [i for i in range(len(lines)) if i not in set(furniture)]
    sub_boxes = [boxes[i] for i in body]
    sub_cuts = _Cuts(
        cuts.hseps,
        cuts.vseps,
        {body.index(i) for i in cuts.vertical},
        {body.index(i): True for i in cuts.captions},
        cuts.column_gap,
        cuts.gutters,
    )
    items: list[tuple[int, bool, bool] | None] = []  # (line, indented, title); None: block gap
    for block in xy_cut(sub_boxes, line_h, sub_cuts):
        if not block:
            items.append((RULE, False, False))
            continue
        if block == [CAPTION]:
            items.append((CAPTION, False, False))
            continue
        left = min(sub_boxes[i][0] for i in block)
        for j in block:
            i = body[j]
            b = boxes[i]
            upright = i in cuts.vertical
            size = (b[2] - b[0]) if upright else (b[3] - b[1])
            title = size > HEADLINE_SIZE * line_h and marks is not None
            tall = b[3] - b[1] > 1.3 * line_h  # a headline is centred, not indented
            items.append((i, b[0] - left >= 1.2 * line_h and not tall and not upright, title))
        items.append(None)
    items = _joined_titles(items, boxes)
    for k, item in enumerate(items):
        if item is None:
            put("\n", [nan], 1.0)
            continue
        i, indented, title = item
        if i in (RULE, CAPTION):
            if chars and chars[-1] != "\n":
                put("\n", [nan], 1.0)
            put((RULE_LINE if i == RULE else CAPTION_LINE) + "\n", [nan, nan], 1.0)
            continue
        if i < 0:  # the next line goes on the same title line
            continue
        if title and (not chars or chars[-1] == "\n"):
            put(TITLE, [nan] * len(TITLE), 1.0)
        if indented:
            put(INDENT, [nan, nan], 1.0)
        put(lines[i].text, lines[i].boxes, lines[i].confidence)
        after = items[k + 1] if k + 1 < len(items) else None
        joins = after is not None and after[0] == -1
        if not joins:
            put("\n", [nan], 1.0)
    return PageText(
        "".join(chars),
        np.asarray(char_boxes, dtype=np.float32).reshape(-1, 4),
        np.asarray(conf, dtype=np.float32),
        skew,
        "\n".join(
            lines[i].text for i in sorted(furniture, key=lambda i: (boxes[i][1], boxes[i][0]))
        ),
    )


def body_frame(
    lines: Sequence[Line],
) -> tuple[float, list[tuple[float, float, float, float]], float]:
    """The page's skew, its lines' boxes turned upright by it, and the body's line height:
    the frame :func:`page_text` orders lines in (and :mod:`rag.ingest.marks` finds marks in)."""
    lines = [ln for ln in lines if ln.text and len(ln.boxes) == len(ln.text)]
    skew = skew_of(lines)
    boxes = _deskewed(lines, skew)
    return skew, boxes, _body_height(lines, boxes) if lines else 0.0


def _line_ends_back(lines: list[Line], boxes: list, line_h: float) -> list[Line]:  # type: ignore[type-arg]
    """A "vertical line" of body-sized characters that each stand level with, and just past,
    the end or start of a line across is those lines' ends (OCR's detector ran down a column's
    last characters): each goes back to its line."""
    across = [
        i for i, (ln, b) in enumerate(zip(lines, boxes, strict=True)) if not _is_vertical(ln, b)
    ]
    gained: dict[int, list[tuple[str, tuple, bool]]] = {}
    dissolved: set[int] = set()
    for v, (ln, b) in enumerate(zip(lines, boxes, strict=True)):
        if not _is_vertical(ln, b) or b[2] - b[0] > 1.3 * line_h:
            continue
        homes = []
        step = (b[3] - b[1]) / len(ln.text)
        for k in range(len(ln.text)):
            cy = b[1] + (k + 0.5) * step
            home = None
            for i in across:
                a = boxes[i]
                if abs((a[1] + a[3]) / 2 - cy) > 0.4 * line_h:
                    continue
                if -0.3 * line_h <= b[0] - a[2] <= 1.5 * line_h:
                    home = (i, True)  # the line's end
                elif -0.3 * line_h <= a[0] - b[2] <= 1.5 * line_h:
                    home = (i, False)  # its start
            homes.append(home)
        if sum(h is not None for h in homes) * 2 < len(homes):
            continue
        dissolved.add(v)
        for k, (ch, home) in enumerate(zip(ln.text, homes, strict=True)):
            if home is not None:
                gained.setdefault(home[0], []).append((ch, ln.boxes[k], home[1]))
    if not dissolved:
        return lines
    out = []
    for i, ln in enumerate(lines):
        if i in dissolved:
            continue
        text, bxs = ln.text, ln.boxes
        for ch, box, at_end in gained.get(i, []):
            text, bxs = (text + ch, (*bxs, box)) if at_end else (ch + text, (box, *bxs))
        out.append(Line(text, bxs, ln.confidence))
    return out


def _body_height(lines: Sequence[Line], boxes: list) -> float:  # type: ignore[type-arg]
    across = [b[3] - b[1] for ln, b in zip(lines, boxes, strict=True) if not _is_vertical(ln, b)]
    heights = sorted(across or [b[3] - b[1] for b in boxes])
    return float(heights[len(heights) // 2])


def _is_vertical(line: Line, box: tuple[float, float, float, float]) -> bool:
    return len(line.text) >= 2 and box[3] - box[1] > VERTICAL_RATIO * (box[2] - box[0])


def _boxed(b: tuple[float, float, float, float], f, line_h: float) -> bool:  # type: ignore[no-untyped-def]
    """Does box ``f`` frame the line ``b`` alone: round the whole line, with room about it?"""
    pad = 0.3 * line_h
    inside = f[0] - pad <= b[0] and b[2] <= f[2] + pad and f[1] - pad <= b[1] and b[3] <= f[3] + pad
    # OCR's box of the line takes in most of the frame's height; across there is room
    roomy = f[3] - f[1] >= b[3] - b[1] and f[2] - f[0] >= (b[2] - b[0]) + 0.4 * line_h
    return inside and roomy


def _in_photo(b: tuple[float, float, float, float], photos) -> bool:  # type: ignore[no-untyped-def]
    cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
    return any(p[0] <= cx <= p[2] and p[1] <= cy <= p[3] for p in photos)


def _captions(lines: list[Line], boxes: list, vertical: set, photos, line_h: float) -> list[int]:  # type: ignore[no-untyped-def,type-arg]
    """Lines of each photo's caption: the row right under it, inside its width, and the rows
    that go on under that row set smaller than the body (text wrapped round the photo goes on
    under its caption at body size)."""
    out: list[int] = []
    for p in photos:

        def inside(b: tuple[float, float, float, float], p=p) -> bool:  # type: ignore[no-untyped-def]
            cx = (b[0] + b[2]) / 2
            return p[0] - line_h <= b[0] and b[2] <= p[2] + line_h and p[0] <= cx <= p[2]

        below = sorted(
            (
                i
                for i, b in enumerate(boxes)
                if i not in vertical and inside(b) and b[1] >= p[3] - 0.3 * line_h
            ),
            key=lambda i: boxes[i][1],
        )
        bottom = p[3]
        for n, i in enumerate(below):
            b = boxes[i]
            first_row = n == 0 or abs(b[1] - boxes[below[0]][1]) < 0.5 * line_h
            caption_row = first_row and b[1] <= p[3] + 1.0 * line_h
            smaller_under = b[1] - bottom <= 0.6 * line_h and b[3] - b[1] < 0.95 * line_h
            if not (caption_row or smaller_under):
                break
            out.append(i)
            bottom = max(bottom, b[3])
    return out


def _header(boxes: list, hseps: list, line_h: float) -> list[int]:  # type: ignore[type-arg]
    """Lines of the page header: above the topmost rule across most of the page, when at most
    two rows of lines stand above it."""
    if not boxes:
        return []
    x0 = min(b[0] for b in boxes)
    x1 = max(b[2] for b in boxes)
    top = min(b[1] for b in boxes)
    across = [r for r in hseps if r[2] - r[0] >= 0.6 * (x1 - x0)]
    if not across:
        return []
    rule = min(across, key=lambda r: r[1])
    above = [i for i, b in enumerate(boxes) if b[3] <= (rule[1] + rule[3]) / 2]
    if not above or rule[1] - top > 3.5 * line_h:
        return []
    return above


def _size(b: tuple[float, float, float, float]) -> float:
    """A line's character size: its height, or its width when it is set vertically."""
    return min(b[2] - b[0], b[3] - b[1])


def _joined_titles(items: list, boxes: list) -> list:  # type: ignore[type-arg]
    """Consecutive title lines of about one size (a headline over two lines) become one title:
    the block gaps between them go, and each but the last is marked to go on (index -1 after
    it)."""
    out: list = []
    last_title: int | None = None  # position in ``out`` of the last title line
    for item in items:
        if item is None:
            out.append(None)
            continue
        i, _indented, title = item
        if title and last_title is not None and all(x is None for x in out[last_title + 1 :]):
            j = out[last_title][0]
            hj, hi = _size(boxes[j]), _size(boxes[i])
            if 0.8 < hi / max(hj, 1e-6) < 1.25:
                del out[last_title + 1 :]
                out.append((-1, False, True))  # joins: no line break
                out.append(item)
                last_title = len(out) - 1
                continue
        out.append(item)
        last_title = len(out) - 1 if title else None
    return out


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
