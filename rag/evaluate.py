"""Measure segmentation and answers against gold files (formats of ``shared/eval``)."""

from __future__ import annotations

import json
import re
import statistics
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rag.ingest.articles import Article, Part


def norm(text: str | None) -> str:
    """NFKC with all whitespace removed: how gold text is compared."""
    if not text:
        return ""
    return "".join(unicodedata.normalize("NFKC", text).split())


def char_error_rate(read: str, truth: str) -> float:
    """Edits (substitutions, insertions, deletions) per character of ``truth``, both compared
    as :func:`norm` leaves them (a full-width ``，`` read for ``,`` is no error)."""
    import difflib

    a, b = norm(read), norm(truth)
    ops = difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
    edits = sum(max(i2 - i1, j2 - j1) for op, i1, i2, j1, j2 in ops if op != "equal")
    return edits / max(len(b), 1)


def lcs_length(a: str, b: str) -> int:
    """Length of the longest common subsequence of two strings (bit-parallel, Allison-Dix:
    a page's articles of thousands of characters compare in milliseconds)."""
    if not a or not b:
        return 0
    masks: dict[str, int] = {}
    for i, ch in enumerate(a):
        masks[ch] = masks.get(ch, 0) | (1 << i)
    full = (1 << len(a)) - 1
    v = full
    for ch in b:
        u = v & masks.get(ch, 0)
        v = ((v + u) | (v - u)) & full
    return len(a) - bin(v).count("1")


def reading_order(printed: str, read: str) -> float:
    """How well an article was read in order: 2·LCS / (printed + read), compared in one
    script (simplified), NFKC, without whitespace. A line lost or read out of order lowers it,
    and so does a neighbour's line or a caption read into the article."""
    p, r = in_one_script(printed), in_one_script(read)
    return 2 * lcs_length(p, r) / max(len(p) + len(r), 1)


def in_one_script(text: str) -> str:
    """``text`` as printed texts are compared across scripts: whitespace dropped, each
    character NFKC-normalised on its own, in simplified script (one character for one)."""
    from rag.ingest.tokenize import simplified_chars

    kept = "".join(
        n if len(n := unicodedata.normalize("NFKC", ch)) == 1 else ch
        for ch in re.sub(r"\s", "", text)
    )
    return simplified_chars(kept)


def read_jsonl(path: Path) -> list[dict]:
    """Rows of a JSON-lines file (blank lines skipped)."""
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except ValueError as exc:
                raise ValueError(f"{path}:{n}: not JSON ({exc})") from exc
    return rows


# ----------------------------------------------------------------------------- segmentation


@dataclass(frozen=True)
class SegmentationScore:
    """Segmentation figures against a gold file."""

    gold: int
    found: int
    boundaries_right: int
    headlines_right: int
    links_gold: int
    links_found: int
    links_false: int
    misses: tuple[str, ...]

    def lines(self) -> list[str]:
        """Human-readable report lines."""
        pct = lambda a, b: f"{a}/{b} ({100 * a / b:.0f}%)" if b else "0/0"  # noqa: E731
        return [
            f"articles found / gold:     {self.found} / {self.gold}",
            f"boundary accuracy:         {pct(self.boundaries_right, self.gold)}",
            f"headline accuracy:         {pct(self.headlines_right, self.gold)}",
            f"continuation links found:  {self.links_found}/{self.links_gold}",
            f"false continuation links:  {self.links_false}",
        ]


def _part_matches(part: Part, row: dict) -> tuple[bool, bool]:
    body = norm(part.text)
    return body.startswith(norm(row["starts_with"])), body.endswith(norm(row["ends_with"]))


def score_segmentation(articles: list[Article], gold: list[dict]) -> SegmentationScore:
    """Compare articles with gold rows (``articles.jsonl`` format) on the gold's pages."""
    gold_pages = {r["page"] for r in gold}
    parts: list[tuple[Article, int, Part]] = [
        (a, i, p) for a in articles for i, p in enumerate(a.parts) if p.page_id in gold_pages
    ]
    match: dict[str, tuple[Article, int, Part]] = {}
    both = heads = 0
    misses: list[str] = []
    for row in gold:
        best = None
        for a, i, p in parts:
            if p.page_id != row["page"]:
                continue
            s, e = _part_matches(p, row)
            if s and e:
                best = (a, i, p)
                break
            if s and best is None:
                best = (a, i, p)
        if best is None:
            misses.append(f"{row['article']}: no part starts with {row['starts_with']!r}")
            continue
        match[row["article"]] = best
        s, e = _part_matches(best[2], row)
        if s and e:
            both += 1
        else:
            misses.append(f"{row['article']}: ends with {norm(best[2].text)[-15:]!r}")
        ok = norm(best[2].headline) == norm(row.get("headline")) and norm(
            best[2].jump_headline
        ) == norm(row.get("jump_headline"))
        if ok:
            heads += 1
        else:
            misses.append(
                f"{row['article']}: headline {best[2].headline!r} / jump {best[2].jump_headline!r}"
            )
    links_gold = sum(1 for r in gold if r.get("continues"))
    found = false = 0
    gold_targets = {r["article"]: r.get("continues") for r in gold}
    for row in gold:
        target = row.get("continues")
        if not target or row["article"] not in match or target not in match:
            continue
        a, i, _ = match[row["article"]]
        ta, ti, _ = match[target]
        if a is ta and ti < i:
            found += 1
    for a in articles:
        for i in range(1, len(a.parts)):
            ids = [k for k, v in match.items() if v[0] is a and v[1] == i]
            prev = [k for k, v in match.items() if v[0] is a and v[1] == i - 1]
            if ids and prev and gold_targets.get(ids[0]) != prev[0]:
                false += 1
            elif not ids or not prev:
                false += 0 if not (ids or prev) else 1
    return SegmentationScore(
        gold=len(gold),
        found=len(parts),
        boundaries_right=both,
        headlines_right=heads,
        links_gold=links_gold,
        links_found=found,
        links_false=false,
        misses=tuple(misses),
    )


# ----------------------------------------------------------------------------- answers


def char_f1(pred: str, gold: str) -> float:
    """Character-level F1 as in the CMRC 2018 evaluation (multiset overlap)."""
    p, g = list(norm(pred)), list(norm(gold))
    if not p or not g:
        return float(p == g)
    common = 0
    counts: dict[str, int] = {}
    for ch in g:
        counts[ch] = counts.get(ch, 0) + 1
    for ch in p:
        if counts.get(ch, 0) > 0:
            common += 1
            counts[ch] -= 1
    if common == 0:
        return 0.0
    precision, recall = common / len(p), common / len(g)
    return 2 * precision * recall / (precision + recall)


@dataclass(frozen=True)
class QAScore:
    """Answer-quality figures over a QA file."""

    n: int
    answerable: int
    hit1: float
    hit5: float
    contains: float
    f1: float
    median_len: float
    page_right: float
    headline_right: float
    headline_n: int
    abstain_right: int
    unanswerable: int
    answered: float
    p50_ms: float
    failures: tuple[str, ...]

    def as_dict(self) -> dict:
        """Plain dict for ``--json``."""
        d = dict(self.__dict__)
        d["failures"] = list(self.failures)
        return d

    def lines(self) -> list[str]:
        """Human-readable report lines."""
        return [
            f"questions: {self.n} ({self.answerable} answerable, {self.unanswerable} not)",
            f"hit@1: {self.hit1:.3f}   hit@5: {self.hit5:.3f}",
            f"answer-contains: {self.contains:.3f}   char F1: {self.f1:.3f}   "
            f"median answer length: {self.median_len:.0f}",
            f"citation page right: {self.page_right:.3f}   "
            f"citation headline right: {self.headline_right:.3f} (of {self.headline_n})",
            f"abstention right: {self.abstain_right}/{self.unanswerable}   "
            f"answered (answerable): {self.answered:.3f}",
            f"answer p50 latency: {self.p50_ms:.1f} ms",
        ]


def score_answers(
    questions: list[dict],
    answer_fn: Callable[[str], object],
    gold_titles: dict[str, set[str]] | None = None,
) -> QAScore:
    """Run ``answer_fn`` over QA rows and score it (see the README for each figure)."""
    gold_titles = gold_titles or {}
    hit1 = hit5 = contains = page_ok = head_ok = head_n = answered = abst = 0
    f1s: list[float] = []
    lens: list[int] = []
    times: list[float] = []
    fails: list[str] = []
    answerable = [q for q in questions if q.get("answer")]
    for q in questions:
        t0 = time.perf_counter()
        ans = answer_fn(q["question"])
        times.append((time.perf_counter() - t0) * 1000)
        gold = q.get("answer")
        found = bool(getattr(ans, "found", False))
        if not gold:
            abst += int(not found)
            if found:
                fails.append(f"{q['id']}: answered an unanswerable question: {ans.text!r}")  # type: ignore[attr-defined]
            continue
        answered += int(found)
        g = norm(gold)
        hits = list(getattr(ans, "hits", []))
        ok = [g in norm(h.text) for h in hits]
        hit1 += int(bool(ok[:1]) and ok[0])
        hit5 += int(any(ok[:5]))
        text = ans.text if found else ""  # type: ignore[attr-defined]
        contains += int(bool(text) and g in norm(text))
        f1s.append(char_f1(text, gold))
        if found:
            lens.append(len(norm(text)))
        cits = list(getattr(ans, "citations", []))
        cit = cits[0] if cits and found else None
        if cit is not None and q.get("page") in cit.pages:
            page_ok += 1
        titles = gold_titles.get(q.get("article", ""), set())
        if titles:
            head_n += 1
            if cit is not None and norm(cit.headline) in titles:
                head_ok += 1
        if not (text and g in norm(text)):
            fails.append(f"{q['id']} ({q.get('type')}): gold {gold!r} got {text!r}")
    na = max(len(answerable), 1)
    return QAScore(
        n=len(questions),
        answerable=len(answerable),
        hit1=hit1 / na,
        hit5=hit5 / na,
        contains=contains / na,
        f1=sum(f1s) / na,
        median_len=statistics.median(lens) if lens else 0.0,
        page_right=page_ok / na,
        headline_right=head_ok / head_n if head_n else 0.0,
        headline_n=head_n,
        abstain_right=abst,
        unanswerable=len(questions) - len(answerable),
        answered=answered / na,
        p50_ms=statistics.median(times) if times else 0.0,
        failures=tuple(fails),
    )


@dataclass(frozen=True)
class ClassScore:
    """Questions right per class of news reading (``reading_dev.jsonl``) or follow-ups right
    (``dialogues_dev.jsonl``, class ``follow-up``)."""

    right: dict[str, int]
    total: dict[str, int]
    failures: tuple[str, ...]

    def as_dict(self) -> dict:
        """Plain dict for ``--json``."""
        return {"right": self.right, "total": self.total, "failures": list(self.failures)}

    def lines(self) -> list[str]:
        """A line per class, then the total."""
        shown = [c for c in self.total if self.total[c] or c in ("first", "follow-up")]
        width = max([12, *(len(c) + 2 for c in shown)])
        out = [
            f"{c:<{width}}{self.right[c]}/{self.total[c]}" + _share(self.right[c], self.total[c])
            for c in shown
        ]
        turns = [c for c in self.total if c != "answered" and ":" not in c]
        right = sum(self.right[c] for c in turns)
        total = sum(self.total[c] for c in turns)
        return [*out, f"{'all':<{width}}{right}/{total}"]


def _share(right: int, total: int) -> str:
    return f"  ({right / total:.2f})" if total else ""


def reading_right(row: dict, ans: object) -> bool:
    """A reading question is answered right when its answer holds the gold text; a coverage
    question (no gold text) when it lists articles, each once."""
    if not getattr(ans, "found", False):
        return False
    gold = row.get("answer")
    if gold is None:
        ids = [c.article_id for c in getattr(ans, "citations", [])]
        return getattr(ans, "kind", "") == "articles" and bool(ids) and len(ids) == len(set(ids))
    return norm(gold) in norm(getattr(ans, "text", ""))


def score_reading(rows: list[dict], answer_fn: Callable[[str], object]) -> ClassScore:
    """Questions of ``reading_dev.jsonl`` format, scored per class."""
    right: dict[str, int] = {}
    total: dict[str, int] = {}
    fails = []
    for row in rows:
        cls = row.get("class", "?")
        ans = answer_fn(row["question"])
        ok = reading_right(row, ans)
        total[cls] = total.get(cls, 0) + 1
        right[cls] = right.get(cls, 0) + int(ok)
        if not ok:
            fails.append(
                f"{row['id']} ({cls}): gold {row.get('answer')!r} got {getattr(ans, 'text', '')!r}"
            )
    return ClassScore(right, total, tuple(fails))


def score_dialogues(
    rows: list[dict], answer_fn: Callable[[str, list[tuple[str, object]]], object]
) -> ClassScore:
    """Conversations of ``dialogues_dev.jsonl`` format: ``answer_fn(question, history)`` asked
    turn by turn. Scored: the first turns (class ``first``) and the follow-ups whose gold
    stands in the archive (``follow-up``: the answer holds it); follow-ups whose gold is null
    (``declined``: right when not answered); on rows that name their ``kind`` (public data,
    whose golds are often a clause round the fact) an answer inside the gold is right too;
    ``answered``, the answerable follow-ups given any
    answer; and, when rows name their ``kind``, the follow-ups of each kind
    (``follow-up:<kind>``)."""
    right: dict[str, int] = {"first": 0, "follow-up": 0}
    total: dict[str, int] = {"first": 0, "follow-up": 0}
    fails = []

    def count(cls: str, ok: bool) -> None:
        total[cls] = total.get(cls, 0) + 1
        right[cls] = right.get(cls, 0) + int(ok)

    for row in rows:
        history: list[tuple[str, object]] = []
        for i, turn in enumerate(row["turns"]):
            ans = answer_fn(turn["q"], list(history))
            history.append((turn["q"], ans))
            gold = turn.get("a")
            found = bool(getattr(ans, "found", False))
            cls = "first" if not i else "follow-up" if gold is not None else "declined"
            ok = reading_right({"answer": gold}, ans) if gold is not None else not found
            if not ok and gold is not None and found and row.get("kind"):
                # public-data golds are the data set's spans, often a clause round the fact
                # (``出生地于台湾台北市``): an answer standing inside the gold is right too
                said = norm(getattr(ans, "text", ""))
                ok = len(said) >= 2 and said in norm(gold)
            count(cls, ok)
            if i and gold is not None:
                count("answered", found)
            if i and row.get("kind"):
                count(f"follow-up:{row['kind']}", ok)
            if not ok:
                got = getattr(ans, "text", "") if found else "(declined)"
                asked = getattr(ans, "resolved_question", "")
                fails.append(
                    f"{row['id']}.{i} ({cls}): gold {gold!r} got {got!r} (asked {asked!r})"
                )
    return ClassScore(right, total, tuple(fails))


def gold_titles_from(articles_rows: list[dict]) -> dict[str, set[str]]:
    """Acceptable citation headlines per gold article id, following continuation links."""
    by_id = {r["article"]: r for r in articles_rows}
    groups: dict[str, set[str]] = {}
    for r in articles_rows:
        titles = {norm(r.get("headline")), norm(r.get("jump_headline"))}
        titles |= {norm(t) for t in r.get("other_titles") or []}
        groups[r["article"]] = {t for t in titles if t}
    # an article and its continuation share their titles
    for r in articles_rows:
        target = r.get("continues")
        if target and target in by_id:
            merged = groups[r["article"]] | groups[target]
            groups[r["article"]] = groups[target] = merged
    return {k: v for k, v in groups.items() if v}


# ----------------------------------------------------------------------------- CMRC 2018 metric

# The punctuation list of the official CMRC 2018 evaluation script (cmrc2018_evaluate.py).
_CMRC_PUNCT = frozenset("-:_*^/\\~`+=，。：？！“”；’《》·、「」（）－～『』") | {"……"}
_CJK = re.compile(r"[\u4e00-\u9fa5]")
_LATIN_WORD = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def cmrc_segments(text: str, drop_punct: bool = True) -> list[str]:
    """CMRC 2018 mixed segmentation: one segment per Chinese character, words elsewhere."""
    out: list[str] = []
    run = ""
    for ch in str(text).lower().strip():
        if drop_punct and ch in _CMRC_PUNCT:
            continue
        if _CJK.match(ch) or ch in _CMRC_PUNCT:
            out.extend(_LATIN_WORD.findall(run))
            run = ""
            out.append(ch)
        else:
            run += ch
    out.extend(_LATIN_WORD.findall(run))
    return out


def _lcs_len(a: list[str], b: list[str]) -> int:
    """Length of the longest common contiguous run (the official script's ``find_lcs``)."""
    best = 0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0] * (len(b) + 1)
        for j, y in enumerate(b):
            if x == y:
                cur[j + 1] = prev[j] + 1
                best = max(best, cur[j + 1])
        prev = cur
    return best


def cmrc_f1(prediction: str, answers: list[str]) -> float:
    """CMRC 2018 F1 of one prediction against its gold answers (best over answers, 0..1)."""
    pred = cmrc_segments(prediction)
    best = 0.0
    for gold in answers:
        g = cmrc_segments(gold)
        common = _lcs_len(g, pred)
        if common:
            p, r = common / len(pred), common / len(g)
            best = max(best, 2 * p * r / (p + r))
    return best


def cmrc_em(prediction: str, answers: list[str]) -> float:
    """CMRC 2018 exact match: equal after lower-casing and removing punctuation."""

    def strip(s: str) -> str:
        return "".join(ch for ch in str(s).lower().strip() if ch not in _CMRC_PUNCT)

    return float(any(strip(prediction) == strip(a) for a in answers))


# ----------------------------------------------------------------------------- SQuAD-format data


@dataclass(frozen=True)
class Example:
    """One SQuAD-format question: gold answer texts, the first located in ``context``."""

    qid: str
    question: str
    context: str
    answers: tuple[str, ...]
    start: int  # offset of answers[0] in context
    passage: int  # index of its paragraph in the file


def _locate(context: str, answer: str, hint: int) -> int:
    """Where ``answer`` stands in ``context``: at ``hint`` if it does, else the nearest copy."""
    if context[hint : hint + len(answer)] == answer:
        return hint
    best, at = -1, context.find(answer)
    while at >= 0:
        if best < 0 or abs(at - hint) < abs(best - hint):
            best = at
        at = context.find(answer, at + 1)
    return best


def load_squad(path: Path, convert: Callable[[str], str] | None = None) -> list[Example]:
    """Questions of a SQuAD-format file. ``convert`` maps every text (e.g. OpenCC t2s); an
    answer whose offset does not match is re-located, one not in its context dropped."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))["data"]
    except (OSError, ValueError, KeyError) as exc:
        raise ValueError(f"{path} is not a SQuAD-format JSON file ({exc})") from exc
    conv = convert or (lambda s: s)
    out: list[Example] = []
    n_para = 0
    for art in data:
        for para in art["paragraphs"]:
            ctx = conv(para["context"])
            same_len = len(ctx) == len(para["context"])
            for qa in para["qas"]:
                answers = [a for a in qa.get("answers", []) if a.get("text", "").strip()]
                if not answers or not str(qa.get("question", "")).strip():
                    continue  # no gold answer, or no question (CMRC trial has one)
                texts = tuple(conv(a["text"]) for a in answers)
                hint = int(answers[0].get("answer_start", 0)) if same_len else 0
                start = _locate(ctx, texts[0], hint)
                if start >= 0:
                    out.append(
                        Example(str(qa["id"]), conv(qa["question"]), ctx, texts, start, n_para)
                    )
            n_para += 1
    return out


# ----------------------------------------------------------------------------- reader evaluation


@dataclass(frozen=True)
class ReaderScore:
    """EM / F1 (CMRC 2018 metric, percent) of one extractor in one mode."""

    mode: str  # closed: passage given; open: asked through rag.answer over an index
    extractor: str
    n: int
    em: float
    f1: float
    answered: float  # share of questions given an answer
    passage_right: float  # open mode: the first citation is the question's passage
    p50_ms: float

    def line(self) -> str:
        """One row of the report table."""
        right = f"{self.passage_right:6.3f}" if self.mode == "open" else "     -"
        return (
            f"{self.mode:<7}{self.extractor:<12}{self.n:>6}{self.em:>8.1f}{self.f1:>8.1f}"
            f"{self.answered:>10.3f}{right:>15}{self.p50_ms:>9.0f}"
        )


READER_HEADER = (
    f"{'mode':<7}{'extractor':<12}{'n':>6}{'EM':>8}{'F1':>8}{'answered':>10}"
    f"{'right passage':>15}{'p50 ms':>9}"
)


def rules_closed(question: str, context: str) -> str:
    """The pattern extractor with the passage given: best sentence by question words, then
    its typed span (the whole sentence when no rule fits)."""
    from rag.ingest.chunks import split_sentences
    from rag.qa.spans import classify, extract_span, question_terms

    terms = question_terms(question)
    sentences = [context[a:b] for a, b in split_sentences(context)] or [context]
    best = max(sentences, key=lambda s: sum(len(t) for t in terms if t in s))
    span = extract_span(classify(question), question, best)
    return best[span[0] : span[1]] if span else best


def reader_closed(reader: object) -> Callable[[str, str], str]:
    """A reader (``rag.models.reader.Reader``) with the passage given: its best span.

    Decoded as ``rag.answer`` decodes (the ``READ_TOP`` best starts and ends of each window,
    ranked with the length prior): with ``top=1`` only the single best start and end of each
    window would pair up, and the prior would have nothing to choose from (CMRC 2018 trial: F1
    62.7 that way against 65.8 for the stage-2 reader).
    """
    from rag.models.reader import READ_TOP

    def best(question: str, context: str) -> str:
        spans = reader.read(question, [context], top=READ_TOP)  # type: ignore[attr-defined]
        return context[spans[0].start : spans[0].end] if spans else ""

    return best


def _tally(
    mode: str, name: str, examples: list[Example], predict: Callable[[Example], tuple[str, bool]]
) -> ReaderScore:
    """Time ``predict(example) -> (answer, cites the question's passage)`` and score it."""
    ems, f1s, times, answered, right = [], [], [], 0, 0
    for ex in examples:
        t0 = time.perf_counter()
        pred, cited = predict(ex)
        times.append((time.perf_counter() - t0) * 1000)
        answered += bool(pred)
        right += cited
        ems.append(cmrc_em(pred, list(ex.answers)))
        f1s.append(cmrc_f1(pred, list(ex.answers)))
    n = max(len(examples), 1)
    return ReaderScore(
        mode,
        name,
        len(examples),
        100 * sum(ems) / n,
        100 * sum(f1s) / n,
        answered / n,
        right / n,
        statistics.median(times) if times else 0.0,
    )


def score_closed(
    examples: list[Example], extract: Callable[[str, str], str], name: str
) -> ReaderScore:
    """Score ``extract(question, context) -> answer`` with each passage given."""
    return _tally("closed", name, examples, lambda ex: (extract(ex.question, ex.context), False))


def passage_page_id(passage: int) -> str:
    """The page id under which an open-mode evaluation stores a SQuAD paragraph."""
    return f"p{passage:05d}"


def write_passage_pages(examples: list[Example], folder: Path) -> int:
    """Write each distinct paragraph of ``examples`` as one page file; returns how many."""
    folder.mkdir(parents=True, exist_ok=True)
    seen: dict[int, str] = {ex.passage: ex.context for ex in examples}
    for passage, context in seen.items():
        (folder / f"{passage_page_id(passage)}.txt").write_text(context + "\n", encoding="utf-8")
    return len(seen)


def score_open(
    examples: list[Example], answer_fn: Callable[[str], object], name: str
) -> ReaderScore:
    """Score ``answer_fn(question) -> rag.Answer`` over an index of the examples' passages."""

    def predict(ex: Example) -> tuple[str, bool]:
        ans = answer_fn(ex.question)
        found = bool(getattr(ans, "found", False))
        cits = list(getattr(ans, "citations", []))
        cited = bool(cits) and cits[0].page == passage_page_id(ex.passage)
        return (ans.text if found else "", cited)  # type: ignore[attr-defined]

    return _tally("open", name, examples, predict)
