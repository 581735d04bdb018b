"""Question types and answer-span extraction from one sentence (patterns + jieba POS tags)."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from rag.ingest.tokenize import STOPWORDS, normalise, pos_tag, tokenize
from rag.models.reader import Span
from rag.qa.config import RULES_CONFIG
from rag.qa.dates import ABSOLUTE, RELATIVE
from rag.qa.lexicon import entries

QUESTION_WORDS = frozenset(
    [
        "什么",
        "哪些",
        "哪个",
        "哪家",
        "哪位",
        "哪里",
        "哪儿",
        "哪天",
        "哪项",
        "哪种",
        "哪座",
        "哪所",
        "多少",
        "几",
        "怎样",
        "怎么",
        "如何",
        "为什么",
        "为何",
        "是否",
        "要不要",
        "有没有",
        "能不能",
        "会不会",
        "是不是",
        "谁",
        "何时",
        "何地",
        "时候",
        "分别",
        "之口",
        "出自",
        "请问",
        "吗",
        "呢",
    ]
)


@dataclass(frozen=True)
class QuestionType:
    """What a question asks for; ``hint`` is the noun after 哪个/什么 (e.g. ``部门``)."""

    kind: str  # list number date person place org reason yesno what
    hint: str = ""
    count: int = 1  # how many quantities a number question asks for
    rate: bool = False  # a number question asking how much something grew or fell (a rate)
    measured: str = ""  # what a rate question asks the change of (外贸进出口 in …同比增长了多少)


_HINT = re.compile(
    r"(?:哪个|哪家|哪座|哪所|哪一|哪项|哪种|哪类|什么|何种|怎样的|怎么样的|哪)([\u4e00-\u9fff]{1,6})"
)
# what a 哪个X / 什么X question's X names when it asks for a place or a body: measured word lists
# (rag/qa/lexicon.json, written by scripts/lexicons.py from public data; see rag.qa.lexicon)
_PLACE_NOUNS = entries("place_hints")
_ORG_NOUNS = entries("org_hints")


def _words_from(tags: Sequence[tuple[str, str]], at: int) -> list[tuple[str, str]] | None:
    """The tagged words from character ``at`` on; None when ``at`` falls inside a word."""
    pos = 0
    for i, (word, _) in enumerate(tags):
        if pos == at:
            return list(tags[i:])
        if pos > at:
            return None
        pos += len(word)
    return [] if pos == at else None


def _hint_noun(q: str, tags: Sequence[tuple[str, str]] | None = None) -> str:
    """The noun the question asks for: ``哪个楼盘地块上试行`` → ``楼盘地块``.

    ``tags`` are the words of ``q`` (already segmented); the rest of the question is tagged
    anew only when the question word ends inside one of them."""
    m = _HINT.search(q)
    if not m:
        return ""
    words: list[str] = []
    rest = _words_from(tags, m.start(1)) if tags is not None else None
    tags = rest if rest is not None else pos_tag(q[m.start(1) :])
    for i, (word, flag) in enumerate(tags):
        nxt = tags[i + 1][1] if i + 1 < len(tags) else "x"
        if (
            flag.startswith("n")
            or flag in ("vn", "j")
            or (flag == "v" and nxt == "x" and not words)
        ):
            words.append(word)
        else:
            break
    return "".join(words)


def classify(question: str, tags: Sequence[tuple[str, str]] | None = None) -> QuestionType:
    """The type of a question, from its wording (``tags``: its jieba words, when segmented)."""
    q = normalise(question)
    if tags is not None:
        # the words of the normalised text, where normalising kept every word's length
        normal = [(normalise(w), f) for w, f in tags]
        same = all(len(n) == len(w) for (n, _), (w, _) in zip(normal, tags, strict=True))
        tags = normal if same and sum(len(w) for w, _ in normal) == len(q) else None
    hint = _hint_noun(q, tags)
    if re.search(r"哪些|分别|哪[一二三四五六七八九十几两\d]+[个项类种级家方]", q):
        return QuestionType("list", hint)
    if re.search(r"多少|几[个家项名位次年天户辆岁倍]|百分之几|几成", q):
        m = _RATE.search(q)
        rate = bool(m) and not _COUNTED_UNIT.search(q)
        measured = _measured(q[: m.start()], tags) if m and rate else ""
        return QuestionType("number", hint, max(1, q.count("多少")), rate, measured)
    if re.search(r"什么时候|哪天|何时|哪一天|哪年|几月|什么时间|哪个月|哪一年|日期", q):
        return QuestionType("date", hint)
    if re.search(r"谁|哪位|什么人|何人", q):
        return QuestionType("person", hint)
    if re.search(r"哪里|哪儿|什么地方|何地|在哪", q) or (hint and hint.endswith(_PLACE_NOUNS)):
        return QuestionType("place", hint)
    if re.search(r"哪家", q) or (hint and hint.endswith(_ORG_NOUNS)):
        return QuestionType("org", hint)
    if re.search(r"为什么|为何|目的|原因|旨在|为了什么", q):
        return QuestionType("reason", hint)
    if re.search(r"是否|要不要|有没有|能不能|会不会|是不是|可不可以|吗[？?]?$", q):
        return QuestionType("yesno", hint)
    return QuestionType("what", hint)


# 增长了多少 / 下降多少 / 增幅是多少: news gives a change as a rate (同比增长8%); 增长多少万元 asks
# for an amount (a unit after 多少)
_RATE = re.compile(
    r"(?:增长|下降|增加|减少|提高|降低|上涨|下跌|回落|增幅|降幅|增速)[了的是为]{0,2}(?:多少|几成|百分之几)"
)
_COUNTED_UNIT = re.compile(r"多少(?:万|亿|千|百)?[个家项名户辆次人亩元吨台件位天年倍米]")


def _measured(before: str, tags: Sequence[tuple[str, str]] | None) -> str:
    """The noun phrase right before a change verb (``外贸进出口`` of ``…上半年外贸进出口同比``),
    without the 同比/环比 that qualifies the change."""
    before = re.sub(r"(?:同比|环比|比上年|较上年|分别)$", "", before)
    pairs: list[tuple[str, str]] = []
    at = 0
    for word, flag in tags or ():
        if at + len(word) > len(before):
            break
        pairs.append((word, flag))
        at += len(word)
    if at != len(before) or not pairs:  # no segmentation ends there: segment that part
        pairs = pos_tag(before)
    out: list[str] = []
    for word, flag in reversed(pairs):
        if flag.startswith("n") or flag in ("vn", "j", "l", "eng") or (out and flag == "b"):
            out.insert(0, word)
        else:
            break
    return "".join(out) if sum(len(w) for w in out) >= 2 else ""


def question_terms(question: str, tokens: Sequence[str] | None = None) -> list[str]:
    """Content words of a question (lexical tokens without question words), deduplicated;
    ``tokens`` are its lexical tokens when already made (``rag.ingest.tokenize.tokenize``)."""
    out: list[str] = []
    for t in tokenize(question) if tokens is None else tokens:
        if t in QUESTION_WORDS or t in STOPWORDS or t in out:
            continue
        out.append(t)
    return out


# ----------------------------------------------------------------------------- helpers

_NUM = r"(?:\d+(?:\.\d+)?|[一二三四五六七八九十两][一二三四五六七八九十百千万亿两]*)"
_UNITS_MONEY = ("亿元", "万元", "千元", "元", "美元", "亿美元", "万美元", "欧元")
_QUANTITY = re.compile(
    rf"(?:近|约|超过|逾)?{_NUM}(?:\s*[-~至到]\s*{_NUM})?\s*"
    r"(?:%|％|‰|倍|亿美元|万美元|亿元|万元|千元|美元|欧元|元|亿|万|个|家|项|名|户|辆|次|人|亩|"
    r"平方公里|公里|米|吨|岁|支|条|座|所|批|台|件|位|天|周|年|届)(?:以上|以下|左右|多)?"
)
# a date answer: a date as sentences write it (rag.qa.dates), or half or end of a year
_DATE = re.compile(rf"{ABSOLUTE.pattern}|上半年|下半年|年底|年初")
_CLAUSE = re.compile(r"[^，,。；;！!？?：:]+")
_ORG_SUFFIX = re.compile(
    r"(?:法院|检察院|集团|公司|银行|局|委员会|委|厅|办公室|中心|协会|商会|联合会|大学|学院|医院|海关|"
    r"研究院|研究所|工厂|政府|基金会)"
)
_LEFT_STOP = re.compile(
    r"(?:[，,。；;：:、“”（）()\s]|成立|建立|设立|推出|"
    r"了|与|和|同|由|向|在|对|被|从|经|是|为|的|及|把|将|给|让)"
)
_SPEECH = re.compile(r"(介绍|表示|说|指出|认为|告诉记者|强调|透露)")
_ROLE = re.compile(
    r"(?:书记|副书记|主任|部长|副部长|局长|区长|主席|总经理|董事长|负责人|总裁|副总裁|处长|科长|院长|所长|"
    r"队长|主责人|市长|县长|镇长|经理|专家|教授|代表|总理|委员|常委|省长|会长|秘书长|理事长|厅长|司长|"
    r"社长|总编辑|主编|教练|大使|总统|首相|行长|董事|监事|党委书记|校长|馆长|团长|主任委员|航天员|记者)"
)


def _near_score(sentence: str, start: int, end: int, terms: list[str]) -> float:
    """How close a span stands to the question's words in the sentence (higher is closer)."""
    score = 0.0
    low = sentence.lower()
    for t in terms:
        for m in re.finditer(re.escape(t), low):
            d = start - m.end() if m.end() <= start else m.start() - end if m.start() >= end else 0
            score += len(t) / (1 + max(d, 0))
    return score


def _best(sentence: str, spans: list[tuple[int, int]], terms: list[str]) -> tuple[int, int] | None:
    if not spans:
        return None
    return max(spans, key=lambda s: _near_score(sentence, s[0], s[1], terms))


def _left_bounded(sentence: str, end: int, max_len: int = 16) -> int:
    """Start of the noun phrase ending at ``end``: after the nearest function word or mark."""
    start = max(0, end - max_len)
    window = sentence[start:end]
    last = None
    for m in _LEFT_STOP.finditer(window):
        if m.end() < len(window) - 1:
            last = m
    return start + last.end() if last else start


# ----------------------------------------------------------------------------- extractors


def _number(q: QuestionType, question: str, s: str, terms: list[str]) -> tuple[int, int] | None:
    spans = [(m.start(), m.end()) for m in _QUANTITY.finditer(s)]
    # a bare year is a date, not a quantity
    spans = [sp for sp in spans if not re.fullmatch(r"\d{4}年", s[sp[0] : sp[1]])]
    want_money = bool(re.search(r"金额|资金|多少钱|投资额|多少元|增资", question))
    want_percent = bool(
        re.search(r"增幅|比例|百分|增长率|占比|高出|增长.{0,4}目标|增速|率", question)
    )
    m = re.search(
        r"多少([个家项名户辆次人亩支条座所批台件位天年倍])|几([个家项名户辆次人亩支条座所批台件位天年倍])",
        question,
    )
    unit = (m.group(1) or m.group(2)) if m else ""
    if want_money:
        spans = [
            sp for sp in spans if s[sp[0] : sp[1]].rstrip("以上下左右多").endswith(_UNITS_MONEY)
        ]
    elif want_percent:
        spans = [sp for sp in spans if re.search(r"[%％‰倍]", s[sp[0] : sp[1]])]
    elif unit and q.count == 1:
        spans = [sp for sp in spans if unit in s[sp[0] : sp[1]]]
    if not spans:
        return None
    if q.count > 1 and len(spans) > 1:
        ranked = sorted(spans, key=lambda sp: -_near_score(s, sp[0], sp[1], terms))[: q.count]
        ranked.sort()
        return (ranked[0][0], ranked[-1][1])
    return _best(s, spans, terms)


def _date(q: QuestionType, question: str, s: str, terms: list[str]) -> tuple[int, int] | None:
    return _best(s, [(m.start(), m.end()) for m in _DATE.finditer(s)], terms)


_SURNAMES = set(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁"
    "任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武"
    "戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮"
    "柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古"
    "吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫"
    "寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝逯"
)
_NOT_NAMES = re.compile(r"今天|明天|昨天|上午|下午|晚上|日前|近日|目前|同时|此外")


def _person(q: QuestionType, question: str, s: str, terms: list[str]) -> tuple[int, int] | None:
    spans: list[tuple[int, int]] = []
    pos = 0
    for word, flag in pos_tag(s):
        if (
            flag == "nr"
            and 2 <= len(word) <= 4
            and word[0] in _SURNAMES
            and not _NOT_NAMES.search(word)
            and word not in terms
        ):
            spans.append((pos, pos + len(word)))
        pos += len(word)
    # "…书记宗武邦介绍": a name between a role and a verb of saying
    for m in re.finditer(rf"{_ROLE.pattern}([\u4e00-\u9fff]{{2,3}}?){_SPEECH.pattern}", s):
        spans.append((m.start(1), m.end(1)))
    spans = sorted(set(spans))
    if not spans:
        return None
    if re.search(r"之口|谁说|谁表示|谁介绍|出自", question):
        speaking = [sp for sp in spans if _SPEECH.match(s, sp[1])]
        if speaking:
            return speaking[0]
    return _best(s, spans, terms)


def _noun_phrase(
    q: QuestionType, s: str, terms: list[str], suffixes: list[str]
) -> tuple[int, int] | None:
    spans = []
    for suf in suffixes:
        for m in re.finditer(re.escape(suf), s):
            start = _left_bounded(s, m.end())
            if m.end() - start >= len(suf) + 1:
                spans.append((start, m.end()))
    # the question's own words are not the answer
    spans = [sp for sp in spans if s[sp[0] : sp[1]] not in terms]
    return _best(s, spans, terms)


def _org(q: QuestionType, question: str, s: str, terms: list[str]) -> tuple[int, int] | None:
    hint = q.hint
    suffixes = []
    if (
        hint
        and len(hint) >= 2
        and hint[-2:] in s
        and hint[-2:] not in ("企业", "部门", "单位", "机构")
    ):
        suffixes.append(hint[-2:])
    found = [m.group() for m in _ORG_SUFFIX.finditer(s)]
    if hint.endswith(("企", "企业", "公司")):
        found = [f for f in found if f in ("集团", "公司", "工厂")]
    elif hint.endswith("部门"):
        found = [f for f in found if f in ("局", "委", "厅", "办公室", "中心", "委员会", "部")]
    return _noun_phrase(q, s, terms, suffixes + sorted(set(found)))


def _place(q: QuestionType, question: str, s: str, terms: list[str]) -> tuple[int, int] | None:
    hint = q.hint
    suffixes = [hint[-2:]] if len(hint) >= 2 and hint[-2:] in s else []
    if not suffixes and hint and hint[-1] in s:
        suffixes = [hint[-1]]
    span = _noun_phrase(q, s, terms, suffixes) if suffixes else None
    if span:
        return span
    spans = []
    pos = 0
    for word, flag in pos_tag(s):
        if flag == "ns" and word not in terms:
            spans.append((pos, pos + len(word)))
        pos += len(word)
    return _best(s, spans, terms)


_LIST = re.compile(
    r"[^，,。；;：:、“”‘’《》（）()\s]{1,14}(?:、[^，,。；;：:、“”‘’《》（）()\s]{1,14}){2,}"
)
_LIST_LEAD = re.compile(r"^(?:聚焦|包括|涵盖|围绕|覆盖|从|在|对|有|是|为|以|将|把|由|即|如)")


def _list(q: QuestionType, question: str, s: str, terms: list[str]) -> tuple[int, int] | None:
    spans = []
    for m in _LIST.finditer(s):
        start, end = m.start(), m.end()
        lead = _LIST_LEAD.match(s[start:end])
        if lead and end - start - lead.end() > 2:
            start += lead.end()
        last_sep = s.rfind("、", start, end)
        cut = s.find("等", last_sep + 1, end)
        if cut > last_sep + 1:
            end = cut
        spans.append((start, end))
    if not spans:
        return None
    return max(
        spans, key=lambda sp: (s[sp[0] : sp[1]].count("、"), _near_score(s, sp[0], sp[1], terms))
    )


def _clause_spans(s: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in _CLAUSE.finditer(s) if m.group().strip()]


def _what(q: QuestionType, question: str, s: str, terms: list[str]) -> tuple[int, int] | None:
    hint = q.hint
    if hint:
        for h in (hint, hint[-2:]):
            for m in re.finditer(re.escape(h), s):
                # “X”的原则 -> X ;  “X”改革 -> “X”改革
                before = s[: m.start()]
                qm = re.search(r"“([^”]{2,30})”(的?)$", before)
                if qm:
                    if qm.group(2):
                        return (qm.start(1), qm.end(1))
                    start = qm.start()
                    # 由“A”向“B”转变: the whole chain of quoted terms
                    while chain := re.search(r"“[^”]{1,30}”[向至到和与及、]$", s[:start]):
                        start = chain.start()
                    if start > 0 and s[start - 1] in "由从":
                        start -= 1
                    return (start, m.end())
                clause = next((c for c in _clause_spans(s) if c[0] <= m.start() < c[1]), None)
                if clause is None:
                    continue
                start = clause[0]
                low = s.lower()
                for t in terms:
                    if len(t) < 2 or t in (h, hint):
                        continue
                    for tm in re.finditer(re.escape(t), low[clause[0] : m.start()]):
                        start = max(start, clause[0] + tm.end())
                start += len(re.match(r"^[的地得了在将把对]*", s[start:]).group())  # type: ignore[union-attr]
                if m.end() - start > len(h):
                    return (start, m.end())
    quotes = [(m.start(1), m.end(1)) for m in re.finditer(r"“([^”]{2,30})”", s)]
    quotes = [sp for sp in quotes if s[sp[0] : sp[1]] not in question]
    return _best(s, quotes, terms)


def _yesno(q: QuestionType, question: str, s: str, terms: list[str]) -> tuple[int, int] | None:
    clauses = _clause_spans(s)
    if not clauses:
        return None
    low = s.lower()

    def overlap(c: tuple[int, int]) -> float:
        text = low[c[0] : c[1]]
        return sum(len(t) for t in terms if t in text)

    best = max(clauses, key=overlap)
    if overlap(best) == 0:
        return None
    start, end = best
    # keep a clause continued by 、 (e.g. "要到岗指挥、一线调度") whole: _CLAUSE already does
    return (start, end)


def _reason(q: QuestionType, question: str, s: str, terms: list[str]) -> tuple[int, int] | None:
    m = re.search(r"(?:为了|旨在|目的是|以便|是为了|因为|由于)([^。；;！？]{2,60})", s)
    if m:
        end = m.end(1)
        clause_end = re.search(r"[，,]", s[m.start(1) : end])
        return (m.start(1), m.start(1) + clause_end.start() if clause_end else end)
    return _what(q, question, s, terms) if q.hint else None


_EXTRACTORS = {
    "number": _number,
    "date": _date,
    "person": _person,
    "org": _org,
    "place": _place,
    "list": _list,
    "what": _what,
    "yesno": _yesno,
    "reason": _reason,
}


def extract_span(q: QuestionType, question: str, sentence: str) -> tuple[int, int] | None:
    """The span of ``sentence`` that answers a question of type ``q``, or None."""
    terms = question_terms(question)
    fn = _EXTRACTORS.get(q.kind)
    if fn is None:
        raise ValueError(
            f"unknown question type {q.kind!r}; valid: {', '.join(sorted(_EXTRACTORS))}"
        )
    span = fn(q, question, sentence, terms)
    if span is None:
        return None
    start, end = span
    while start < end and sentence[start] in " \u3000，,、":
        start += 1
    while end > start and sentence[end - 1] in " \u3000，,、。；;":
        end -= 1
    return (start, end) if end > start else None


_ANY_NUMBER = re.compile(rf"{_NUM}|[几数多]")


def type_fit(q: QuestionType, span: str) -> float:
    """How well a candidate answer fits what the question asks for, in [-1, 1].

    A prior for the reader's candidates, not a source of spans: a number question wants a
    quantity, a date question a date; a person question rarely gets a long clause.
    """
    s = normalise(span)
    if q.kind == "number":
        if q.rate and _QUANTITY.search(s) and not re.search(r"[%％‰倍]|成$", s):
            return 0.5  # a change asked for: a rate fits better than an amount
        if _QUANTITY.search(s):
            return 1.0
        return 0.3 if _ANY_NUMBER.search(s) else -1.0
    if q.kind == "date":
        if _DATE.search(s) or RELATIVE.search(s):
            return 1.0
        return 0.0 if re.search(r"\d|[年月日]", s) else -1.0
    if q.kind == "person":
        # 谁 asks for a person or a body (由谁负责 → an office): no figures, no clauses
        if re.search(r"\d", s):
            return -1.0
        return -0.5 if len(s) > 30 or re.search(r"[，。；]", s) else 0.0
    if q.kind in ("place", "org"):
        return -0.5 if len(s) > 30 or re.search(r"[，。；]", s) else 0.0
    if q.kind == "list":
        if re.search(r"[、]|[^，。；]和[^，。；]|及|以及", s):
            return 1.0  # an enumeration
        return -1.0 if _QUANTITY.fullmatch(s) else 0.0  # a count is not the list asked for
    return 0.0


# ----------------------------------------------------------------------------- alignment and edges

_ITEM_MARKS = re.compile(r"[；;]")
# clause marks; a comma or colon between digits is part of a figure (6,476 名, 1:7, 11:00)
_CLAUSE_MARKS = re.compile(r"[；;]|(?<!\d)[，,：:]|[，,：:](?!\d)")


def clause_parts(sentence: str) -> list[tuple[int, int]]:
    """The parts of a sentence that may run parallel: its ``；`` items when it has them, else
    its clauses."""
    body = sentence.rstrip("；;。！？!?”’」 ")
    marks = _ITEM_MARKS if _ITEM_MARKS.search(body) else _CLAUSE_MARKS
    out, at = [], 0
    for m in marks.finditer(sentence):
        out.append((at, m.start()))
        at = m.end()
    out.append((at, len(sentence)))
    return [(a, b) for a, b in out if b > a]


def clause_alignment(sentence: str, start: int, end: int, weights: dict[str, float]) -> float:
    """How much better the span's own clause (or ``；`` item) holds the question's words than
    the best other clause of its sentence does, as a share of the words' weight, in [-1, 1].

    In ``在东湖街道建设新材料产业园，在西山街道建设机器人产业园`` a question about 机器人产业园
    aligns with the second clause; words every clause shares cancel out, and a sentence of one
    clause gives 0. The span's own characters do not count for its clause."""
    total = sum(weights.values())
    segs = clause_parts(sentence)
    if not total or len(segs) < 2:
        return 0.0
    low = sentence.lower()

    def share(a: int, b: int, skip: tuple[int, int] | None = None) -> float:
        text = low[a:b] if skip is None else low[a : skip[0]] + "\x00" + low[skip[1] : b]
        return sum(w for t, w in weights.items() if t in text) / total

    own = next((i for i, (a, b) in enumerate(segs) if a <= start < b), None)
    group = parallel_parts(sentence, segs)
    if own is None or own not in group:
        return 0.0
    mine = share(*segs[own], (start, end))
    others = max(share(*segs[i]) for i in group if i != own)
    return mine - others


def parallel_parts(sentence: str, segs: list[tuple[int, int]]) -> list[int]:
    """The parts of a sentence that run parallel: those opening with the same character as
    another part (``在A建设…，在B建设…``), or short ones of about its length sharing a pair of
    characters with one (``A增长…，B增长…``).
    A clause continuing the one before it (``…出口300亿元，同比增长8%``) shares neither."""
    texts = [sentence[a:b].strip() for a, b in segs]
    grams = [
        {t[i : i + 2] for i in range(len(t) - 1) if _CJK_PAIR.fullmatch(t[i : i + 2])}
        for t in texts
    ]
    out = []
    for i, t in enumerate(texts):
        for j, u in enumerate(texts):
            alike = max(len(t), len(u)) <= min(2 * len(t), 2 * len(u), _SHORT_PART)
            if i != j and t and u and (t[0] == u[0] or (alike and grams[i] & grams[j])):
                out.append(i)
                break
    return out


_SHORT_PART = 20  # parts this short that share a word run parallel (``A增长21%，B增长5%``)
_CJK_PAIR = re.compile(r"[\u4e00-\u9fff]{2}")


def aligned_segment(
    sentence: str, weights: dict[str, float], margin: float = 0.15
) -> tuple[int, int] | None:
    """The clause (or ``；`` item) of a sentence of parallel parts that the question's words
    align with clearly better than with any other (by ``margin`` of their weight), else None."""
    total = sum(weights.values())
    segs = clause_parts(sentence)
    group = parallel_parts(sentence, segs) if len(segs) >= 2 else []
    if not total or len(group) < 2:
        return None
    low = sentence.lower()
    shares = {
        i: sum(w for t, w in weights.items() if t in low[segs[i][0] : segs[i][1]]) / total
        for i in group
    }
    order = sorted(group, key=lambda i: -shares[i])
    if shares[order[0]] - shares[order[1]] < margin:
        return None
    return segs[order[0]]


def measure_fit(q: QuestionType, sentence: str, start: int) -> float:
    """For a rate question (``外贸进出口同比增长了多少？``): 1 when the span's clause or the clause
    before it names what changed (``实现外贸进出口912.5亿元，同比增长约5%``), else 0. In a list of
    figures each rate follows its own subject."""
    if not q.measured:
        return 0.0
    parts = clause_parts(sentence)
    own = next((i for i, (a, b) in enumerate(parts) if a <= start < b), None)
    if own is None:
        return 0.0
    a, b = parts[max(own - 1, 0)][0], parts[own][1]
    # a noun phrase's head is its last word (外贸进出口 → 进出口)
    words = [w for w, _ in pos_tag(q.measured)]
    head = words[-1] if words else q.measured
    return 1.0 if q.measured in sentence[a:b] or head in sentence[a:b] else 0.0


# Verbs too general to name an event (``是``, ``有``, ``进行``): a date question's event is named
# by its other verbs (``入选``, ``召开``).
_LIGHT_VERBS = frozenset(
    ["是", "有", "为", "在", "进行", "开展", "开始", "举行", "实现", "成为", "达到", "计划", "将"]
)


def event_words(tags: Sequence[tuple[str, str]]) -> list[str]:
    """The verbs of a question that name its event (``获批`` in ``…是哪天获批…的？``)."""
    return [
        w
        for w, f in tags
        if f in ("v", "vn")
        and len(w) >= 2
        and w not in _LIGHT_VERBS
        and w not in QUESTION_WORDS
        and w not in STOPWORDS
    ]


_QUALIFIER = r"(?:超过|超|约|近|逾|大约|将近|不到|不足|至少|多达|仅|共|累计)"
_UNIT_TAIL = re.compile(
    r"^(?:[余多])?(?:%|％|‰|倍|亿美元|万美元|亿元|万元|千元|美元|欧元|元|万亿|亿|万|千|百|"
    r"平方米|平方公里|公里|千米|米|吨|亩|岁|个|家|项|名|户|辆|次|人|支|条|座|所|批|台|件|位|天|周|年|届|环|场|"
    r"架|艘|套|部|种|类|款|间|层|栋|只|头|块|册|篇|份|轮|期|级)?(?:以上|以下|左右|多|余)?"
)
_NUMERAL_END = re.compile(rf"{_NUM}$|[余多几数]$")
_QUALIFIED = re.compile(rf"{_QUALIFIER}$")
_TITLED_NAME = re.compile(rf"{_ROLE.pattern}(?P<name>[\u4e00-\u9fff]{{2,3}})$")


def trim_span(q: QuestionType, sentence: str, start: int, end: int) -> tuple[int, int]:
    """The edges a span of an answer of type ``q`` should have in ``sentence``.

    A figure keeps its qualifier and unit (``超100万平方米``, ``十余项``, ``约5%``) and stops
    after them (``240.9环`` of ``240.9环的成绩…``); a span of a typed answer (a figure, date,
    person, place or organisation) stops at its clause; a person is named without the titles
    before the name (the sentence shown keeps them)."""
    return span_pieces(q, sentence, start, end)[0]


def span_pieces(q: QuestionType, sentence: str, start: int, end: int) -> list[tuple[int, int]]:
    """The candidates a reader's span of a typed answer (a figure, date, person, place or
    organisation) gives: its first clause with the edges of :func:`trim_span`, and the whole
    span too when it runs on past its clause; any other span as it is. On the CMRC 2018 trial
    keeping the whole span beside its clause costs 0.1 F1 where replacing it costs 0.5: its
    answers often run over a comma."""
    if q.kind not in STRICT_TYPES:
        return [(start, end)]
    first = _edges(q, sentence, start, end)
    if _crosses(sentence[start:end]):
        cut = _CLAUSE_MARKS.search(sentence, start, end)
        first = _edges(q, sentence, start, cut.start()) if cut and cut.start() > start else first
        return [first, (start, end)]
    return [first]


def _crosses(text: str) -> bool:
    """The text runs past a clause mark (a mark at its very start or end does not count)."""
    cut = _CLAUSE_MARKS.search(text.strip("，,；;：: "))
    return cut is not None


def _edges(q: QuestionType, sentence: str, start: int, end: int) -> tuple[int, int]:
    """A typed span of one clause with its unit, qualifier and name edges (see trim_span)."""
    if q.kind == "number":
        # a cut figure: take in the rest of its numeral, unit and qualifier
        while (
            end < len(sentence)
            and re.match(_NUM, sentence[end - 1 : end + 1])
            and (sentence[end].isdigit() or sentence[end] in ".一二三四五六七八九十百千万亿两")
        ):
            end += 1
        head = sentence[start:end]
        m = re.search(rf"{_NUM}(?:[余多])?", head)
        if m:
            tail = _UNIT_TAIL.match(sentence[start + m.end() :])
            stop = start + m.end() + (tail.end() if tail else 0)
            rest = sentence[stop:end]
            if _NUMERAL_END.search(head) or rest.startswith(("的", "为", "是")) or not rest:
                end = max(stop, start + m.end())
        q_m = _QUALIFIED.search(sentence[max(0, start - 4) : start])
        if q_m:
            start -= len(q_m.group())
    elif q.kind == "person":
        m = _TITLED_NAME.search(sentence[start:end])
        if m and m.start("name") > 0 and sentence[start + m.start("name")] in _SURNAMES:
            start += m.start("name")
    return start, end


# ----------------------------------------------------------------------------- the rules reader

RULES = "rules"  # what ``reader=`` names the pattern extractor by
STRICT_TYPES = frozenset({"number", "date", "person", "org", "place"})


class RulesReader:
    """The pattern extractor as a :class:`~rag.models.reader.Reader`: every context it is given
    (one evidence sentence each, best first: :data:`rag.qa.config.RULES_CONFIG`) is cut by the
    rules of the question's type; when no rule fits any of them, a question of a loose type
    (what, why …) gets the whole first sentence. Its spans carry no no-answer score."""

    name = RULES
    config = RULES_CONFIG

    def read(self, question: str, contexts: Sequence[str], top: int = 5) -> list[Span]:
        """The rules' spans, in the order of the contexts."""
        qtype = classify(question)
        out = []
        for i, text in enumerate(contexts):
            span = extract_span(qtype, question, text)
            if span is not None:
                out.append(Span(i, span[0], span[1], 0.0, -math.inf))
        if not out and contexts and qtype.kind not in STRICT_TYPES:
            out.append(Span(0, 0, len(contexts[0]), 0.0, -math.inf))
        return out[:top] if top else out
