"""Fit how ``rag.answer`` chooses among the readings of a follow-up, on public training data.

Dialogues are made from CMRC 2018 train and DRCD train passages the way
``scripts/make_dialogues.py`` makes the public dev set from trial / dev passages (a pronoun for
the passage's subject, the subject left out, one slot swapped, another year, a removed fact),
the passages indexed as an archive. Every follow-up is read every way
(``rag.qa.dialogue.readings``); each reading's features (``rag.qa.answer.FOLLOW_FEATURES``) are
labelled right when its answer holds the gold (or stands inside it), wrong otherwise, and wrong
always for a follow-up that must be declined; follow-ups the rule reads as standalone, or with
one reading only, are left out (``rag.answer`` answers them as asked). A logistic model is
fitted on them; its bias is then set where choosing the best reading (and declining below 0)
comes closest to the issue's three targets on the training dialogues (the worst share against
its target highest). Prints the weights to put in ``AnswerConfig.follow_weights`` and the
training figures; the dev figures come from ``rag eval benchmarks/dialogues/dialogues.jsonl``.

Features are cached (``--cache``): a stopped run resumes where it stopped.

Run (about 12 minutes on 2 cores for 595 dialogues; cached features refit in seconds):
    python benchmarks/fit_followups.py --cache /tmp/followups [--dialogues 720]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from rag.evaluate import norm
from rag.models.embed import load_embedder
from rag.qa.answer import (
    FOLLOW_FEATURES,
    answer,
    decide_readings,
    follow_features,
    reader_of,
)
from rag.qa.config import AnswerConfig, write_fitted
from rag.qa.query import read_readings
from rag.qa.retrieve import get_runtime
from rag.store.index import build_index

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import make_dialogues


def right(gold: str | None, text: str) -> bool:
    """As ``rag eval`` scores the public dialogues."""
    if gold is None or not text:
        return False
    g, t = norm(gold), norm(text)
    return g in t or (len(t) >= 2 and t in g)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", required=True)
    ap.add_argument("--dialogues", type=int, default=720)
    ap.add_argument("--write", action="store_true", help="store the weights in rag/qa/fitted.json")
    args = ap.parse_args()
    work = Path(args.cache)
    pages, index = work / "pages", work / "index"
    n = args.dialogues
    want = {
        "pronoun": n // 4,
        "subject": n // 4,
        "ellipsis": n // 6,
        "near-year": n // 6,
        "near-removed": n // 6,
    }
    rows, texts = make_dialogues.build([], sources=make_dialogues.TRAIN_SOURCES, want=want)
    if not (index / "manifest.json").is_file():
        pages.mkdir(parents=True, exist_ok=True)
        for pid, text in texts.items():
            (pages / f"{pid}.txt").write_text(text, encoding="utf-8")
        build_index(pages, index, load_embedder())
    rt = get_runtime(index)
    reader = reader_of(None)
    cfg = AnswerConfig(follow_weights=())  # the first turn: as answered before this fit
    done_path = work / "features.jsonl"
    done = {}
    if done_path.is_file():
        for line in done_path.read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            done[r["id"]] = r
    print(f"{len(rows)} dialogues, {len(done)} read before", flush=True)
    with done_path.open("a", encoding="utf-8") as fh:
        for i, row in enumerate(rows):
            if row["id"] in done:
                continue
            (t1, t2) = row["turns"]
            first = answer(t1["q"], index_dir=index, reader=reader)
            queries = [q for q in read_readings(t2["q"], [(t1["q"], first)]) if q.kind == "span"]
            decided = decide_readings(rt, queries, 5, reader, cfg) if queries else []
            readings = []
            for at, d in enumerate(decided):
                text = d.top.sentence.text[d.top.start : d.top.end] if d.top else ""
                readings.append(
                    {
                        "features": list(follow_features(rt, d, at)) if d.top else [],
                        "found": d.top is not None,
                        "right": right(t2["a"], text),
                        "text": text,
                        "question": d.ev.query.text,
                    }
                )
            rule = queries[0].resolution.kind if queries else ""
            rec = {
                "id": row["id"],
                "kind": row["kind"],
                "gold": t2["a"],
                "rule": rule,
                "readings": readings,
            }
            done[row["id"]] = rec
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
            fh.flush()
            if i % 20 == 0:
                print(f"{i}/{len(rows)}", flush=True)
    # rag.answer reads a follow-up several ways only when the rule finds it one (not
    # "standalone") and there are two readings at least: the others are answered as asked
    chosen = [done[r["id"]] for r in rows if r["id"] in done]
    chosen = [r for r in chosen if r.get("rule") != "standalone" and len(r["readings"]) >= 2]
    print(f"{len(chosen)} follow-ups read several ways", flush=True)
    weights = fit(chosen)
    sure = sure_of(chosen, np.array(weights))
    if args.write:
        write_fitted(
            "follow_weights",
            FOLLOW_FEATURES,
            weights,
            "python benchmarks/fit_followups.py --cache DIR --write",
            rt.embedder.name,
            rt.config,
            extra={"sure": sure} if sure is not None else None,
        )


def _fit(x: np.ndarray, y: np.ndarray, steps: int = 4000, l2: float = 1e-2) -> np.ndarray:
    """Logistic regression by gradient descent; [bias, weights…] for the raw features."""
    mu, sd = x.mean(0), x.std(0) + 1e-9
    z = (x - mu) / sd
    w = np.zeros(z.shape[1] + 1)
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(w[0] + z @ w[1:])))
        g = p - y
        w[0] -= 0.5 * g.mean()
        w[1:] -= 0.5 * ((z * g[:, None]).mean(0) + l2 * w[1:])
    raw = w[1:] / sd
    return np.concatenate([[w[0] - (mu * raw).sum()], raw])


def outcome(recs: list[dict], w: np.ndarray, sure: float = np.inf) -> dict[str, float]:
    """Follow-ups right (answerable), declined (must decline), answered, with weights ``w``
    (the rule's reading answering alone when it scores ``sure``); and the same for the rule's
    reading alone. ``early``: the share answered by the rule's reading alone."""
    stats: dict[str, list[float]] = {}
    for rec in recs:
        found = [r for r in rec["readings"] if r["found"]]
        first = rec["readings"][0] if rec["readings"] else None
        early = bool(first and first["found"] and w[0] + np.dot(w[1:], first["features"]) >= sure)
        stats.setdefault("early", []).append(early)
        found = [first] if early and first else found
        best = max(found, key=lambda r: w[0] + np.dot(w[1:], r["features"]), default=None)
        said = best if best is not None and w[0] + np.dot(w[1:], best["features"]) >= 0 else None
        rule = rec["readings"][0] if rec["readings"] else None
        rule = rule if rule and rule["found"] else None
        for name, pick in (("chosen", said), ("rule", rule)):
            if rec["gold"] is None:
                stats.setdefault(f"{name} declined", []).append(pick is None)
            else:
                stats.setdefault(f"{name} right", []).append(bool(pick and pick["right"]))
                stats.setdefault(f"{name} answered", []).append(pick is not None)
    return {k: float(np.mean(v)) for k, v in stats.items()}


def sure_of(recs: list[dict], w: np.ndarray) -> float | None:
    """The lowest score of the rule's reading at which it may answer alone (the other readings
    unread, ``AnswerConfig.follow_sure``) with no training follow-up scored worse."""
    full = outcome(recs, w)
    keys = ("chosen right", "chosen declined", "chosen answered")
    for sure in np.arange(0.0, 10.01, 0.25):
        o = outcome(recs, w, float(sure))
        if all(o[k] >= full[k] for k in keys):
            print(f"follow_sure {sure:.2f}: {o['early']:.0%} of follow-ups read one way")
            return round(float(sure), 2)
    return None


def fit(recs: list[dict]) -> list[float]:
    xs, ys = [], []
    for rec in recs:
        for r in rec["readings"]:
            if r["found"]:
                xs.append(r["features"])
                ys.append(1.0 if r["right"] else 0.0)
    x, y = np.array(xs), np.array(ys)
    w = _fit(x, y)
    # the bias where the worst of the three shares, each against its target (#28: follow-ups
    # right 0.85, near misses declined 0.85, answerable answered 0.95), is highest on the
    # training dialogues: (right + declined) / 2 alone declined one answerable follow-up in six
    best_bias, best_acc = w[0], -1.0
    for shift in np.linspace(-4, 4, 161):
        trial = w.copy()
        trial[0] += shift
        o = outcome(recs, trial)
        acc = min(
            o["chosen right"] / 0.85, o["chosen declined"] / 0.85, o["chosen answered"] / 0.95
        )
        if acc > best_acc:
            best_bias, best_acc = trial[0], acc
    w[0] = best_bias
    print("follow_weights (bias, " + ", ".join(FOLLOW_FEATURES) + "):")
    print(json.dumps([round(float(v), 4) for v in w]))
    for k, v in sorted(outcome(recs, w).items()):
        print(f"  {k:<18}{v:.3f}")
    return [round(float(v), 4) for v in w]


if __name__ == "__main__":
    main()
