"""Example questions the archive answers, made from the index itself and checked by asking
them: one factoid (a figure in an article's lead, asked for), one whole-article question (a
headline) and one issue question (a date with pages). What the chat page offers a newcomer.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator

from rag.ingest.dates import format_date, parse_stored
from rag.ingest.tokenize import pos_tag
from rag.qa.digest import lead_of
from rag.qa.records import Answer
from rag.qa.retrieve import Runtime

MAX_TRIES = 8  # candidate questions asked per kind before giving up on it
MAX_ARTICLES = 500  # articles looked through for candidates (a large archive starts fast)

_NUMERAL = r"\d+(?:\.\d+)?"
_COUNTED = re.compile(
    rf"(?<![\d.])({_NUMERAL})(项|个|家|名|条|批|支|座|所|台|辆|户|次|亿元|万元|万人|人)"
)
_OPENS_CLAUSE = re.compile(r"^[\u4e00-\u9fff]{2}")
_WEAK_OPENING = re.compile(r"^(?:但|并|而|且|还|也|又|从|对|在|为|以|将|把|据|截至|其中|同时|此外)")


def _factoids(rt: Runtime) -> Iterator[tuple[str, str]]:
    """``(question, figure)`` pairs from clauses of articles' leads holding one counted figure:
    ``全区12家企业入选`` → ``全区多少家企业入选？``."""
    for aid in itertools.islice(rt.index.articles, MAX_ARTICLES):
        _, lead = lead_of(rt, aid)
        for clause in re.split(r"[，,。；;！？：:]", lead):
            clause = clause.strip("“”‘’《》（）() ")
            found = list(_COUNTED.finditer(clause))
            if len(found) != 1 or not 8 <= len(clause) <= 30:
                continue
            if not _OPENS_CLAUSE.match(clause) or _WEAK_OPENING.match(clause):
                continue
            first = pos_tag(clause[:8])[:1]
            if not first or not first[0][1].startswith(("n", "j")):
                continue  # the clause names its subject first: 新区…, 全区…
            m = found[0]
            if m.start() < 2:
                continue
            question = f"{clause[: m.start()]}多少{m.group(2)}{clause[m.end() :]}？"
            yield question, m.group(1)


def _headlines(rt: Runtime) -> Iterator[str]:
    arts = rt.index.articles
    for aid in itertools.islice(arts, MAX_ARTICLES):
        head = arts[aid].headline
        if head and 6 <= len(head) <= 24:
            yield f"「{head}」这篇报道讲了什么？"


def _issues(rt: Runtime) -> Iterator[str]:
    seen: set[str] = set()
    pages = sorted(rt.index.pages.values(), key=lambda p: (p.number is None, p.date or ""))
    for p in pages:
        if p.date and p.date not in seen and parse_stored(p.date):
            seen.add(p.date)
            yield f"{format_date(p.date)}的报纸有哪些报道？"


def example_questions(rt: Runtime, ask: Callable[[str], Answer]) -> list[str]:
    """Up to three questions the archive answers (``ask`` answers one): a factoid, a
    whole-article question and an issue question, each kept only when asking it finds an
    answer (the factoid's answer must hold the figure it was made from)."""
    out: list[str] = []
    for i, (question, figure) in enumerate(_factoids(rt)):
        if i >= MAX_TRIES:
            break
        reply = ask(question)
        if reply.found and figure in reply.text:
            out.append(question)
            break
    for source in (_headlines(rt), _issues(rt)):
        for i, question in enumerate(source):
            if i >= MAX_TRIES:
                break
            if ask(question).found:
                out.append(question)
                break
    return out
