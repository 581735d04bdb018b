"""Follow-up questions: resolve a question against the earlier turns of a conversation.

Chat users ask ``装备制造产业园呢？`` after ``变频控制产业园计划建在哪个街道？``, or
``由谁负责组建？`` after a question about an alliance. :func:`resolve` rewrites such a
question into one that stands on its own (what is then searched) and names the article of
the previous answer, which retrieval prefers without forcing it. A question that names its
own subject is left alone, whatever the history. The answer is still a span of the archive,
never of the history.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

from rag.ingest.tokenize import pos_tag
from rag.qa.lexicon import entries

# Words that stand for something said before.
PRONOUNS = frozenset(
    [
        "它",
        "它们",
        "他",
        "他们",
        "她",
        "她们",
        "该",
        "其",
        "此",
        "这",
        "那",
        "这些",
        "那些",
        "这个",
        "那个",
        "这项",
        "那项",
        "这家",
        "那家",
        "这里",
        "那里",
        "此处",
        "该项",
        "该地",
        "该区",
        "这位",
        "那位",
        "上述",
        "前者",
        "后者",
    ]
)
_OPENERS = re.compile(r"^(?:那么|那|还有|另外|然后|再问一下|再问|请问|那请问)[，,、\s]*")
_ELLIPSIS = re.compile(r"^(?P<x>.+?)(?:的情况|怎么样|如何)?呢[？?！!。]*$")
_WITHIN = re.compile(r"^(?:其中|这其中|当中|里面|里头)[，,、]?")
_ASKS = re.compile(r"多少|什么|哪|谁|几|怎么|如何|为什么|为何|是否|吗")
_QUESTION_END = re.compile(r"[？?！!。\s]+$")
_NOUN_FLAGS = ("n", "nr", "ns", "nt", "nz", "nrt", "nrfg", "ng", "eng", "vn", "j", "l", "i")
_GENERIC_NOUNS = frozenset(
    [
        "时候",
        "时间",
        "地方",
        "问题",
        "情况",
        "内容",
        "方面",
        "东西",
        "事情",
        "原因",
        "目的",
        "人",
        "名",
        "个",
        "家",
        "项",
        "年",
        "月",
        "日",
        "天",
        "多少",
        "什么",
        "哪些",
        "谁",
        "怎样",
        "如何",
        "数量",
        "人数",
    ]
)


@dataclass(frozen=True)
class Turn:
    """An earlier turn, as the resolver needs it."""

    question: str  # what was searched then (its resolved question)
    answer: str = ""  # the answer text ("" when there was none)
    article_id: str | None = None  # article of the first citation
    found: bool = False


@dataclass(frozen=True)
class Resolution:
    """What a question is taken to mean in its conversation."""

    question: str  # the question to search
    kind: str  # standalone | pronoun | ellipsis | within | subject
    prefer_article: str | None = None  # article of the previous answer, if it matters
    previous: str = ""  # the previous answer's text ("" when there was none)
    # the reading puts the new words where their kind does not fit: a time for a noun (or a
    # noun for a time), a name asked as an attribute (``X的广西壮族自治区是什么时候``)
    clash: bool = False

    @property
    def rewritten(self) -> bool:
        """True when something was carried over from earlier turns."""
        return self.kind != "standalone"


def turns_from(history: Sequence[object] | None) -> list[Turn]:
    """Turns from what callers pass: ``(question, Answer)`` pairs, ``(question, text)`` pairs,
    bare question strings, or :class:`Turn` objects; oldest first."""
    out: list[Turn] = []
    for item in history or ():
        if isinstance(item, Turn):
            out.append(item)
        elif isinstance(item, str):
            out.append(Turn(item))
        elif isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[0], str):
            q, a = item
            if a is None or isinstance(a, str):
                out.append(Turn(q, a or "", None, bool(a)))
            else:
                cits = list(getattr(a, "citations", []) or [])
                found = bool(getattr(a, "found", False))
                out.append(
                    Turn(
                        getattr(a, "resolved_question", "") or q,
                        getattr(a, "text", "") if found else "",
                        cits[0].article_id if cits and found else None,
                        found,
                    )
                )
        else:
            raise ValueError(
                "history items must be (question, Answer) pairs or question strings, "
                f"not {type(item).__name__}"
            )
    return out


def _core(question: str) -> str:
    return _QUESTION_END.sub("", question.strip())


@dataclass(frozen=True)
class Tagged:
    """A text with its jieba words and part-of-speech tags: segmented once, then sliced."""

    text: str
    words: tuple[tuple[int, int, str, str], ...]  # (start, end, word, flag)

    @classmethod
    def of(cls, text: str) -> Tagged:
        """Segment and tag ``text`` (one jieba call; a text tagged lately, such as the previous
        question that :func:`resolve` and :func:`readings` both read, is not tagged again)."""
        return _tagged(text)

    @property
    def pairs(self) -> list[tuple[str, str]]:
        """``(word, flag)`` pairs, as ``pos_tag`` gives them."""
        return [(w, f) for _, _, w, f in self.words]

    def sub(self, start: int, end: int | None = None) -> Tagged:
        """The words of ``text[start:end]``, shifted; a slice that cuts a word is tagged anew
        (jieba's best path through a word boundary is the best path on either side of it)."""
        end = len(self.text) if end is None else end
        if (start, end) == (0, len(self.text)):
            return self
        bounds = {a for a, _, _, _ in self.words} | {len(self.text)}
        if start not in bounds or end not in bounds:
            return Tagged.of(self.text[start:end])
        words = tuple(
            (a - start, b - start, w, f) for a, b, w, f in self.words if start <= a and b <= end
        )
        return Tagged(self.text[start:end], words)


@lru_cache(maxsize=512)
def _tagged(text: str) -> Tagged:
    out, at = [], 0
    for w, f in pos_tag(text):
        out.append((at, at + len(w), w, f))
        at += len(w)
    return Tagged(text, tuple(out))


def _content_nouns(tags: list[tuple[str, str]]) -> list[str]:
    return [
        w
        for w, f in tags
        if f.startswith(_NOUN_FLAGS) and w not in _GENERIC_NOUNS and w not in PRONOUNS
    ]


# Verbs that join a subject to what is asked of it; a phrase never spans one. Measured on
# public training questions (rag/qa/lexicon.json, scripts/lexicons.py).
PREDICATES = frozenset(entries("predicates"))
_BOUNDARY_FLAGS = ("p", "c", "u", "r", "d", "x", "w", "y", "e", "zg")
_EDGE_FLAGS = ("m", "q", "v", "u", "f")


def _is_boundary(word: str, flag: str) -> bool:
    from rag.qa.spans import QUESTION_WORDS

    return (
        flag.startswith(_BOUNDARY_FLAGS)
        or not re.search(r"\w", word)
        or word in PREDICATES
        or word in QUESTION_WORDS
        or word in PRONOUNS
        or word in _GENERIC_NOUNS
    )


def phrases(question: str | Tagged) -> list[tuple[int, int]]:
    """Character spans of the noun phrases of a question: runs of words between boundaries
    (prepositions, pronouns, particles, question words, linking predicates), without
    numerals, measure words or verbs at their edges."""
    tagged = question if isinstance(question, Tagged) else Tagged.of(question)
    runs: list[list[tuple[int, int, str, str]]] = [[]]
    for tok in tagged.words:
        if _is_boundary(tok[2], tok[3]):
            runs.append([])
        else:
            runs[-1].append(tok)
    out = []
    for run in runs:
        while run and run[0][3].startswith(_EDGE_FLAGS) and run[0][3] != "vn":
            run = run[1:]
        while run and run[-1][3].startswith(_EDGE_FLAGS) and run[-1][3] != "vn":
            run = run[:-1]
        if run and run[-1][1] - run[0][0] >= 2:
            out.append((run[0][0], run[-1][1]))
    return out


def topic_of(turn: Turn, tagged: Tagged | None = None) -> str:
    """The subject of an earlier turn: the longest noun phrase of its question (``tagged``:
    that question without its closing marks, already tagged)."""
    tagged = tagged or Tagged.of(_core(turn.question))
    spans = phrases(tagged)
    if not spans:
        return ""
    a, b = max(spans, key=lambda r: (r[1] - r[0], -r[0]))
    return tagged.text[a:b]


def _entity_answer(turn: Turn, tags: list[tuple[str, str]]) -> bool:
    """The previous answer (``tags``: its words) names a thing a pronoun can point to (not a
    figure or a clause)."""
    a = turn.answer
    first = tags[:1]
    return (
        bool(a)
        and bool(first)
        and not _is_boundary(*first[0])
        and not any(w in PREDICATES for w, _ in tags)
        and len(a) <= 24
        and not re.search(r"[，。；,;]", a)
        and not _FIGURE.match(a)
    )


# an answer that is a figure (``5000余家``, ``约5%``, ``三次``) is nothing a pronoun points to
_FIGURE = re.compile(r"^(?:约|近|超过?|逾|共|累计)?[\d.,%％一二三四五六七八九十百千万亿两]+")
# words a subject never runs into (a verb inside a compound, 新就业群体, does not stop it)
_NOT_SUBJECT = frozenset(["p", "r", "d", "c", "t", "m", "ad", "vd", "f", "ul"])
_ADVERBS = frozenset(["一共", "共", "总共", "已经", "已", "曾", "正在", "将", "累计", "首次"])
_WHEN = re.compile(
    r"(?:\d{4}\s*年)?(?:\d{1,2}\s*月)?(?:\d{1,2}\s*[日号])?|(?:今|去|明|前)年|上半年|下半年"
)
# pronouns for people: they may stand for the person a previous question asked for
_PERSONAL = frozenset(["他", "她", "他们", "她们", "这位", "那位"])


def subject_of(question: Tagged) -> str:
    """What an earlier question asked about: the words before its first predicate, question
    word or preposition (``新区的垃圾分类办法`` of ``…办法是在哪个社区试行的？``),
    else its longest noun phrase."""
    end = start = 0
    words = question.words
    opening = _WHEN.match(question.text)
    skip = len(opening.group()) if opening else 0  # 2008年，… : a time is not the subject
    while start < len(words) and (
        words[start][0] < skip or words[start][3] == "t" or not re.search(r"\w", words[start][2])
    ):
        start += 1
    lead = words[start][0] if start < len(words) else 0
    for i, (_, b, w, f) in enumerate(words[start:], start):
        aspect = f == "v" and i + 1 < len(words) and words[i + 1][2] in ("了", "着", "过")
        if w in PREDICATES or _ASKS.match(w) or w in _ADVERBS or f in _NOT_SUBJECT or aspect:
            break
        end = b
    subject = question.text[lead:end].rstrip("的之") if end > lead else ""
    if len(subject) >= 2 and phrases(question.sub(lead, end)):
        return subject
    spans = phrases(question)
    if not spans:
        return ""
    a, b = max(spans, key=lambda r: (r[1] - r[0], -r[0]))
    return question.text[a:b]


def _swap_subject(previous: Tagged, new: str) -> str:
    """``previous`` with the phrase that plays ``new``'s part replaced by ``new``.

    That phrase ends with the longest ending of ``new`` found in ``previous`` (``产业园`` in
    ``变频控制产业园`` for ``装备制造产业园``) and reaches left to the phrase boundary. Without
    a shared ending, the first noun phrase (the subject) is replaced.
    """
    prev = previous.text
    at = k = -1
    for k in range(len(new), 1, -1):
        at = prev.find(new[-k:])
        if at >= 0:
            break
    if at < 0:
        slot = _same_slot(previous, new)
        if slot is not None:
            return f"{prev[: slot[0]]}{slot[2]}{prev[slot[1] :]}？"
    if at >= 0:
        start, end = at, at + k
        for a, b, w, f in reversed(previous.words):
            if b > start:
                continue
            if b != start or _is_boundary(w, f):
                break
            start = a
        return f"{prev[:start]}{new}{prev[end:]}？"
    spans = phrases(previous)
    if not spans:
        return f"{new}{prev}？"
    a, b = spans[0]
    return f"{prev[:a]}{new}{prev[b:]}？"


# Kinds of slot a follow-up can fill, by jieba flag: places, people, bodies, times.
_SLOT_KINDS = (("ns",), ("nr",), ("nt",), ("t",))


def _same_slot(previous: Tagged, new: str) -> tuple[int, int, str] | None:
    """Where ``new`` (``在意大利``, ``2021年``) fits in the previous question: the word of the same
    kind (a place for a place, a person for a person, a time for a time).
    ``(start, end, replacement)``; a measure asked of the same subject is one of the other
    readings (:func:`readings`)."""
    when = _WHEN.fullmatch(new)
    if when and when.group():
        for m in _WHEN.finditer(previous.text):
            if m.group():
                return m.start(), m.end(), new
    tags = Tagged.of(new).words
    core = [t for t in tags if not t[3].startswith("p")]
    if not core:
        return None
    head = core[-1][3]
    for kind in _SLOT_KINDS:
        if head.startswith(kind):
            for a, b, _, f in previous.words:
                if f.startswith(kind):
                    text = new[core[0][0] :]
                    # 在意大利 for 在法国: the preposition comes along when both have one
                    if len(core) < len(tags) and a > 0 and previous.text[a - 1] == new[0]:
                        a, text = a - 1, new
                    return a, b, text
            return None
    return None


def _body(question: str, tagged: Tagged | None) -> tuple[str, Tagged]:
    """The question without its end mark, and its body after an opener (``那``, ``请问``),
    tagged (``tagged``, the query reader's segmentation, is reused when it fits)."""
    q = _core(question)
    whole = tagged if tagged is not None and tagged.text.startswith(q) else Tagged.of(q)
    opener = _OPENERS.match(q)
    return q, whole.sub(opener.end() if opener else 0, len(q))


def resolve(question: str, history: Sequence[Turn], tagged: Tagged | None = None) -> Resolution:
    """Rewrite a follow-up into a question that stands on its own (see the module doc).

    ``tagged`` is ``question`` already segmented (the query reader's); the previous question and
    answer are segmented once each."""
    if not history:
        return Resolution(question, "standalone")
    prev = history[-1]
    prefer = prev.article_id
    _, body_t = _body(question, tagged)
    body = body_t.text
    tags = body_t.pairs
    words = [w for w, _ in tags]
    nouns = _content_nouns(tags)
    prev_t = Tagged.of(_core(prev.question))
    said: list[list[tuple[str, str]]] = []

    def answer_tags() -> list[tuple[str, str]]:  # the previous answer, tagged when needed
        if not said:
            said.append(pos_tag(prev.answer) if prev.answer else [])
        return said[0]

    # 其中…: inside the previous answer (a list) or its article
    m = _WITHIN.match(body)
    if m:
        rest = body[m.end() :]
        listed = _entity_answer(prev, answer_tags()) or "、" in prev.answer
        lead = prev.answer if listed else subject_of(prev_t)
        return Resolution(f"{lead}中{rest}？" if lead else f"{rest}？", "within", prefer)

    # X呢？: the previous question's frame with a new subject
    m = _ELLIPSIS.match(body)
    if m and len(m.group("x")) <= 20 and not _ASKS.search(m.group("x")):
        new = m.group("x")
        if not any(w in PRONOUNS for w, _ in body_t.sub(0, len(new)).pairs):
            return Resolution(_swap_subject(prev_t, new), "ellipsis", prefer)

    # pronouns and demonstratives: the thing they point to
    pronoun = next((w for w in words if w in PRONOUNS), None)
    # a phrase before the pronoun may be what it points to (…企业，…帮它们…): left alone
    if pronoun is not None and not phrases(body_t.sub(0, body.find(pronoun))):
        # a pronoun stands for what the previous question asked about: the thing it asked to
        # name (什么团委 → its answer; 他 after 谁 → the person), else its subject (它 after
        # 在哪个楼盘试行 is the scheme tried, not the place)
        asked = _asked_kind(prev_t)
        names = asked in ("what", "org") or (asked == "person" and pronoun in _PERSONAL)
        entity = names and _entity_answer(prev, answer_tags())
        target = prev.answer if entity else subject_of(prev_t)
        if target:
            at = body.find(pronoun)
            after_t = body_t.sub(at + len(pronoun))
            after = after_t.text
            # 该联盟 after …产业链党建联盟: the noun the demonstrative qualifies names the phrase
            head = after_t.pairs[:1]
            if head and head[0][1].startswith(_NOUN_FLAGS):
                noun = head[0][0]
                named = [prev_t.text[a:b] for a, b in phrases(prev_t) if noun in prev_t.text[a:b]]
                if noun in target or named:
                    target = target if noun in target else max(named, key=len)
                    after = after[len(noun) :]
            resolved = f"{body[:at]}{target}{after}"
            return Resolution(f"{resolved}？", "pronoun", prefer)

    # a question without a subject of its own (由谁负责组建？, 每个配几名指导员？)
    if len(nouns) < 2 and not _names_subject(tags):
        prev_q = prev_t.text
        topic = "".join(prev_q[a:b] for a, b in phrases(prev_t) if prev_q[a:b] not in body)
        if topic:
            return Resolution(f"{topic}{body}？", "subject", prefer)
    return Resolution(question, "standalone")


def _asked_kind(question: Tagged) -> str:
    """What the earlier question (tagged) asked for (``rag.qa.spans.classify``)."""
    from rag.qa.spans import classify

    return classify(question.text, question.pairs).kind


def _names_subject(tags: list[tuple[str, str]]) -> bool:
    """The question opens with a noun phrase of its own (``新区团委…``), not a verb,
    preposition or quantifier (``由谁…``, ``每个配…``)."""
    for w, f in tags:
        if not re.search(r"\w", w):
            continue
        return f.startswith(_NOUN_FLAGS) and w not in _GENERIC_NOUNS and w not in PRONOUNS
    return False


def _suffix_slots(previous: Tagged, new: str) -> list[tuple[int, int]]:
    """Where ``new`` may replace a phrase of the same head (``海外游客`` for ``美国本国游客``):
    the previous question's words ending with ``new``'s last word (or last two characters), and
    that run reaching one, two or three words further left."""
    tail = Tagged.of(new).words[-1][2] if new else ""
    ends = [tail] if len(tail) >= 2 else []
    ends += [new[-2:]] if len(new) >= 2 and new[-2:] != tail else []
    out: list[tuple[int, int]] = []
    for end_word in ends:
        at = previous.text.find(end_word)
        if at < 0:
            continue
        end = at + len(end_word)
        starts = [a for a, _, _, _ in previous.words if a <= at]
        for start in reversed(starts[-4:]):
            if (start, end) not in out and not any(
                _breaks_slot(w, f) for a, b, w, f in previous.words if start <= a < at
            ):
                out.append((start, end))
        if out:
            break
    return out


def _breaks_slot(word: str, flag: str) -> bool:
    """A word a slot does not reach over: a function word, a figure, a predicate, a mark."""
    return (
        flag.startswith(("p", "c", "u", "x", "w", "m", "q", "d"))
        or not re.search(r"\w", word)
        or word in PREDICATES
        or _ASKS.search(word) is not None
    )


# How many readings of a follow-up are searched and read at most (the rule's first).
READINGS = 6


def readings(
    question: str, history: Sequence[Turn], tagged: Tagged | None = None, limit: int = READINGS
) -> list[Resolution]:
    """The ways a follow-up may be read, :func:`resolve`'s reading first, then: the question
    as asked; for ``X呢？`` each slot of the previous question (a noun phrase, a time) replaced
    by X, X added to the previous question, and X asked of the previous subject; for a pronoun,
    the previous subject, the previous answer or a phrase of the previous question in its
    place; for a question without a subject, each of those before it. Which reading is meant
    is decided by what the archive answers to each (``rag.qa.answer``)."""
    first = resolve(question, history, tagged)
    if not history:
        return [first]
    first = replace(first, previous=history[-1].answer)
    prev = history[-1]
    prefer = prev.article_id
    q, body_t = _body(question, tagged)
    body = body_t.text
    prev_t = Tagged.of(_core(prev.question))
    prev_q = prev_t.text
    subject = subject_of(prev_t)
    answer_tags = pos_tag(prev.answer) if prev.answer else []
    entity = prev.answer if _entity_answer(prev, answer_tags) else ""
    spans = sorted(phrases(prev_t), key=lambda r: (-(r[1] - r[0]), r[0]))
    named = [prev_q[a:b] for a, b in spans[:3]]
    out: list[tuple[str, str, bool]] = [(first.question, first.kind, False)]
    m = _ELLIPSIS.match(body)
    ellipsis = m is not None and len(m.group("x")) <= 20 and not _ASKS.search(m.group("x"))
    if not ellipsis:  # a question of its own, perhaps (an ``X呢？`` never is)
        out.append((f"{q}？", "standalone", False))
    if m and ellipsis:
        new = m.group("x")
        slots = (
            _suffix_slots(prev_t, new)
            + [(a, b) for a, b in spans]
            + [(t.start(), t.end()) for t in _WHEN.finditer(prev_q) if t.group()]
        )
        timed = _is_time(new)
        for a, b in slots:
            clash = timed != _is_time(prev_q[a:b])
            out.append((f"{prev_q[:a]}{new}{prev_q[b:]}？", "slot", clash))
        out.append((f"{new}，{prev_q}？", "added", False))
        if subject and subject not in new and not timed:
            asks = _asked_kind(prev_t)
            tail = {"number": "是多少", "person": "是谁", "date": "是什么时候"}.get(asks, "是什么")
            out.append((f"{subject}的{new}{tail}？", "attribute", _is_name(new)))
    else:
        pronoun = next((w for w, _ in body_t.pairs if w in PRONOUNS), None)
        targets = [t for t in (subject, entity, *named) if t]
        if pronoun is not None:
            at = body.find(pronoun)
            for t in targets:
                out.append((f"{body[:at]}{t}{body[at + len(pronoun) :]}？", "pronoun", False))
        elif not _names_subject(body_t.pairs):
            for t in targets:
                if t not in body:
                    out.append((f"{t}{body}？", "subject", False))
    seen: set[str] = set()
    result = []
    for text, kind, clash in out:
        key = _core(text)
        if key and key not in seen:
            seen.add(key)
            result.append(Resolution(text, kind, prefer, prev.answer, clash))
    return result[:limit]


def _is_time(text: str) -> bool:
    """``text`` names a time (``1988年``, ``去年``, ``5月3日``) and nothing else."""
    when = _WHEN.fullmatch(text.strip())
    return when is not None and bool(when.group())


# jieba flags of names: people, places, bodies, other proper nouns
_NAME_FLAGS = ("nr", "ns", "nt", "nz")


def _is_name(text: str) -> bool:
    """``text`` ends in a proper name (a place, a body, a person): it is not an attribute of
    something else."""
    words = [f for _, _, w, f in Tagged.of(text).words if re.search(r"\w", w)]
    return bool(words) and words[-1].startswith(_NAME_FLAGS)
