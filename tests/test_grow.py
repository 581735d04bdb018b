"""An index that grows (#30): a day's pages added, pages replaced and removed, segments merged,
with every answer and score equal to a full build of the same pages; one writer at a time; a
kill at any moment leaves an index that answers."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, SEEDS, SHARED_EVAL

pytestmark = pytest.mark.slow


def _questions(index: Path) -> list[str]:
    """The dev questions where they exist, and questions made of the archive's own sentences."""
    from rag.evaluate import read_jsonl
    from rag.store.index import load_index

    out = []
    qa = SHARED_EVAL / "qa_dev.jsonl"
    if qa.is_file():
        out += [r["question"] for r in read_jsonl(qa)]
    idx = load_index(index)
    out += [idx.sentences[i].text[:24] for i in range(0, len(idx.sentences), 17)]
    return out


def _seen(index: Path, questions: list[str]) -> list[tuple]:
    """Everything a reader sees of the answers and passages (not the internal chunk ids)."""
    import rag

    out = []
    for q in questions:
        a = rag.answer(q, index_dir=index)
        out.append(
            (
                a.text,
                a.found,
                a.score,
                a.sentence,
                tuple(
                    (
                        c.passage.page,
                        c.passage.title,
                        c.passage.article_id,
                        c.answer_start,
                        c.answer_end,
                    )
                    for c in a.citations
                ),
            )
        )
        for h in rag.retrieve(q, k=8, index_dir=index):
            out.append((h.text, h.page, h.headline, h.score, h.article_id, h.start, h.end))
    return out


def _issues() -> list[list[Path]]:
    """The seed pages grouped by issue (date and edition), in the order of their first page."""
    from rag.ingest.articles import issue_key
    from rag.ingest.pages import read_pages

    groups: dict[tuple, list[Path]] = {}
    for page in read_pages(SEEDS):
        groups.setdefault(issue_key(page), []).append(Path(page.path))
    return list(groups.values())


@pytest.fixture(scope="module")
def grown(tmp_path_factory, embedder):
    """The seeds built issue by issue: the first issue built, the others added one by one."""
    from rag.store.grow import add_pages
    from rag.store.index import build_index

    root = tmp_path_factory.mktemp("grown")
    pages, idx = root / "pages", root / "idx"
    pages.mkdir()
    issues = _issues()
    assert len(issues) >= 3
    for f in issues[0]:
        shutil.copy(f, pages)
    build_index(pages, idx, embedder)
    reports = []
    for issue in issues[1:]:
        for f in issue:
            shutil.copy(f, pages)
        reports.append(add_pages([pages / f.name for f in issue], idx, embedder))
    return pages, idx, reports


def test_seeds_added_issue_by_issue_answer_as_a_full_build(grown, seed_index, embedder):
    from rag.store.index import load_index

    _pages, idx, reports = grown
    assert [r.generation for r in reports] == list(range(1, len(reports) + 1))
    assert all(r.segment and not r.reread for r in reports)
    manifest = json.loads((idx / "manifest.json").read_text())
    full = json.loads((seed_index / "manifest.json").read_text())
    assert manifest["counts"] == full["counts"]
    assert manifest["corpus_fingerprint"] == full["corpus_fingerprint"]
    assert len(manifest["segments"]) == len(reports) + 1
    assert set(load_index(idx).pages) == set(load_index(seed_index).pages)
    questions = _questions(seed_index)
    assert _seen(idx, questions) == _seen(seed_index, questions)


def test_a_replaced_page_is_read_again_with_its_issue_and_answers_as_a_full_build(
    grown, embedder, tmp_path
):
    from rag.store.grow import add_pages
    from rag.store.index import build_index, load_index

    pages, idx, _ = grown
    work, work_idx = tmp_path / "pages", tmp_path / "idx"
    shutil.copytree(pages, work)
    shutil.copytree(idx, work_idx)
    issue = max(_issues(), key=len)  # an issue of several pages: its mates are read again
    changed = work / issue[-1].name
    changed.write_text(
        changed.read_text(encoding="utf-8") + "\n本报讯 区里新建的海洋科技馆将于明年五月开馆。\n",
        encoding="utf-8",
    )
    report = add_pages([changed], work_idx, embedder)
    assert report.replaced == [changed.stem]
    assert report.reread == sorted(p.stem for p in issue[:-1])
    assert report.reused > 0  # the unchanged texts of the issue keep their vectors
    full = tmp_path / "full"
    build_index(work, full, embedder)
    questions = [*_questions(full), "海洋科技馆什么时候开馆？"]
    assert _seen(work_idx, questions) == _seen(full, questions)

    # a removed page takes its articles with it; its issue is segmented again without it
    gone = issue[0].stem
    report = add_pages([], work_idx, embedder, remove=[gone])
    assert report.removed == [gone]
    (work / issue[0].name).unlink()
    build_index(work, full, embedder)
    assert gone not in load_index(work_idx).pages
    assert not any(a.startswith(gone + ":") for a in load_index(work_idx).articles)
    assert _seen(work_idx, questions) == _seen(full, questions)

    # merging drops the deleted rows and keeps every answer
    from rag.store.grow import merge_index

    merge_index(work_idx)
    manifest = json.loads((work_idx / "manifest.json").read_text())
    assert manifest["segments"] == [{"name": "."}]
    assert not (work_idx / "segments").exists()
    assert _seen(work_idx, questions) == _seen(full, questions)
    # the merged index keeps the text hashes: a build of the folder embeds nothing again
    assert build_index(work, work_idx, embedder).embedded == 0


def test_a_running_runtime_sees_added_pages_without_a_restart(embedder, tmp_path):
    import rag
    from rag.qa.retrieve import get_runtime
    from rag.store.grow import add_pages
    from rag.store.index import build_index

    issues = _issues()
    pages, idx = tmp_path / "pages", tmp_path / "idx"
    pages.mkdir()
    for f in issues[0]:
        shutil.copy(f, pages)
    build_index(pages, idx, embedder)
    first = get_runtime(idx, embedder)
    from ui.__main__ import _PageLabels

    labels = _PageLabels(idx)  # how the chat page names pages
    assert set(labels) == {f.stem for f in issues[0]}
    late = issues[-1]
    for f in late:
        shutil.copy(f, pages)
    add_pages([pages / f.name for f in late], idx, embedder)
    now = get_runtime(idx)
    assert now is not first and now.embedder is first.embedder  # reloaded, model kept
    assert {f.stem for f in late} <= set(now.index.pages)
    hits = rag.retrieve(now.index.sentences[len(now.index.sentences) - 1].text, index_dir=idx)
    assert hits[0].page in {f.stem for f in late}
    assert get_runtime(idx) is now  # nothing changed: nothing loaded again
    assert {f.stem for f in late} <= set(labels)  # the page being served names them too


def test_add_refuses_bad_input_and_keeps_the_index(grown, embedder, tmp_path):
    from rag.store.grow import add_pages

    _, idx, _ = grown
    before = (idx / "manifest.json").read_text()
    with pytest.raises(ValueError, match="no such page file"):
        add_pages([tmp_path / "missing.txt"], idx, embedder)
    with pytest.raises(ValueError, match="no page nothing-here in the index"):
        add_pages([], idx, embedder, remove=["nothing-here"])
    assert (idx / "manifest.json").read_text() == before


def test_a_second_writer_gets_a_clear_error(grown, tmp_path):
    from rag.store.index import write_lock

    pages, idx, _ = grown
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    page = sorted(pages.iterdir())[0]
    with write_lock(idx):
        out = subprocess.run(
            [sys.executable, "-m", "rag", "add", str(page), "--index", str(idx)],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
            check=False,
        )
        built = subprocess.run(
            [sys.executable, "-m", "rag", "build", str(pages), "--index", str(idx)],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
            check=False,
        )
    for proc in (out, built):
        assert proc.returncode == 2
        assert f"being written by another process (pid {os.getpid()})" in proc.stderr


def test_kill_during_add_leaves_an_index_that_answers(grown, embedder, tmp_path):
    """``rag add`` killed at several moments: the index answers, as before or as after, and
    the next add clears what the dead one left."""
    import rag
    from rag.store.grow import add_pages
    from rag.store.index import load_index

    pages, idx, _ = grown
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    issue = max(_issues(), key=len)
    work = tmp_path / "idx"
    shutil.copytree(idx, work)
    counts = json.loads((work / "manifest.json").read_text())["counts"]
    for delay in (0.5, 2.0, 4.0, 6.0, 9.0):
        target = pages / issue[0].name
        proc = subprocess.Popen(
            [sys.executable, "-m", "rag", "add", str(target), "--index", str(work)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        manifest = json.loads((work / "manifest.json").read_text())
        assert manifest["counts"] == counts  # the same pages, before or after the add
        index = load_index(work)
        assert len(index.chunks) == counts["chunks"]
        assert rag.answer("青岛自贸片区力争在什么时候完成全年目标？", index_dir=work).found
    report = add_pages([pages / issue[0].name], work, embedder)
    assert report.replaced == [issue[0].stem]
    named = {e["name"] for e in json.loads((work / "manifest.json").read_text())["segments"]}
    on_disk = {f"segments/{p.name}" for p in (work / "segments").iterdir()}
    assert on_disk == named - {"."}


def test_rag_build_grows_when_few_pages_changed(embedder, tmp_path):
    """A folder of several issues where one page changed: ``rag build`` adds that issue only."""
    from rag.store.grow import build_or_grow
    from rag.store.index import build_index

    pages = tmp_path / "pages"
    pages.mkdir()
    meta = {}
    for edition in ("甲", "乙", "丙"):  # three editions of the seeds: nine issues, 15 pages
        for f in sorted(SEEDS.glob("*.txt")):
            name = f"{edition}{f.name}"
            shutil.copy(f, pages / name)
            meta[Path(name).stem] = {"edition": edition}
    (pages / "pages.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    idx = tmp_path / "idx"
    build_index(pages, idx, embedder)
    again = build_or_grow(pages, idx, embedder)
    assert again.__class__.__name__ == "GrowReport" and again.segment is None  # nothing to do
    changed = sorted(pages.glob("乙*.txt"))[2]
    changed.write_text(changed.read_text(encoding="utf-8") + "\n本报讯 新的一句。\n", "utf-8")
    report = build_or_grow(pages, idx, embedder)
    assert report.__class__.__name__ == "GrowReport"
    assert report.replaced == [changed.stem] and report.segment
    full = tmp_path / "full"
    build_index(pages, full, embedder)
    questions = _questions(full)[:12]
    assert _seen(idx, questions) == _seen(full, questions)


def test_lexical_weights_over_segments_equal_one_segment_of_the_same_documents():
    import random

    import numpy as np

    from rag.store.lexical import Lexical, Postings

    rng = random.Random(3)
    words = [f"词{i}" for i in range(40)]
    docs = [[rng.choice(words) for _ in range(rng.randint(1, 30))] for _ in range(300)]
    dead = set(rng.sample(range(200), 25))  # deleted documents of the first segment
    live = [d for i, d in enumerate(docs) if i not in dead]
    whole = Lexical([(Postings.of(live), None, 0)])
    rows = np.full(200, -1, dtype=np.int64)
    kept = [i for i in range(200) if i not in dead]
    rows[kept] = np.arange(len(kept))
    parts = [(Postings.of(docs[:200]), rows, 0), (Postings.of(docs[200:]), None, len(kept))]
    split = Lexical(parts)
    merged = Lexical([(Postings.merged(parts), None, 0)])
    assert split.n == whole.n == merged.n == len(live)
    for _ in range(30):
        query = [rng.choice(words) for _ in range(rng.randint(1, 5))]
        a, b, c = whole.scores(query), split.scores(query), merged.scores(query)
        assert np.array_equal(a, b) and np.array_equal(a, c)
        assert whole.top(query, 7) == split.top(query, 7) == merged.top(query, 7)
        assert all(whole.df(t) == split.df(t) for t in query)
