"""Build throughput: the full pipeline against bare ``SentenceTransformer.encode``, same texts.

Run: python benchmarks/bench_build.py [PAGES]   (prints figures; not a test)
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from rag.articles import segment
from rag.chunks import chunk_sentences, sentences_of
from rag.embed import load_embedder
from rag.index import build_index, embed_text_of
from rag.pages import read_pages


def main() -> None:
    pages = Path(sys.argv[1] if len(sys.argv) > 1 else "seeds")
    emb = load_embedder()
    seg = segment(read_pages(pages))
    arts = {a.article_id: a for a in seg.articles}
    sents = sentences_of(seg.articles)
    chunks = chunk_sentences(sents)
    texts = [embed_text_of(c, arts[c.article_id]) for c in chunks] + [s.text for s in sents]
    emb.encode_passages(texts[:8])  # warm up

    t0 = time.perf_counter()
    emb.model.encode(  # type: ignore[attr-defined]
        texts, prompt=emb.passage_prompt, batch_size=32, normalize_embeddings=True
    )
    bare = time.perf_counter() - t0

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        report = build_index(pages, Path(tmp) / "index", emb, full=True)
        full = time.perf_counter() - t0

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    print(f"texts: {len(texts)} ({len(chunks)} chunks + {len(sents)} sentences)")
    print(f"bare encode:    {bare:6.1f} s  {len(texts) / bare:6.1f} texts/s")
    print(
        f"full pipeline:  {full:6.1f} s  {report.embedded / full:6.1f} texts/s "
        "(read, clean, segment, chunk, embed, FAISS, BM25, write)"
    )
    print(f"pipeline / bare throughput: {bare / full:.2f}")


if __name__ == "__main__":
    main()
