"""Fit the no-answer decision of ``rag.answer`` on public data: a logistic model over the chosen
span's features (``rag.qa.answer.DECLINE_FEATURES``) that tells questions the archive answers
from *near misses* (asked of their own passage with every sentence holding the answer removed:
the article is there, the fact is not, which is how a newspaper archive is mostly asked what it
does not say), *other years* (a question naming a year asked with a year its passage never
names: the figure of the year it does name is no answer) and *foreign* questions (their topic
is not in the index).

Training: a sample of CMRC 2018 *train* passages (their questions answerable; the same
passages without the answer sentences for near misses; other passages' questions as foreign).
Development: CMRC 2018 *trial*, the same four kinds. The bias is set so that on training data
``--answered`` of the answerable questions are answered. Prints the weights (``--write``
stores them in ``rag/qa/fitted.json`` with the index's settings) and, on the trial set, F1,
the share answered and the shares declined, for the margin rule and for the fitted model.

Run (about 25 minutes on 2 cores):
    python benchmarks/calibrate_decline.py [--passages 300] [--answered 0.96] [--cache DIR]
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from rag.evaluate import Example, cmrc_f1, load_squad, passage_page_id
from rag.models.embed import load_embedder
from rag.models.reader import load_reader
from rag.qa.answer import DECLINE_FEATURES, candidates, decline_features, gather, read
from rag.qa.config import AnswerConfig, write_fitted
from rag.qa.query import read_question
from rag.qa.retrieve import Runtime, get_runtime
from rag.store.index import build_index

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _index(examples: list[Example], folder: Path, cut: bool) -> Runtime:
    """An index of the examples' passages (``cut``: without any sentence holding an answer)."""
    pages, index = folder / "pages", folder / "index"
    if not (index / "manifest.json").is_file():
        pages.mkdir(parents=True, exist_ok=True)
        answers: dict[int, set[str]] = {}
        contexts: dict[int, str] = {}
        for ex in examples:
            answers.setdefault(ex.passage, set()).update(a for a in ex.answers if a)
            contexts[ex.passage] = ex.context
        for passage, context in contexts.items():
            if cut:
                sentences = re.findall(r"[^。！？!?]+[。！？!?]*", context)
                context = "".join(s for s in sentences if not any(a in s for a in answers[passage]))
            (pages / f"{passage_page_id(passage)}.txt").write_text(context + "\n", "utf-8")
        build_index(pages, index, load_embedder())
    return get_runtime(index)


def _cut_questions(examples: list[Example], rt: Runtime) -> list[Example]:
    """Near misses whose answer is really gone from the cut passage."""
    text = "\n".join(rt.index.sentences[i].text for i in range(len(rt.index.sentences)))
    return [ex for ex in examples if not any(a in text for a in ex.answers)]


def _other_years(examples: list[Example]) -> list[Example]:
    """Near misses of another year: questions naming a year, asked with a year their passage
    never names (the article is there, its figure for that year is not; a figure of the year
    asked first is what a reader would wrongly give)."""
    out = []
    for ex in examples:
        m = re.search(r"(?<!\d)(1[6-9]\d\d|20[0-2]\d)年", ex.question)
        if not m:
            continue
        year = int(m.group(1))
        other = next((y for y in range(year + 1, year + 12) if str(y) not in ex.context), None)
        if other is not None:
            q = ex.question[: m.start(1)] + str(other) + ex.question[m.end(1) :]
            out.append(replace(ex, question=q))
    return out


def _features(rt: Runtime, examples: list[Example], reader, cfg: AnswerConfig):  # type: ignore[no-untyped-def]
    """Per question: the features of its chosen span (None when nothing is read) and its text."""
    out = []
    open_cfg = replace(cfg, min_evidence=0.0)
    for ex in examples:
        ev = gather(rt, read_question(ex.question), 5, cfg)
        wins, spans = read(rt, ev, reader, open_cfg)
        evidence = {c.sentence.sentence_id: c.score for c in ev.scored}
        cands = candidates(rt, ev.query, wins, spans, evidence, cfg) if wins else []
        if ev.query.qtype.kind in cfg.filter_types:
            cands = [c for c in cands if c.fit > -1]
        if not cands or ev.best < cfg.min_evidence:
            out.append((None, "", None))
            continue
        top = cands[0]
        legacy = top.span.margin >= cfg.null_margin or top.evidence >= cfg.sure_evidence
        out.append((decline_features(rt, ev, top), top.sentence.text[top.start : top.end], legacy))
    return out


def _fit(x: np.ndarray, y: np.ndarray, steps: int = 3000, l2: float = 1e-3) -> np.ndarray:
    """Class-balanced logistic regression by gradient descent; returns [bias, weights…] for the
    raw (unscaled) features."""
    mu, sd = x.mean(0), x.std(0) + 1e-9
    z = (x - mu) / sd
    w = np.zeros(z.shape[1] + 1)
    pos = y.mean()
    sample = np.where(y == 1, 0.5 / pos, 0.5 / (1 - pos))
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(w[0] + z @ w[1:])))
        g = sample * (p - y)
        w[0] -= 0.5 * g.mean()
        w[1:] -= 0.5 * ((z * g[:, None]).mean(0) + l2 * w[1:])
    raw = w[1:] / sd
    return np.concatenate([[w[0] - (mu * raw).sum()], raw])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--passages", type=int, default=300, help="CMRC train passages to index")
    ap.add_argument("--answered", type=float, default=0.96, help="share of answerable answered")
    ap.add_argument("--cache", default=None, help="folder for the indexes (default: a temp dir)")
    ap.add_argument("--write", action="store_true", help="store the weights in rag/qa/fitted.json")
    args = ap.parse_args()
    work = Path(args.cache or tempfile.mkdtemp(prefix="calibrate-"))
    reader = load_reader()
    cfg = AnswerConfig()

    train = load_squad(DATA / "cmrc2018_train.json")
    passages = sorted({ex.passage for ex in train})
    chosen = set(passages[:: max(len(passages) // args.passages, 1)][: args.passages])
    answerable = [ex for ex in train if ex.passage in chosen]
    foreign_pool = [ex for ex in train if ex.passage not in chosen][::11]
    trial = load_squad(DATA / "cmrc2018_trial.json")

    sets = {}
    for name, exs in (("train", answerable), ("trial", trial)):
        rt = _index(exs, work / name, cut=False)
        cut_rt = _index(exs, work / f"{name}-cut", cut=True)
        text = "\n".join({ex.context for ex in exs})
        foreign = [
            ex
            for ex in (foreign_pool if name == "train" else train[::13])
            if ex.answers[0] not in text
        ]
        near = _cut_questions(exs, cut_rt)[:400]
        years = _other_years(exs)[:300]
        print(
            f"{name}: answerable {len(exs)}, near misses {len(near)}, other years {len(years)}, "
            f"foreign {len(foreign[:300])}",
            flush=True,
        )
        sets[name] = {
            "answerable": (_features(rt, exs, reader, cfg), exs),
            "near": (_features(cut_rt, near, reader, cfg), near),
            "year": (_features(rt, years, reader, cfg), years),
            "foreign": (_features(rt, foreign[:300], reader, cfg), foreign[:300]),
        }

    def rows(name: str) -> tuple[np.ndarray, np.ndarray]:
        xs, ys = [], []
        for kind, (feats, _) in sets[name].items():
            for f, _, _ in feats:
                if f is not None:
                    xs.append(f)
                    ys.append(1.0 if kind == "answerable" else 0.0)
        return np.array(xs), np.array(ys)

    x, y = rows("train")
    weights = _fit(x, y)
    # the bias that answers ``--answered`` of the answerable training questions read
    scores = weights[0] + x[y == 1] @ weights[1:]
    weights[0] -= np.quantile(scores, 1 - args.answered)
    print("decline_weights (bias, " + ", ".join(DECLINE_FEATURES) + "):")
    print(json.dumps([round(float(w), 4) for w in weights]))
    if args.write:
        rt = get_runtime(work / "train" / "index")
        write_fitted(
            "decline_weights",
            DECLINE_FEATURES,
            [round(float(w), 4) for w in weights],
            "python benchmarks/calibrate_decline.py --write",
            rt.embedder.name,
            rt.config,
        )

    for name in ("train", "trial"):
        print(f"== {name}: F1 | answered | near misses declined | other years | foreign declined")
        for label in ("margin rule", "fitted"):
            stats = {}
            for kind, (feats, exs) in sets[name].items():
                said = []
                for (f, text, legacy), _ex in zip(feats, exs, strict=True):
                    if f is None:
                        said.append("")
                    elif label == "fitted":
                        said.append(text if weights[0] + np.dot(weights[1:], f) >= 0 else "")
                    else:
                        said.append(text if legacy else "")
                stats[kind] = said
            ans, exs = stats["answerable"], sets[name]["answerable"][1]
            f1 = 100 * np.mean([cmrc_f1(p, list(e.answers)) for p, e in zip(ans, exs, strict=True)])
            answered = np.mean([bool(p) for p in ans])
            near = np.mean([not p for p in stats["near"]])
            years = np.mean([not p for p in stats["year"]])
            foreign = np.mean([not p for p in stats["foreign"]])
            print(
                f"{label:<12} {f1:5.1f} | {answered:.3f} | {near:.3f} | {years:.3f} | {foreign:.3f}"
            )


if __name__ == "__main__":
    main()
