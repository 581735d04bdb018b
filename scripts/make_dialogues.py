"""Write a public dialogue set: follow-up questions on public passages (CMRC 2018 trial, DRCD
dev; CC BY-SA), for measuring how ``rag.answer`` reads follow-ups and near misses.

Every dialogue is two questions of the data set on one passage, the second rewritten as a chat
user asks it after the first. Its kind says how:

- ``pronoun``: the passage's subject (its title, named in both questions) becomes 它/他/她
  in the second;
- ``subject``: the second question opens with the subject, which is left out (``首都是哪里？``);
- ``ellipsis``: the two questions differ in one slot (``A的B是谁？`` / ``A的C是谁？``): the
  second is asked as ``C呢？``;
- ``near-year``: the first question names a year; the follow-up ``<another year>呢？`` names a
  year its passage never mentions: it must be declined;
- ``near-removed``: a pronoun or subject follow-up whose answer's sentence was removed from the
  passage (the article is there, the fact is not): it must be declined.

Beside them, ``written.jsonl`` (in the output folder) holds dialogues written by hand on these
passages for what two questions of the data set rarely give: a year or a measure swapped
(``2006年呢？``, ``外来人口呢？`` after a figure), a role (``它的现任总裁是谁？``), and near
misses (``<a year it gives no figure for>呢？``, ``<a measure it does not give>呢？``).

The passages become page files (headline = the title, then the text; near-miss passages with
their sentence removed), and passages on other subjects stand beside them; so ``rag build``
indexes them as an archive and ``rag eval`` reads the dialogues (a turn whose ``a`` is null
must be declined). Nothing is learned from this set: it
measures. Deterministic: the same data gives the same files.

Run: python scripts/make_dialogues.py [--out benchmarks/dialogues]
"""

from __future__ import annotations

import argparse
import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

import jieba.posseg as pseg
import opencc

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SOURCES = (("cmrc2018_trial.json", "cmrc"), ("drcd_dev.json", "drcd"), ("drcd_test.json", "drcdt"))
# what fit_followups.py learns from: the training sets, never the sources above
TRAIN_SOURCES = (("cmrc2018_train.json", "cmrct"), ("drcd_train_subset1960.json", "drcdr"))
WANT = {"pronoun": 30, "subject": 30, "ellipsis": 40, "near-year": 20, "near-removed": 20}
_T2S = opencc.OpenCC("t2s")
_ASKS = re.compile(r"多少|什么|哪|谁|几|怎么|如何|为什么|为何|是否|吗|何")
_YEAR = re.compile(r"(?<!\d)(1[5-9]\d\d|20[0-2]\d)年")
_NOUNISH = ("n", "t", "m", "q", "j", "eng", "a", "b", "v", "s", "f", "l")
_SENTENCE = re.compile(r"[^。！？；]*[。！？；]?")


@dataclass
class Qa:
    question: str
    answer: str
    start: int


@dataclass
class Passage:
    pid: str
    title: str
    text: str
    qas: list[Qa]


def passages(sources: tuple[tuple[str, str], ...] = SOURCES) -> list[Passage]:
    """Every passage of the sources, in simplified script, with its answerable questions."""
    out = []
    for name, tag in sources:
        data = json.loads((DATA / name).read_text(encoding="utf-8"))
        for i, art in enumerate(data["data"]):
            title = _T2S.convert(art.get("title", "")).strip()
            for j, par in enumerate(art["paragraphs"]):
                text = _T2S.convert(par["context"])
                qas = []
                for qa in par["qas"]:
                    if not qa.get("answers"):
                        continue
                    a = qa["answers"][0]
                    answer = _T2S.convert(a["text"]).strip()
                    q = _T2S.convert(qa["question"]).strip()
                    if answer and answer in text and len(answer) <= 30:
                        qas.append(Qa(q, answer, text.find(answer)))
                out.append(Passage(f"{tag}{i:03d}{j:02d}", title, text, qas))
    return out


def _pronoun(title: str) -> str:
    words = list(pseg.cut(title))
    return "他" if len(words) == 1 and words[0].flag == "nr" else "它"


def _end(q: str) -> str:
    return re.sub(r"[？?。！!\s]+$", "", q)


def pronoun_turn(p: Passage, q: Qa) -> str | None:
    """``q`` with the passage's title replaced by a pronoun (the title must stand once)."""
    t = p.title
    if len(t) < 2 or _end(q.question).count(t) != 1 or t in q.answer:
        return None
    return _end(q.question).replace(t, _pronoun(t)) + "？"


def subject_turn(p: Passage, q: Qa) -> str | None:
    """``q`` without the title it opens with (``T的X…`` → ``X…``; ``T在…`` → ``在…``)."""
    t, body = p.title, _end(q.question)
    if len(t) < 2 or not body.startswith(t) or t in body[len(t) :] or t in q.answer:
        return None
    rest = body[len(t) :].lstrip("的")
    if len(rest) < 4 or not _ASKS.search(rest):
        return None
    return rest + "？"


def slot_pair(a: str, b: str) -> str | None:
    """When questions ``a`` and ``b`` differ in one slot only, ``b``'s word for it."""
    a, b = _end(a), _end(b)
    pre = 0
    while pre < min(len(a), len(b)) and a[pre] == b[pre]:
        pre += 1
    suf = 0
    while suf < min(len(a), len(b)) - pre and a[-1 - suf] == b[-1 - suf]:
        suf += 1
    new, old = b[pre : len(b) - suf], a[pre : len(a) - suf]
    if pre + suf < 4 or not 2 <= len(new) <= 10 or not old or _ASKS.search(new + old):
        return None
    if not _ASKS.search(a[:pre] + a[len(a) - suf :]):
        return None  # the question word must stand in the shared frame
    # the slot is a noun phrase of whole words in both questions (a thing, a place, a time)
    for q, at, end in ((a, pre, len(a) - suf), (b, pre, len(b) - suf)):
        k, flags = 0, []
        for w in pseg.cut(q):
            if at <= k < end:
                flags.append(w.flag)
            k += len(w.word)
            if k > at and (k - len(w.word) < at or (k > end and k - len(w.word) < end)):
                return None  # a word crosses the slot's edge
        if not flags or not all(f.startswith(_NOUNISH) for f in flags):
            return None
        if not any(f.startswith(("n", "t", "j", "eng")) for f in flags):
            return None
    return new


def without_sentence(text: str, start: int) -> str:
    """``text`` without the sentence holding character ``start``."""
    for m in _SENTENCE.finditer(text):
        if m.start() <= start < m.end() and m.group():
            return text[: m.start()] + text[m.end() :]
    return text


def build(
    written: list[dict],
    seed: int = 0,
    sources: tuple[tuple[str, str], ...] = SOURCES,
    want: dict[str, int] | None = None,
) -> tuple[list[dict], dict[str, str]]:
    """The dialogues (``written`` ones added; ``want``: how many of each kind at most) and the
    page texts (page id → text)."""
    want = want or WANT
    rng = random.Random(seed)
    rows: list[dict] = []
    pages: dict[str, str] = {}
    used: set[str] = {row["source"] for row in written}  # kept for the written dialogues
    pool = passages(sources)
    rng.shuffle(pool)

    def add(kind: str, p: Passage, first: Qa, follow: str, gold: str | None, text: str) -> None:
        rows.append(
            {
                "id": f"{kind}-{p.pid}",
                "kind": kind,
                "source": p.pid,
                "turns": [{"q": first.question, "a": first.answer}, {"q": follow, "a": gold}],
            }
        )
        pages[p.pid] = f"{p.title}\n\n{text}\n"
        used.add(p.pid)

    counts: dict[str, int] = {}
    gone: dict[str, str] = {}  # near-removed passage → the answer taken out
    # the rarest kind first: two questions of one passage that differ in one slot
    for p in pool:
        pair = next(
            (
                (a, b, new)
                for a in p.qas
                for b in p.qas
                if b.answer != a.answer
                and b.answer not in a.question
                and (new := slot_pair(a.question, b.question))
            ),
            None,
        )
        if pair and counts.get("ellipsis", 0) < want["ellipsis"]:
            a, b, new = pair
            add("ellipsis", p, a, f"{new}呢？", b.answer, p.text)
            counts["ellipsis"] = counts.get("ellipsis", 0) + 1
    for p in pool:
        if p.pid in used or len(p.qas) < 2:
            continue
        made = None
        for i, a in enumerate(p.qas):
            for b in p.qas[i + 1 :] + p.qas[:i]:
                if b.answer == a.answer or b.answer in a.question:
                    continue
                t = p.title
                if t not in a.question:
                    continue
                year = _YEAR.search(a.question)
                years = set(_YEAR.findall(p.text))
                if year and counts.get("near-year", 0) < want["near-year"]:
                    other = next(
                        (
                            f"{y}年"
                            for y in range(int(year.group(1)) + 1, 2026)
                            if str(y) not in p.text
                        ),
                        None,
                    )
                    if other and years:
                        made = ("near-year", a, f"那{other}呢？", None, p.text)
                        break
                for kind, turn in (
                    ("pronoun", pronoun_turn(p, b)),
                    ("subject", subject_turn(p, b)),
                ):
                    if turn is None:
                        continue
                    removed = without_sentence(p.text, b.start)
                    near = (
                        counts.get("near-removed", 0) < want["near-removed"] and rng.random() < 0.3
                    )
                    if near and b.answer not in removed and a.answer in removed:
                        made = ("near-removed", a, turn, None, removed)
                        gone[p.pid] = b.answer
                    elif counts.get(kind, 0) < want[kind]:
                        made = (kind, a, turn, b.answer, p.text)
                    if made:
                        break
                if made:
                    break
            if made:
                break
        if made:
            kind, first, follow, gold, text = made
            add(kind, p, first, follow, gold, text)
            counts[kind] = counts.get(kind, 0) + 1
        if all(counts.get(k, 0) >= n for k, n in want.items()):
            break
    # dialogues written by hand on these passages (slot swaps, measures, roles, near misses)
    by_id = {p.pid: p for p in pool}
    for row in written:
        p = by_id[row["source"]]
        for turn in row["turns"]:
            if turn["a"] is not None and turn["a"] not in p.text:
                raise ValueError(f"{row['id']}: {turn['a']!r} does not stand in {p.pid}")
        pages[p.pid] = f"{p.title}\n\n{p.text}\n"
        used.add(p.pid)
        rows.append(row)
    # the pages a reader searches hold distractors too: passages no dialogue is about, on
    # other subjects (a passage on the same subject could answer a near miss)
    titles = {by_id[pid].title for pid in used}
    for p in pool:
        if len(pages) >= 2 * len(rows):
            break
        if p.pid not in used and p.title not in titles:
            pages[p.pid] = f"{p.title}\n\n{p.text}\n"
    # a declined turn must have nothing to find: its answer stands on no page
    rows = [r for r in rows if not any(gone.get(r["source"], "\0") in t for t in pages.values())]
    rows.sort(key=lambda r: (r["kind"], r["id"]))
    return rows, pages


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="benchmarks/dialogues")
    args = ap.parse_args()
    out = Path(args.out)
    hand = out / "written.jsonl"
    written = [json.loads(x) for x in hand.read_text(encoding="utf-8").splitlines() if x.strip()]
    rows, pages = build(written)
    (out / "pages").mkdir(parents=True, exist_ok=True)
    for old in (out / "pages").glob("*.txt"):
        old.unlink()
    for pid, text in sorted(pages.items()):
        (out / "pages" / f"{pid}.txt").write_text(text, encoding="utf-8")
    with (out / "dialogues.jsonl").open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    kinds: dict[str, int] = {}
    for r in rows:
        kinds[r["kind"]] = kinds.get(r["kind"], 0) + 1
    print(f"{len(rows)} dialogues, {len(pages)} pages: {kinds}")


if __name__ == "__main__":
    main()
