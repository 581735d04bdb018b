"""Parallel clauses on public data: CMRC 2018 trial questions whose answer stands in one of two
or more parallel parts of its sentence (``在A建设X，在B建设Y``; ``A增长21%，B增长5%``), with a
neighbouring part holding an item of the same kind (a figure beside a figure, a 公司 beside a
公司), asked through ``rag.answer`` over an index of the trial passages. Prints EM / F1 on that
subset and on all questions, for the answering settings before #21 (no clause alignment, no
re-reading of the aligned clause, no clause edges, no event check, the margin rule for
declining) and for the shipped ones.

Run: python benchmarks/parallel_clauses.py [--index DIR] [-n N]
"""

from __future__ import annotations

import argparse
import re
import tempfile
from dataclasses import replace
from pathlib import Path

from rag.evaluate import cmrc_em, cmrc_f1, load_squad, write_passage_pages
from rag.ingest.chunks import split_sentences
from rag.models.embed import load_embedder
from rag.qa.answer import answer
from rag.qa.config import AnswerConfig
from rag.qa.spans import clause_parts, parallel_parts
from rag.store.index import build_index

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
BEFORE = replace(
    AnswerConfig(),
    align_weight=0.0,
    event_weight=0.0,
    refocus=False,
    trim_edges=False,
    decline_weights=(),
)


def _kind(text: str) -> str:
    return "figure" if re.search(r"\d|[一二三四五六七八九十百千万]", text) else text[-1:]


def in_parallel_part(context: str, answer: str) -> bool:
    """The answer stands in a part of its sentence that runs parallel to another part holding
    an item of the same kind."""
    at = context.find(answer)
    if at < 0:
        return False
    for s, t in split_sentences(context):
        if not s <= at < t:
            continue
        sentence = context[s:t]
        parts = clause_parts(sentence)
        group = parallel_parts(sentence, parts) if len(parts) >= 2 else []
        own = next((i for i, (a, b) in enumerate(parts) if a <= at - s < b), None)
        if own not in group or len(group) < 2:
            return False
        kind = _kind(answer)
        return any(
            _kind(sentence[a:b]) == kind or (kind != "figure" and kind in sentence[a:b])
            for i, (a, b) in enumerate(parts)
            if i != own and i in group
        )
    return False


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", help="index of the trial passages (built when missing)")
    ap.add_argument("-n", type=int, default=0, help="only the first N questions")
    args = ap.parse_args()
    examples = load_squad(DATA / "cmrc2018_trial.json")[: args.n or None]
    index = Path(args.index or tempfile.mkdtemp(prefix="parallel-")) / "index"
    if not (index / "manifest.json").is_file():
        pages = index.parent / "pages"
        write_passage_pages(examples, pages)
        build_index(pages, index, load_embedder())
    subset = [in_parallel_part(ex.context, ex.answers[0]) for ex in examples]
    print(f"questions: {len(examples)}; answer in a parallel part: {sum(subset)}")
    print(f"{'settings':<10}{'all EM':>8}{'all F1':>8}{'parallel EM':>13}{'parallel F1':>13}")
    for name, cfg in (("before", BEFORE), ("now", AnswerConfig())):
        em, f1 = [], []
        for ex in examples:
            ans = answer(ex.question, index_dir=index, config=cfg)
            pred = ans.text if ans.found else ""
            em.append(cmrc_em(pred, list(ex.answers)))
            f1.append(cmrc_f1(pred, list(ex.answers)))
        n, m = len(examples), max(sum(subset), 1)
        sub_em = sum(e for e, p in zip(em, subset, strict=True) if p)
        sub_f1 = sum(f for f, p in zip(f1, subset, strict=True) if p)
        print(
            f"{name:<10}{100 * sum(em) / n:8.1f}{100 * sum(f1) / n:8.1f}"
            f"{100 * sub_em / m:13.1f}{100 * sub_f1 / m:13.1f}"
        )


if __name__ == "__main__":
    main()
