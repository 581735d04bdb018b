"""Lay out text pages as newspaper pages: PDFs with a text layer, PDFs without one, PNG scans.

No real scans ship with the project, so tests and benchmarks make their own. Each text page of
PAGES is read and segmented into articles by the library, then laid out on a page of its own:
3 to 5 columns, each article a band with its headline across its columns, short articles side
by side, jump lines (下转/上接) kept, so a continued article goes on on another page. The font is
Debian's ``fonts-wqy-microhei`` (or ``fonts-noto-cjk`` for the images).

Writes, per page id, into OUT:
  ``text/<id>.pdf``  one PDF page with a text layer (every character drawn where it stands)
  ``image/<id>.pdf`` the same page as a scanned picture, no text layer
  ``scan/<id>.png``  the picture with noise, a skew of 1-2 degrees and JPEG artefacts (q 60)
  ``truth/<id>.json`` the laid-out text and the box of every character, in the pixels of the
                      clean rendering (``boxes``) and of the skewed scan (``scan_boxes``)

With ``--style paper`` it writes what real pages have instead (see "newspaper pages" below):
  ``paper/<id>.png``        the scan
  ``paper_truth/<id>.json`` each article's printed text and headline, every glyph's role
                            (head, byline, body, caption, header, flag) and box on the scan

Usage: python scripts/make_scans.py PAGES OUT [--pages ID ...] [--dpi 150] [--seed 0]
                                    [--style plain|paper]
"""

from __future__ import annotations

import argparse
import io
import json
import math
import random
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

FONT_PATHS = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
)
NUMERALS = "一二三四五六七八九十"


def find_font() -> Path:
    """A CJK font from Debian's packages; a clear message when none is installed."""
    for p in FONT_PATHS:
        if Path(p).is_file():
            return Path(p)
    sys.exit(
        "no CJK font found: install Debian's fonts-wqy-microhei (or fonts-noto-cjk), "
        "e.g. apt-get install fonts-wqy-microhei"
    )


# ----------------------------------------------------------------------------- what is laid out


@dataclass
class Block:
    """An article (or the part of one on this page) as it is laid out."""

    headline: str | None
    byline: str | None
    paragraphs: list[str]
    byline_last: bool = False  # a trailing "（本报记者 … 整理）" closes the article


def page_blocks(pages_dir: Path) -> dict[str, list[Block]]:
    """The articles of each page, in the order they start on the page."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from rag.ingest.articles import segment
    from rag.ingest.pages import read_pages

    pages = [p for p in read_pages(pages_dir) if p.text.strip()]
    texts = {p.page_id: p.text for p in pages}
    seg = segment(pages)
    parts: dict[str, list] = {p.page_id: [] for p in pages}
    for art in seg.articles:
        for part in art.parts:
            parts[part.page_id].append(part)
    out: dict[str, list[Block]] = {}
    for pid, plist in parts.items():
        blocks = []
        for part in sorted(plist, key=lambda x: x.first_unit):
            paras = [p.text for p in part.paragraphs if p.text.strip()]
            if not paras:
                continue
            if part.jump_in:
                paras[0] = f"（上接第{_numeral(part.jump_in)}版）{paras[0]}"
            if part.jump_out:
                paras[-1] = f"{paras[-1]}（下转第{_numeral(part.jump_out)}版）"
            head = part.headline or part.jump_headline
            at = texts[pid].find(part.byline) if part.byline else -1
            last = at > part.span[0]
            byline = f"（{part.byline}）" if last and part.byline else part.byline
            blocks.append(Block(head, byline, paras, last))
        out[pid] = blocks
    return out


def issue_page_numbers(pages_dir: Path) -> dict[str, int | None]:
    """Each page's number in its issue, as the library reads the text pages."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from rag.ingest.articles import page_numbers, segment
    from rag.ingest.pages import read_pages

    pages = [p for p in read_pages(pages_dir) if p.text.strip()]
    return page_numbers(pages, segment(pages).articles)


def _numeral(n: int) -> str:
    return NUMERALS[n - 1] if 1 <= n <= 10 else str(n)


# ----------------------------------------------------------------------------- layout


@dataclass
class Glyph:
    ch: str
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels: advance x ideographic em box
    size: int
    origin: tuple[float, float]  # where the glyph is drawn (PIL's top-left text origin)
    baseline: float


@dataclass
class Layout:
    width: int
    height: int
    glyphs: list[Glyph] = field(default_factory=list)
    lines: list[list[int]] = field(default_factory=list)  # glyph indexes per drawn line
    rules: list[tuple[float, float, float, float]] = field(default_factory=list)
    text: str = ""  # the laid-out units in reading order, one per line


class Typesetter:
    def __init__(self, font_path: Path, scale: float) -> None:
        from PIL import ImageFont

        self._truetype = ImageFont.truetype
        self.path = font_path
        self.body = round(22 * scale)
        self.head = round(38 * scale)
        self.small = round(20 * scale)
        self.fonts = {
            s: ImageFont.truetype(str(font_path), s) for s in (self.body, self.head, self.small)
        }
        self.scale = scale

    def font(self, size: int):  # type: ignore[no-untyped-def]
        if size not in self.fonts:
            self.fonts[size] = self._truetype(str(self.path), size)
        return self.fonts[size]

    def ascent(self, size: int) -> int:
        return int(self.font(size).getmetrics()[0])

    def width(self, ch: str, size: int) -> float:
        return float(self.font(size).getlength(ch))

    def wrap(
        self, text: str, size: int, width: float, indent: float
    ) -> list[list[tuple[str, float]]]:
        """Greedy line filling; each line is (char, advance) pairs."""
        lines: list[list[tuple[str, float]]] = []
        cur: list[tuple[str, float]] = []
        used = indent
        for ch in text:
            w = self.width(ch, size)
            if cur and used + w > width:
                lines.append(cur)
                cur, used = [], 0.0
            cur.append((ch, w))
            used += w
        if cur:
            lines.append(cur)
        return lines


def lay_out(blocks: list[Block], columns: int, ts: Typesetter) -> Layout:
    """Bands of articles, top to bottom; two short articles share a band side by side."""
    s = ts.scale
    margin, gap, width = round(60 * s), round(32 * s), round(1500 * s)
    col_w = (width - 2 * margin - (columns - 1) * gap) / columns
    lay = Layout(width, 0)
    units: list[str] = []
    y = float(margin)
    i = 0
    while i < len(blocks):
        lines_of = _body_lines(blocks[i], ts, col_w)
        pair = (
            columns >= 4
            and i + 1 < len(blocks)
            and len(lines_of) <= 3 * columns
            and len(_body_lines(blocks[i + 1], ts, col_w)) <= 3 * columns
        )
        group = [blocks[i], blocks[i + 1]] if pair else [blocks[i]]
        spans = [columns // 2, columns - columns // 2] if pair else [columns]
        x = float(margin)
        bottom = y
        for blk, span in zip(group, spans, strict=True):
            w = span * col_w + (span - 1) * gap
            end = _lay_block(lay, units, blk, ts, x, y, w, span, col_w, gap)
            bottom = max(bottom, end)
            x += w + gap
        y = bottom + round(26 * s)
        lay.rules.append((margin, y, width - margin, y + max(1, round(2 * s))))
        y += round(30 * s)
        i += len(group)
    lay.height = int(y + margin)
    lay.text = "\n".join(units)
    return lay


def _body_lines(blk: Block, ts: Typesetter, col_w: float) -> list:
    out = []
    for p in blk.paragraphs:
        out.extend(ts.wrap(p, ts.body, col_w, 2 * ts.body))
    return out


def _lay_block(
    lay: Layout,
    units: list[str],
    blk: Block,
    ts: Typesetter,
    x: float,
    y: float,
    w: float,
    span: int,
    col_w: float,
    gap: float,
) -> float:
    s = ts.scale
    if blk.headline:
        head_lines = ts.wrap(blk.headline, ts.head, w, 0)
        for line in head_lines:
            lw = sum(a for _, a in line)
            _put(lay, line, x + (w - lw) / 2, y, ts.head, ts.ascent(ts.head))
            y += ts.head * 1.45
        units.append(blk.headline)
        y += round(10 * s)
    if blk.byline and not blk.byline_last:
        line = [(c, ts.width(c, ts.small)) for c in blk.byline]
        _put(lay, line, x, y, ts.small, ts.ascent(ts.small))
        units.append(blk.byline)
        y += ts.small * 1.8
    # the body: paragraphs indented two characters, flowed into ``span`` balanced columns
    rows: list[tuple[list[tuple[str, float]], bool]] = []
    for p in blk.paragraphs:
        for k, line in enumerate(ts.wrap(p, ts.body, col_w, 2 * ts.body)):
            rows.append((line, k == 0))
        units.append(p)
    if blk.byline and blk.byline_last:
        rows.extend((line, False) for line in ts.wrap(blk.byline, ts.body, col_w, 0))
        units.append(blk.byline)
    per_col = math.ceil(len(rows) / span) if rows else 0
    lh = ts.body * 1.55
    for c in range(span):
        cx = x + c * (col_w + gap)
        for r, (line, first) in enumerate(rows[c * per_col : (c + 1) * per_col]):
            left = cx + (2 * ts.body if first else 0)
            _put(lay, line, left, y + r * lh, ts.body, ts.ascent(ts.body))
    return y + per_col * lh


def _put(
    lay: Layout, line: list[tuple[str, float]], x: float, y: float, size: int, ascent: int
) -> None:
    """Draw a line at top ``y``: the baseline lies ``ascent`` under it, and each character's
    box is its advance across its ideographic em box (0.88 em above the baseline, 0.12 under)."""
    idx = []
    base = y + ascent
    for ch, adv in line:
        box = (x, base - 0.88 * size, x + adv, base + 0.12 * size)
        lay.glyphs.append(Glyph(ch, box, size, (x, y), base))
        idx.append(len(lay.glyphs) - 1)
        x += adv
    lay.lines.append(idx)


# ----------------------------------------------------------------------------- rendering


def render_image(lay: Layout, ts: Typesetter):  # type: ignore[no-untyped-def]
    from PIL import Image, ImageDraw

    img = Image.new("L", (lay.width, lay.height), 255)
    draw = ImageDraw.Draw(img)
    for g in lay.glyphs:
        draw.text(g.origin, g.ch, font=ts.fonts[g.size], fill=20)
    for r in lay.rules:
        draw.rectangle(r, fill=60)
    return img


def degrade(img, rng: random.Random, max_degrees: float = 2.0):  # type: ignore[no-untyped-def]
    """Noise, a skew of ``max_degrees / 2`` to ``max_degrees`` and a JPEG round trip at quality
    60; returns the scan and the transform of a point (for the truth boxes)."""
    import numpy as np
    from PIL import Image, ImageFilter

    angle = rng.choice((-1, 1)) * rng.uniform(max_degrees / 2, max_degrees)
    w, h = img.size
    rotated = img.rotate(angle, resample=Image.BICUBIC, expand=False, fillcolor=255)
    arr = np.asarray(rotated.filter(ImageFilter.GaussianBlur(0.6)), dtype=np.float32)
    noise = np.random.default_rng(rng.randrange(1 << 30)).normal(0, 14, arr.shape)
    arr = np.clip(arr * 0.92 + 12 + noise, 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=60)
    scan = Image.open(io.BytesIO(buf.getvalue())).convert("L")
    rad = math.radians(angle)
    cx, cy = w / 2, h / 2

    def move(x: float, y: float) -> tuple[float, float]:
        # PIL rotates counter-clockwise by ``angle`` about the centre (y grows downward)
        dx, dy = x - cx, y - cy
        return (
            cx + dx * math.cos(rad) + dy * math.sin(rad),
            cy - dx * math.sin(rad) + dy * math.cos(rad),
        )

    return scan, move, angle


def moved_boxes(boxes: list, move) -> list[list[float]]:  # type: ignore[no-untyped-def,type-arg]
    """Each box as it stands on the skewed scan: the box round its four corners moved."""
    out = []
    for x0, y0, x1, y1 in boxes:
        pts = [move(x, y) for x in (x0, x1) for y in (y0, y1)]
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        out.append([round(min(xs), 1), round(min(ys), 1), round(max(xs), 1), round(max(ys), 1)])
    return out


def write_text_pdf(path: Path, lay: Layout, ts: Typesetter, dpi: int) -> None:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas

    name = "CJK"
    if name not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont(name, str(ts.path), subfontIndex=0))
    k = 72.0 / dpi
    c = canvas.Canvas(str(path), pagesize=(lay.width * k, lay.height * k), invariant=1)
    for g in lay.glyphs:
        c.setFont(name, g.size * k)
        c.drawString(g.origin[0] * k, (lay.height - g.baseline) * k, g.ch)
    c.setFillGray(0.25)
    for x0, y0, x1, y1 in lay.rules:
        c.rect(x0 * k, (lay.height - y1) * k, (x1 - x0) * k, (y1 - y0) * k, stroke=0, fill=1)
    c.showPage()
    c.save()


def write_image_pdf(path: Path, img, dpi: int) -> None:  # type: ignore[no-untyped-def]
    img.convert("RGB").save(path, "PDF", resolution=float(dpi))


# ----------------------------------------------------------------------------- newspaper pages
#
# ``--style paper``: what real pages have and the plain layout above does not. A page header
# (page number, section, weekday, web address) over a thick rule; a section flag in a frame;
# articles separated by printed rules, one boxed, one on a tinted panel; headlines two to four
# times the body size over the article's columns; one headline set vertically beside its
# article; a photo with a caption, the text wrapped in an L around it; narrow gutters. Pages
# alternate: one in traditional script (OpenCC s2t), one at low resolution (1000 px wide), one
# a 300 dpi flatbed scan with a shadow at the fold.

SECTIONS = ("要闻·综合", "经济·民生", "区情·社会", "文化·体育")
WEEKDAYS = ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日")


@dataclass
class PaperGlyph:
    ch: str
    box: tuple[float, float, float, float]
    size: int
    origin: tuple[float, float]
    article: int  # index of the article on the page; -1: page furniture (header, flag, caption)
    role: str  # head, byline, body, caption, header, flag


@dataclass
class Paper:
    width: int
    height: int = 0
    glyphs: list[PaperGlyph] = field(default_factory=list)
    rules: list[tuple[float, float, float, float]] = field(default_factory=list)
    photos: list[tuple[float, float, float, float]] = field(default_factory=list)
    panels: list[tuple[float, float, float, float]] = field(default_factory=list)
    articles: list[dict] = field(default_factory=list)


def _put_run(
    paper: Paper, ts: Typesetter, text: str, x: float, y: float, size: int, art: int, role: str
) -> float:
    """Draw ``text`` left to right from (x, y top); returns the x after it."""
    ascent = ts.ascent(size)
    for ch in text:
        adv = ts.width(ch, size)
        base = y + ascent
        paper.glyphs.append(
            PaperGlyph(
                ch, (x, base - 0.88 * size, x + adv, base + 0.12 * size), size, (x, y), art, role
            )
        )
        x += adv
    return x


def _put_vertical(
    paper: Paper, ts: Typesetter, text: str, x: float, y: float, size: int, art: int
) -> float:
    """Draw ``text`` top to bottom, each character upright, in a column ``size`` wide at x;
    returns the y under it."""
    ascent = ts.ascent(size)
    for ch in text:
        adv = ts.width(ch, size)
        left = x + (size - adv) / 2
        base = y + ascent
        paper.glyphs.append(
            PaperGlyph(
                ch,
                (left, base - 0.88 * size, left + adv, base + 0.12 * size),
                size,
                (left, y),
                art,
                "head",
            )
        )
        y += size * 1.08
    return y


def _frame(paper: Paper, x0: float, y0: float, x1: float, y1: float, t: float) -> None:
    paper.rules += [
        (x0, y0, x1, y0 + t),
        (x0, y1 - t, x1, y1),
        (x0, y0, x0 + t, y1),
        (x1 - t, y0, x1, y1),
    ]


def _lay_paper_article(
    paper: Paper,
    ts: Typesetter,
    rng: random.Random,
    art: int,
    blk: Block,
    x: float,
    y: float,
    w: float,
    col_w: float,
    gutter: float,
    feature: str,
) -> float:
    """One article in the rectangle from (x, y), ``w`` wide; returns its bottom."""
    s = ts.scale
    body, small = ts.body, ts.small
    pad = round(14 * s) if feature in ("frame", "panel") else 0
    top = y
    x, y, w = x + pad, y + pad, w - 2 * pad
    headline_text = blk.headline or ""
    if feature == "vertical" and headline_text:
        size = round(body * 2.2)
        strip = size + round(16 * s)
        yv = _put_vertical(paper, ts, headline_text, x + w - size, y, size, art)
        w -= strip
        vertical_bottom = yv
    else:
        vertical_bottom = y
        if headline_text:
            size = round(body * rng.choice((2.0, 2.5, 3.0, 4.0)))
            while size > body * 2 and len(ts.wrap(headline_text, size, w, 0)) > 2:
                size = round(size * 0.85)
            for line in ts.wrap(headline_text, size, w, 0):
                lw = sum(a for _, a in line)
                _put_run(
                    paper, ts, "".join(c for c, _ in line), x + (w - lw) / 2, y, size, art, "head"
                )
                y += size * 1.3
            y += round(8 * s)
    if blk.byline and not blk.byline_last:
        _put_run(paper, ts, blk.byline, x, y, small, art, "byline")
        y += small * 1.8
    cols = max(1, round((w + gutter) / (col_w + gutter)))
    cw = (w - (cols - 1) * gutter) / cols
    rows: list[tuple[str, bool]] = []
    for p in blk.paragraphs:
        for k, line in enumerate(ts.wrap(p, body, cw, 2 * body)):
            rows.append(("".join(c for c, _ in line), k == 0))
    if blk.byline and blk.byline_last:
        rows += [("".join(c for c, _ in ln), False) for ln in ts.wrap(blk.byline, body, cw, 0)]
    lh = body * 1.5
    # a photo in the top right columns: the text goes round it in an L
    starts = [y] * cols
    if feature == "photo" and cols >= 2:
        k = 2 if cols >= 4 else 1
        pw = k * cw + (k - 1) * gutter
        ph = round(pw * rng.uniform(0.45, 0.65))
        px = x + w - pw
        paper.photos.append((px, y, px + pw, y + ph))
        caption = f"图为{(blk.headline or blk.paragraphs[0])[:12]}相关现场。"
        cy = y + ph + round(6 * s)
        for line in ts.wrap(caption, small, pw, 0):
            _put_run(paper, ts, "".join(c for c, _ in line), px, cy, small, -1, "caption")
            cy += small * 1.4
        for c in range(cols - k, cols):
            starts[c] = cy + round(12 * s)
    # balance the columns: the lowest bottom that holds every row
    bottom = max(starts) + lh
    while sum(max(0, int((bottom - st) // lh)) for st in starts) < len(rows):
        bottom += lh / 4
    r = 0
    for c in range(cols):
        cx = x + c * (cw + gutter)
        n = max(0, int((bottom - starts[c]) // lh))
        for k in range(n):
            if r >= len(rows):
                break
            text, first = rows[r]
            _put_run(
                paper,
                ts,
                text,
                cx + (2 * body if first else 0),
                starts[c] + k * lh,
                body,
                art,
                "body",
            )
            r += 1
    end = max(bottom, vertical_bottom) + pad
    if feature == "frame":
        _frame(paper, x - pad, top, x + w + pad, end, max(1, round(2 * s)))
    elif feature == "panel":
        paper.panels.append((x - pad, top, x + w + pad + (0), end))
    return end


def lay_out_paper(
    blocks: list[Block], ts: Typesetter, rng: random.Random, page_no: int | None, columns: int
) -> Paper:
    s = ts.scale
    width = round(1500 * s)
    margin, gutter = round(50 * s), round(16 * s)
    paper = Paper(width)
    col_w = (width - 2 * margin - (columns - 1) * gutter) / columns
    # page header over a thick rule, then a section flag in a frame
    y = float(margin)
    small = ts.small
    # the page's number in its issue as the library reads it (a front page's 下转, the jump
    # line of a linked article), so that the header agrees with the jump lines
    if page_no is not None:
        _put_run(paper, ts, f"第{_numeral(page_no)}版", margin, y, small, -1, "header")
    seq = (page_no or 0) + len(blocks)  # which section and weekday: any, but fixed
    section = SECTIONS[seq % len(SECTIONS)]
    _put_run(paper, ts, section, width / 2 - 2.5 * small, y, small, -1, "header")
    right = f"{WEEKDAYS[seq % 7]}　www.xihaiannews.com"
    _put_run(
        paper,
        ts,
        right,
        width - margin - sum(ts.width(c, small) for c in right),
        y,
        small,
        -1,
        "header",
    )
    y += small * 1.5
    paper.rules.append((margin, y, width - margin, y + max(2, round(4 * s))))
    y += round(16 * s)
    flag = section.split("·")[0]
    fx = _put_run(paper, ts, flag, margin + round(8 * s), y + round(4 * s), small, -1, "flag")
    _frame(paper, margin, y, fx + round(8 * s), y + small + round(10 * s), max(1, round(s)))
    y += small + round(22 * s)
    # which article gets which feature
    n = len(blocks)
    longest = max(range(n), key=lambda i: sum(len(p) for p in blocks[i].paragraphs)) if n else -1
    features = ["plain"] * n
    if n:
        features[longest] = "photo"
    others = [i for i in range(n) if i != longest]
    titled = [i for i in others if blocks[i].headline and len(blocks[i].headline) <= 24]
    if titled:  # a vertical headline: the first titled article after the longest one
        features[titled[0]] = "vertical"
    rest = [i for i in others if features[i] == "plain"]
    for i, f in zip(rest, ("frame", "panel"), strict=False):
        features[i] = f
    i = 0
    while i < n:
        blk = blocks[i]
        size = sum(len(p) for p in blk.paragraphs)
        short = size < 260 and features[i] != "photo"
        pair = (
            short
            and i + 1 < n
            and features[i + 1] != "photo"
            and sum(len(p) for p in blocks[i + 1].paragraphs) < 600
        )
        group = [i, i + 1] if pair else [i]
        spans = [columns // 2, columns - columns // 2] if pair else [columns]
        x, bottom = float(margin), y
        for j, (k, span) in enumerate(zip(group, spans, strict=True)):
            w = span * col_w + (span - 1) * gutter
            start = len(paper.glyphs)
            end = _lay_paper_article(
                paper, ts, rng, k, blocks[k], x, y, w, col_w, gutter, features[k]
            )
            bottom = max(bottom, end)
            paper.articles.append(
                {"index": k, "feature": features[k], "glyphs": [start, len(paper.glyphs)]}
            )
            if j == 0 and pair:  # a column rule between articles side by side
                paper.rules.append((x + w + gutter / 2 - s, y, x + w + gutter / 2 + s, 0.0))
            x += w + gutter
        for r, rule in enumerate(paper.rules):  # close the open column rules at the band's bottom
            if rule[3] == 0.0:
                paper.rules[r] = (rule[0], rule[1], rule[2], bottom)
        y = bottom + round(14 * s)
        paper.rules.append((margin, y, width - margin, y + max(1, round(2 * s))))
        y += round(18 * s)
        i += len(group)
    paper.height = int(y + margin)
    return paper


def render_paper(paper: Paper, ts: Typesetter, rng: random.Random):  # type: ignore[no-untyped-def]
    import numpy as np
    from PIL import Image, ImageDraw, ImageFilter

    img = Image.new("L", (paper.width, paper.height), 255)
    draw = ImageDraw.Draw(img)
    for p in paper.panels:
        draw.rectangle(p, fill=222)
    noise = np.random.default_rng(rng.randrange(1 << 30))
    for x0, y0, x1, y1 in paper.photos:
        w, h = int(x1 - x0), int(y1 - y0)
        tex = noise.normal(128, 60, (max(1, h // 8), max(1, w // 8))).clip(0, 255).astype(np.uint8)
        photo = (
            Image.fromarray(tex).resize((w, h), Image.BICUBIC).filter(ImageFilter.GaussianBlur(3))
        )
        pd = ImageDraw.Draw(photo)
        for _ in range(4):  # a few shapes: people, a building
            a, b = noise.uniform(0, w), noise.uniform(0, h)
            pd.ellipse((a, b, a + w / 5, b + h / 3), fill=int(noise.uniform(30, 90)))
        img.paste(photo, (int(x0), int(y0)))
    for g in paper.glyphs:
        draw.text(g.origin, g.ch, font=ts.font(g.size), fill=20)
    for r in paper.rules:
        draw.rectangle(r, fill=40)
    return img


def fold_shadow(img, rng: random.Random):  # type: ignore[no-untyped-def]
    """A flatbed scan of a folded page: a shadow darkening towards the fold down the middle."""
    import numpy as np
    from PIL import Image

    arr = np.asarray(img, dtype=np.float32)
    w = arr.shape[1]
    fold = w * rng.uniform(0.47, 0.53)
    xs = np.arange(w, dtype=np.float32)
    shade = 1.0 - 0.45 * np.exp(-(((xs - fold) / (0.03 * w)) ** 2))
    return Image.fromarray((arr * 0.97 * shade[None, :]).clip(0, 255).astype(np.uint8))


def to_traditional(blocks: list[Block]) -> list[Block]:
    import opencc

    cc = opencc.OpenCC("s2t")
    conv = cc.convert
    return [
        Block(
            conv(b.headline) if b.headline else None,
            conv(b.byline) if b.byline else None,
            [conv(p) for p in b.paragraphs],
            b.byline_last,
        )
        for b in blocks
    ]


def paper_variant(n: int) -> tuple[str, int]:
    """Page n's script and resolution (dpi; 100 dpi is 1000 px wide)."""
    script = "traditional" if n % 5 == 2 else "simplified"
    dpi = {1: 100, 4: 300}.get(n % 5, 150)
    return script, dpi


def write_paper(
    out: Path, pid: str, n: int, blks: list[Block], font: Path, seed: int, number: int | None
) -> str:
    script, dpi = paper_variant(n)
    ts = Typesetter(font, dpi / 150)
    rng = random.Random(f"{seed}-{pid}")
    if script == "traditional":
        blks = to_traditional(blks)
    columns = 5 + n % 2
    paper = lay_out_paper(blks, ts, rng, number, columns)
    img = render_paper(paper, ts, rng)
    if dpi >= 300:
        img = fold_shadow(img, rng)
    scan, move, angle = degrade(img, rng, max_degrees=1.0)
    scan.save(out / "paper" / f"{pid}.png")
    articles = []
    for a in paper.articles:
        g0, g1 = a["glyphs"]
        mine = [g for g in paper.glyphs[g0:g1] if g.article == a["index"]]
        blk = blks[a["index"]]
        articles.append(
            {
                "feature": a["feature"],
                "headline": blk.headline,
                "text": "".join(g.ch for g in mine),
                "body": "".join(g.ch for g in mine if g.role == "body"),
            }
        )
    scan_boxes = moved_boxes([g.box for g in paper.glyphs], move)
    truth = {
        "page_id": pid,
        "size": [paper.width, paper.height],
        "dpi": dpi,
        "script": script,
        "columns": columns,
        "skew_degrees": round(angle, 2),
        "articles": articles,
        "chars": "".join(g.ch for g in paper.glyphs),
        "roles": [g.role for g in paper.glyphs],
        "article_of": [g.article for g in paper.glyphs],
        "scan_boxes": scan_boxes,
    }
    (out / "paper_truth" / f"{pid}.json").write_text(
        json.dumps(truth, ensure_ascii=False), encoding="utf-8"
    )
    return f"{pid}: paper, {columns} columns, {script}, {dpi} dpi, {paper.width}x{paper.height}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("pages", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--pages", dest="only", nargs="*", default=None, help="page ids to lay out")
    ap.add_argument("--dpi", type=int, default=150, help="pixels per inch of the images")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--style",
        choices=("plain", "paper"),
        default="plain",
        help="plain: bands of columns (text, image and scan); paper: real pages' rules, photos, "
        "panels, big and vertical headlines, traditional script, 1000 px and 300 dpi scans",
    )
    args = ap.parse_args(argv)
    font = find_font()
    if args.style == "paper":
        blocks = page_blocks(args.pages)
        numbers = issue_page_numbers(args.pages)
        for sub in ("paper", "paper_truth"):
            (args.out / sub).mkdir(parents=True, exist_ok=True)
        for n, (pid, blks) in enumerate(sorted(blocks.items())):
            if args.only is None or pid in args.only:
                print(write_paper(args.out, pid, n, blks, font, args.seed, numbers.get(pid)))
        if (args.pages / "pages.json").is_file():
            shutil.copy(args.pages / "pages.json", args.out / "paper" / "pages.json")
        return 0
    ts = Typesetter(font, args.dpi / 150)
    rng = random.Random(args.seed)
    blocks = page_blocks(args.pages)
    try:
        import reportlab  # noqa: F401  (writes the PDFs with a text layer)

        has_reportlab = True
    except ImportError:
        has_reportlab = False
        print("no reportlab: PDFs with a text layer skipped (pip install -e .[dev])")
    for sub in ("text", "image", "scan", "truth"):
        (args.out / sub).mkdir(parents=True, exist_ok=True)
    manifest = args.pages / "pages.json"
    for n, (pid, blks) in enumerate(sorted(blocks.items())):
        if args.only is not None and pid not in args.only:
            continue
        lay = lay_out(blks, 3 + n % 3, ts)
        img = render_image(lay, ts)
        scan, move, angle = degrade(img, rng)
        if has_reportlab:
            write_text_pdf(args.out / "text" / f"{pid}.pdf", lay, ts, args.dpi)
        scan.save(args.out / "scan" / f"{pid}.png")
        write_image_pdf(args.out / "image" / f"{pid}.pdf", scan, args.dpi)
        scan_boxes = moved_boxes([g.box for g in lay.glyphs], move)
        truth = {
            "page_id": pid,
            "size": [lay.width, lay.height],
            "dpi": args.dpi,
            "columns": 3 + n % 3,
            "skew_degrees": round(angle, 2),
            "text": lay.text,
            "lines": ["".join(lay.glyphs[i].ch for i in line) for line in lay.lines],
            "chars": "".join(g.ch for g in lay.glyphs),
            "boxes": [[round(v, 1) for v in g.box] for g in lay.glyphs],
            "scan_boxes": scan_boxes,
        }
        (args.out / "truth" / f"{pid}.json").write_text(
            json.dumps(truth, ensure_ascii=False), encoding="utf-8"
        )
        print(f"{pid}: {3 + n % 3} columns, {len(lay.glyphs)} characters, {lay.width}x{lay.height}")
    if manifest.is_file():
        for sub in ("text", "image", "scan"):
            shutil.copy(manifest, args.out / sub / "pages.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
