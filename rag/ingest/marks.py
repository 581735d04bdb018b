"""What a page picture shows besides its text: printed rules and frames, photos, tinted panels.

Newspapers part articles and columns with printed rules and boxes, set stories on tinted panels
and print photos between them; whitespace alone does not say where one article ends. This
module finds those marks on the page's picture by morphology on the binarised page, in the
page's deskewed frame (the frame :mod:`rag.ingest.layout` orders lines in):

- the picture is evened out first: a shadow along a fold (a flatbed scan of a folded page) or a
  darker edge is divided out by the paper's brightness per column and per row;
- text is erased (the OCR lines' boxes), so that what stays dark is not type;
- a rule is a run of dark pixels at least :data:`RULE_LINES` body lines long and at most a
  third of a line thick (opened with a long, thin kernel);
- a photo is a large region of mid and dark tones that is not text;
- a tinted panel is a large region of even light grey with text on it. Its edges part its text
  from the page around it, like a frame.

No model is used: no layout model that ships offline fits newspapers.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

RULE_LINES = 2.5  # a rule is at least this many body line heights long
PHOTO_LINES = 3.0  # a photo is at least this many line heights on each side
PANEL_LINES = 4.0  # a tinted panel is at least this many line heights on each side
GUTTER_LINES = 4.0  # a gutter is a white channel at least this many line heights tall
GUTTER_WIDTH = (0.45, 2.5)  # and this many line heights wide (wider: a margin or a gap)


@dataclass(frozen=True)
class Marks:
    """Marks on a page, as (x0, y0, x1, y1) rectangles in the deskewed frame of its lines."""

    hrules: tuple[tuple[float, float, float, float], ...] = ()
    vrules: tuple[tuple[float, float, float, float], ...] = ()
    photos: tuple[tuple[float, float, float, float], ...] = ()
    panels: tuple[tuple[float, float, float, float], ...] = ()
    # white channels between columns, at least GUTTER_LINES lines tall: where OCR joins the
    # lines of two columns across a narrow gutter, the layout cuts them apart
    gutters: tuple[tuple[float, float, float, float], ...] = ()
    # small printed boxes, shorter than a rule: a section flag (要闻, 经济) stands in one
    boxes: tuple[tuple[float, float, float, float], ...] = ()
    size: tuple[int, int] = (0, 0)
    skew_degrees: float = 0.0  # the frame: the picture turned by -skew_degrees

    def separators(self) -> tuple[list, list]:
        """Horizontal and vertical separators: rules, and the edges of panels. Not a photo's
        edges: text wraps round a photo inside its article. Not gutters: they part lines, and
        whitespace orders columns."""
        hs, vs = list(self.hrules), list(self.vrules)
        for x0, y0, x1, y1 in self.panels:
            hs += [(x0, y0, x1, y0), (x0, y1, x1, y1)]
            vs += [(x0, y0, x0, y1), (x1, y0, x1, y1)]
        return hs, vs


def _rotation(degrees: float, w: int, h: int) -> tuple[np.ndarray, float, float, int, int]:
    """The affine matrix taking picture pixels into the deskewed frame (rotation by -degrees
    about the origin, as :func:`rag.ingest.layout._deskewed` turns character centres), shifted
    so that the whole page stays on the canvas; the shift and the canvas size."""
    rad = math.radians(degrees)
    cos, sin = math.cos(rad), math.sin(rad)
    corners = np.array([[0, 0], [w, 0], [0, h], [w, h]], dtype=np.float64)
    rx = corners[:, 0] * cos + corners[:, 1] * sin
    ry = -corners[:, 0] * sin + corners[:, 1] * cos
    tx, ty = -rx.min(), -ry.min()
    m = np.array([[cos, sin, tx], [-sin, cos, ty]], dtype=np.float64)
    return m, tx, ty, math.ceil(rx.max() + tx), math.ceil(ry.max() + ty)


def _evened(gray: np.ndarray) -> np.ndarray:
    """The picture divided by the paper's brightness per column, then per row (a fold's
    shadow, a darker edge), as floats where paper is about 1."""
    g = gray.astype(np.float32) + 1.0
    for axis in (0, 1):
        paper = np.percentile(g, 90, axis=axis)
        k = max(3, int(0.01 * paper.size) | 1)
        paper = np.convolve(np.pad(paper, k // 2, mode="edge"), np.ones(k) / k, mode="valid")
        g = g / (paper[None, :] if axis == 0 else paper[:, None])
    return g


def find_marks(
    gray: np.ndarray,
    degrees: float,
    text_boxes: Sequence[tuple[float, float, float, float]],
    line_h: float,
) -> Marks:
    """Rules, photos and panels of the page picture ``gray`` (2-D uint8), in the frame turned
    by ``-degrees``. ``text_boxes``: the lines' boxes in that frame; ``line_h``: the body
    text's line height in pixels."""
    import cv2

    if gray.ndim != 2 or gray.size == 0 or line_h <= 0:
        return Marks(skew_degrees=degrees)
    h, w = gray.shape
    m, tx, ty, cw, ch = _rotation(degrees, w, h)
    level = cv2.warpAffine(_evened(gray), m, (cw, ch), flags=cv2.INTER_LINEAR, borderValue=1.0)
    inside = cv2.warpAffine(np.ones_like(gray), m, (cw, ch), flags=cv2.INTER_NEAREST)
    text = np.zeros((ch, cw), np.uint8)
    pad = 0.15 * line_h
    for x0, y0, x1, y1 in text_boxes:
        a, b = int(x0 + tx - pad), int(y0 + ty - pad)
        text[
            max(b, 0) : max(int(y1 + ty + pad) + 1, 0), max(a, 0) : max(int(x1 + tx + pad) + 1, 0)
        ] = 1
    dark = ((level < 0.55) & (text == 0)).astype(np.uint8)

    def shift(r: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        return (r[0] - tx, r[1] - ty, r[2] - tx, r[3] - ty)

    long = max(int(RULE_LINES * line_h), 8)
    thick = max(0.35 * line_h, 3.0)
    hrules: list[tuple[float, float, float, float]] = []
    vrules: list[tuple[float, float, float, float]] = []
    for kernel, out, horizontal in (((long, 1), hrules, True), ((1, long), vrules, False)):
        opened = cv2.morphologyEx(
            dark, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, kernel)
        )
        # a rule broken by a stain or a gap of JPEG noise is one rule
        closing = (max(3, int(0.5 * line_h)), 1) if horizontal else (1, max(3, int(0.5 * line_h)))
        opened = cv2.morphologyEx(
            opened, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, closing)
        )
        n, _, stats, _ = cv2.connectedComponentsWithStats(opened, connectivity=8)
        for i in range(1, n):
            x, y, bw, bh, _area = stats[i]
            across, thickness = (bw, bh) if horizontal else (bh, bw)
            if across >= long and thickness <= thick:
                out.append(shift((float(x), float(y), float(x + bw), float(y + bh))))

    gutters = _gutters(level < 0.55, line_h)
    boxes = [shift(b) for b in _small_frames(level < 0.7, line_h)]

    # photos and panels on a grid of cells half a line high
    cell = max(2, int(line_h / 2))
    gh, gw = ch // cell, cw // cell
    if gh < 2 or gw < 2:
        return Marks(tuple(hrules), tuple(vrules), size=(w, h), skew_degrees=degrees)
    grid = level[: gh * cell, : gw * cell].reshape(gh, cell, gw, cell)
    txt = text[: gh * cell, : gw * cell].reshape(gh, cell, gw, cell).mean(axis=(1, 3))
    on_page = inside[: gh * cell, : gw * cell].reshape(gh, cell, gw, cell).min(axis=(1, 3)) > 0
    mid = (grid < 0.75).mean(axis=(1, 3))  # share of tone darker than a tint
    # the paper's own tone in each cell: the median of what is not type
    bare = np.where(text[: gh * cell, : gw * cell].reshape(gh, cell, gw, cell) > 0, np.nan, grid)
    bare = bare.transpose(0, 2, 1, 3).reshape(gh, gw, cell * cell)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        median = np.nanmedian(bare, axis=2)
        bare_mid = np.nanmean(bare < 0.75, axis=2)
    photo_cells = ((mid > 0.25) & (txt < 0.5) & on_page).astype(np.uint8)
    photo_cells = cv2.morphologyEx(photo_cells, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
    photos = _regions(photo_cells, cell, PHOTO_LINES * line_h, 0.6)
    # a tint: the middle of the cell is grey, not paper (1.0) and not ink; text on it leaves
    # the median alone
    unknown = np.isnan(median)  # a cell of type only
    tint = (median > 0.6) & (median < 0.93) & on_page & ~(bare_mid > 0.25)
    grown = cv2.dilate(tint.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    tint_cells = (tint | (unknown & grown)).astype(np.uint8)
    tint_cells = cv2.morphologyEx(tint_cells, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    panels = [
        _trimmed(r, level, text) for r in _regions(tint_cells, cell, PANEL_LINES * line_h, 0.7)
    ]
    panels = [p for p in panels if not any(_inside(p, q) for q in photos)]
    gutters = [shift(g) for g in gutters if not any(_inside(g, q) for q in photos)]
    # what looked like rules inside a photo is the photo's own picture
    hrules = [r for r in hrules if not any(_inside(r, shift(q)) for q in photos)]
    vrules = [r for r in vrules if not any(_inside(r, shift(q)) for q in photos)]
    return Marks(
        tuple(hrules),
        tuple(vrules),
        tuple(shift(r) for r in photos),
        tuple(shift(r) for r in panels),
        tuple(gutters),
        tuple(boxes),
        (w, h),
        degrees,
    )


def _small_frames(ink: np.ndarray, line_h: float) -> list:
    """Small printed boxes, a line or two high and a few characters wide (the frame round a
    section flag): straight runs of ink longer than a character, across and down, that close
    a rectangle. The text inside is not erased (OCR's box of a flag takes in its frame), so
    only the straight runs are looked at."""
    import cv2

    ink8 = ink.astype(np.uint8)
    across = cv2.morphologyEx(
        ink8, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (int(1.2 * line_h), 1))
    )
    down = cv2.morphologyEx(
        ink8, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (1, int(0.8 * line_h)))
    )
    runs = np.maximum(np.asarray(across, np.uint8), np.asarray(down, np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(runs, connectivity=8)
    out = []
    for i in range(1, n):
        x, y, bw, bh, area = stats[i]
        if not (1.5 * line_h <= bw <= 15 * line_h and 0.9 * line_h <= bh <= 3.5 * line_h):
            continue
        if area > 0.4 * bw * bh:
            continue  # a filled block, not a frame
        mine = labels[y : y + bh, x : x + bw] == i
        edge = max(2, int(0.15 * line_h))
        sides = (
            mine[:edge].any(axis=0).mean(),
            mine[-edge:].any(axis=0).mean(),
            mine[:, :edge].any(axis=1).mean(),
            mine[:, -edge:].any(axis=1).mean(),
        )
        if min(sides) > 0.85:
            out.append((float(x), float(y), float(x + bw), float(y + bh)))
    return out


def _gutters(ink: np.ndarray, line_h: float) -> list:
    """Narrow white channels running down the page (on a copy shrunk to about 12 pixels a
    line), in the canvas's pixels."""
    import cv2

    k = min(1.0, 12.0 / line_h)
    small = cv2.resize(ink.astype(np.uint8), None, fx=k, fy=k, interpolation=cv2.INTER_AREA) > 0
    lh = line_h * k
    tall = max(3, int(GUTTER_LINES * lh))
    narrow = max(2, round(GUTTER_WIDTH[0] * lh))
    # white at least ``narrow`` wide and ``tall`` high everywhere along the channel
    white = cv2.morphologyEx(
        (~small).astype(np.uint8),
        cv2.MORPH_OPEN,
        cv2.getStructuringElement(cv2.MORPH_RECT, (narrow, tall)),
    )
    # keep the narrow runs of each row only: wide white is margin or a gap between bands
    h, w = white.shape
    padded = np.zeros((h, w + 2), np.int8)
    padded[:, 1:-1] = white
    d = np.diff(padded, axis=1)
    keep = np.zeros((h, w), bool)
    rows, starts = np.nonzero(d == 1)
    _, ends = np.nonzero(d == -1)
    widest = GUTTER_WIDTH[1] * lh
    for r, a, b in zip(rows, starts, ends, strict=True):
        if b - a <= widest:
            keep[r, a:b] = True
    keep8 = cv2.morphologyEx(
        keep.astype(np.uint8), cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (1, tall))
    )
    n, _, stats, _ = cv2.connectedComponentsWithStats(keep8, connectivity=8)
    out = []
    for i in range(1, n):
        x, y, bw, bh, _area = stats[i]
        if bh >= tall:
            out.append((x / k, y / k, (x + bw) / k, (y + bh) / k))
    return out


def _trimmed(r: tuple, level: np.ndarray, text: np.ndarray) -> tuple:
    """A panel's rectangle cut back to where its tint is: the cells it was found on run past
    its edges by up to a few cells."""
    x0, y0, x1, y1 = (int(v) for v in r)
    region = np.where(text[y0:y1, x0:x1] > 0, np.nan, level[y0:y1, x0:x1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        cols = np.nanmedian(region, axis=0)
        rows = np.nanmedian(region, axis=1)
    tinted_cols = np.nonzero((cols > 0.6) & (cols < 0.93))[0]
    tinted_rows = np.nonzero((rows > 0.6) & (rows < 0.93))[0]
    if not len(tinted_cols) or not len(tinted_rows):
        return r
    return (
        float(x0 + tinted_cols[0]),
        float(y0 + tinted_rows[0]),
        float(x0 + tinted_cols[-1] + 1),
        float(y0 + tinted_rows[-1] + 1),
    )


def _regions(cells: np.ndarray, cell: int, min_side: float, min_fill: float) -> list:
    import cv2

    n, _, stats, _ = cv2.connectedComponentsWithStats(cells, connectivity=4)
    out = []
    for i in range(1, n):
        x, y, bw, bh, area = stats[i]
        if bw * cell >= min_side and bh * cell >= min_side and area >= min_fill * bw * bh:
            out.append(
                (float(x * cell), float(y * cell), float((x + bw) * cell), float((y + bh) * cell))
            )
    return out


def _inside(a: tuple, b: tuple) -> bool:
    return a[0] >= b[0] - 1 and a[1] >= b[1] - 1 and a[2] <= b[2] + 1 and a[3] <= b[3] + 1
