"""Chinese tokenisation for the lexical side: jieba behind one ``tokenize(text)`` function.

``jieba.cut_for_search`` is used rather than ``cut``: it also emits the short words inside long
compounds (``产业链党建联盟`` → ``产业``, ``产业链``, ``党建``, ``联盟`` …), so a question that
names only part of a compound still matches. Punctuation, whitespace and a short list of
function words are dropped. Numbers keep their unit or percent sign as an extra token
(``3.2亿元``, ``30%``), so figures can be searched for as written.
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from functools import lru_cache

STOPWORDS = frozenset(
    [
        "的",
        "了",
        "和",
        "与",
        "及",
        "以及",
        "或",
        "是",
        "在",
        "为",
        "对",
        "将",
        "把",
        "被",
        "等",
        "也",
        "都",
        "而",
        "并",
        "从",
        "到",
        "于",
        "由",
        "其",
        "之",
        "这",
        "那",
        "个",
        "有",
        "着",
        "上",
        "中",
        "下",
        "又",
        "就",
        "还",
        "向",
        "以",
        "所",
        "该",
        "此",
        "各",
        "该",
        "我们",
        "他们",
        "你们",
        "什么",
        "哪些",
        "哪个",
        "哪家",
        "哪里",
        "多少",
        "怎样",
        "怎么",
        "如何",
        "为什么",
        "是否",
        "谁",
        "吗",
        "呢",
        "吧",
        "啊",
        "几",
    ]
)
_NUMBER_WITH_UNIT = re.compile(
    r"\d+(?:\.\d+)?\s*(?:%|％|‰|亿元|万元|千元|元|亿|万|个|家|项|名|户|辆|次|人|亩|年|月|日|岁|平方公里|公里|米|吨|倍)"
)
_WORD = re.compile(r"\w", re.UNICODE)

_lock = threading.Lock()
_ready = False
_t2s: list = []  # the OpenCC converter, made on first use


def _jieba():  # type: ignore[no-untyped-def]
    global _ready
    import jieba

    if not _ready:
        with _lock:
            if not _ready:
                jieba.setLogLevel(logging.WARNING)
                jieba.initialize()
                _ready = True
    return jieba


def to_simplified(text: str) -> str:
    """``text`` in simplified script (OpenCC ``t2s``) when it is written in traditional script:
    a traditional question is read as its simplified twin. A simplified text with one variant
    character (``凉茶舖``) is left as written, since the archive may spell it that way too."""
    if text.isascii():
        return text
    simple = str(_converter().convert(text))
    changed = sum(a != b for a, b in zip(text, simple, strict=False))
    if len(simple) != len(text) or changed >= TRADITIONAL_CHARS:
        return simple
    return text


TRADITIONAL_CHARS = 2  # characters OpenCC must change for a text to count as traditional


def _converter():  # type: ignore[no-untyped-def]
    if not _t2s:
        import opencc

        with _lock:
            if not _t2s:
                _t2s.append(opencc.OpenCC("t2s"))
    return _t2s[0]


_CLAUSE = re.compile(r"[^，。；：、！？,.;:!?\s]+|[，。；：、！？,.;:!?\s]+")


def simplified_chars(text: str) -> str:
    """``text`` in simplified script, one character for one, so that every offset still names
    the printed character: what a page in traditional script (or an OCR reading that mixes the
    two) is searched and read as. OpenCC ``t2s`` converts clause by clause with its phrase
    tables; a clause whose conversion changes its length is converted character by character."""
    if text.isascii():
        return text
    cc = _converter()
    whole = str(cc.convert(text))
    if len(whole) == len(text):
        return whole
    out = []
    for m in _CLAUSE.finditer(text):
        piece = m.group()
        conv = str(cc.convert(piece))
        if len(conv) != len(piece):
            conv = "".join(c if len(c := str(cc.convert(ch))) == 1 else ch for ch in piece)
        out.append(conv)
    return "".join(out)


def fold(text: str) -> str:
    """:func:`_fold`, remembered for sentence-sized texts: the same sentences are scored for
    every question and every reading of a follow-up."""
    return _fold_short(text) if len(text) <= FOLD_CACHED_CHARS else _fold(text)


FOLD_CACHED_CHARS = 600  # longer texts (whole pages) are folded each time, not kept


def _fold(text: str) -> str:
    """What a text is searched and read as: :func:`simplified_chars` when it is written in
    traditional script (a page printed so, or OCR that mixed the scripts), so that one script
    is held inside; a simplified text is kept as written (OpenCC would respell a variant
    character it may print on purpose). One character for one: offsets into the folded text
    name the printed characters."""
    if text.isascii():
        return text
    simple = simplified_chars(text)
    changed = sum(a != b for a, b in zip(text, simple, strict=True))
    return simple if changed >= max(TRADITIONAL_CHARS, 0.01 * len(text)) else text


_fold_short = lru_cache(maxsize=1 << 15)(_fold)


def normalise(text: str) -> str:
    """NFKC (full-width letters and digits to half-width) and lower case."""
    return unicodedata.normalize("NFKC", text).lower()


def tokenize(text: str) -> list[str]:
    """Search tokens of ``text``: jieba words without punctuation or stop words, plus
    number-with-unit tokens."""
    norm = normalise(fold(text))
    tokens = [
        t
        for t in (w.strip() for w in _jieba().cut_for_search(norm))
        if t and _WORD.search(t) and t not in STOPWORDS
    ]
    tokens.extend(m.group().replace(" ", "") for m in _NUMBER_WITH_UNIT.finditer(norm))
    return tokens


def pos_tag(text: str) -> list[tuple[str, str]]:
    """jieba part-of-speech tags, e.g. ``[("青岛", "ns"), ...]``."""
    import jieba.posseg as pseg

    _jieba()
    return [(p.word, p.flag) for p in pseg.cut(text)]
