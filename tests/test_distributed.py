"""Builds on Ray (``rag build --ray local``) give the index a single-process build gives."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from rag.evaluate import read_jsonl
from tests.conftest import ROOT, SEEDS, SHARED_EVAL, terminal_noise


@pytest.mark.slow
def test_ray_local_build_equals_single_process_build(seed_index, runtime, tmp_path):
    pytest.importorskip("ray", reason="install the ray extra: pip install -e .[ray]")
    ray_index = tmp_path / "ray-index"
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "rag",
            "build",
            str(SEEDS),
            "--index",
            str(ray_index),
            "--ray",
            "local",
            "--ray-actors",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=1200,
        cwd=ROOT,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    noise = terminal_noise(out.stderr)
    assert not noise, noise  # nothing but the progress bars (the summary is on stdout)
    for name in ("tables.json", "articles.meta.json", "vector_keys.json"):
        assert json.loads((ray_index / name).read_text()) == json.loads(
            (seed_index / name).read_text()
        )
    for name in ("chunks.text.utf8", "sentences.text.utf8", "articles.rows.utf8"):
        assert (ray_index / name).read_bytes() == (seed_index / name).read_bytes()
    for name in ("chunk_vectors.npy", "sentence_vectors.npy"):
        a, b = np.load(ray_index / name), np.load(seed_index / name)
        assert a.shape == b.shape and float((a * b).sum(1).min()) >= 0.999
    manifest = json.loads((ray_index / "manifest.json").read_text())
    assert manifest["model"] == json.loads((seed_index / "manifest.json").read_text())["model"]

    import rag

    qa = SHARED_EVAL / "qa_dev.jsonl"
    if qa.is_file():
        for row in read_jsonl(qa):
            a = rag.answer(row["question"], index_dir=seed_index)
            b = rag.answer(row["question"], index_dir=ray_index)
            assert (a.found, a.text, a.citations[0].chunk_id) == (
                b.found,
                b.text,
                b.citations[0].chunk_id,
            ), row["question"]
