"""Settings of retrieval and answering as frozen records, passed in rather than patched.

The defaults were set on public data (``benchmarks/tune_answer.py``) with the default encoder;
the similarity floors belong to that model (e5's cosines sit high: 0.75 is chance), so another
model can record its own in the index manifest (``settings.retrieval``), which the retriever
reads when it loads the index.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass, field, fields, replace
from functools import cache
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class RetrievalConfig:
    """How passages are found and ranked."""

    candidates: int = 50  # dense and BM25 candidates, each
    rerank: int = 30  # fused candidates reranked by sentence evidence
    rrf_k: int = 60  # reciprocal rank fusion constant (Cormack et al. 2009)
    fused_weight: float = 0.5  # share of the (normalised) fused score in the reranked score
    lexical_weight: float = 0.6  # sentence evidence: idf-weighted share of the question's words
    dense_weight: float = 2.0  # ... plus this much per unit of similarity above the floor
    dense_floor: float = 0.75  # the encoder's chance similarity (e5-small)
    header_share: float = 0.5  # words in the headline or lead count this much for every sentence
    prefer_bonus: float = 0.15  # passages of the article a conversation is about
    time_bonus: float = 0.15  # articles dated near a time the question names (time_prior)
    slot_boost: float = 3.0  # weight of the words a ``X呢？`` follow-up brings (see weights)

    def sentence_score(self, lexical: float, dense: float) -> float:
        """Evidence of one sentence: share of the question's (idf-weighted) words it contains,
        plus how far its stored vector's similarity to the question rises above chance."""
        return self.lexical_weight * lexical + self.dense_weight * max(dense - self.dense_floor, 0)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> RetrievalConfig:
        """Defaults overridden by the known keys of ``data`` (a manifest's record)."""
        return _from_dict(cls, data)


@dataclass(frozen=True)
class AnswerConfig:
    """How the answer is chosen among the reader's spans, and when the question is declined."""

    pool: int = 12  # passages whose sentences are scored as evidence
    prefer_sentence_bonus: float = 0.1  # sentences of the article the conversation is about
    min_evidence: float = 0.4  # below this nothing in the archive answers
    windows: int = 4  # sentence windows the reader reads per question
    window_share: float = 0.5  # a window's sentence scores at least this share of the best
    window_neighbours: int = 1  # sentences either side of an evidence sentence
    max_window_chars: int = 180  # about what one 160-token reader window holds
    merge_windows: bool = True  # neighbouring windows of one article merge when they fit
    read_top: int = 20  # spans kept per question (and best starts/ends per window)
    length_prior: float = 0.5  # logits per log(1 + answer chars) (see rag.models.reader.Span)
    evidence_weight: float = 10.0  # reader logits per unit of sentence evidence
    type_weight: float = 2.0  # reader logits per unit of type fit (rag.qa.spans.type_fit)
    sure_evidence: float = 1.0  # at or above this (near-verbatim) "no answer" is overruled
    null_margin: float = 2.0  # span score minus no-answer score needed otherwise
    filter_types: tuple[str, ...] = ("number",)  # types whose spans must fit (fit above -1)
    # bias and weights of the no-answer decision (rag.qa.answer.decline_score over
    # DECLINE_FEATURES), fitted on CMRC 2018 train questions, their near misses, other years and
    # foreign questions by benchmarks/calibrate_decline.py; empty: the margin rule above
    # (null_margin, sure_evidence). Stored in fitted.json with the settings they fit.
    decline_weights: tuple[float, ...] = field(default_factory=lambda: fitted("decline_weights"))
    # bias and weights of the follow-up reading choice (rag.qa.answer.follow_score over
    # FOLLOW_FEATURES), fitted on dialogues made from CMRC 2018 / DRCD training passages by
    # benchmarks/fit_followups.py; empty: the rule's reading alone
    follow_weights: tuple[float, ...] = field(default_factory=lambda: fitted("follow_weights"))
    follow_windows: int = 1  # windows each reading of a follow-up but the rule's reads
    # the rule's reading scoring this (follow_score) answers alone, the others unread; set by
    # benchmarks/fit_followups.py where it loses no training dialogue
    follow_sure: float = field(default_factory=lambda: fitted_sure())
    align_weight: float = 2.0  # per unit of clause alignment (rag.qa.spans.clause_alignment)
    measure_weight: float = 2.0  # a rate beside what changed (rag.qa.spans.measure_fit)
    event_weight: float = 3.0  # a date whose sentence lacks every verb of the question's event
    refocus: bool = True  # the reader reads again the clause a parallel sentence aligns with
    trim_edges: bool = True  # typed spans get their unit, qualifier and clause edges

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> AnswerConfig:
        """Defaults overridden by the known keys of ``data``."""
        return _from_dict(cls, data)


# The pattern extractor (``reader="rules"``) reads each evidence sentence on its own, in order of
# evidence, and takes the first that its rules cut a span from; it has no no-answer score.
RULES_CONFIG = AnswerConfig(
    min_evidence=0.45,
    windows=10_000,
    window_share=0.8,
    window_neighbours=0,
    merge_windows=False,
    length_prior=0.0,
    evidence_weight=1.0,
    type_weight=0.0,
    null_margin=-math.inf,
    filter_types=(),
    align_weight=0.0,
    event_weight=0.0,
    measure_weight=0.0,
    refocus=False,
    trim_edges=False,
    decline_weights=(),
    follow_weights=(),
    follow_sure=math.inf,
)


FITTED = Path(__file__).with_name("fitted.json")
log = logging.getLogger(__name__)


@cache
def _fitted_doc() -> dict[str, Any]:
    return json.loads(FITTED.read_text(encoding="utf-8"))


def fitted(name: str) -> tuple[float, ...]:
    """Weights fitted on public data (``fitted.json``): ``decline_weights``, ``follow_weights``
    (``rag.qa.answer`` checks on import that they weigh the features it computes)."""
    return tuple(float(w) for w in _fitted_doc()[name]["weights"])


def fitted_sure() -> float:
    """The follow-up score at which the rule's reading answers alone (``follow_weights``'
    ``sure`` in ``fitted.json``; none stored: every reading is read)."""
    return float(_fitted_doc()["follow_weights"].get("sure", math.inf))


def check_features(name: str, features: tuple[str, ...]) -> None:
    """Raise ``ValueError`` when the stored weights ``name`` weigh other features than
    ``features`` (a stale ``fitted.json``)."""
    rec = _fitted_doc()[name]
    if rec["weights"] and tuple(rec["features"]) != tuple(features):
        raise ValueError(
            f"{FITTED} holds {name} for features {rec['features']}, not {list(features)}: "
            f"refit with {rec['command']}"
        )


def write_fitted(
    name: str,
    features: tuple[str, ...],
    weights: list[float],
    command: str,
    model: str,
    retrieval: RetrievalConfig,
    extra: dict[str, Any] | None = None,
) -> None:
    """Store fitted weights in ``fitted.json`` with the encoder and retrieval settings of the
    index they were fitted on (the fit scripts' ``--write``). Weights fitted for other settings
    than the ones already stored are refused: refit the others first, or together."""
    doc = json.loads(FITTED.read_text(encoding="utf-8"))
    here = {"model": model, "retrieval": asdict(retrieval)}
    others = [k for k in ("decline_weights", "follow_weights") if k != name and doc[k]["weights"]]
    if others and doc["fitted_for"] != here:
        raise ValueError(
            f"{', '.join(others)} in {FITTED} were fitted for other settings; refit them too"
        )
    doc["fitted_for"] = here
    doc[name] = {"command": command, "features": list(features), "weights": weights}
    doc[name].update(extra or {})
    FITTED.write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    _fitted_doc.cache_clear()


def check_fitted(model: str, retrieval: RetrievalConfig, where: object) -> bool:
    """Whether an index's encoder and retrieval settings are those the fitted weights were
    fitted for; when not, says so in a warning (answers still come, less well calibrated)."""
    want = _fitted_doc()["fitted_for"]
    same = model == want["model"] and retrieval == RetrievalConfig.from_dict(want["retrieval"])
    if not same:
        log.warning(
            "the index at %s records other retrieval settings or encoder than the no-answer and "
            "follow-up weights were fitted for (%s): refit them with "
            "benchmarks/calibrate_decline.py and benchmarks/fit_followups.py",
            where,
            FITTED,
        )
    return same


def _from_dict(cls, data):  # type: ignore[no-untyped-def]
    if not data:
        return cls()
    known = {f.name for f in fields(cls)}
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in known}
    return replace(cls(), **values)


def settings_record(retrieval: RetrievalConfig | None = None) -> dict[str, Any]:
    """What a build records in the manifest (``settings``): the retrieval settings it was built
    for, so that serving reads them back instead of assuming the default encoder's."""
    return {"retrieval": asdict(retrieval or RetrievalConfig())}
