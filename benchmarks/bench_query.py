"""Query latency: ``retrieve`` p50/p95 on the seeds index and on synthetic archives of 10 000 and
100 000 chunks, rank_bm25 on the same corpora for comparison, and recall@10 of the approximate
(HNSW) dense index against exact search.

Synthetic chunks are real-looking text (three seed sentences recombined, tokenised by jieba); their
vectors are the mean of the real vectors of those sentences plus Gaussian noise, so the dense
index sees clustered, embedding-like data rather than uniform noise (on which no approximate index
is meaningful). The query embedding is computed by the real model in every timing.

Run: python benchmarks/bench_query.py [--sizes 10000 100000] [--index index]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from rag.evaluate import read_jsonl
from rag.ingest.articles import Article, Paragraph, Part, segment
from rag.ingest.chunks import Chunk, Sentence, sentences_of
from rag.ingest.pages import read_pages
from rag.ingest.tokenize import tokenize
from rag.models.embed import load_embedder
from rag.qa.retrieve import Runtime, retrieve_from
from rag.store.index import HNSW_THRESHOLD, Index, _dense_index, build_index
from rag.store.lexical import Lexical, Postings
from rag.store.segments import SegmentedDense

QUESTIONS = [
    "西海岸新区首批成立了哪些产业链党建联盟？",
    "青岛自贸片区与哪家司法机构建立了联动创新战略合作？",
    "黄岛口岸1至7月出口商用车多少辆？",
    "气候投融资试点工作方案由哪个部门编制？",
    "总投资1209亿元",
    "新市民学院在哪里揭牌？",
]


def timings(fn, queries: list[str], repeat: int = 3) -> tuple[float, float]:
    fn(queries[0])
    times = []
    for _ in range(repeat):
        for q in queries:
            t0 = time.perf_counter()
            fn(q)
            times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return statistics.median(times), times[int(0.95 * (len(times) - 1))]


def synthetic(n_chunks: int, seed_sents: list[str], seed_vecs: np.ndarray, rng: random.Random):
    """An in-memory index of ``n_chunks`` chunks recombined from seed sentences."""
    tok_cache = {s: tokenize(s) for s in seed_sents}
    row = {s: i for i, s in enumerate(seed_sents)}
    dim = seed_vecs.shape[1]
    nprng = np.random.default_rng(0)
    chunks, sentences, tokens, articles = [], [], [], {}
    for cid in range(n_chunks):
        picks = rng.sample(seed_sents, 3)
        aid = f"syn:{cid // 4}"
        sids = []
        pos = 0
        for s in picks:
            sentences.append(Sentence(len(sentences), aid, 0, "syn", s, pos, pos + len(s)))
            sids.append(len(sentences) - 1)
            pos += len(s)
        text = "".join(picks)
        chunks.append(Chunk(cid, aid, 0, "syn", text, 0, len(text), tuple(sids)))
        tokens.append([t for s in picks for t in tok_cache[s]])
        if aid not in articles:
            part = Part("syn", (Paragraph(text, 0, len(text)),))
            articles[aid] = Article(aid, (part,), None, None, (), None, None, None, aid, True)

    def unit(base: np.ndarray) -> np.ndarray:
        noise = nprng.standard_normal(base.shape).astype(np.float32) * (0.5 / np.sqrt(dim))
        v = base + noise
        return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)

    sent_rows = np.array([row[s.text] for s in sentences])
    sv = unit(seed_vecs[sent_rows])
    cv = unit(sv[np.array([c.sentence_ids for c in chunks])].mean(axis=1))
    index = Index(
        path=Path("synthetic"),
        manifest={"counts": {}},
        pages={},
        articles=articles,
        chunks=chunks,
        sentences=sentences,
        chunk_vectors=cv,
        sentence_vectors=sv,
        dense=SegmentedDense([(_dense_index(cv), None, 0, 0)]),
        lexical=Lexical([(Postings.of(tokens), None, 0)]),
    )
    return index, tokens


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000])
    ap.add_argument("--pages", default="seeds")
    args = ap.parse_args()
    emb = load_embedder()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; model {emb.name}")
    qa = Path("../shared/eval/qa_dev.jsonl")
    queries = [r["question"] for r in read_jsonl(qa)] if qa.is_file() else QUESTIONS

    with tempfile.TemporaryDirectory() as tmp:
        from rag.qa.retrieve import get_runtime

        build_index(Path(args.pages), Path(tmp) / "index", emb)
        rt = get_runtime(Path(tmp) / "index", emb)
        p50, p95 = timings(lambda q: retrieve_from(rt, q, 5), queries)
        print(f"seeds ({len(rt.index.chunks)} chunks): retrieve p50 {p50:.1f} ms  p95 {p95:.1f} ms")

    seg = segment(read_pages(Path(args.pages)))
    seed_sents = sorted({s.text for s in sentences_of(seg.articles)})
    seed_vecs = emb.encode_passages(seed_sents)
    rng = random.Random(0)
    for n in args.sizes:
        t0 = time.perf_counter()
        index, tokens = synthetic(n, seed_sents, seed_vecs, rng)
        built = time.perf_counter() - t0
        rt = Runtime(index=index, embedder=emb)
        kind = "HNSW" if n > HNSW_THRESHOLD else "flat"
        p50, p95 = timings(lambda q, rt=rt: retrieve_from(rt, q, 5), queries)
        print(
            f"{n} chunks ({kind}, built in {built:.0f} s): retrieve p50 {p50:.1f} ms  "
            f"p95 {p95:.1f} ms (query embedding included)"
        )
        qv = emb.encode_queries(queries)
        vec = dict(zip(queries, qv, strict=True))
        r50, r95 = timings(
            lambda q, rt=rt, vec=vec: retrieve_from(rt, q, 5, vector=vec[q]), queries
        )
        e50, _ = timings(lambda q: emb.encode_queries([q]), queries)
        print(
            f"  of which: query embedding p50 {e50:.1f} ms; retrieval alone p50 {r50:.1f} ms "
            f"p95 {r95:.1f} ms"
        )
        if kind == "HNSW":
            import faiss

            exact = faiss.IndexFlatIP(emb.dim)
            exact.add(index.chunk_vectors)
            _, truth = exact.search(qv, 10)
            _, approx = index.dense.search(qv, 10)
            recall = np.mean(
                [len(set(a) & set(t)) / 10 for a, t in zip(approx, truth, strict=True)]
            )
            print(f"  HNSW recall@10 vs exact: {recall:.3f}")
        from rank_bm25 import BM25Okapi

        t0 = time.perf_counter()
        okapi = BM25Okapi(tokens)
        okapi_build = time.perf_counter() - t0
        sample = queries[:8]
        rb50, _ = timings(lambda q, o=okapi: o.get_scores(tokenize(q)), sample, repeat=1)

        def lexical(q: str, ix: Index = index) -> object:
            return ix.lexical.top(tokenize(q), 50, ix.tie_rank)

        bs50, _ = timings(lexical, sample, repeat=1)
        print(
            f"  lexical only: postings BM25 p50 {bs50:.1f} ms; rank_bm25 p50 {rb50:.1f} ms "
            f"(+{okapi_build:.0f} s to build)"
        )


if __name__ == "__main__":
    main()
