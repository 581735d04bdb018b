"""Read page images and PDF pages into text lines with character boxes.

A PDF page with a text layer gives its characters and their boxes (pypdfium2); a PDF page
without one, and a page image (``.png``, ``.jpg``, ``.tif``), are read by OCR (RapidOCR's
PP-OCRv4 models, which ship inside the ``rapidocr-onnxruntime`` wheel: nothing downloads).
Boxes are in the pixels of the page's picture as a viewer shows it (see :func:`render`): the
image turned upright by its EXIF orientation, each frame of a multi-frame TIFF a page of its
own, or the PDF page rendered at :data:`PDF_DPI` inside its crop box and turned by its
``/Rotate``. Every picture is opened by :func:`open_picture`, so reading and showing agree.

OCR is what a scanned build costs, so its result is kept in a cache keyed by the content of
the image (``$RAG_OCR_CACHE``, else ``~/.cache/baozhi-rag/ocr``): a rebuild never reads an
unchanged page again.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import logging
import math
import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.errors import PageReadError
from rag.ingest.layout import VERTICAL_RATIO, Line, body_frame
from rag.ingest.marks import Marks, find_marks

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
# A broadsheet page scanned at 600 dpi is about 140 million pixels, past Pillow's own guard
# against decompression bombs (179 MP aborts the open); a picture larger than this is taken as
# broken or hostile and skipped with a warning.
MAX_PICTURE_PIXELS = 300_000_000


@dataclass(frozen=True)
class Reading:
    """What a page picture reads as: its lines, the picture's size and how it was read."""

    lines: tuple[Line, ...]
    size: tuple[int, int]  # width, height in pixels
    method: str  # "pdf-text" (text layer), "ocr" or "ocr-cached"
    # where the lines' boxes stand on the picture, when they are not in its pixels already
    # (a PDF text layer: see _PageToPicture.affine)
    to_picture: tuple[float, float, float, float, float, float] | None = None
    # the picture's rules, photos and panels (OCR'd pictures; see rag.ingest.marks)
    marks: Marks | None = None


def on_picture(boxes: np.ndarray, affine: tuple[float, ...] | None) -> np.ndarray:
    """``boxes`` (n, 4: x0, y0, x1, y1) moved by ``affine`` (see :class:`Reading`), as boxes."""
    if affine is None or not len(boxes):
        return boxes
    a, b, c, d, e, f = affine
    xs = np.stack([a * boxes[:, i] + b * boxes[:, j] + c for i, j in ((0, 1), (2, 3))])
    ys = np.stack([d * boxes[:, i] + e * boxes[:, j] + f for i, j in ((0, 1), (2, 3))])
    return np.stack([xs.min(0), ys.min(0), xs.max(0), ys.max(0)], axis=1).astype(boxes.dtype)


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


def picture_count(path: Path) -> int:
    """Archive pages a picture file holds: a PDF's pages, a TIFF's frames, else one."""
    if path.suffix.lower() in PDF_SUFFIXES:
        return pdf_page_count(path)
    try:
        with _opened(path) as im:
            return max(1, int(getattr(im, "n_frames", 1)))
    except Exception:  # an unreadable file: read_image says why
        return 1


class _PageToPicture:
    """Where a PDF page's points stand on its rendered picture, as PDFium renders it: the crop
    box fills the picture, y runs down, and ``/Rotate`` turns the page clockwise.

    Reading order is found on the page upright (:meth:`upright`: the picture it would have
    unturned); :meth:`affine` then turns those pixels onto the picture as shown."""

    def __init__(self, page, scale: float) -> None:  # type: ignore[no-untyped-def]
        self.left, self.bottom, self.right, self.top = page.get_cropbox()
        self.rotation = page.get_rotation() % 360
        self.k = scale

    @property
    def upright_size(self) -> tuple[float, float]:
        return (self.right - self.left) * self.k, (self.top - self.bottom) * self.k

    @property
    def size(self) -> tuple[int, int]:
        """The rendered picture's size (pypdfium2 rounds each side up)."""
        w, h = (math.ceil(s - 1e-9) for s in self.upright_size)
        return (h, w) if self.rotation in (90, 270) else (w, h)

    def upright(self, x: float, y: float) -> tuple[float, float]:
        """A point of user space (points, y up) on the unturned picture."""
        return (x - self.left) * self.k, (self.top - y) * self.k

    def turned(self, u: float, v: float) -> tuple[float, float]:
        """A point of the unturned picture on the picture as shown."""
        w, h = self.upright_size
        if self.rotation == 90:
            return h - v, u
        if self.rotation == 180:
            return w - u, h - v
        if self.rotation == 270:
            return v, w - u
        return u, v

    def affine(self) -> tuple[float, float, float, float, float, float] | None:
        """``(a, b, c, d, e, f)``: a point ``(u, v)`` of the unturned picture stands at
        ``(a u + b v + c, d u + e v + f)`` on the picture as shown; None when unturned."""
        if self.rotation == 0:
            return None
        x0, y0 = self.turned(0.0, 0.0)
        x1, y1 = self.turned(1.0, 0.0)
        x2, y2 = self.turned(0.0, 1.0)
        return (x1 - x0, x2 - x0, x0, y1 - y0, y2 - y0, y0)

    def inside(self, x: float, y: float) -> bool:
        """Whether a point of user space shows on the page (inside the crop box)."""
        return self.left <= x <= self.right and self.bottom <= y <= self.top


def read_pdf_page(path: Path, index: int) -> Reading:
    """Page ``index`` of a PDF: its text layer when it has one, else OCR of its picture."""
    pdfium = _pdfium()
    doc = _open_pdf(path)
    try:
        page = doc[index]
        k = PDF_DPI / 72.0
        to_picture = _PageToPicture(page, k)
        size = to_picture.size
        # PDFium orders a turned page's characters by how they stand turned: read it unturned
        # (in memory only), as its text was drawn, and turn the boxes afterwards
        page.set_rotation(0)
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
            if not to_picture.inside((left + right) / 2, oy.value):
                continue  # cropped away: not on the page as printed
            top, bottom = oy.value + 0.88 * font_size, oy.value - 0.12 * font_size
            # reading order is found on the page upright; the boxes are turned onto the
            # picture afterwards, as the page is shown
            u0, v0 = to_picture.upright(left, top)
            u1, v1 = to_picture.upright(right, bottom)
            chars.append((ch, (u0, v0, u1, v1)))
        if len(chars) >= MIN_TEXT_CHARS:
            from rag.ingest.layout import lines_of_chars

            return Reading(tuple(lines_of_chars(chars)), size, "pdf-text", to_picture.affine())
        page.set_rotation(to_picture.rotation)
        picture = page.render(scale=k).to_pil()
    finally:
        doc.close()
    return _ocr_picture(picture, f"{path.name} page {index + 1}")


_pillow_lock = threading.Lock()


@contextmanager
def _opened(path: Path):  # type: ignore[no-untyped-def]
    """The image file at ``path``, opened under this package's size limit instead of Pillow's
    decompression-bomb guard; :class:`PageReadError` past :data:`MAX_PICTURE_PIXELS`."""
    from PIL import Image

    with _pillow_lock:
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            with Image.open(path) as im:
                width, height = im.size
                if width * height > MAX_PICTURE_PIXELS:
                    raise PageReadError(
                        f"{width}x{height} pixels, larger than the "
                        f"{MAX_PICTURE_PIXELS // 10**6} million pixels a page picture may have"
                    )
                yield im
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def open_picture(path: Path, frame: int | None = None):  # type: ignore[no-untyped-def]
    """A page image as a viewer shows it: frame ``frame`` of a multi-frame file, turned
    upright by its EXIF orientation, 8 bits per channel (a 16-bit or float scan stretched over
    its range), grey or RGB. Raises :class:`PageReadError` for a file that is not a readable
    image or is larger than :data:`MAX_PICTURE_PIXELS`."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with _opened(path) as im:
            if frame:
                im.seek(frame)
            im.load()
            picture = ImageOps.exif_transpose(im) if frame in (None, 0) else im.copy()
    except PageReadError:
        raise
    except (
        OSError,
        ValueError,
        EOFError,
        UnidentifiedImageError,
        Image.DecompressionBombError,
    ) as exc:
        raise PageReadError(f"not a readable image ({exc})") from exc
    if picture.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        # 16-bit and float scans: Pillow's own conversion clips them to white
        values = np.asarray(picture, dtype=np.float64)
        lo, hi = np.percentile(values, (0.1, 99.9)) if values.size else (0.0, 1.0)
        scaled = np.clip((values - lo) * 255.0 / max(hi - lo, 1e-9), 0, 255)
        picture = Image.fromarray(scaled.round().astype(np.uint8), "L")
    elif picture.mode in ("RGBA", "LA", "PA") or (
        picture.mode == "P" and "transparency" in picture.info
    ):
        rgba = picture.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        picture = Image.alpha_composite(white, rgba).convert("RGB")
    elif picture.mode not in ("L", "RGB"):
        picture = picture.convert("RGB")
    return picture


def reduced_picture(path: Path, max_side: int):  # type: ignore[no-untyped-def]
    """A stored page picture made to fit ``max_side`` pixels (a JPEG decoded small, never a
    full-size copy kept), as RGB, and the scale from its pixels to the reduced ones."""
    from PIL import Image

    try:
        with _opened(path) as im:
            width, height = im.size
            scale = min(1.0, max_side / max(width, height, 1))
            target = (max(1, round(width * scale)), max(1, round(height * scale)))
            im.draft("RGB", target)  # JPEG: decode at a fraction of the size
            picture = im.convert("RGB")
    except PageReadError as exc:
        raise PageReadError(f"{path.name}: {exc}") from exc
    except (OSError, ValueError, EOFError) as exc:
        raise PageReadError(f"{path.name}: not a readable image ({exc})") from exc
    if picture.size != target:
        picture = picture.resize(target, Image.Resampling.LANCZOS, reducing_gap=3.0)
    return picture, target[0] / max(width, 1)


def shown_as_is(path: Path) -> bool:
    """Whether a page image file can be shown as it came (a browser shows what was read): a
    one-frame PNG or JPEG, upright, 8-bit grey or RGB."""
    if path.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        return False
    try:
        with _opened(path) as im:
            upright = im.getexif().get(0x0112, 1) == 1
            return upright and getattr(im, "n_frames", 1) == 1 and im.mode in ("L", "RGB")
    except Exception:
        return False


def read_image(path: Path, frame: int | None = None) -> Reading:
    """A page image (or frame ``frame`` of a multi-frame TIFF), read by OCR (or from the OCR
    cache)."""
    return _ocr_picture(open_picture(path, frame), path.name)


def render(path: Path, index: int | None, out: Path) -> tuple[int, int]:
    """Write the page's picture as PNG to ``out``; its size. ``index``: the page of a PDF
    (rendered at :data:`PDF_DPI`) or the frame of an image file."""
    if path.suffix.lower() in PDF_SUFFIXES:
        doc = _open_pdf(path)
        try:
            picture = doc[index or 0].render(scale=PDF_DPI / 72.0).to_pil()
        finally:
            doc.close()
    else:
        try:
            picture = open_picture(path, index)
        except PageReadError as exc:
            raise OSError(str(exc)) from exc
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
        kept = tuple(_tightened(ln) for ln in cached)
        return Reading(kept, size, "ocr-cached", marks=_marks(rgb, kept))
    log.debug("OCR of %s (%dx%d)", name, *size)
    result, _ = _ocr_engine()(rgb[:, :, ::-1], return_word_box=True, text_score=0.0)
    lines: list[Line] = []
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
    kept = tuple(_tightened(ln) for ln in lines)
    return Reading(kept, size, "ocr", marks=_marks(rgb, kept))


def _marks(rgb: np.ndarray, lines: tuple[Line, ...]) -> Marks | None:
    """The picture's printed marks in the frame the layout orders ``lines`` in."""
    if not lines:
        return None
    skew, boxes, line_h = body_frame(lines)
    gray = rgb.min(axis=2)  # ink in any colour is dark
    return find_marks(gray, skew, boxes, line_h)


def _tightened(line: Line) -> Line:
    """The line with its character boxes cut to :data:`DETECTOR_HEIGHT_KEPT` of their height.
    A line set vertically (its region taller than wide) is cut into characters down its
    height, and narrowed across."""
    x0 = min(b[0] for b in line.boxes)
    y0 = min(b[1] for b in line.boxes)
    x1 = max(b[2] for b in line.boxes)
    y1 = max(b[3] for b in line.boxes)
    if len(line.text) >= 2 and y1 - y0 > VERTICAL_RATIO * (x1 - x0):
        step = (y1 - y0) / len(line.text)
        pad = (x1 - x0) * (1 - DETECTOR_HEIGHT_KEPT) / 2
        return Line(
            line.text,
            tuple(
                (x0 + pad, y0 + k * step, x1 - pad, y0 + (k + 1) * step)
                for k in range(len(line.text))
            ),
            line.confidence,
        )
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
