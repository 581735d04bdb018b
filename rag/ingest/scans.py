"""Read page images and PDF pages into text lines with character boxes.

A PDF page with a text layer gives its characters and their boxes (pypdfium2); a PDF page
without one, and a page image (``.png``, ``.jpg``, ``.tif``), are read by OCR (RapidOCR's
PP-OCRv4 models, which ship inside the ``rapidocr-onnxruntime`` wheel: nothing downloads).
Boxes are in the pixels of the page's picture: the image itself, or the PDF page rendered at
:data:`PDF_DPI` (see :func:`render`).

OCR is what a scanned build costs, so its result is kept in a cache keyed by the content of
the image (``$RAG_OCR_CACHE``, else ``~/.cache/baozhi-rag/ocr``): a rebuild never reads an
unchanged page again.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from rag.errors import PageReadError
from rag.ingest.layout import Line

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
PDF_SUFFIXES = (".pdf",)
PDF_DPI = 150  # pixels per inch of a PDF page's picture (boxes and OCR)
OCR_CACHE_ENV = "RAG_OCR_CACHE"
OCR_THREADS_ENV = "RAG_OCR_THREADS"  # threads per OCR engine (Ray tasks: one each)
OCR_VERSION = "rapidocr-ppocrv4-1"  # part of the cache key: change it when reading changes
MIN_TEXT_CHARS = 20  # a PDF page with fewer characters in its text layer is treated as a scan
# The detector pads a text line's region (DB's unclip, ratio 1.6): its boxes stand about 10 %
# taller than the characters' em boxes. Character boxes keep this share of that height, about
# their centre, so a highlight covers the characters and not the line spacing.
DETECTOR_HEIGHT_KEPT = 0.9


@dataclass(frozen=True)
class Reading:
    """What a page picture reads as: its lines, the picture's size and how it was read."""

    lines: tuple[Line, ...]
    size: tuple[int, int]  # width, height in pixels
    method: str  # "pdf-text" (text layer), "ocr" or "ocr-cached"


def ocr_cache_dir() -> Path:
    """``$RAG_OCR_CACHE`` or ``~/.cache/baozhi-rag/ocr``."""
    env = os.environ.get(OCR_CACHE_ENV)
    return Path(env) if env else Path.home() / ".cache" / "baozhi-rag" / "ocr"


def _open_pdf(path: Path):  # type: ignore[no-untyped-def]
    """The PDF document at ``path``; a clear error for a file that is not one."""
    pdfium = _pdfium()
    try:
        return pdfium.PdfDocument(str(path))
    except (pdfium.PdfiumError, OSError) as exc:
        raise PageReadError(f"not a readable PDF ({exc})") from exc


def pdf_page_count(path: Path) -> int:
    """Pages of a PDF file."""
    doc = _open_pdf(path)
    try:
        return len(doc)
    finally:
        doc.close()


def read_pdf_page(path: Path, index: int) -> Reading:
    """Page ``index`` of a PDF: its text layer when it has one, else OCR of its picture."""
    pdfium = _pdfium()
    doc = _open_pdf(path)
    try:
        page = doc[index]
        width_pt, height_pt = page.get_size()
        k = PDF_DPI / 72.0
        size = (round(width_pt * k), round(height_pt * k))
        textpage = page.get_textpage()
        chars = []
        ox, oy = ctypes.c_double(), ctypes.c_double()
        for i in range(textpage.count_chars()):
            ch = textpage.get_text_range(i, 1)
            if not ch or ch.isspace():
                continue
            # across: the character's advance; up and down: its ideographic em box, 0.88 em
            # above the baseline and 0.12 under (a font's ascent and descent run wider)
            left, _, right, _ = textpage.get_charbox(i, loose=True)
            font_size = pdfium.raw.FPDFText_GetFontSize(textpage.raw, i)
            pdfium.raw.FPDFText_GetCharOrigin(textpage.raw, i, ctypes.byref(ox), ctypes.byref(oy))
            top, bottom = oy.value + 0.88 * font_size, oy.value - 0.12 * font_size
            chars.append(
                (ch, (left * k, (height_pt - top) * k, right * k, (height_pt - bottom) * k))
            )
        if len(chars) >= MIN_TEXT_CHARS:
            from rag.ingest.layout import lines_of_chars

            return Reading(tuple(lines_of_chars(chars)), size, "pdf-text")
        picture = page.render(scale=k).to_pil()
    finally:
        doc.close()
    return _ocr_picture(picture, f"{path.name} page {index + 1}")


def read_image(path: Path) -> Reading:
    """A page image, read by OCR (or from the OCR cache)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            picture = im.copy()
    except (OSError, UnidentifiedImageError) as exc:
        raise PageReadError(f"not a readable image ({exc})") from exc
    return _ocr_picture(picture, path.name)


def render(path: Path, index: int | None, out: Path) -> tuple[int, int]:
    """Write the page's picture as PNG to ``out`` (a PDF page at :data:`PDF_DPI`); its size."""
    from PIL import Image

    if index is None:
        with Image.open(path) as im:
            picture = im.convert("RGB") if im.mode not in ("L", "RGB") else im.copy()
    else:
        doc = _open_pdf(path)
        try:
            picture = doc[index].render(scale=PDF_DPI / 72.0).to_pil()
        finally:
            doc.close()
    picture.save(out, "PNG", optimize=False, compress_level=3)
    return picture.size


# ----------------------------------------------------------------------------- OCR


_engine = None
_engine_lock = threading.Lock()


def _ocr_engine():  # type: ignore[no-untyped-def]
    global _engine
    with _engine_lock:
        if _engine is None:
            try:
                from rapidocr_onnxruntime import RapidOCR
            except ImportError as exc:  # pragma: no cover - a dependency of the package
                raise PageReadError(
                    "reading page images needs rapidocr-onnxruntime (pip install -e .)"
                ) from exc
            for name in ("RapidOCR", "rapidocr_onnxruntime"):
                logging.getLogger(name).setLevel(logging.WARNING)
            # keep every line, however unsure: confidence is kept and judged later
            threads = int(os.environ.get(OCR_THREADS_ENV) or -1)  # -1: every core
            _engine = RapidOCR(
                text_score=0.0,
                max_side_len=4000,
                print_verbose=False,
                intra_op_num_threads=threads,
                inter_op_num_threads=-1,
            )
    return _engine


def _ocr_picture(picture, name: str) -> Reading:  # type: ignore[no-untyped-def]
    import numpy as np

    rgb = np.asarray(picture.convert("RGB"))
    key = hashlib.sha256(rgb.tobytes() + str(rgb.shape).encode() + OCR_VERSION.encode())
    cache = ocr_cache_dir() / f"{key.hexdigest()}.json"
    size = (int(rgb.shape[1]), int(rgb.shape[0]))
    cached = _load_cached(cache)
    if cached is not None:
        return Reading(tuple(_tightened(ln) for ln in cached), size, "ocr-cached")
    log.debug("OCR of %s (%dx%d)", name, *size)
    result, _ = _ocr_engine()(rgb[:, :, ::-1], return_word_box=True, text_score=0.0)
    lines = []
    for item in result or []:
        text, score = str(item[1]), float(item[2])
        words = item[3] if len(item) > 3 else None
        if not text.strip():
            continue
        boxes = _char_boxes(text, item[0], words)
        keep = [(c, b) for c, b in zip(text, boxes, strict=True) if not c.isspace()]
        if keep:
            lines.append(
                Line("".join(c for c, _ in keep), tuple(b for _, b in keep), round(score, 4))
            )
    _store_cached(cache, lines)
    return Reading(tuple(_tightened(ln) for ln in lines), size, "ocr")


def _tightened(line: Line) -> Line:
    """The line with its character boxes cut to :data:`DETECTOR_HEIGHT_KEPT` of their height."""
    half = DETECTOR_HEIGHT_KEPT / 2
    boxes = tuple(
        (x0, (y0 + y1) / 2 - (y1 - y0) * half, x1, (y0 + y1) / 2 + (y1 - y0) * half)
        for x0, y0, x1, y1 in line.boxes
    )
    return Line(line.text, boxes, line.confidence)


def _char_boxes(text: str, quad, words) -> list[tuple[float, float, float, float]]:  # type: ignore[no-untyped-def]
    """A box per character: the engine's own when it gave one per character, else the line's
    box cut evenly."""
    if words and len(words) == len(text):
        return [_rect(w) for w in words]
    x0, y0, x1, y1 = _rect(quad)
    step = (x1 - x0) / max(len(text), 1)
    return [(x0 + i * step, y0, x0 + (i + 1) * step, y1) for i in range(len(text))]


def _rect(quad) -> tuple[float, float, float, float]:  # type: ignore[no-untyped-def]
    xs = [float(p[0]) for p in quad]
    ys = [float(p[1]) for p in quad]
    return (min(xs), min(ys), max(xs), max(ys))


def _load_cached(path: Path) -> tuple[Line, ...] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return tuple(
            Line(d["text"], tuple(tuple(b) for b in d["boxes"]), d["confidence"]) for d in data
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _store_cached(path: Path, lines: list[Line]) -> None:
    data = [
        {
            "text": ln.text,
            "boxes": [[round(v, 1) for v in b] for b in ln.boxes],
            "confidence": ln.confidence,
        }
        for ln in lines
    ]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:  # a read-only cache costs time, never the page
        log.debug("OCR cache not written (%s)", exc)


def _pdfium():  # type: ignore[no-untyped-def]
    try:
        import pypdfium2 as pdfium
        import pypdfium2.raw  # the C API: character origins and font sizes
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise PageReadError("reading PDF pages needs pypdfium2 (pip install -e .)") from exc
    return pdfium
