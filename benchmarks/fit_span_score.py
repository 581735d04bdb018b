"""Fit the span score of ``rag.answer`` (the weights of ``rag.qa.answer.SPAN_FEATURES``) on
public data, and set it beside the weights ``AnswerConfig`` holds.

A candidate span's score is a weighted sum of its features: the reader's span score (weight 1),
the length prior, its sentence's evidence, type fit, clause alignment, a date's missing event
and measure fit (``rag.qa.answer.span_features``). This script asks CMRC 2018 *train*
questions of an index of their passages (the passages ``calibrate_decline.py`` samples), keeps
every candidate of every question with its features and its F1 against the gold, and fits a
conditional logit: the candidates with the best F1 of their question against the others,
weights scaled so that the reader's is 1. It prints top-candidate F1 / EM on the training
questions and on CMRC 2018 *trial* (the development set) for the stored weights and the fitted
ones. It does not write them: the answering settings change only with a refit of the
no-answer and follow-up models on top (see the README, "A chat that keeps up").

Features are cached (``--cache``): a stopped run resumes where it stopped.

Run (about 10 minutes on 2 cores; cached features refit in seconds):
    python benchmarks/fit_span_score.py --cache /tmp/spanfit [--questions 1200]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from calibrate_decline import DATA, _index

import rag.qa.answer as answering
from rag.evaluate import cmrc_f1, load_squad
from rag.models.reader import load_reader
from rag.qa.answer import SPAN_FEATURES, candidates, gather, read, span_weights
from rag.qa.config import AnswerConfig
from rag.qa.query import read_question


def collect(name: str, examples: list, folder: Path, out: Path) -> list[dict]:
    """Each question's candidates (at most 40, best first) with features and F1, cached."""
    rows = [json.loads(line) for line in out.open(encoding="utf-8")] if out.is_file() else []
    if len(rows) >= len(examples):
        return rows[: len(examples)]
    rt = _index(examples, folder, cut=False)
    reader, cfg = load_reader(), AnswerConfig()
    seen: dict[tuple[int, int, int], tuple[float, ...]] = {}
    features = answering.span_features

    def kept(*args):  # type: ignore[no-untyped-def]
        f = features(*args)
        sent, a, b = args[3], args[4], args[5]
        seen[(sent.sentence_id, a, b)] = f
        return f

    answering.span_features = kept  # candidates() computes them: keep them on the way
    try:
        with out.open("a", encoding="utf-8") as fh:
            for i, ex in enumerate(examples[len(rows) :], start=len(rows)):
                seen.clear()
                ev = gather(rt, read_question(ex.question), 5, cfg)
                row: dict = {"answers": ex.answers, "cands": []}
                if ev.scored and ev.best >= cfg.min_evidence:
                    wins, spans = read(rt, ev, reader, cfg)
                    evidence = {c.sentence.sentence_id: c.score for c in ev.scored}
                    cands = candidates(rt, ev.query, wins, spans, evidence, cfg)
                    if ev.query.qtype.kind in cfg.filter_types:
                        cands = [c for c in cands if c.fit > -1]
                    for c in cands[:40]:
                        text = c.sentence.text[c.start : c.end]
                        f = seen[(c.sentence.sentence_id, c.start, c.end)]
                        row["cands"].append({"f": list(f), "f1": cmrc_f1(text, ex.answers)})
                rows.append(row)
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
                fh.flush()
                if i % 100 == 0:
                    print(f"{name} {i}/{len(examples)}", flush=True)
    finally:
        answering.span_features = features
    return rows


def top_f1(rows: list[dict], w: np.ndarray) -> tuple[float, float]:
    """F1 and EM of each question's best candidate under weights ``w`` (0 with none)."""
    f1s = []
    for r in rows:
        if r["cands"]:
            x = np.array([c["f"] for c in r["cands"]])
            f1s.append(r["cands"][int(np.argmax(x @ w))]["f1"])
        else:
            f1s.append(0.0)
    return float(np.mean(f1s)), float(np.mean([f == 1.0 for f in f1s]))


def fit(rows: list[dict], l2: float = 1e-3, steps: int = 1500) -> np.ndarray:
    """Conditional logit over each question's candidates: the best-F1 ones (F1 ≥ 0.5) are the
    target; weights scaled so that the reader's score weighs 1."""
    groups = []
    for r in rows:
        f1 = np.array([c["f1"] for c in r["cands"]])
        if len(f1) < 2 or f1.max() < 0.5 or f1.min() == f1.max():
            continue
        t = (f1 == f1.max()).astype(float)
        groups.append((np.array([c["f"] for c in r["cands"]]), t / t.sum()))
    sd = np.concatenate([x for x, _ in groups]).std(0) + 1e-9
    w = np.zeros(len(sd))
    for _ in range(steps):
        g = np.zeros_like(w)
        for x, t in groups:
            z = (x / sd) @ w
            p = np.exp(z - z.max())
            g += (x / sd).T @ (p / p.sum() - t)
        w -= 0.5 * (g / len(groups) + l2 * w)
    raw = w / sd
    return raw / raw[0]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", required=True)
    ap.add_argument("--questions", type=int, default=1200, help="CMRC train questions")
    ap.add_argument("--passages", type=int, default=300, help="as calibrate_decline.py samples")
    args = ap.parse_args()
    work = Path(args.cache)
    work.mkdir(parents=True, exist_ok=True)
    train = load_squad(DATA / "cmrc2018_train.json")
    passages = sorted({ex.passage for ex in train})
    chosen = set(passages[:: max(len(passages) // args.passages, 1)][: args.passages])
    answerable = [ex for ex in train if ex.passage in chosen]
    trial = load_squad(DATA / "cmrc2018_trial.json")
    rows = {
        "train": collect(
            "train", answerable[: args.questions], work / "train", work / "train.jsonl"
        ),
        "trial": collect("trial", trial, work / "trial", work / "trial.jsonl"),
    }
    stored = np.array(span_weights(AnswerConfig()))
    fitted = fit(rows["train"])
    print("features: " + ", ".join(n for n, _ in SPAN_FEATURES))
    for name, w in (("stored", stored), ("fitted", fitted)):
        figures = "; ".join(
            f"{k} F1 {top_f1(r, w)[0]:.4f} EM {top_f1(r, w)[1]:.4f}" for k, r in rows.items()
        )
        print(f"{name:<7}{json.dumps([round(float(v), 3) for v in w])}  {figures}")


if __name__ == "__main__":
    main()
