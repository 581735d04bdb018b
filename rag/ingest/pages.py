"""Read OCR'd page files and clean them into reading-order text with a map back to the raw page.

A page file is split into *units*: paragraphs (a new one starts at an indented line or after a
blank line) whose lines are joined, letter-spaced runs rejoined and layout marks (markdown ``##``
and ``**``) dropped. The clean page text is the units joined by newlines; ``Page.offsets[i]`` is
the index in ``Page.raw`` of clean character ``i``, so a UI can highlight the exact source span.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rag.errors import PageReadError
from rag.ingest.dates import NUMBER, YEAR, stored_date
from rag.ingest.dates import number as number_of
from rag.ingest.layout import page_text
from rag.ingest.scans import (
    IMAGE_SUFFIXES,
    PDF_SUFFIXES,
    Reading,
    on_picture,
    picture_count,
    read_image,
    read_pdf_page,
)
from rag.ingest.tokenize import simplified_chars

TEXT_SUFFIXES = (".txt", ".md")
PAGE_SUFFIXES = TEXT_SUFFIXES + PDF_SUFFIXES + IMAGE_SUFFIXES
LOW_CONFIDENCE = 0.6  # an OCR line read with less confidence than this is called illegible
MANIFEST_NAME = "pages.json"

TERMINAL = "。！？；!?;…．"  # ． : how OCR often reads a small 。
CLOSERS = "”’」』）)》〉】"
_INDENT_CHARS = " \u3000\t\u00a0"


@dataclass(frozen=True)
class Unit:
    """One paragraph-like stretch of a page after cleaning."""

    text: str
    start: int  # span in the clean page text
    end: int
    indented: bool
    heading_mark: bool  # markdown '##' (or a bold-only line) marked it as a title
    continues_previous: bool  # joined to the previous unit across a column break
    kind: str = "body"  # "title" (headline candidate), "byline" or "body"
    after_rule: bool = False  # the first unit past a printed rule (a page picture's layout)
    caption: bool = False  # a photo's caption: it belongs to the article it stands in


@dataclass(frozen=True)
class Page:
    """A cleaned page: ``text`` in reading order, ``offsets`` mapping it back to ``raw``."""

    page_id: str
    path: str
    raw: str
    text: str
    offsets: tuple[int, ...]
    units: tuple[Unit, ...]
    encoding: str
    style: str  # "plain" or "markdown"
    date: str | None = None  # ISO date, or "--MM-DD" when only month and day are known
    edition: str | None = None
    number: int | None = None  # page number within its issue, when known
    warnings: tuple[str, ...] = field(default=())
    # Pages read from a picture (a PDF page or an image): how they were read ("pdf-text",
    # "ocr", "ocr-cached"; "text" for page files), the picture's size in pixels, the PDF page
    # index, and per character of ``text`` its box on the picture (x0, y0, x1, y1; NaN where
    # the text has a character the page does not print) and its line's OCR confidence.
    source: str = "text"
    image_size: tuple[int, int] | None = None
    pdf_page: int | None = None  # its index in a file of several: a PDF's page, a TIFF's frame
    boxes: np.ndarray | None = field(default=None, compare=False, repr=False)
    confidence: np.ndarray | None = field(default=None, compare=False, repr=False)

    def raw_span(self, start: int, end: int) -> tuple[int, int]:
        """Map a span of the clean text to the corresponding span of the raw page text."""
        if not self.offsets or start >= end:
            return (0, 0)
        start = max(0, min(start, len(self.offsets) - 1))
        end = max(start + 1, min(end, len(self.offsets)))
        return (self.offsets[start], self.offsets[end - 1] + 1)


# ----------------------------------------------------------------------------- decoding


def decode_bytes(data: bytes) -> tuple[str, str]:
    """Decode a page file: BOMs, UTF-16 without BOM, UTF-8, then GB18030.

    Returns ``(text, encoding)``; raises :class:`PageReadError` for binary or undecodable data.
    """
    if not data:
        return "", "empty"
    for bom, enc in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            try:
                return data.decode(enc), enc
            except UnicodeDecodeError as exc:
                raise PageReadError(
                    f"starts with a {enc} byte-order mark but is not {enc}"
                ) from exc
    if b"\x00" in data:
        # UTF-16 without a byte-order mark: ASCII and U+3000 leave zero bytes
        found = _first_textual(data, ("utf-16-le", "utf-16-be")) if len(data) % 2 == 0 else None
        if found is None:
            raise PageReadError("binary data (NUL bytes), not a text page")
        return found
    found = _first_textual(data, ("utf-8", "gb18030"))
    if found is None:
        raise PageReadError("not decodable as UTF-8, UTF-16 or GB18030 text")
    return found


def _first_textual(data: bytes, encodings: tuple[str, ...]) -> tuple[str, str] | None:
    """The first of ``encodings`` that decodes ``data`` into plausible text."""
    for enc in encodings:
        try:
            text = data.decode(enc)
        except UnicodeDecodeError:
            continue
        if _looks_textual(text):
            return text, enc
    return None


def _looks_textual(text: str) -> bool:
    bad = sum(1 for ch in text if (ord(ch) < 32 and ch not in "\r\n\t\f") or ch == "\ufffd")
    return bad <= max(2, len(text) // 100)


# ----------------------------------------------------------------------------- cleaning

_MD_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+")
_MD_BOLD = re.compile(r"\*\*|__")
_CJK_CHAR = re.compile(r"[\u3400-\u9fff\uf900-\ufaff0-9０-９]")
_CJK_PUNCT = set("，。、；：？！“”‘’（）《》〈〉【】—…·「」『』,.;:?!()%％")

BYLINE = re.compile(
    r"^[□■◇口]?\s*[（(]?\s*(?:本报)?(?:首席|见习|特约)?(?:记者|通讯员|摄影|撰稿)"
    r"(?:[\s\u3000]*(?:本报)?(?:首席|见习|特约)?(?:记者|通讯员)?[\s\u3000]*[\u4e00-\u9fff·]{2,4})+"
    r"[\s\u3000]*(?:报道|摄影|摄|整理|文/图|采写)?\s*[）)]?$"
)
DATELINE = re.compile(
    r"^(?:本报\s*(?:\d{1,2}\s*月\s*\d{1,2}\s*日)?\s*讯|(?:新华社|中新社)[^，。]{0,12}电)"
)
JUMP_IN_START = re.compile(r"^[（(]\s*上接第\s*[一二三四五六七八九十\d]+\s*版\s*[）)]")
_JUMP_IN_ANY = re.compile(r"[（(]\s*上接第\s*[一二三四五六七八九十\d]+\s*版\s*[）)]")
_JUMP_OUT_ANY = re.compile(r"[（(]\s*下转第\s*[一二三四五六七八九十\d]+\s*版\s*[）)]")
JUMP_OUT_END = re.compile(r"[（(]\s*下转第\s*[一二三四五六七八九十\d]+\s*版\s*[）)]\s*$")
BULLETS = "◆●■▲★•◇□"


@dataclass
class _Line:
    text: str  # stripped, marks removed
    raw_pos: list[int]  # raw index of each char of text
    indent: int  # leading whitespace width (an ideographic space counts 2)
    heading_mark: bool
    bold_only: bool
    hard_break: bool  # markdown "two trailing spaces" line break
    after_rule: bool = False  # a rule line (RULE_LINE) stood before this line
    caption: bool = False  # a caption line (CAPTION_LINE) stood before this line


RULE_LINE = "\f"  # a line of its own in a picture's raw text: a printed rule parts the page here
CAPTION_LINE = "\v"  # and the lines after it, up to a blank line, are a photo's caption


def _split_lines(raw: str) -> list[_Line | None]:
    """Lines with their raw offsets; ``None`` stands for a blank line (and a rule line)."""
    out: list[_Line | None] = []
    pos = 0
    ruled = captioned = False
    for line in raw.split("\n"):
        start = pos
        pos += len(line) + 1
        if line == RULE_LINE:
            out.append(None)
            ruled = True
            continue
        if line == CAPTION_LINE:
            out.append(None)
            captioned = True
            continue
        stripped_left = line.lstrip(_INDENT_CHARS)
        lead = len(line) - len(stripped_left)
        indent = sum(2 if ch == "\u3000" else 1 for ch in line[:lead])
        offset = start + lead
        text = stripped_left
        m = _MD_HEADING.match(text)
        if m:
            offset += m.end()
            text = text[m.end() :]
        bold_only = bool(re.fullmatch(r"\*\*[^*]+\*\*\s*", text))
        hard_break = text.endswith("  ")
        chars: list[str] = []
        positions: list[int] = []
        i = 0
        while i < len(text):
            mb = _MD_BOLD.match(text, i)
            if mb:
                i = mb.end()
                continue
            chars.append(text[i])
            positions.append(offset + i)
            i += 1
        while chars and chars[-1] in _INDENT_CHARS:
            chars.pop()
            positions.pop()
        if not chars:
            out.append(None)
            captioned = False
            continue
        out.append(
            _Line(
                "".join(chars), positions, indent, bool(m), bold_only, hard_break, ruled, captioned
            )
        )
        ruled = False
    return out


def _despace(text: str, pos: list[int], keep_word_spaces: bool) -> tuple[str, list[int]]:
    """Drop OCR spaces between Chinese characters (letter-spaced runs such as ``气 候 投``).

    Spaces between Latin words stay. With ``keep_word_spaces`` (titles, bylines) a space between
    two multi-character Chinese words stays too, as it separates title parts or names.
    """
    if " " not in text and "\u3000" not in text:
        return text, pos
    chars: list[str] = []
    out_pos: list[int] = []
    tokens = [(m.start(), m.group()) for m in re.finditer(r"[^ \u3000]+", text)]
    for k, (start, tok) in enumerate(tokens):
        if k > 0 and chars:
            a, b = chars[-1], tok[0]
            a_cjk = bool(_CJK_CHAR.match(a)) or a in _CJK_PUNCT
            b_cjk = bool(_CJK_CHAR.match(b)) or b in _CJK_PUNCT
            single = len(tokens[k - 1][1]) == 1 or len(tok) == 1
            drop = a_cjk and b_cjk
            if (
                drop
                and keep_word_spaces
                and not single
                and a not in _CJK_PUNCT
                and b not in _CJK_PUNCT
            ):
                drop = False
            if not drop:
                chars.append(" ")
                out_pos.append(pos[start - 1])
        chars.extend(tok)
        out_pos.extend(pos[start : start + len(tok)])
    return "".join(chars), out_pos


def _ends_sentence(text: str) -> bool:
    t = text.rstrip(CLOSERS + " ")
    return bool(t) and (t[-1] in TERMINAL or text.rstrip().endswith(("）", ")")))


def starts_article(text: str) -> bool:
    """A byline, a dateline or a continuation marker: the unit opens an article."""
    probe = simplified_chars(text)  # the cues are written in simplified script
    return bool(BYLINE.match(probe) or DATELINE.match(probe) or JUMP_IN_START.match(probe))


def is_titleish(text: str) -> bool:
    """Short and unpunctuated: a candidate headline rather than running text."""
    core = text.strip()
    if not 2 <= len(core) <= 60 or core[0] in BULLETS:
        return False
    if any(ch in core for ch in "。！？；!?;，") or core.count(",") > 1:
        return False
    return core[-1] not in "，,、：:" and not starts_article(core)


def _group_lines(lines: list[_Line | None]) -> list[list[_Line]]:
    """Paragraphs: a new one at a blank line, an indented line, a byline, dateline or
    continuation marker, and after a jump line or a markdown title."""
    groups: list[list[_Line]] = []
    after_blank = True
    for ln in lines:
        if ln is None:
            after_blank = True
            continue
        prev = groups[-1][-1] if groups else None
        # A single leading space is often just where a re-wrapped line split at a space:
        # it opens a paragraph only after a finished sentence.
        indented = ln.indent > 1 or (
            ln.indent == 1 and prev is not None and _ends_sentence(prev.text)
        )
        new_group = (
            prev is None
            or after_blank
            or indented
            or ln.heading_mark
            or ln.bold_only
            or prev.heading_mark
            or prev.bold_only
            or bool(JUMP_OUT_END.search(simplified_chars(prev.text)))
            or starts_article(ln.text)
        )
        if new_group:
            groups.append([ln])
        else:
            groups[-1].append(ln)
        after_blank = False
    return groups


class _CleanText:
    """Accumulates clean page text, its offset map and its units."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.offsets: list[int] = []
        self.units: list[Unit] = []
        self.length = 0
        self.prev_text = ""
        self.prev_title = False

    def add(
        self,
        joined: str,
        pos: list[int],
        indent: int,
        heading: bool,
        after_rule: bool = False,
        caption: bool = False,
    ) -> None:
        """Append one paragraph, or glue it to the previous one across a column break."""
        flat, _ = _despace(joined, pos, False)
        titleish = heading or (indent < 2 and is_titleish(flat))
        keep_spaces = titleish or bool(BYLINE.match(simplified_chars(flat)))
        text, tpos = _despace(joined, pos, keep_spaces)
        # The previous paragraph stopped mid-sentence and this one is not indented: the same
        # paragraph, unless either is a title or this one opens something of its own.
        continues = bool(
            self.units
            and not caption
            and not self.units[-1].caption
            and indent == 0
            and not titleish
            and not self.prev_title
            and not _ends_sentence(self.prev_text)
            and not starts_article(text)
            and not BYLINE.match(simplified_chars(self.prev_text))
        )
        if continues:
            last = self.units[-1]
            self._append(text, tpos)
            merged = last.text + text
            self.units[-1] = Unit(
                merged, last.start, self.length, last.indented, last.heading_mark, True, last.kind
            )
            self.prev_text = merged
            return
        if self.parts:
            self._append("\n", [max(tpos[0] - 1, 0)])
        start = self.length
        self._append(text, tpos)
        kind = "byline" if BYLINE.match(simplified_chars(text)) else "title" if titleish else "body"
        self.units.append(
            Unit(
                text,
                start,
                self.length,
                indent > 0,
                heading,
                False,
                "body" if caption else kind,
                after_rule,
                caption,
            )
        )
        self.prev_text = text
        self.prev_title = titleish

    def _append(self, text: str, pos: list[int]) -> None:
        self.parts.append(text)
        self.offsets.extend(pos)
        self.length += len(text)


def _split_at_markers(joined: str, pos: list[int]) -> list[tuple[str, list[int], bool]]:
    """Cut a paragraph before an inner ``（上接第X版）`` and after an inner ``（下转第X版）``.

    OCR glues a jump headline to the continuation under it, or a byline to the jump line
    above it; both markers only ever stand at the edge of an article.
    """
    probe = simplified_chars(joined)  # one for one: positions name ``joined``'s characters
    cuts = {m.start() for m in _JUMP_IN_ANY.finditer(probe) if m.start() > 0}
    cuts |= {m.end() for m in _JUMP_OUT_ANY.finditer(probe) if m.end() < len(joined.rstrip())}
    pieces: list[tuple[str, list[int], bool]] = []
    last = 0
    for c in [*sorted(cuts), len(joined)]:
        chunk, chunk_pos = joined[last:c], pos[last:c]
        lead = len(chunk) - len(chunk.lstrip())
        chunk = chunk[lead:].rstrip()
        chunk_pos = chunk_pos[lead : lead + len(chunk)]
        if chunk:
            pieces.append((chunk, chunk_pos, last == 0))
        last = c
    return pieces


def clean_page_text(raw: str) -> tuple[str, list[int], list[Unit]]:
    """Turn raw page text into clean reading-order text, an offset map and its units."""
    if "\r" in raw:
        # same length, so offsets into the returned map still index the caller's raw text
        raw = raw.replace("\r\n", " \n").replace("\r", "\n")
    out = _CleanText()
    for grp in _group_lines(_split_lines(raw)):
        chars: list[str] = []
        pos: list[int] = []
        for ln in grp:
            chars.extend(ln.text)
            pos.extend(ln.raw_pos)
            if ln.hard_break and ln is not grp[-1]:
                chars.append(" ")
                pos.append(ln.raw_pos[-1])
        heading = grp[0].heading_mark or all(ln.bold_only for ln in grp)
        for piece, piece_pos, first in _split_at_markers("".join(chars), pos):
            out.add(
                piece,
                piece_pos,
                grp[0].indent if first else 0,
                heading and first,
                grp[0].after_rule and first,
                grp[0].caption,
            )
    return "".join(out.parts), out.offsets, out.units


# ----------------------------------------------------------------------------- pages

_DATE_IN_DATELINE = re.compile(rf"本报\s*((?:{YEAR}\s*年\s*)?{NUMBER}\s*月\s*{NUMBER}\s*日)\s*讯")
_JUMP_OUT = re.compile(r"[（(]\s*下转第\s*([一二三四五六七八九十\d]+)\s*版\s*[）)]")
_JUMP_IN = re.compile(r"[（(]\s*上接第\s*([一二三四五六七八九十\d]+)\s*版\s*[）)]")


def infer_date(text: str) -> str | None:
    """The most frequent ``本报M月D日讯`` date on the page, as ``--MM-DD`` (no year is invented)."""
    counts: dict[str, int] = {}
    for m in _DATE_IN_DATELINE.finditer(simplified_chars(text)):
        date = stored_date(m.group(1))
        if date:
            counts[date] = counts.get(date, 0) + 1
    if not counts:
        return None
    return max(counts.items(), key=lambda kv: (kv[1], kv[0][-5:], kv[0]))[0]


def page_date(meta: dict, text: str, warnings: list[str], name: str) -> str | None:
    """A page's date: ``pages.json``'s (``2022-08-11``, ``--08-11`` or written, ``2022年8月11日``)
    when it names a real one, else the page's datelines (:func:`infer_date`)."""
    given = meta.get("date")
    if given:
        date = stored_date(str(given))
        if date:
            return date
        warnings.append(f"{name}: date {given!r} in {MANIFEST_NAME} is not a real date; ignored")
    return infer_date(text)


_HEADER_PAGE = re.compile(r"^第\s*([一二三四五六七八九十\d]{1,3})\s*版")


def infer_page_number(text: str, header: str = "") -> int | None:
    """The number a page header prints (``第二版``, read from a page picture's header), else 1
    for a page that sends articles on (``下转第二版``: a front page); none other is guessed."""
    for line in simplified_chars(header).splitlines():
        m = _HEADER_PAGE.match(line.strip())
        if m:
            return number_of(m.group(1))
    return 1 if _JUMP_OUT.search(simplified_chars(text)) else None


def load_manifest(folder: Path) -> tuple[dict[str, dict], list[str]]:
    """Read the optional ``pages.json`` of a folder: ``{page_id: {date, edition, page}}``."""
    path = folder / MANIFEST_NAME
    if not path.is_file():
        return {}, []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return {}, [f"{MANIFEST_NAME}: unreadable ({exc}); page metadata inferred from text"]
    pages = data.get("pages", data) if isinstance(data, dict) else None
    if not isinstance(pages, dict):
        return {}, [f"{MANIFEST_NAME}: expected an object of page ids; ignored"]
    return {str(k): v for k, v in pages.items() if isinstance(v, dict)}, []


def read_page(
    path: Path,
    meta: dict | None = None,
    pdf_page: int | None = None,
    pages_in_file: int = 1,
    stem: str | None = None,
) -> Page:
    """Read and clean one page file. Unreadable files give an empty page with a warning.

    A PDF page or a TIFF frame (``pdf_page``: its index, of ``pages_in_file``) or an image is
    read from its picture (:func:`read_picture`). ``stem``: the name its page id starts from
    (the file's stem unless another file of the folder has it too)."""
    suffix = path.suffix.lower()
    if suffix in PDF_SUFFIXES or suffix in IMAGE_SUFFIXES:
        return read_picture(path, meta, pdf_page, pages_in_file, stem)
    page_id = stem or path.stem
    warnings: list[str] = []
    if page_id != path.stem:
        warnings.append(f"{path.name}: another file is named {path.stem} too; read as {page_id}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        data = b""
        warnings.append(f"{path.name}: cannot be read ({exc})")
    try:
        raw, encoding = decode_bytes(data)
    except PageReadError as exc:
        raw, encoding = "", "unreadable"
        warnings.append(f"{path.name}: {exc}; page kept without text")
    if encoding not in ("utf-8", "empty", "unreadable"):
        warnings.append(f"{path.name}: decoded as {encoding}")
    if encoding == "empty" or (raw and not raw.strip()):
        warnings.append(f"{path.name}: empty page")
    text, offsets, units = clean_page_text(raw)
    style = "markdown" if re.search(r"^\s{0,3}#{1,6}\s|\*\*", raw, re.M) else "plain"
    meta = meta or {}
    date = page_date(meta, text, warnings, path.name)
    number = meta.get("page")
    if not isinstance(number, int):
        number = infer_page_number(text)
    return Page(
        page_id=page_id,
        path=str(path),
        raw=raw,
        text=text,
        offsets=tuple(offsets),
        units=tuple(units),
        encoding=encoding,
        style=style,
        date=date,
        edition=meta.get("edition"),
        number=number,
        warnings=tuple(warnings),
    )


def picture_page_id(
    path: Path, pdf_page: int | None, pages_in_file: int = 1, stem: str | None = None
) -> str:
    """The id of a page read from a picture: the file's name (``stem``), with ``_p2`` and so
    on for the pages of a PDF (or frames of a TIFF) that holds more than one."""
    stem = stem or path.stem
    if pdf_page is None or pages_in_file <= 1:
        return stem
    return f"{stem}_p{pdf_page + 1}"


def page_stems(files: list[Path]) -> dict[Path, str]:
    """The name each file's page ids start from: its stem, or where two files share one
    (``a.txt`` and ``a.pdf``), the stem and suffix (``a_txt``, ``a_pdf``), so that no page
    overwrites another."""
    by_stem: dict[str, list[Path]] = {}
    for f in files:
        by_stem.setdefault(f.stem, []).append(f)
    out = {}
    taken = {f.stem for f in files}
    for stem, group in by_stem.items():
        if len(group) == 1:
            out[group[0]] = stem
            continue
        for f in group:
            name, n = f"{stem}_{f.suffix.lstrip('.').lower()}", 2
            while name in taken:
                name, n = f"{stem}_{f.suffix.lstrip('.').lower()}{n}", n + 1
            taken.add(name)
            out[f] = name
    return out


def read_picture(
    path: Path,
    meta: dict | None = None,
    pdf_page: int | None = None,
    pages_in_file: int = 1,
    stem: str | None = None,
) -> Page:
    """Read a PDF page or page image: its lines in reading order, cleaned like a page file,
    every character keeping its box on the page's picture and its OCR confidence."""
    page_id = picture_page_id(path, pdf_page, pages_in_file, stem)
    name = path.name if pdf_page is None else f"{path.name} page {pdf_page + 1}"
    warnings: list[str] = []
    if stem and stem != path.stem:
        warnings.append(f"{path.name}: another file is named {path.stem} too; read as {stem}")
    try:
        if path.suffix.lower() in PDF_SUFFIXES:
            reading = read_pdf_page(path, pdf_page or 0)
        else:
            reading = read_image(path, pdf_page)
    except (PageReadError, OSError, IndexError) as exc:
        warnings.append(f"{name}: {exc}; page kept without text")
        reading = Reading((), (0, 0), "unreadable")
    laid = page_text(reading.lines, reading.marks)
    text, offsets, units = clean_page_text(laid.raw)
    idx = np.asarray(offsets, dtype=np.int64)
    boxes = laid.boxes[idx] if len(idx) else np.zeros((0, 4), np.float32)
    boxes = on_picture(boxes, reading.to_picture)
    conf = laid.confidence[idx] if len(idx) else np.zeros(0, np.float32)
    printed = np.fromiter((not ch.isspace() for ch in text), bool, len(text))
    boxes[~printed] = np.nan
    if not text.strip() and reading.method != "unreadable":
        warnings.append(f"{name}: no text found on the page")
    if printed.any() and reading.method != "pdf-text":
        illegible = float((conf[printed] < LOW_CONFIDENCE).mean())
        if illegible > 0.2:
            warnings.append(f"{name}: {illegible:.0%} of the text read with low OCR confidence")
    meta = meta or {}
    number = meta.get("page")
    # the page header (page number, weekday, date) stands apart from the articles' text
    date = page_date(meta, f"{laid.furniture}\n{text}" if laid.furniture else text, warnings, name)
    return Page(
        page_id=page_id,
        path=str(path),
        raw=laid.raw,
        text=text,
        offsets=tuple(offsets),
        units=tuple(units),
        encoding="image",
        style="plain",
        date=date,
        edition=meta.get("edition"),
        number=number if isinstance(number, int) else infer_page_number(text, laid.furniture),
        warnings=tuple(warnings),
        source=reading.method,
        image_size=reading.size,
        pdf_page=pdf_page,
        boxes=boxes,
        confidence=conf,
    )


def page_files(folder: Path) -> list[Path]:
    """The page files of a folder, in name order (hidden files and the manifest skipped)."""
    if not folder.is_dir():
        raise PageReadError(f"pages folder {folder} does not exist")
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in PAGE_SUFFIXES
    )


PageMapper = Callable[..., list["Page"]]


def read_pages(
    folder: Path,
    mapper: PageMapper | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> list[Page]:
    """Read every page file of ``folder`` (see :func:`read_page`), with manifest metadata.

    ``mapper(read, jobs, progress)`` may run the reads elsewhere (Ray tasks); results in order.
    ``progress("pages", done, total)`` is told of every page read."""
    return read_files(page_files(folder), mapper, progress, stems_from=page_files(folder))


def read_files(
    files: list[Path],
    mapper: PageMapper | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    stems_from: list[Path] | None = None,
) -> list[Page]:
    """Read the page files ``files`` (in this order), each with the metadata of its folder's
    ``pages.json``; page ids are named as :func:`read_pages` names them when reading the whole
    folder (``stems_from``: the files of the folders; by default what is in them now)."""
    jobs: list[tuple] = []
    warned: list[str] = []
    folders: dict[Path, tuple[dict[str, dict], dict[Path, str]]] = {}
    for p in files:
        if p.parent not in folders:
            manifest, manifest_warnings = load_manifest(p.parent)
            warned += manifest_warnings
            siblings = stems_from if stems_from is not None else _siblings(p.parent)
            folders[p.parent] = (
                manifest,
                page_stems([f for f in siblings if f.parent == p.parent]),
            )
        manifest, stems = folders[p.parent]
        stem = stems.get(p, p.stem)
        if p.suffix.lower() in TEXT_SUFFIXES:
            jobs.append((p, manifest.get(stem), None, 1, stem))
            continue
        try:
            count = picture_count(p)
        except PageReadError:
            count = 1  # read_picture reports it
        if count == 1 and p.suffix.lower() not in PDF_SUFFIXES:
            jobs.append((p, manifest.get(stem), None, 1, stem))
            continue
        for k in range(count):
            pid = picture_page_id(p, k, count, stem)
            jobs.append((p, manifest.get(pid) or manifest.get(stem), k, count, stem))
    # a bar per page where reading costs (OCR, PDF pages); text pages are read at once
    pictures = any(job[0].suffix.lower() not in TEXT_SUFFIXES for job in jobs)
    each = progress if pictures else None
    if mapper is not None:
        pages = mapper(read_page, jobs, each)
    else:
        pages = []
        for job in jobs:
            pages.append(read_page(*job))
            if each:
                each("pages", len(pages), len(jobs))
    if progress and not each:
        progress("pages", len(pages), len(pages))
    if warned and pages:
        first = pages[0]
        pages[0] = Page(**{**first.__dict__, "warnings": first.warnings + tuple(warned)})
    return pages


def _siblings(folder: Path) -> list[Path]:
    try:
        return page_files(folder)
    except PageReadError:
        return []
