"""A day's pages added to a large index (#30): how long ``rag add`` takes, what a full rebuild of
the same index costs, what a server holds after 200 questions, the dense stage's recall, and
whether the grown index answers as the rebuilt one does.

The base is a synthetic index of ``--chunks`` chunks in the real format, made as
``bench_million.py`` makes it (kept in ``--dir`` and reused). The day is 16 real page texts (the
seed pages, cycled) as one issue, added with the real embedder. The full rebuild is
``rag build --merge`` of a copy: every structure (tables, HNSW graph, lexical postings) written
again from the stored rows and vectors, nothing embedded. Serving figures come from a fresh
process that loads the grown index and answers 200 questions (the dev questions and sentences
of the archive), as the chat page would.

Prints one JSON line:
``{"chunks": N, "add_s": …, "full_rebuild_s": …, "rss_mb_after_200q": …, "recall_at_10": …,
"same_answers": true|false, …}``

Run: python benchmarks/bench_growth.py [--chunks 1000000] [--dir /tmp/growth]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DAY_PAGES = 16


def _rss_mb(field: str = "VmRSS") -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def make_day(folder: Path) -> list[Path]:
    """16 page files of one issue (the seed pages cycled), with their ``pages.json``."""
    folder.mkdir(parents=True, exist_ok=True)
    seeds = sorted((ROOT / "seeds").glob("*.txt"))
    meta = {}
    files = []
    for n in range(DAY_PAGES):
        src = seeds[n % len(seeds)]
        name = f"day-2025-01-02_{n + 1:02d}.txt"
        shutil.copy(src, folder / name)
        meta[Path(name).stem] = {"date": "2025-01-02", "edition": "日报", "page": n + 1}
        files.append(folder / name)
    (folder / "pages.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    return files


def questions(index_dir: Path, n: int = 200) -> list[str]:
    from rag.evaluate import read_jsonl
    from rag.store.index import load_index

    out: list[str] = []
    qa = ROOT.parent / "shared" / "eval" / "qa_dev.jsonl"
    if qa.is_file():
        out += [r["question"] for r in read_jsonl(qa)]
    index = load_index(index_dir)
    step = max(1, len(index.sentences) // (n - len(out) + 1))
    i = 0
    while len(out) < n:
        out.append(index.sentences[(i * step) % len(index.sentences)].text[:24])
        i += 1
    return out


def answers(index_dir: Path, qs: list[str]) -> list[tuple]:
    import rag

    out = []
    for q in qs:
        a = rag.answer(q, index_dir=index_dir)
        out.append((a.text, a.found, round(a.score, 4), tuple(c.passage.page for c in a.citations)))
    return out


def resident(index_dir: Path) -> dict[str, int]:
    """Resident MB by what holds it: the index's memory-mapped files by kind, the rest."""
    out: dict[str, float] = {}
    name = "anonymous (models, Python objects, copied columns)"
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split()
        if head and "-" in head[0] and len(head) >= 5:  # a mapping's first line
            path = head[5] if len(head) >= 6 else ""
            if str(index_dir) in path:
                base = Path(path).name
                if base.endswith(".faiss"):
                    name = "dense graph/index (mmap)"
                elif "vectors" in base:
                    name = "vectors (mmap)"
                elif base.startswith("lexical"):
                    name = "lexical postings (mmap)"
                else:
                    name = "tables (mmap)"
            elif path.startswith("/"):
                name = "libraries and model files"
            else:
                name = "anonymous (models, Python objects, copied columns)"
        elif line.startswith("Rss:"):
            out[name] = out.get(name, 0.0) + int(line.split()[1]) / 1024
    return {k: round(v) for k, v in sorted(out.items(), key=lambda kv: -kv[1])}


def serve(index_dir: Path) -> None:
    """In a fresh process: load, answer 200 questions, print RSS and the dense recall@10."""
    import rag
    from rag.qa.retrieve import get_runtime

    qs = questions(index_dir)
    t0 = time.perf_counter()
    rt = get_runtime(index_dir)
    load_s = time.perf_counter() - t0
    times = []
    for q in qs:
        t = time.perf_counter()
        rag.answer(q, index_dir=index_dir)
        times.append(time.perf_counter() - t)
    rss = _rss_mb()
    held = resident(index_dir)
    recall = dense_recall(rt, qs[:60])
    times.sort()
    print(
        json.dumps(
            {
                "load_s": round(load_s, 1),
                "rss_mb_after_200q": round(rss),
                "answer_p50_s": round(times[len(times) // 2], 3),
                "answer_p95_s": round(times[int(0.95 * (len(times) - 1))], 3),
                "recall_at_10": round(recall, 3),
                "resident_mb": held,
            }
        )
    )


def dense_recall(rt: object, qs: list[str]) -> float:
    """Recall@10 of the dense stage (as retrieval runs it) against exact search."""
    from rag.qa.config import RetrievalConfig

    index = rt.index  # type: ignore[attr-defined]
    qv = rt.embedder.encode_queries(qs)  # type: ignore[attr-defined]
    found = []
    for v in qv:
        _, ids = index.dense.search(v.reshape(1, -1), RetrievalConfig().candidates, index.tie_rank)
        cand = [int(i) for i in ids[0] if i >= 0]
        if index.coded_vectors:
            exact_s = index.chunk_vectors[cand] @ v
            cand = [cand[j] for j in np.argsort(-exact_s, kind="stable")]
        found.append(cand[:10])
    n = len(index.chunks)
    best = np.full((len(qv), 10), -np.inf, dtype=np.float32)
    exact = np.full((len(qv), 10), -1, dtype=np.int64)
    step = 200_000
    for a in range(0, n, step):
        block = np.asarray(index.chunk_vectors[a : a + step])
        scores = qv @ block.T
        k = min(10, block.shape[0])
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        cand_s = np.concatenate([best, np.take_along_axis(scores, top, 1)], axis=1)
        cand_i = np.concatenate([exact, top + a], axis=1)
        order = np.argsort(-cand_s, axis=1)[:, :10]
        best = np.take_along_axis(cand_s, order, 1)
        exact = np.take_along_axis(cand_i, order, 1)
    # tie-aware: a found chunk scoring at least the 10th exact score counts (the day's pages
    # repeat the seed pages, so some vectors are identical)
    hits = []
    for f, v, kth in zip(found, qv, best[:, -1], strict=True):
        scores = index.chunk_vectors[f] @ v if f else np.zeros(0)
        hits.append(min(10, int((scores >= kth - 1e-6).sum())) / 10)
    return float(np.mean(hits))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chunks", type=int, default=1_000_000)
    ap.add_argument("--dir", default="/tmp/growth")
    ap.add_argument("--serve", help=argparse.SUPPRESS)  # the fresh serving process
    args = ap.parse_args()
    if args.serve:
        serve(Path(args.serve))
        return
    sys.path.insert(0, str(HERE))
    from bench_million import make

    from rag.models.embed import load_embedder
    from rag.store.grow import add_pages, merge_index

    work = Path(args.dir)
    base = work / f"base-{args.chunks}"
    if not (base / "manifest.json").is_file():
        make(args.chunks, base)
    grown = work / "grown"
    rebuilt = work / "rebuilt"
    for d in (grown, rebuilt):
        shutil.rmtree(d, ignore_errors=True)
    shutil.copytree(base, grown)  # the base stays as made, for the next run
    day = make_day(work / "day")

    embedder = load_embedder()
    t0 = time.perf_counter()
    report = add_pages(day, grown, embedder)
    add_s = time.perf_counter() - t0

    shutil.copytree(grown, rebuilt)
    t0 = time.perf_counter()
    merge_index(rebuilt)
    rebuild_s = time.perf_counter() - t0

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, __file__, "--serve", str(grown)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        cwd=ROOT,
    )
    served = json.loads(out.stdout.strip().splitlines()[-1])
    qs = questions(grown, 60)
    a, b = answers(grown, qs), answers(rebuilt, qs)
    from rag.qa.retrieve import get_runtime

    rebuilt_recall = dense_recall(get_runtime(rebuilt), questions(rebuilt)[:60])
    print(
        json.dumps(
            {
                "chunks": args.chunks,
                "add_s": round(add_s, 1),
                "full_rebuild_s": round(rebuild_s, 1),
                "rss_mb_after_200q": served["rss_mb_after_200q"],
                "recall_at_10": served["recall_at_10"],
                "same_answers": a == b,
                "same_answer_share": round(
                    sum(x == y for x, y in zip(a, b, strict=True)) / len(a), 3
                ),
                "rebuilt_recall_at_10": round(rebuilt_recall, 3),
                "added_chunks": report.chunks,
                "embedded": report.embedded,
                "load_s": served["load_s"],
                "answer_p50_s": served["answer_p50_s"],
                "answer_p95_s": served["answer_p95_s"],
                "resident_mb": served["resident_mb"],
                "machine": f"{platform.machine()}, {os.cpu_count()} cores",
            }
        )
    )


if __name__ == "__main__":
    main()
