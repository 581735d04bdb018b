"""Choose how ``rag.answer`` combines the reader with retrieval evidence, on public data only.

Development questions: CMRC 2018 trial, asked through the whole pipeline over an index of the
trial passages (``rag eval-reader --mode open`` builds one). Questions the archive cannot
answer, of two kinds: *foreign* ones (CMRC 2018 train questions whose answers stand in none of
the trial passages: the topic is absent) and *near misses* (trial questions asked of an index
of their own passages with every sentence that holds one of their answers removed: the article
is there, the fact is not; this is how a newspaper archive is usually asked what it does not
say). The reader runs once per question (cached); each setting then only recombines scores.
Prints F1 on the answerable questions, the share answered, and the shares declined.

Run: python benchmarks/tune_answer.py --index /tmp/cmrc_open/index [--n 1002] [--foreign 300]
     [--near-miss 300]
"""

from __future__ import annotations

import argparse
import itertools
from dataclasses import replace
from pathlib import Path

from rag.evaluate import cmrc_f1, load_squad
from rag.models.reader import load_reader
from rag.qa.answer import choose, gather, read
from rag.qa.config import AnswerConfig
from rag.qa.query import read_question
from rag.qa.retrieve import get_runtime

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", required=True, help="index of the CMRC trial passages")
    ap.add_argument("--n", type=int, default=1002)
    ap.add_argument("--foreign", type=int, default=300)
    ap.add_argument("--near-miss", type=int, default=300)
    args = ap.parse_args()
    rt = get_runtime(args.index)
    reader = load_reader()
    everything = load_squad(DATA / "cmrc2018_trial.json")
    trial = everything[: args.n]
    near, near_rt = near_misses(everything[-args.near_miss :])
    passages = "\n".join({ex.context for ex in trial})
    foreign = [
        ex for ex in load_squad(DATA / "cmrc2018_train.json")[::7] if ex.answers[0] not in passages
    ][: args.foreign]

    shipped = AnswerConfig()
    reading = replace(shipped, min_evidence=0.0)  # read every question; the grid gates later

    def prepare(question: str, runtime=rt):  # type: ignore[no-untyped-def]
        ev = gather(runtime, read_question(question), 5, shipped)
        wins, spans = read(runtime, ev, reader, reading)
        return ev, wins, spans, runtime

    cached_trial = [(prepare(ex.question), ex) for ex in trial]
    cached_foreign = [prepare(ex.question) for ex in foreign]
    cached_near = [prepare(ex.question, near_rt) for ex in near]

    def decide(cfg, ev, wins, spans, rt) -> str | None:  # type: ignore[no-untyped-def]
        top, _ = choose(rt, ev, wins, spans, cfg)
        return top.sentence.text[top.start : top.end] if top else None

    current = (
        shipped.evidence_weight,
        shipped.type_weight,
        shipped.null_margin,
        shipped.sure_evidence,
        shipped.min_evidence,
        shipped.length_prior,
    )
    grid = itertools.product(
        (0.0, 3.0, 6.0, 10.0),  # EVIDENCE_WEIGHT
        (0.0, 2.0),  # TYPE_WEIGHT
        (-2.0, 0.0, 2.0),  # NULL_MARGIN
        (0.6, 0.75, 1.0),  # SURE_EVIDENCE
        (0.2, 0.3, 0.4),  # MIN_READER_EVIDENCE
        (0.0, 0.25, 0.5),  # rag.models.reader.LENGTH_PRIOR
    )
    print("evidence type null sure min  len |  F1   answered | declined: foreign  near miss")
    rows = []
    for ev, ty, nm, sure, low, length in grid:
        cfg = replace(
            shipped,
            evidence_weight=ev,
            type_weight=ty,
            null_margin=nm,
            sure_evidence=sure,
            min_evidence=low,
            length_prior=length,
        )
        preds = [decide(cfg, *c) for c, _ in cached_trial]
        f1 = (
            100
            * sum(
                cmrc_f1(p or "", list(ex.answers))
                for p, (_, ex) in zip(preds, cached_trial, strict=True)
            )
            / max(len(trial), 1)
        )
        answered = sum(p is not None for p in preds) / max(len(trial), 1)
        declined = sum(decide(cfg, *c) is None for c in cached_foreign) / max(len(foreign), 1)
        missed = sum(decide(cfg, *c) is None for c in cached_near) / max(len(near), 1)
        rows.append((f1, answered, declined, missed, ev, ty, nm, sure, low, length))
    # a wrong answer to what the archive does not say costs as much as a lost right one
    rows.sort(key=lambda r: -(r[0] / 100 + 0.5 * r[2] + 0.5 * r[3]))
    now = [r for r in rows if r[4:] == current]
    for label, part in (("best settings", rows[:25]), ("the settings now", now)):
        print(label)
        for f1, answered, declined, missed, ev, ty, nm, sure, low, length in part:
            print(
                f"{ev:8.1f} {ty:4.1f} {nm:4.1f} {sure:4.2f} {low:4.2f} {length:4.2f} | "
                f"{f1:5.1f}  {answered:6.3f}  | {declined:6.3f}  {missed:6.3f}"
            )


def near_misses(examples):  # type: ignore[no-untyped-def]
    """Questions, and an index of their passages without any sentence that holds an answer."""
    import re
    import tempfile

    from rag.evaluate import passage_page_id
    from rag.models.embed import load_embedder
    from rag.store.index import build_index

    answers: dict[int, set[str]] = {}
    contexts: dict[int, str] = {}
    for ex in examples:
        answers.setdefault(ex.passage, set()).update(a for a in ex.answers if a)
        contexts[ex.passage] = ex.context
    pages = Path(tempfile.mkdtemp(prefix="near-miss-"))
    for passage, context in contexts.items():
        sentences = re.findall(r"[^。！？!?]+[。！？!?]*", context)
        kept = [s for s in sentences if not any(a in s for a in answers[passage])]
        (pages / f"{passage_page_id(passage)}.txt").write_text("".join(kept) + "\n", "utf-8")
    index = pages.with_name(pages.name + "-index")
    build_index(pages, index, load_embedder())
    runtime = get_runtime(index)
    # only questions whose passage was cut (an answer spread over sentences may survive)
    text = {p: (pages / f"{passage_page_id(p)}.txt").read_text("utf-8") for p in contexts}
    kept_q = [ex for ex in examples if not any(a in text[ex.passage] for a in ex.answers)]
    return kept_q, runtime


if __name__ == "__main__":
    main()
