"""Columnar tables of the index (rag.store.tables) and the FAISS structure chosen by size."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from rag.errors import IndexMismatchError
from rag.ingest.articles import segment
from rag.ingest.chunks import chunk_sentences, sentences_of
from rag.ingest.pages import read_pages
from rag.store.index import SQ8_THRESHOLD, _dense_index, dense_plan, load_index
from rag.store.tables import ArticleTable, ChunkTable, SentenceTable
from tests.conftest import SEEDS


@pytest.fixture(scope="module")
def parts():
    pages = read_pages(SEEDS)
    seg = segment(pages)
    sentences = sentences_of(seg.articles)
    return pages, seg.articles, sentences, chunk_sentences(sentences)


def test_tables_round_trip_the_real_seeds(parts, tmp_path):
    pages, articles, sentences, chunks = parts
    by_id = {a.article_id: a for a in articles}
    ids, page_ids = list(by_id), [p.page_id for p in pages]
    ChunkTable.of(chunks, ids, page_ids).save(tmp_path)
    SentenceTable.of(sentences, ids, page_ids).save(tmp_path)
    ArticleTable.of(articles, sentences).save(tmp_path)
    c = ChunkTable.load(tmp_path, ids, page_ids)
    s = SentenceTable.load(tmp_path, ids, page_ids)
    a = ArticleTable.load(tmp_path)
    assert list(c) == chunks and list(s) == sentences
    assert c[-1] == chunks[-1] and s[3:5] == sentences[3:5]
    assert dict(a) == by_id and a.date_of(articles[0].article_id) == articles[0].date
    with pytest.raises(IndexError):
        c[len(chunks)]
    with pytest.raises(KeyError):
        a["no such article"]
    # sentences of each article are one consecutive range, in reading order
    ranges = s.article_ranges()
    for art in articles:
        r = ranges[art.article_id]
        assert {x.article_id for x in s[r.start : r.stop]} == {art.article_id}


def test_index_texts_stay_on_disk(seed_index):
    index = load_index(seed_index)
    assert isinstance(index.chunks.text.blob, np.memmap)
    assert isinstance(index.sentences.text.blob, np.memmap)
    first = index.chunks[0]
    assert index.chunk_article[0] == first.article_id
    assert index.sentence_chunk[first.sentence_ids[0]] == 0


def test_damaged_table_is_refused_with_the_fix(seed_index, tmp_path):
    copy = tmp_path / "idx"
    shutil.copytree(seed_index, copy)
    blob = copy / "sentences.text.utf8"
    blob.write_bytes(blob.read_bytes()[:-10])  # a half-written file
    with pytest.raises(IndexMismatchError, match=r"rag build .* --full"):
        load_index(copy)


def test_structure_is_chosen_by_size_and_explained():
    assert dense_plan(1_000, 384)["type"] == "flat-ip"
    assert dense_plan(1_000_000, 384)["type"] == "hnsw"
    big = dense_plan(SQ8_THRESHOLD + 1, 384)
    assert big["type"] == "hnsw-sq8" and "memory" in big["reason"]


def test_sq8_graph_finds_the_exact_neighbours():
    import faiss

    rng = np.random.default_rng(0)
    centres = rng.standard_normal((50, 64)).astype(np.float32)
    noise = rng.standard_normal((5000, 64)).astype(np.float32)
    x = centres[rng.integers(0, 50, 5000)] + 0.3 * noise
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    q = x[:50] + 0.05 * rng.standard_normal((50, 64)).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    exact = faiss.IndexFlatIP(64)
    exact.add(x)
    _, truth = exact.search(q, 10)
    sq8 = _dense_index(x, dense_plan(SQ8_THRESHOLD + 1, 64))
    _, found = sq8.search(q, 40)
    # the rerank in retrieval re-scores these candidates with the exact vectors
    rescored = [c[np.argsort(-(x[c] @ v))][:10] for c, v in zip(found, q, strict=True)]
    recall = np.mean([len(set(a) & set(t)) / 10 for a, t in zip(rescored, truth, strict=True)])
    assert recall >= 0.95
