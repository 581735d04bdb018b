"""Measure the word lists question reading uses on public training questions, and write them
with their provenance to ``rag/qa/lexicon.json``.

Sources: the questions and answers of CMRC 2018 train and the DRCD train subset (CC BY-SA;
``../shared/data``), DRCD converted to simplified script with OpenCC, segmented and tagged by
jieba (its dictionary is the public lexicon the tags come from). No dev or evaluation question
is read. Each list says how it was measured:

- ``predicates``: the verbs a question links its subject to what it asks with: the last verb
  (jieba ``v``) standing before the question word, in at least ``MIN_PREDICATE`` questions.
- ``place_hints`` / ``org_hints``: the nouns after 哪个/什么 (``哪个城市``) whose questions are
  answered by a place (its last word jieba ``ns``) / an organisation (``nt``, or an
  organisation's suffix word) in at least half of at least ``MIN_HINT`` questions, kept by
  their last word; with them, the levels of GB/T 2260 (the PRC's administrative divisions) and
  the common nouns that close the most place (``ns``) / organisation (``nt``) names of jieba's
  dictionary (``县``, ``山``; ``大学``, ``银行``).

Run: python scripts/lexicons.py   (deterministic; about 10 seconds on 2 cores)
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import jieba
import jieba.posseg as pseg
import opencc

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
OUT = ROOT / "rag" / "qa" / "lexicon.json"
SOURCES = ("cmrc2018_train.json", "drcd_train_subset1960.json")
MIN_PREDICATE = 15
MIN_HINT = 8
_ASK = re.compile(r"多少|什么|哪|谁|几|怎么|如何|为什么|为何|何")
_HINT = re.compile(
    r"(?:哪个|哪一个|哪家|哪座|哪所|哪一|哪项|哪种|哪类|什么|何种|哪)([\u4e00-\u9fff]{1,6})"
)
# words that close an organisation's name (a body, not a place): jieba tags many such names nz
_ORG_WORDS = ("公司", "集团", "大学", "学院", "银行", "协会", "委员会", "政府", "部", "局", "党")


def questions() -> list[tuple[str, str]]:
    """(question, answer) pairs of the training sources, in simplified script."""
    t2s = opencc.OpenCC("t2s")
    out = []
    for name in SOURCES:
        data = json.loads((DATA / name).read_text(encoding="utf-8"))
        for art in data["data"]:
            for par in art["paragraphs"]:
                for qa in par["qas"]:
                    if qa.get("answers"):
                        q = t2s.convert(qa["question"]).strip()
                        out.append((q, t2s.convert(qa["answers"][0]["text"]).strip()))
    return out


def predicates(pairs: list[tuple[str, str]]) -> list[str]:
    counts: Counter[str] = Counter()
    for q, _ in pairs:
        ask = _ASK.search(q)
        if not ask:
            continue
        verbs = [w.word for w in pseg.cut(q[: ask.start()]) if w.flag == "v"]
        if verbs:
            counts[verbs[-1]] += 1
    return sorted(w for w, n in counts.items() if n >= MIN_PREDICATE)


def hints(pairs: list[tuple[str, str]]) -> tuple[list[str], list[str]]:
    place: Counter[str] = Counter()
    org: Counter[str] = Counter()
    seen: Counter[str] = Counter()
    for q, a in pairs:
        m = _HINT.search(q)
        if not m or len(a) > 20:
            continue
        nouns = []
        for w in pseg.cut(m.group(1)):
            if not (w.flag.startswith("n") or w.flag in ("vn", "j")):
                break
            nouns.append(w.word)
        if not nouns:
            continue
        head = nouns[-1]
        tags = [(w.word, w.flag) for w in pseg.cut(a)]
        seen[head] += 1
        last = tags[-1][1] if tags else ""
        place[head] += last == "ns"
        org[head] += last == "nt" or a.endswith(_ORG_WORDS)

    def kept(c: Counter[str]) -> list[str]:
        return sorted(h for h, n in seen.items() if n >= MIN_HINT and c[h] * 2 >= n)

    return kept(place), kept(org)


# GB/T 2260 (codes for the administrative divisions of the PRC): the levels' names
ADMINISTRATIVE = ("省", "市", "区", "县", "乡", "镇", "街道", "村")
# jieba dictionary entries a name ending must close to count: place names (17,706 entries) and
# organisation names (4,713)
MIN_LEXICON = {"ns": 200, "nt": 50}


def lexicon_endings(flag: str, size: int) -> list[str]:
    """Endings of ``size`` characters that close at least ``MIN_LEXICON[flag]`` entries tagged
    ``flag`` in jieba's dictionary and are nouns themselves (``县`` closes 1,816 place names;
    ``亚`` closes many too, but is no common noun: jieba tag ``n``)."""
    path = Path(jieba.__file__).with_name("dict.txt")
    tags: dict[str, str] = {}
    ends: Counter[str] = Counter()
    for line in path.read_text(encoding="utf-8").splitlines():
        word, _, tag = line.split()
        tags[word] = tag
        if tag == flag and len(word) > size:
            ends[word[-size:]] += 1
    return sorted(e for e, n in ends.items() if n >= MIN_LEXICON[flag] and tags.get(e) == "n")


def main() -> None:
    jieba.setLogLevel(60)
    pairs = questions()
    place, org = hints(pairs)
    place = sorted(set(place) | set(ADMINISTRATIVE) | set(lexicon_endings("ns", 1)))
    org = sorted(set(org) | set(lexicon_endings("nt", 2)))
    lists = {
        "predicates": (
            predicates(pairs),
            f"last verb before the question word, >= {MIN_PREDICATE} questions",
        ),
        "place_hints": (
            place,
            f"hint noun answered by a place (jieba ns) in >= half of >= {MIN_HINT} questions; "
            f"GB/T 2260 division levels; nouns closing >= {MIN_LEXICON['ns']} jieba ns entries",
        ),
        "org_hints": (
            org,
            f"hint noun answered by an organisation in >= half of >= {MIN_HINT} questions; "
            f"two-character nouns closing >= {MIN_LEXICON['nt']} jieba nt entries",
        ),
    }
    doc = {
        "source": "CMRC 2018 train + DRCD train subset (CC BY-SA) questions and answers; "
        "jieba's dictionary and tags; GB/T 2260",
        "command": "python scripts/lexicons.py",
        "questions": len(pairs),
        "lists": {k: {"method": how, "entries": v} for k, (v, how) in lists.items()},
    }
    OUT.write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    for k, (v, _) in lists.items():
        print(f"{k}: {len(v)}")


if __name__ == "__main__":
    main()
