"""Segment clean pages into articles: bodies, bylines, datelines, headlines and jump links.

Per page, units (see :mod:`rag.ingest.pages`) are walked in reading order: a byline, a dateline or a
``（上接第X版）`` marker opens a *part*; ``（下转第X版）`` or a trailing ``（本报记者 … 整理）``
closes it. Title-like units do not split articles; afterwards each goes to the part whose text
it describes best (character-bigram overlap weighted by rarity, with a small bonus for standing
just before or after the part). Finally ``下转`` parts are linked with ``上接`` parts of another
page of the same issue, by content and by the jump headline, into one :class:`Article`.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace

from rag.ingest.dates import number as chinese_number
from rag.ingest.pages import (
    CLOSERS,
    DATELINE,
    TERMINAL,
    Page,
    Unit,
)
from rag.ingest.tokenize import simplified_chars

_JUMP_IN = re.compile(r"^[（(]\s*上接第\s*([一二三四五六七八九十\d]+)\s*版\s*[）)]")
_JUMP_OUT = re.compile(r"[（(]\s*下转第\s*([一二三四五六七八九十\d]+)\s*版\s*[）)]\s*$")
_TRAILING_BYLINE = re.compile(
    r"[（(]\s*(?:本报)?(?:首席|见习|特约)?(?:记者|通讯员)[^（）()]{1,30}[）)]\s*$"
)
_DASH_END = re.compile(r"(?:—{2,}|-{2,}|：|:)$")

HEAD_BONUS = 0.15
RULED_HEAD_BONUS = 0.3  # a title under a printed rule, right over a part: enough by itself
TAIL_BONUS = 0.10
ALIGN_BONUS = 0.2
QUOTE_BONUS = 0.3
TITLE_MIN_SCORE = 0.3
LINK_MIN_SCORE = 0.3
LOCAL_TITLE_SCORE = 0.5
_QUOTED = re.compile(r"[“\"「『]([^”\"」』]{2,20})[”\"」』]")


@dataclass(frozen=True)
class Paragraph:
    """A body paragraph: verbatim clean page text and its span in :attr:`Page.text`."""

    text: str
    start: int
    end: int


@dataclass(frozen=True)
class Part:
    """The stretch of an article that stands on one page."""

    page_id: str
    paragraphs: tuple[Paragraph, ...]
    headline: str | None = None  # headline standing on this page
    jump_headline: str | None = None  # headline over a continuation (上接) part
    other_titles: tuple[str, ...] = ()  # kickers / subtitles
    sections: tuple[str, ...] = ()  # subheads inside the part
    byline: str | None = None
    dateline: str | None = None
    jump_in: int | None = None  # page number named by （上接第X版）
    jump_out: int | None = None  # page number named by （下转第X版）
    first_unit: int = 0
    last_unit: int = 0

    @property
    def text(self) -> str:
        """The body, paragraphs joined by newlines."""
        return "\n".join(p.text for p in self.paragraphs)

    @property
    def span(self) -> tuple[int, int]:
        """Character span of the body in the clean page text."""
        if not self.paragraphs:
            return (0, 0)
        return (self.paragraphs[0].start, self.paragraphs[-1].end)


@dataclass(frozen=True)
class Article:
    """A whole article: one part, or several linked across pages by jump lines."""

    article_id: str
    parts: tuple[Part, ...]
    headline: str | None
    headline_source: str | None  # "headline" or "jump_headline": where the headline stood
    other_titles: tuple[str, ...]
    byline: str | None
    dateline: str | None
    date: str | None
    label: str  # what to show when there is no headline
    label_is_derived: bool  # True when the label comes from the first words, not a headline

    @property
    def pages(self) -> tuple[str, ...]:
        """Page ids the article stands on, in reading order."""
        seen: list[str] = []
        for part in self.parts:
            if part.page_id not in seen:
                seen.append(part.page_id)
        return tuple(seen)

    @property
    def page(self) -> str:
        """The page where the article starts."""
        return self.parts[0].page_id

    @property
    def text(self) -> str:
        """The whole body, parts joined by newlines."""
        return "\n".join(p.text for p in self.parts)


@dataclass
class Segmentation:
    """Articles of a set of pages plus what went wrong on the way."""

    articles: list[Article]
    warnings: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------- per page


def _strip_unit(unit: Unit, pattern: re.Pattern[str], at_start: bool) -> tuple[Paragraph, str]:
    """Cut a marker off a unit; return the remaining paragraph and the marker text."""
    m = pattern.search(simplified_chars(unit.text))
    if not m:
        return Paragraph(unit.text, unit.start, unit.end), ""
    if at_start:
        rest = unit.text[m.end() :]
        lead = len(rest) - len(rest.lstrip())
        return Paragraph(rest.strip(), unit.start + m.end() + lead, unit.end), unit.text[
            m.start() : m.end()
        ]
    rest = unit.text[: m.start()].rstrip()
    return Paragraph(rest, unit.start, unit.start + len(rest)), unit.text[m.start() : m.end()]


@dataclass
class _Draft:
    paragraphs: list[Paragraph] = field(default_factory=list)
    bylines: list[str] = field(default_factory=list)
    dateline: str | None = None
    jump_in: int | None = None
    jump_out: int | None = None
    first_unit: int = -1
    last_unit: int = -1
    closed: bool = False


def _ends_mid_sentence(text: str) -> bool:
    t = text.rstrip(CLOSERS + " ")
    return bool(t) and t[-1] not in TERMINAL


def _split_page(page: Page) -> tuple[list[_Draft], list[int]]:
    """Walk the units of a page into draft parts; return them and the title unit indexes."""
    drafts: list[_Draft] = []
    titles: list[int] = []
    cur: _Draft | None = None
    pending_bylines: list[tuple[int, str]] = []

    def open_part(i: int) -> _Draft:
        d = _Draft(first_unit=pending_bylines[0][0] if pending_bylines else i)
        d.bylines = [b for _, b in pending_bylines]
        pending_bylines.clear()
        drafts.append(d)
        return d

    for i, unit in enumerate(page.units):
        if unit.after_rule and cur is not None:
            cur.closed = True  # a printed rule parts articles
        if unit.caption and cur is not None:
            # a photo's caption, read after the article it stands in: that article's
            cur.paragraphs.append(Paragraph(unit.text, unit.start, unit.end))
            cur.last_unit = i
            continue
        if unit.kind == "title":
            titles.append(i)
            continue
        if unit.kind == "byline":
            if cur is not None and not cur.closed and not cur.paragraphs:
                cur.bylines.append(unit.text)
                continue
            if cur is not None and unit.text.startswith(("（", "(")) and cur.paragraphs:
                cur.bylines.append(unit.text.strip("（）() "))  # trailing "（本报记者 … 整理）"
                cur.last_unit = i
                cur.closed = True
                continue
            if cur is not None:
                cur.closed = True
            pending_bylines.append((i, unit.text))
            continue
        para = Paragraph(unit.text, unit.start, unit.end)
        # the cues are written in simplified script; a traditional page is probed folded (one
        # character for one, so a match's positions name the printed characters)
        probe = simplified_chars(unit.text)
        m_in = _JUMP_IN.match(probe)
        starts = bool(m_in) or bool(DATELINE.match(probe)) or bool(pending_bylines)
        if cur is None or cur.closed or (starts and cur.paragraphs):
            if cur is not None:
                cur.closed = True
            cur = open_part(i)
        if m_in:
            para, _ = _strip_unit(unit, _JUMP_IN, at_start=True)
            cur.jump_in = chinese_number(m_in.group(1))
        m_date = DATELINE.match(simplified_chars(para.text))
        if m_date and not cur.paragraphs:
            cur.dateline = para.text[m_date.start() : m_date.end()]
        m_out = _JUMP_OUT.search(simplified_chars(para.text))
        if m_out:
            cur.jump_out = chinese_number(m_out.group(1))
            para = Paragraph(
                para.text[: m_out.start()].rstrip(),
                para.start,
                para.start + len(para.text[: m_out.start()].rstrip()),
            )
            cur.closed = True
        else:
            m_by = _TRAILING_BYLINE.search(simplified_chars(para.text))
            if m_by and m_by.start() > 0:
                cur.bylines.append(para.text[m_by.start() : m_by.end()].strip().strip("（）() "))
                kept = para.text[: m_by.start()].rstrip()
                para = Paragraph(kept, para.start, para.start + len(kept))
                cur.closed = True
        if para.text:
            cur.paragraphs.append(para)
        cur.last_unit = i
    if pending_bylines:
        # bylines with no body after them: keep them as a part so nothing is lost
        d = open_part(pending_bylines[0][0])
        d.last_unit = d.first_unit
    return _merge_dangling(drafts), titles


def _merge_dangling(drafts: list[_Draft]) -> list[_Draft]:
    """A part that stops mid-sentence with no jump line goes on in the next part of the page.

    OCR sometimes puts a column of an article before the article's byline and lead; the
    column's last sentence then breaks off and the byline opens what looks like a new article.
    """
    out: list[_Draft] = []
    for d in drafts:
        prev = out[-1] if out else None
        if (
            prev is not None
            and prev.paragraphs
            and prev.jump_out is None
            and not prev.bylines
            and prev.jump_in is None
            and _ends_mid_sentence(prev.paragraphs[-1].text)
            and d.jump_in is None
        ):
            d.paragraphs = prev.paragraphs + d.paragraphs
            d.first_unit = prev.first_unit
            out[-1] = d
            continue
        out.append(d)
    return out


# ----------------------------------------------------------------------------- similarity


def _bigrams(text: str) -> list[str]:
    chars = [c for c in text if c.isalnum()]
    return [chars[i] + chars[i + 1] for i in range(len(chars) - 1)]


class _Weights:
    """Inverse document frequency of character bigrams over a set of texts."""

    def __init__(self, texts: Iterable[str]) -> None:
        df: Counter[str] = Counter()
        n = 0
        for t in texts:
            n += 1
            df.update(set(_bigrams(t)))
        self.n = max(n, 1)
        self.df = df

    def w(self, gram: str) -> float:
        return math.log((self.n + 1) / (self.df.get(gram, 0) + 0.5))

    def containment(self, title: str, text: str) -> float:
        """Weighted share of the title's bigrams that occur in ``text``.

        A term the title puts in quotes (``“微改革”``) that the text uses verbatim is strong
        evidence on its own, so it adds a fixed bonus.
        """
        grams = set(_bigrams(title))
        if not grams:
            return 0.0
        present = set(_bigrams(text))
        total = sum(self.w(g) for g in grams)
        score = sum(self.w(g) for g in grams if g in present) / total
        quoted = [q for q in _QUOTED.findall(title) if len(q) >= 2]
        if any(q in text for q in quoted):
            score += QUOTE_BONUS
        return score

    def cosine(self, a: str, b: str) -> float:
        """Cosine of tf-idf bigram vectors."""
        ca, cb = Counter(_bigrams(a)), Counter(_bigrams(b))
        if not ca or not cb:
            return 0.0
        dot = sum(v * cb[g] * self.w(g) ** 2 for g, v in ca.items() if g in cb)
        na = math.sqrt(sum((v * self.w(g)) ** 2 for g, v in ca.items()))
        nb = math.sqrt(sum((v * self.w(g)) ** 2 for g, v in cb.items()))
        return dot / (na * nb)


# ----------------------------------------------------------------------------- titles


def _positions(title_idx: int, drafts: list[_Draft], units: tuple[Unit, ...]) -> dict[int, float]:
    """Position bonus of a title unit for each part: before its start, after its end, inside."""
    bonus: dict[int, float] = {}
    for k, d in enumerate(drafts):
        if d.first_unit <= title_idx <= d.last_unit:
            bonus[k] = 0.0
            continue
        if title_idx < d.first_unit and all(
            units[j].kind == "title" for j in range(title_idx, d.first_unit)
        ):
            bonus[k] = HEAD_BONUS
            if _opens_ruled_region(title_idx, units):
                # a printed rule frames the article: the title at the top of the frame heads
                # the part right under it, whatever words it shares with it
                bonus[k] = max(bonus[k], RULED_HEAD_BONUS)
        elif title_idx > d.last_unit and all(
            units[j].kind == "title" for j in range(d.last_unit + 1, title_idx + 1)
        ):
            bonus[k] = max(bonus.get(k, 0.0), TAIL_BONUS)
    return bonus


def _opens_ruled_region(title_idx: int, units: tuple[Unit, ...]) -> bool:
    """Does the title stand at the top of a region a printed rule cut off (only titles between
    the rule and it)?"""
    for j in range(title_idx, -1, -1):
        if units[j].after_rule:
            return True
        if units[j].kind != "title":
            return False
    return False


def _aligned(page: Page, drafts: list[_Draft], titles: list[int]) -> dict[int, int]:
    """Pair a run of jump headlines with the run of continuation parts next to it, in order.

    OCR often prints several jump headlines together, just before (or after) the continuation
    parts they stand over; when the two runs have the same length the k-th headline belongs to
    the k-th part.
    """
    units = page.units
    runs: list[list[int]] = []
    for ti in titles:
        if _DASH_END.search(units[ti].text):
            continue  # a kicker never stands over a continuation
        if runs and all(units[j].kind == "title" for j in range(runs[-1][-1] + 1, ti)):
            runs[-1].append(ti)
        else:
            runs.append([ti])
    order = sorted(range(len(drafts)), key=lambda k: drafts[k].first_unit)
    out: dict[int, int] = {}
    for run in runs:
        after = [k for k in order if drafts[k].first_unit > run[-1]]
        seq: list[int] = []
        for k in after:
            if drafts[k].jump_in is None or len(seq) == len(run):
                break
            if seq and any(
                units[j].kind == "title"
                for j in range(drafts[seq[-1]].last_unit + 1, drafts[k].first_unit)
            ):
                break
            seq.append(k)
        if len(seq) != len(run):
            before = [k for k in order if drafts[k].last_unit < run[0]][::-1]
            seq = []
            for k in before:
                if drafts[k].jump_in is None or len(seq) == len(run):
                    break
                seq.append(k)
            seq.reverse()
        if len(seq) == len(run):
            out.update(zip(run, seq, strict=False))
    return out


@dataclass
class _TitleChoice:
    unit: int
    text: str
    part: int
    inside: bool
    head: bool
    marked: bool


def _assign_titles(
    page: Page,
    drafts: list[_Draft],
    titles: list[int],
    context: list[str],
    weights: _Weights,
) -> list[list[_TitleChoice]]:
    """Give each title unit to the part it describes; ``context[k]`` is part k's full text."""
    per_part: list[list[_TitleChoice]] = [[] for _ in drafts]
    aligned = _aligned(page, drafts, titles)
    for ti in titles:
        unit = page.units[ti]
        pos = _positions(ti, drafts, page.units)
        if ti in aligned:
            k = aligned[ti]
            pos[k] = pos.get(k, 0.0) + ALIGN_BONUS
        best, best_score = -1, 0.0
        for k in range(len(drafts)):
            score = weights.containment(unit.text, context[k]) + pos.get(k, 0.0)
            if score > best_score:
                best, best_score = k, score
        if best < 0 or best_score < TITLE_MIN_SCORE:
            continue
        d = drafts[best]
        per_part[best].append(
            _TitleChoice(
                unit=ti,
                text=unit.text,
                part=best,
                inside=d.first_unit < ti < d.last_unit,
                head=ti < d.first_unit,
                marked=unit.heading_mark,
            )
        )
    return per_part


def _pick_headline(choices: list[_TitleChoice]) -> tuple[str | None, list[str], list[str]]:
    """Main headline, other titles (kickers, subtitles) and section heads of one part."""
    outside = [c for c in choices if not c.inside]
    sections = [c.text for c in choices if c.inside]
    if not outside:
        return None, [], sections
    plain = [c for c in outside if not _DASH_END.search(c.text)]
    marked = [c for c in plain if c.marked]
    if marked:
        main = marked[0]
    elif plain:
        heads = [c for c in plain if c.head]
        main = max(heads, key=lambda c: c.unit) if heads else min(plain, key=lambda c: c.unit)
    else:
        return None, [c.text for c in outside], sections
    others: list[str] = []
    for c in sorted(outside, key=lambda c: c.unit):
        if c is main:
            continue
        if c.head and c.unit > main.unit and not c.text.startswith(("—", "-")):
            sections.append(c.text)  # a section head standing between headline and body
        else:
            others.append(c.text)
    return main.text, others, sections


# ----------------------------------------------------------------------------- linking


def _compatible(out_page: Page, out_part: Part, in_page: Page, in_part: Part) -> bool:
    if out_page.page_id == in_page.page_id:
        return False
    # 上接第一版 names the page it continues; 下转第二版 the page it jumps to
    if None not in (in_part.jump_in, out_page.number) and in_part.jump_in != out_page.number:
        return False
    if None not in (out_part.jump_out, in_page.number) and out_part.jump_out != in_page.number:
        return False
    if out_page.date and in_page.date and out_page.date != in_page.date:
        return False
    return not (out_page.edition and in_page.edition and out_page.edition != in_page.edition)


def _link(
    pages: dict[str, Page],
    parts: dict[str, list[Part]],
    near_titles: dict[tuple[str, int], list[str]],
    weights: _Weights,
) -> dict[tuple[str, int], tuple[str, int]]:
    """Pair ``下转`` parts with ``上接`` parts: greedy one-to-one on content + jump headline."""
    outs = [(pid, k) for pid, ps in parts.items() for k, p in enumerate(ps) if p.jump_out]
    ins = [(pid, k) for pid, ps in parts.items() for k, p in enumerate(ps) if p.jump_in]
    scored: list[tuple[float, tuple[str, int], tuple[str, int]]] = []
    for o in outs:
        op = parts[o[0]][o[1]]
        for i in ins:
            ip = parts[i[0]][i[1]]
            if not _compatible(pages[o[0]], op, pages[i[0]], ip):
                continue
            score = weights.cosine(op.text, ip.text)
            titles = near_titles.get(i, [])
            if titles:
                score += 0.6 * max(weights.containment(t, op.text) for t in titles)
            scored.append((score, o, i))
    links: dict[tuple[str, int], tuple[str, int]] = {}
    used_in: set[tuple[str, int]] = set()
    for score, o, i in sorted(scored, key=lambda s: -s[0]):
        if score < LINK_MIN_SCORE or o in links or i in used_in:
            continue
        links[o] = i
        used_in.add(i)
    return links


# ----------------------------------------------------------------------------- articles


def _label(text: str) -> str:
    body = DATELINE.sub("", text, count=1).strip()
    m = re.match(r"[^。！？；\n]{4,24}", body)
    first = m.group() if m else body[:24]
    first = first.rstrip("，、,：: ")
    return first + ("…" if len(first) < len(body) else "")


def _clean_byline(lines: list[str]) -> str | None:
    if not lines:
        return None
    return " ".join(" ".join(b.split()) for b in lines)


def issue_key(page: Page) -> tuple[str | None, str | None]:
    """The issue a page belongs to: its date and edition. Continuations link only inside an
    issue, and the statistics segmentation weighs words with are an issue's own, so adding a
    day's pages to an archive never changes how the pages already in it are segmented (pages
    without a date form one issue of their own)."""
    return (page.date, page.edition)


def segment(pages: list[Page]) -> Segmentation:
    """Split pages into articles and link continuations across the pages of each issue
    (:func:`issue_key`); articles come in the order of their first page."""
    issues: dict[tuple[str | None, str | None], list[Page]] = {}
    for page in pages:
        issues.setdefault(issue_key(page), []).append(page)
    order = {p.page_id: i for i, p in enumerate(pages)}
    articles: list[Article] = []
    warnings: list[str] = []
    for issue in issues.values():
        seg = _segment_issue(issue)
        articles += seg.articles
        warnings += seg.warnings
    articles.sort(key=lambda a: order[a.parts[0].page_id])  # stable: reading order per page
    return Segmentation(articles=articles, warnings=warnings)


def _segment_issue(pages: list[Page]) -> Segmentation:
    """Split the pages of one issue into articles and link continuations across them."""
    warnings: list[str] = []
    drafts_by_page: dict[str, list[_Draft]] = {}
    titles_by_page: dict[str, list[int]] = {}
    for page in pages:
        drafts, titles = _split_page(page)
        drafts_by_page[page.page_id] = drafts
        titles_by_page[page.page_id] = titles
        if page.text and not any(d.paragraphs for d in drafts):
            warnings.append(f"{page.page_id}: no recognisable article on this page")
    page_map = {p.page_id: p for p in pages}
    weights = _Weights(
        "\n".join(p.text for p in d.paragraphs) for ds in drafts_by_page.values() for d in ds
    )

    # parts without titles, to link on content first
    bare: dict[str, list[Part]] = {}
    for pid, drafts in drafts_by_page.items():
        bare[pid] = [
            Part(
                page_id=pid,
                paragraphs=tuple(d.paragraphs),
                byline=_clean_byline(d.bylines),
                dateline=d.dateline,
                jump_in=d.jump_in,
                jump_out=d.jump_out,
                first_unit=d.first_unit,
                last_unit=d.last_unit,
            )
            for d in drafts
        ]
    near: dict[tuple[str, int], list[str]] = {}
    for pid, drafts in drafts_by_page.items():
        page = page_map[pid]
        for ti, k in _aligned(page, drafts, titles_by_page[pid]).items():
            title = page.units[ti].text
            pos = _positions(ti, drafts, page.units)
            local = max(
                (
                    weights.containment(title, bare[pid][j].text) + pos.get(j, 0.0)
                    for j in range(len(drafts))
                    if drafts[j].jump_in is None
                ),
                default=0.0,
            )
            if local < LOCAL_TITLE_SCORE:
                near.setdefault((pid, k), []).append(title)
    links = _link(page_map, bare, near, weights)
    linked_to = {v: k for k, v in links.items()}

    def chain(key: tuple[str, int]) -> list[tuple[str, int]]:
        seq = [key]
        while seq[-1] in links and len(seq) < 10:
            seq.append(links[seq[-1]])
        return seq

    # full article text for every part, so titles can match across pages
    context: dict[tuple[str, int], str] = {}
    for pid, ps in bare.items():
        for k in range(len(ps)):
            head = (pid, k)
            while head in linked_to:
                head = linked_to[head]
            context[(pid, k)] = "\n".join(bare[p][q].text for p, q in chain(head))

    titled: dict[tuple[str, int], Part] = {}
    for pid, drafts in drafts_by_page.items():
        ctx = [context[(pid, k)] for k in range(len(drafts))]
        choices = _assign_titles(page_map[pid], drafts, titles_by_page[pid], ctx, weights)
        for k, part in enumerate(bare[pid]):
            main, others, sections = _pick_headline(choices[k])
            if part.jump_in is not None:
                part = replace(part, jump_headline=main)
            else:
                part = replace(part, headline=main)
            titled[(pid, k)] = replace(part, other_titles=tuple(others), sections=tuple(sections))

    articles: list[Article] = []
    for page in pages:
        for k in range(len(drafts_by_page[page.page_id])):
            key = (page.page_id, k)
            if key in linked_to:
                continue  # emitted with the part it continues
            seq = [titled[x] for x in chain(key)]
            if not any(p.paragraphs for p in seq):
                continue
            articles.append(_make_article(f"{page.page_id}:a{k + 1}", seq, page_map))
    return Segmentation(articles=articles, warnings=warnings)


def _make_article(article_id: str, parts: list[Part], pages: dict[str, Page]) -> Article:
    headline = next((p.headline for p in parts if p.headline), None)
    source = "headline" if headline else None
    if headline is None:
        headline = next((p.jump_headline for p in parts if p.jump_headline), None)
        source = "jump_headline" if headline else None
    others: list[str] = []
    for p in parts:
        others.extend(p.other_titles)
        if p.jump_headline and p.jump_headline != headline:
            others.append(p.jump_headline)
        if p.headline and p.headline != headline:
            others.append(p.headline)
    date = next((pages[p.page_id].date for p in parts if pages[p.page_id].date), None)
    body = "\n".join(p.text for p in parts)
    return Article(
        article_id=article_id,
        parts=tuple(parts),
        headline=headline,
        headline_source=source,
        other_titles=tuple(others),
        byline=next((p.byline for p in parts if p.byline), None),
        dateline=next((p.dateline for p in parts if p.dateline), None),
        date=date,
        label=headline or _label(body),
        label_is_derived=headline is None,
    )


def page_numbers(pages: list[Page], articles: list[Article]) -> dict[str, int | None]:
    """Each page's number in its issue: what the page itself tells (``pages.json``, or the
    ``（下转第X版）`` of a front page), else what the jump line of a linked article names:
    a part sent on by ``（下转第二版）`` stands on page 2."""
    numbers = {p.page_id: p.number for p in pages}
    for art in articles:
        for prev, nxt in itertools.pairwise(art.parts):
            linked = prev.jump_out is not None and nxt.page_id != prev.page_id
            if linked and numbers.get(nxt.page_id) is None:
                numbers[nxt.page_id] = prev.jump_out
    return numbers


# ----------------------------------------------------------------------------- serialisation


def article_to_dict(a: Article) -> dict:
    """Plain JSON form of an article."""
    return asdict(a)


def article_from_dict(d: dict) -> Article:
    """Inverse of :func:`article_to_dict`."""
    parts = tuple(
        Part(
            **{
                **p,
                "paragraphs": tuple(Paragraph(**x) for x in p["paragraphs"]),
                "other_titles": tuple(p["other_titles"]),
                "sections": tuple(p["sections"]),
            }
        )
        for p in d["parts"]
    )
    return Article(**{**d, "parts": parts, "other_titles": tuple(d["other_titles"])})
