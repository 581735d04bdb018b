"""Fusion, query validation, the real hybrid retriever on the seeds, and the index on disk."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

import rag
from rag.errors import IndexMismatchError, IndexMissingError
from rag.ingest.tokenize import tokenize
from rag.qa.query import clean_query
from rag.qa.retrieve import diversify, reciprocal_rank_fusion


def test_rrf_matches_hand_computation():
    scores = reciprocal_rank_fusion([[7, 3], [3, 9]], k=60)
    assert scores[3] == pytest.approx(1 / 62 + 1 / 61)
    assert scores[7] == pytest.approx(1 / 61)
    assert scores[9] == pytest.approx(1 / 62)


def test_diversify_spreads_articles():
    assert diversify([0, 1, 2, 3], ["a", "a", "b", "a"], 3) == [0, 2, 1]
    assert diversify([0, 1], ["a", "a"], 2) == [0, 1]


def test_numbers_are_tokens():
    toks = tokenize("总投资3.2亿元，增长30%以上")
    assert "3.2亿元" in toks and "30%" in toks


@pytest.mark.parametrize("bad", ["", "   ", "？！。，", "x" * 100_000, "\x00\x01"])
def test_bad_queries_raise_value_error(bad):
    with pytest.raises(ValueError):
        clean_query(bad)


def test_control_characters_are_stripped():
    assert clean_query("青岛\x00海事\u200b法院") == "青岛 海事 法院"


@pytest.mark.slow
def test_words_of_one_article_retrieve_it_first(seed_index, runtime):
    hits = rag.retrieve("新业态新就业群体综合团委揭牌成立", 5, index_dir=seed_index)
    assert "团委" in (hits[0].headline or "")
    assert len({h.article_id for h in hits}) == len(hits)  # one passage per article first


@pytest.mark.slow
def test_paraphrase_finds_article_by_meaning(seed_index, runtime):
    hits = rag.retrieve("出口到非洲的国产卡车", 3, index_dir=seed_index)
    assert any("商用车" in h.text for h in hits[:2])


@pytest.mark.slow
def test_numbers_are_findable(seed_index, runtime):
    hits = rag.retrieve("1209亿元", 3, index_dir=seed_index)
    assert "1209亿元" in hits[0].text


@pytest.mark.slow
def test_continuation_text_comes_with_its_articles_headline(seed_index, runtime):
    hits = rag.retrieve("茶产业高质量发展 改良茶树品种", 3, index_dir=seed_index)
    top = hits[0]
    assert "茶树" in top.text
    assert len(top.pages) == 2 and top.page == top.pages[1]
    assert top.headline and "常务会议" in top.headline


@pytest.mark.slow
def test_public_retrieve_and_missing_index(seed_index, tmp_path):
    import rag

    hits = rag.retrieve("青岛海事法院", k=3, index_dir=seed_index)
    assert hits and {"text", "page", "pages", "headline", "label", "article_id", "score"} <= set(
        hits[0].__dataclass_fields__
    )
    with pytest.raises(IndexMissingError, match="rag build"):
        rag.retrieve("测试", index_dir=tmp_path / "none")


@pytest.mark.slow
def test_model_and_schema_mismatch_refused(seed_index, tmp_path):
    import shutil

    from rag.store.index import load_index

    copy = tmp_path / "idx"
    shutil.copytree(seed_index, copy)
    with pytest.raises(
        IndexMismatchError, match=r"rebuild with: rag build .* --full --model other"
    ):
        load_index(copy, model_name="other")
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["schema_version"] = 999
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexMismatchError, match="schema 999"):
        load_index(copy)


@pytest.mark.slow
def test_incremental_rebuild_reuses_vectors_and_drops_removed_pages(embedder, seed_index, tmp_path):
    import shutil

    from rag.store.index import build_index, load_index
    from tests.conftest import SEEDS

    pages = tmp_path / "pages"
    shutil.copytree(SEEDS, pages)
    idx = tmp_path / "idx"
    shutil.copytree(seed_index, idx)
    removed = sorted(pages.glob("*.txt"))[-1]
    removed.unlink()
    report = build_index(pages, idx, embedder)
    assert report.embedded == 0 and report.reused > 0
    assert removed.stem not in load_index(idx).pages


@pytest.mark.slow
def test_interrupted_build_leaves_previous_index(seed_index, embedder, tmp_path):
    import shutil

    from rag.store.index import load_index
    from tests.conftest import ROOT, SEEDS

    idx = tmp_path / "idx"
    shutil.copytree(seed_index, idx)
    before = (idx / "manifest.json").read_text()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "rag", "build", str(SEEDS), "--index", str(idx), "--full"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    # the staging directory exists from the start; the build then embeds for many seconds
    deadline = time.time() + 120
    while time.time() < deadline and not list(tmp_path.glob(".idx.building-*")):
        time.sleep(0.1)
    time.sleep(1.0)
    assert proc.poll() is None, "the build finished before it could be interrupted"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (idx / "manifest.json").read_text() == before
    assert len(load_index(idx).chunks) > 0
    # the next build clears the dead build's staging directory
    from rag.store.index import build_index

    build_index(SEEDS, idx, embedder)
    assert not list(tmp_path.glob(".idx.building-*"))


@pytest.mark.slow
def test_build_prints_progress_and_summary_only_and_never_loads_torch(tmp_path):
    from tests.conftest import ROOT, SEEDS, terminal_noise

    code = (
        "import sys; from rag.cli import main; rc = main(sys.argv[1:]); "
        "print('torch loaded' if 'torch' in sys.modules else 'no torch'); sys.exit(rc)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, "build", str(SEEDS), "--index", str(tmp_path / "i")],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    noise = terminal_noise(out.stderr)
    assert not noise, noise  # nothing but the progress bars (the summary is on stdout)
    assert "page/s" not in out.stderr  # counts known at once are the summary's, not bars
    lines = out.stdout.splitlines()
    assert lines[0].startswith("index: ") and lines[1].startswith("pages: 5")
    assert any(line.startswith("dense index: flat-ip (") for line in lines)  # which, and why
    assert lines[-1] == "no torch"
    # the retrieval settings the index is meant to be searched with are recorded, and read back
    manifest = json.loads((tmp_path / "i" / "manifest.json").read_text(encoding="utf-8"))
    from rag.qa.config import RetrievalConfig

    assert RetrievalConfig.from_dict(manifest["settings"]["retrieval"]) == RetrievalConfig()
