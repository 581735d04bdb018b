"""Page pictures in the index: the image a page was read from and where its characters stand.

For every page read from a picture (a PDF page or a page image) the index keeps
``images/<n>.png`` (or the ``.jpg`` it came as; a PDF page rendered once, at
:data:`rag.ingest.scans.PDF_DPI`) and ``geometry/<n>.npz``: per character of the page's clean
text its box on that image (NaN where nothing is printed) and its OCR confidence. Text pages
have neither. A rebuild copies the picture of a page whose file did not change instead of
rendering it again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from rag.errors import IndexMissingError, RagError
from rag.ingest.pages import Page
from rag.ingest.scans import render, shown_as_is

IMAGES = "images"
GEOMETRY = "geometry"
PICTURES_FILE = "pictures.json"


@dataclass(frozen=True)
class Geometry:
    """Where the characters of a page's clean text stand on its picture."""

    boxes: np.ndarray  # (len(text), 4) float32: x0, y0, x1, y1; NaN where nothing is printed
    confidence: np.ndarray  # (len(text),) float32: the OCR confidence of each character's line


def _file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_pictures(staging: Path, pages: list[Page], previous: Path | None) -> dict[str, dict]:
    """Write the pictures and geometry of ``pages`` into ``staging``; returns what
    ``pictures.json`` records per page id (file names, size, source key)."""
    pictured = [p for p in pages if p.boxes is not None and p.image_size is not None]
    if not pictured:
        return {}
    (staging / IMAGES).mkdir(exist_ok=True)
    (staging / GEOMETRY).mkdir(exist_ok=True)
    old = _records(previous) if previous is not None else {}
    out: dict[str, dict] = {}
    hashes: dict[Path, str] = {}  # a PDF of many pages is read once
    for n, page in enumerate(pictured):
        src = Path(page.path)
        try:
            if src not in hashes:
                hashes[src] = _file_hash(src)
        except OSError:
            continue
        key = f"{hashes[src]}:{page.pdf_page}"
        kept = page.pdf_page is None and shown_as_is(src)
        suffix = src.suffix.lower() if kept else ".png"
        image = f"{IMAGES}/{n:06d}{suffix}"
        prev = old.get(page.page_id)
        prev_file = previous / prev["image"] if previous is not None and prev else None
        try:
            if prev and prev.get("key") == key and prev_file is not None and prev_file.is_file():
                _link_or_copy(prev_file, staging / image)
                size = (int(prev["size"][0]), int(prev["size"][1]))
            elif kept:
                shutil.copyfile(src, staging / image)  # a PNG or JPEG as it came
                size = page.image_size or (0, 0)
            else:
                size = render(src, page.pdf_page, staging / image)
        except OSError:
            continue  # the source went away mid-build: the page keeps its text, not its picture
        geometry = f"{GEOMETRY}/{n:06d}.npz"
        conf = page.confidence if page.confidence is not None else np.ones(len(page.text))
        np.savez(
            staging / geometry,
            boxes=np.asarray(page.boxes, np.float32),
            confidence=np.asarray(conf, np.float16),
        )
        out[page.page_id] = {
            "image": image,
            "geometry": geometry,
            "size": list(size),
            "key": key,
            "source": page.source,
        }
    (staging / PICTURES_FILE).write_text(json.dumps(out, ensure_ascii=False), encoding="utf-8")
    return out


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def _own_records(where: Path) -> dict[str, dict]:
    try:
        data = json.loads((where / PICTURES_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _records(index_dir: Path) -> dict[str, dict]:
    """The pictures of the live pages of every segment of an index (``rag.store.segments``),
    their files named relative to the index directory."""
    try:
        manifest = json.loads((index_dir / "manifest.json").read_text(encoding="utf-8"))
        entries = manifest.get("segments") or [{"name": "."}]
    except (OSError, ValueError, AttributeError):
        entries = [{"name": "."}]
    out: dict[str, dict] = {}
    for entry in entries:
        name = str(entry.get("name", "."))
        dead = set(entry.get("dead_pages", ()))
        for page_id in dead:
            out.pop(page_id, None)
        for page_id, rec in _own_records(index_dir / name).items():
            if page_id in dead:
                continue
            if name != ".":
                rec = {
                    **rec,
                    "image": f"{name}/{rec['image']}",
                    "geometry": f"{name}/{rec['geometry']}",
                }
            out[page_id] = rec
    return out


def merge_pictures(staging: Path, index_dir: Path) -> None:
    """Write the pictures of every live page of the index at ``index_dir`` into ``staging``
    as one segment's (linked, not copied, where the file system allows)."""
    recs = _records(index_dir)
    if not recs:
        return
    (staging / IMAGES).mkdir(exist_ok=True)
    (staging / GEOMETRY).mkdir(exist_ok=True)
    out: dict[str, dict] = {}
    for n, (page_id, rec) in enumerate(recs.items()):
        image = f"{IMAGES}/{n:06d}{Path(rec['image']).suffix}"
        geometry = f"{GEOMETRY}/{n:06d}.npz"
        try:
            _link_or_copy(index_dir / rec["image"], staging / image)
            _link_or_copy(index_dir / rec["geometry"], staging / geometry)
        except OSError:
            continue
        out[page_id] = {**rec, "image": image, "geometry": geometry}
    (staging / PICTURES_FILE).write_text(json.dumps(out, ensure_ascii=False), encoding="utf-8")


@lru_cache(maxsize=8)
def _cached_records(index_dir: str, stamp: tuple[int, int]) -> dict[str, dict]:
    return _records(Path(index_dir))


def records(index_dir: Path) -> dict[str, dict]:
    """The page pictures of an index by page id (re-read when the index changes)."""
    path = index_dir / "manifest.json"
    try:
        st = path.stat()
    except OSError:
        return {}
    return _cached_records(str(index_dir), (st.st_mtime_ns, st.st_ino))


def page_image(index_dir: Path, page_id: str) -> Path:
    """The picture of page ``page_id`` in the index at ``index_dir``; boxes are in its pixels."""
    if not (index_dir / "manifest.json").is_file():
        raise IndexMissingError(f"no index at {index_dir}")
    rec = records(index_dir).get(page_id)
    if rec is None:
        raise RagError(f"page {page_id!r} has no picture in the index (it was read from text)")
    path = index_dir / rec["image"]
    if not path.is_file():
        raise RagError(f"the picture of page {page_id!r} is missing from {index_dir}; rebuild")
    return path


@lru_cache(maxsize=64)
def _geometry(path: str, stamp: float) -> Geometry | None:
    try:
        with np.load(path) as data:
            return Geometry(data["boxes"].astype(np.float32), data["confidence"].astype(np.float32))
    except (OSError, ValueError, KeyError):
        return None


def geometry(index_dir: Path, page_id: str) -> Geometry | None:
    """Where the characters of page ``page_id`` stand; ``None`` for a page read from text."""
    rec = records(index_dir).get(page_id)
    if rec is None:
        return None
    path = index_dir / rec["geometry"]
    try:
        stamp = path.stat().st_mtime
    except OSError:
        return None
    return _geometry(str(path), stamp)
