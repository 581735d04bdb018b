"""Ray build throughput against the single-process build, on this machine.

Embeds the same texts (every chunk and sentence of the seeds, repeated ``--repeat`` times with a
counter so no two are equal) once in this process and once through a Ray Data actor pool on a
local Ray runtime (``--ray-actors`` actors, one core each), and prints texts/s of both and their
ratio. The Ray figure includes the actors' start and model load, not ``ray.init`` (a cluster is
normally running already). Run on an idle machine: both use every core.

Run: python benchmarks/bench_ray.py [--repeat 10] [--ray-actors 2]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np

from rag.ingest.articles import segment
from rag.ingest.chunks import chunk_sentences, sentences_of
from rag.ingest.pages import read_pages
from rag.models.embed import load_embedder
from rag.store.distributed import RayEmbedder, connect
from rag.store.index import embed_text_of


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--ray-actors", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=64)
    args = ap.parse_args()
    seg = segment(read_pages(Path("seeds")))
    arts = {a.article_id: a for a in seg.articles}
    sents = sentences_of(seg.articles)
    base = [embed_text_of(c, arts[c.article_id]) for c in chunk_sentences(sents)]
    base += [s.text for s in sents]
    texts = [f"{t}（{r}）" for r in range(args.repeat) for t in base]

    local = load_embedder()
    local.encode_passages(texts[:8])  # warm up
    t0 = time.perf_counter()
    a = local.encode_passages(texts)
    local_s = time.perf_counter() - t0

    connect("local")
    ray_emb = RayEmbedder(local, "local", actors=args.ray_actors, batch_size=args.batch_size)
    t0 = time.perf_counter()
    b = ray_emb.encode_passages(texts)
    ray_s = time.perf_counter() - t0
    cos = float(np.sum(a * b, axis=1).min())

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; {len(texts)} texts")
    print(f"single process: {len(texts) / local_s:6.1f} texts/s ({local_s:.1f} s)")
    print(
        f"Ray, {args.ray_actors} actors:  {len(texts) / ray_s:6.1f} texts/s ({ray_s:.1f} s, "
        "actor start and model load included)"
    )
    print(f"Ray / single-process throughput: {local_s / ray_s:.2f}; lowest cosine {cos:.5f}")


if __name__ == "__main__":
    main()
