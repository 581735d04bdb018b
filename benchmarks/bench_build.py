"""Build throughput: the full pipeline against bare ``SentenceTransformer.encode``, same texts.

Run: python benchmarks/bench_build.py [PAGES] [--rounds 3]   (prints figures; not a test)
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

from rag.ingest.articles import segment
from rag.ingest.chunks import chunk_sentences, sentences_of
from rag.ingest.pages import read_pages
from rag.models.embed import load_embedder
from rag.store.index import build_index, embed_text_of


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("pages", nargs="?", default="seeds")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    pages = Path(args.pages)
    emb = load_embedder()
    seg = segment(read_pages(pages))
    arts = {a.article_id: a for a in seg.articles}
    sents = sentences_of(seg.articles)
    chunks = chunk_sentences(sents)
    texts = [embed_text_of(c, arts[c.article_id]) for c in chunks] + [s.text for s in sents]
    emb.encode_passages(texts[:8])  # warm up

    # Alternate the two measurements and keep each one's best: this machine's timings drift
    # by tens of percent between runs, and the best of three is the least disturbed figure.
    bares, fulls = [], []
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        emb.encode_passages(texts)  # the same engine a build uses, without the pipeline
        bares.append(time.perf_counter() - t0)
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            report = build_index(pages, Path(tmp) / "index", emb, full=True)
            fulls.append(time.perf_counter() - t0)
    bare, full = min(bares), min(fulls)

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    print(f"texts: {len(texts)} ({len(chunks)} chunks + {len(sents)} sentences)")
    print(f"bare encode:    {bare:6.1f} s  {len(texts) / bare:6.1f} texts/s")
    print(
        f"full pipeline:  {full:6.1f} s  {report.embedded / full:6.1f} texts/s "
        "(read, clean, segment, chunk, embed, FAISS, BM25, write)"
    )
    print(f"pipeline / bare throughput: {bare / full:.2f} (best of {args.rounds} each)")


if __name__ == "__main__":
    main()
