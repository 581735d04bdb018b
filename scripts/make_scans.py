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

Usage: python scripts/make_scans.py PAGES OUT [--pages ID ...] [--dpi 150] [--seed 0]
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

        self.path = font_path
        self.body = round(22 * scale)
        self.head = round(38 * scale)
        self.small = round(20 * scale)
        self.fonts = {
            s: ImageFont.truetype(str(font_path), s) for s in (self.body, self.head, self.small)
        }
        self.scale = scale

    def ascent(self, size: int) -> int:
        return int(self.fonts[size].getmetrics()[0])

    def width(self, ch: str, size: int) -> float:
        return float(self.fonts[size].getlength(ch))

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


def degrade(img, rng: random.Random):  # type: ignore[no-untyped-def]
    """Noise, a skew of 1-2 degrees and a JPEG round trip at quality 60; returns the scan and
    the transform of a point (for the truth boxes)."""
    import numpy as np
    from PIL import Image, ImageFilter

    angle = rng.choice((-1, 1)) * rng.uniform(1.0, 2.0)
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("pages", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--pages", dest="only", nargs="*", default=None, help="page ids to lay out")
    ap.add_argument("--dpi", type=int, default=150, help="pixels per inch of the images")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    font = find_font()
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
        scan_boxes = []
        for g in lay.glyphs:
            pts = [move(x, y) for x in (g.box[0], g.box[2]) for y in (g.box[1], g.box[3])]
            xs, ys = [p[0] for p in pts], [p[1] for p in pts]
            scan_boxes.append(
                [round(min(xs), 1), round(min(ys), 1), round(max(xs), 1), round(max(ys), 1)]
            )
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
