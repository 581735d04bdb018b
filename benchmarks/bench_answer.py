"""Answer latency: ``rag.answer`` p50/p95 with the reader and with the rules, first questions and
follow-ups (with their conversation), on the seeds index.

Run: python benchmarks/bench_answer.py [--index index] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import rag
from rag.models.embed import load_embedder
from rag.store.index import build_index

FIRST = [
    "西海岸新区首批成立了哪些产业链党建联盟？",
    "青岛自贸片区与哪家司法机构建立了联动创新战略合作？",
    "黄岛口岸1至7月出口商用车多少辆？",
    "变频控制产业园计划建在哪个街道？",
    "新区4项技术入选了什么目录？",
    "气候投融资试点工作方案由哪个部门编制？",
]
DIALOGUES = [
    ("西海岸新区首批成立了哪些产业链党建联盟？", "由谁负责组建？"),
    ("变频控制产业园计划建在哪个街道？", "装备制造产业园呢？"),
    ("新区新业态新就业群体综合团委是哪天成立的？", "它是全省第几个？"),
]


def timed(fn, *args, **kwargs) -> float:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    fn(*args, **kwargs)
    return (time.perf_counter() - t0) * 1000


def p50_p95(xs: list[float]) -> tuple[float, float]:
    xs = sorted(xs)
    return statistics.median(xs), xs[int(0.95 * (len(xs) - 1))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", help="an existing index (default: build one of seeds/)")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.processor() or '?'}")
    with tempfile.TemporaryDirectory() as tmp:
        index = Path(args.index) if args.index else Path(tmp) / "index"
        if not args.index:
            build_index(Path("seeds"), index, load_embedder())
        for reader in (None, "rules"):
            name = reader or "reader"
            rag.answer(FIRST[0], index_dir=index, reader=reader)  # load once, untimed
            first = [
                timed(rag.answer, q, index_dir=index, reader=reader)
                for _ in range(args.rounds)
                for q in FIRST
            ]
            follow = []
            base = []
            for _ in range(args.rounds):
                for q1, q2 in DIALOGUES:
                    a1 = rag.answer(q1, index_dir=index, reader=reader)
                    base.append(timed(rag.answer, q2, index_dir=index, reader=reader))
                    follow.append(
                        timed(rag.answer, q2, index_dir=index, reader=reader, history=[(q1, a1)])
                    )
            f50, f95 = p50_p95(first)
            u50, u95 = p50_p95(follow)
            print(f"{name:>7}: first questions p50 {f50:.0f} ms, p95 {f95:.0f} ms")
            print(
                f"{name:>7}: follow-ups p50 {u50:.0f} ms, p95 {u95:.0f} ms; "
                f"follow-up / same question without history = "
                f"{statistics.median(follow) / statistics.median(base):.2f}"
            )


if __name__ == "__main__":
    main()
