"""A million chunks on one machine: build a synthetic index of that size on disk in the real
format, then, in a fresh process, load it and measure what a server would see.

Figures: index size on disk, load time, serving RSS (after load and after questions), retrieve
p50/p95 with the query embedding included (``rag.retrieve``'s own path) over the dev questions
plus 40 corpus sentences as queries, and over the dev questions alone; the dense stage's
recall@10 against exact search over the same vectors, and the lexical search (BM25 postings)
alone at that size.

Synthetic chunks are made as in ``bench_query.py``: three real seed sentences recombined, their
vectors the real sentence vectors plus noise, so the dense index sees clustered, embedding-like
data. Four chunks make an article, forty a page. Generating takes long (the HNSW graph over a
million vectors is most of it); the index is kept in ``--dir`` and reused by later runs.

Run: python benchmarks/bench_million.py [--chunks 1000000] [--dir /tmp/million]
     (``--measure`` only measures an index made before)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

CHUNKS_PER_ARTICLE = 4
ARTICLES_PER_PAGE = 10
SENTENCES_PER_CHUNK = 3


def _rss_mb(field: str = "VmRSS") -> float:
    """Resident memory now (VmRSS) or at its peak (VmHWM; unlike ru_maxrss, reset by exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _du_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def make(n_chunks: int, out: Path) -> None:
    """Write a synthetic index of ``n_chunks`` chunks into ``out`` (the real file format)."""
    import faiss
    from tqdm import tqdm

    from rag.ingest.articles import Article, Paragraph, Part, segment
    from rag.ingest.chunks import Chunk, Sentence, sentences_of
    from rag.ingest.pages import read_pages
    from rag.ingest.tokenize import tokenize
    from rag.models.embed import load_embedder
    from rag.store.index import (
        SCHEMA_VERSION,
        _dense_index,
        _vector_file,
        dense_plan,
    )
    from rag.store.lexical import Postings
    from rag.store.tables import write_json, write_tables

    emb = load_embedder()
    seg = segment(read_pages(Path("seeds")))
    seed_sents = sorted({s.text for s in sentences_of(seg.articles)})
    seed_vecs = emb.encode_passages(seed_sents)
    tok_cache = [tokenize(s) for s in seed_sents]
    dim = emb.dim
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(0)
    nprng = np.random.default_rng(0)
    n_sent = n_chunks * SENTENCES_PER_CHUNK
    picks = np.array(
        [rng.sample(range(len(seed_sents)), SENTENCES_PER_CHUNK) for _ in range(n_chunks)],
        dtype=np.int32,
    )

    def unit(v: np.ndarray) -> np.ndarray:
        v = v + nprng.standard_normal(v.shape).astype(np.float32) * (0.5 / np.sqrt(dim))
        return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)

    t0 = time.perf_counter()
    cv = _vector_file(out / "chunk_vectors.npy", n_chunks, dim)
    sv = _vector_file(out / "sentence_vectors.npy", n_sent, dim)
    step = 50_000
    for a in tqdm(range(0, n_chunks, step), desc="vectors", unit="×50k"):
        p = picks[a : a + step]
        s = unit(seed_vecs[p.reshape(-1)]).reshape(len(p), SENTENCES_PER_CHUNK, dim)
        sv[a * SENTENCES_PER_CHUNK : (a + len(p)) * SENTENCES_PER_CHUNK] = s.reshape(-1, dim)
        cv[a : a + len(p)] = unit(s.mean(axis=1))
    cv.flush()
    sv.flush()

    chunks, sentences, articles, tokens = [], [], {}, []
    page_ids: list[str] = []
    for cid in tqdm(range(n_chunks), desc="chunks", unit="chunk", mininterval=2):
        art_no = cid // CHUNKS_PER_ARTICLE
        aid = f"syn:{art_no}"
        page = f"syn-p{art_no // ARTICLES_PER_PAGE}"
        if not page_ids or page_ids[-1] != page:
            page_ids.append(page)
        texts = [seed_sents[i] for i in picks[cid]]
        sids, pos = [], 0
        for t in texts:
            sentences.append(Sentence(len(sentences), aid, 0, page, t, pos, pos + len(t)))
            sids.append(len(sentences) - 1)
            pos += len(t)
        text = "".join(texts)
        chunks.append(Chunk(cid, aid, 0, page, text, 0, len(text), tuple(sids)))
        tokens.append([t for i in picks[cid] for t in tok_cache[i]])
        if aid not in articles:
            day = 1 + art_no % 28
            part = Part(page, (Paragraph(text, 0, len(text)),))
            date = f"2024-08-{day:02d}"
            articles[aid] = Article(
                aid, (part,), f"合成标题{art_no}", None, (), None, None, date, aid, True
            )
    write_tables(out, articles, chunks, sentences, page_ids)
    del chunks, sentences, articles
    write_json(
        out / "pages.json",
        [
            {
                "page_id": p,
                "file": f"{p}.txt",
                "sha256": "",
                "date": None,
                "edition": None,
                "number": None,
                "warnings": [],
            }
            for p in page_ids
        ],
    )
    write_json(out / "vector_keys.json", [])
    print(f"tables and vectors written in {time.perf_counter() - t0:.0f} s", flush=True)

    t1 = time.perf_counter()
    Postings.of(tokens).save(out)
    del tokens
    print(f"lexical postings written in {time.perf_counter() - t1:.0f} s", flush=True)

    t2 = time.perf_counter()
    plan = dense_plan(n_chunks, dim)
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    faiss.write_index(_dense_index(cv, plan), str(out / "chunks.faiss"))
    print(f"{plan['type']} built in {time.perf_counter() - t2:.0f} s", flush=True)
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "model": {"name": emb.name, "dimension": dim},
        "dense": plan,
        "counts": {"chunks": n_chunks, "sentences": n_sent},
        "synthetic": True,
    }
    write_json(out / "manifest.json", manifest)


def rebuild_dense(path: Path) -> None:
    """Rebuild ``chunks.faiss`` of an index made before, with today's :func:`dense_plan`."""
    import faiss

    from rag.store.index import _dense_index, _load_vectors, _read_json, dense_plan
    from rag.store.tables import write_json

    vectors = _load_vectors(path / "chunk_vectors.npy")
    manifest = _read_json(path / "manifest.json")
    plan = dense_plan(len(vectors), vectors.shape[1])
    if plan["type"] == manifest.get("dense", {}).get("type"):  # search settings only
        write_json(path / "manifest.json", {**manifest, "dense": plan})
        return
    t0 = time.perf_counter()
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    faiss.write_index(_dense_index(vectors, plan), str(path / "chunks.faiss"))
    print(f"{plan['type']} built in {time.perf_counter() - t0:.0f} s", flush=True)
    write_json(path / "manifest.json", {**manifest, "dense": plan})


def measure(path: Path) -> None:
    """Load ``path`` in this (fresh) process and print the serving figures."""
    from rag.evaluate import read_jsonl

    base = _rss_mb()
    t0 = time.perf_counter()
    from rag.qa.retrieve import get_runtime, retrieve_from

    rt = get_runtime(path)
    load_s = time.perf_counter() - t0
    after_load = _rss_mb()
    index = rt.index
    n = len(index.chunks)
    qa = Path("../shared/eval/qa_dev.jsonl")
    questions = [r["question"] for r in read_jsonl(qa)] if qa.is_file() else []
    questions += [index.sentences[i * 7919 % len(index.sentences)].text[:30] for i in range(40)]

    def timed(questions: list[str] = questions) -> list[float]:
        out = []
        for q in questions:
            t = time.perf_counter()
            retrieve_from(rt, q, 5)
            out.append((time.perf_counter() - t) * 1000)
        return sorted(out)

    def pct(times: list[float]) -> tuple[float, float]:
        return statistics.median(times), times[int(0.95 * (len(times) - 1))]

    # the first pass pages the graph and vectors in from disk; the later ones are steady state
    c50, c95 = pct(timed())
    p50, p95 = pct(sorted(timed() + timed() + timed()))
    # questions as readers ask them, apart from the corpus sentences (whose every word is
    # frequent in this synthetic corpus, so BM25 walks its longest postings)
    asked = questions[: len(questions) - 40]
    q50, q95 = pct(sorted(timed(asked) + timed(asked) + timed(asked))) if asked else (0.0, 0.0)
    serving = _rss_mb()
    peak = _rss_mb("VmHWM")

    # recall@10 of the dense stage (graph search, then the exact rerank if the graph is coded)
    import faiss

    from rag.qa.config import RetrievalConfig

    qv = rt.embedder.encode_queries(questions)
    found = []
    for v in qv:
        _, ids = index.dense.search(v.reshape(1, -1), RetrievalConfig().candidates)
        cand = [int(i) for i in ids[0] if i >= 0]
        if index.coded_vectors:
            cand = [cand[j] for j in np.argsort(-(index.chunk_vectors[cand] @ v), kind="stable")]
        found.append(cand[:10])
    exact = np.empty((len(qv), 10), dtype=np.int64)
    best = np.full((len(qv), 10), -np.inf, dtype=np.float32)
    step = 200_000
    for a in range(0, n, step):  # exact search in slices: the vectors stay memory-mapped
        block = np.asarray(index.chunk_vectors[a : a + step])
        scores = qv @ block.T
        top = np.argpartition(-scores, 10, axis=1)[:, :10]
        cand_s = np.concatenate([best, np.take_along_axis(scores, top, 1)], axis=1)
        cand_i = np.concatenate([exact, top + a], axis=1)
        order = np.argsort(-cand_s, axis=1)[:, :10]
        best = np.take_along_axis(cand_s, order, 1)
        exact = np.take_along_axis(cand_i, order, 1)
    recall = float(np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, exact, strict=True)]))
    del faiss

    from rag.ingest.tokenize import tokenize

    lex = []
    for q in questions[:28]:
        toks = tokenize(q)
        t = time.perf_counter()
        index.lexical.top(toks, 50, index.tie_rank)
        lex.append((time.perf_counter() - t) * 1000)
    print(
        json.dumps(
            {
                "machine": f"{platform.machine()}, {os.cpu_count()} cores",
                "chunks": n,
                "sentences": len(index.sentences),
                "dense": index.manifest.get("dense", {}).get("type"),
                "index_size_mb": round(_du_mb(path)),
                "load_s": round(load_s, 1),
                "rss_before_load_mb": round(base),
                "rss_after_load_mb": round(after_load),
                "rss_serving_mb": round(serving),
                "peak_rss_mb": round(peak),
                "retrieve_p50_ms": round(p50, 1),
                "retrieve_p95_ms": round(p95, 1),
                "questions_p50_ms": round(q50, 1),
                "questions_p95_ms": round(q95, 1),
                "first_pass_p50_ms": round(c50, 1),
                "first_pass_p95_ms": round(c95, 1),
                "recall_at_10": round(recall, 3),
                "lexical_p50_ms": round(statistics.median(lex), 1),
                "questions": len(questions),
            },
            ensure_ascii=False,
            indent=1,
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chunks", type=int, default=1_000_000)
    ap.add_argument("--dir", default="/tmp/million")
    ap.add_argument("--measure", action="store_true", help="only measure (in this process)")
    ap.add_argument(
        "--rebuild-dense", action="store_true", help="rebuild only the FAISS index (new plan)"
    )
    args = ap.parse_args()
    path = Path(args.dir)
    if args.measure:
        measure(path)
        return
    if not (path / "manifest.json").is_file():
        make(args.chunks, path)
    elif args.rebuild_dense:
        rebuild_dense(path)
    # a fresh process: its RSS is what a server holding this index would hold
    subprocess.run([sys.executable, __file__, "--dir", str(path), "--measure"], check=True)


if __name__ == "__main__":
    main()
