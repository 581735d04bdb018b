"""Peak memory of a process serving the seeds index: load it, answer questions, report max RSS.

Run: python benchmarks/bench_memory.py [--index index]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
from pathlib import Path

import rag
from rag.models.embed import load_embedder
from rag.store.index import build_index

QUESTIONS = [
    "西海岸新区首批成立了哪些产业链党建联盟？",
    "青岛自贸片区与哪家司法机构建立了联动创新战略合作？",
    "黄岛口岸1至7月出口商用车多少辆？",
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", help="an existing index (default: build one of seeds/)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        index = Path(args.index) if args.index else Path(tmp) / "index"
        if not args.index:
            build_index(Path("seeds"), index, load_embedder())
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            print(f"peak RSS after building (includes the build): {before / 1024:.0f} MB")
        for _ in range(5):
            for q in QUESTIONS:
                rag.answer(q, index_dir=index)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(f"peak RSS of a process serving the index: {peak / 1024:.0f} MB")


if __name__ == "__main__":
    main()
