"""The reader's torch side: build the QA model, pack what training changed, export to ONNX.

A reader is a Hugging Face ``*ForQuestionAnswering`` model (encoder + a start/end head). The
packaged one is the default embedding model's encoder fine-tuned on public Chinese reading
comprehension data; only the weights training changed ship (encoder layers and head, int8 with
one scale per row; the 96 MB embedding matrix stays frozen and comes from the base model).

``python -m rag.models.reader_model --packaged --out DIR`` (or ``--model HF_QA_DIR``) writes an
ONNX export that :class:`rag.models.reader.OnnxReader` loads;
:func:`rag.models.reader.load_reader` runs it in a child process once, so
answering never imports torch.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

from rag.errors import ModelError

log = logging.getLogger(__name__)
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def quiet_transformers() -> None:
    """Route transformers' load reports and warnings to debug logging."""
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    warnings.filterwarnings("ignore", module="transformers")


def base_qa_model(base_dir: Path):  # type: ignore[no-untyped-def]
    """A ``BertForQuestionAnswering`` on the base encoder's weights, a fresh span head."""
    from transformers import BertForQuestionAnswering

    quiet_transformers()
    model = BertForQuestionAnswering.from_pretrained(str(base_dir), num_labels=2)
    return model.float()


def trainable_names(model) -> list[str]:  # type: ignore[no-untyped-def]
    """Parameters that training changes: everything but the embeddings."""
    return [n for n, _ in model.named_parameters() if ".embeddings." not in f".{n}"]


def freeze_embeddings(model) -> None:  # type: ignore[no-untyped-def]
    """Freeze the embedding tables (most of the parameters; they need not learn)."""
    for n, p in model.named_parameters():
        p.requires_grad = n in set(trainable_names(model))


def pack_delta(model) -> dict[str, np.ndarray]:  # type: ignore[no-untyped-def]
    """What training changed, small: matrices int8 with a float32 scale per row, vectors fp16."""
    state = model.state_dict()
    out: dict[str, np.ndarray] = {}
    for name in trainable_names(model):
        w = state[name].detach().float().cpu().numpy()
        if w.ndim == 2:
            scale = np.abs(w).max(axis=1) / 127.0
            scale[scale == 0] = 1.0
            out[name + ".int8"] = np.clip(np.round(w / scale[:, None]), -127, 127).astype(np.int8)
            out[name + ".scale"] = scale.astype(np.float32)
        else:
            out[name + ".fp16"] = w.astype(np.float16)
    return out


def unpack_delta(packed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Float32 weights from :func:`pack_delta`'s arrays."""
    out: dict[str, np.ndarray] = {}
    for key, arr in packed.items():
        if key.endswith(".int8"):
            name = key[: -len(".int8")]
            out[name] = arr.astype(np.float32) * packed[name + ".scale"][:, None]
        elif key.endswith(".fp16"):
            out[key[: -len(".fp16")]] = arr.astype(np.float32)
    return out


def apply_delta(model, weights: dict[str, np.ndarray]) -> None:  # type: ignore[no-untyped-def]
    """Load unpacked delta weights into ``model``; every trainable parameter must be given."""
    import torch

    names = set(trainable_names(model))
    missing = names - set(weights)
    unknown = set(weights) - names
    if missing or unknown:
        raise ModelError(
            f"reader weights do not fit the base model (missing {sorted(missing)[:3]}, "
            f"unknown {sorted(unknown)[:3]})"
        )
    state = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in weights.items()}
    model.load_state_dict(state, strict=False)


def packaged_model(directory: Path | None = None):  # type: ignore[no-untyped-def]
    """A packed reader as a torch model (base encoder + delta): the shipped one, or the one
    ``rag train-reader --out`` wrote into ``directory``."""
    from safetensors.numpy import load_file

    from rag.models.embed import materialise_default_model
    from rag.models.reader import packaged_reader

    weights, _ = packaged_reader(directory)
    base_dir = materialise_default_model()
    model = base_qa_model(base_dir)
    apply_delta(model, unpack_delta(load_file(str(weights))))
    return model.eval(), base_dir


def export(model, tokenizer_dir: Path, out: Path, extra: dict | None = None) -> Path:  # type: ignore[no-untyped-def]
    """Export a QA model to ``out/reader.onnx`` (and ``reader.int8.onnx``) with its tokenizer.

    Inputs are int64 ``input_ids``, ``attention_mask`` (and ``token_type_ids`` when the model
    takes them), each (batch, tokens); outputs ``start_logits`` and ``end_logits``.
    Written in a staging directory and renamed, so a killed export leaves nothing half-done.
    """
    import inspect

    import torch

    from rag.models.files import load_tokenizer, pad_id_of
    from rag.models.reader import INT8_NAME, ONNX_NAME, batch_arrays, windows

    model = model.eval()
    takes_types = "token_type_ids" in inspect.signature(model.forward).parameters
    names = ["input_ids", "attention_mask"] + (["token_type_ids"] if takes_types else [])

    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".reader-staging-", dir=out.parent))
    try:
        for f in TOKENIZER_FILES:
            if (tokenizer_dir / f).is_file():
                shutil.copy2(tokenizer_dir / f, staging / f)
        tok = load_tokenizer(staging)
        sample = windows(
            tok, "问题是什么？", ["这是一段用来导出模型的文字，其中有答案。" * 3, "短文"]
        )
        feed = batch_arrays(sample, pad_id_of(tok))
        feed = {n: feed[n] for n in names}
        wrapped = _logits_of(model, names).eval()  # export restores the wrapper's mode
        with torch.no_grad():
            ref = [t.numpy() for t in wrapped(*(torch.from_numpy(feed[n]) for n in names))]
        _trace(wrapped, feed, staging / ONNX_NAME)
        exact, _ = _drift(staging / ONNX_NAME, feed, ref)
        if exact > 1e-2:
            raise ModelError(f"ONNX reader disagrees with torch (max logit difference {exact})")
        _quantise(staging / ONNX_NAME, staging / INT8_NAME)
        int8_diff, int8_corr = _drift(staging / INT8_NAME, feed, ref)
        marker = {
            "inputs": names,
            "max_logit_difference_float": exact,
            "int8": {"graph": INT8_NAME, "max_logit_difference": int8_diff, "corr": int8_corr},
            **(extra or {}),
        }
        (staging / "export.json").write_text(json.dumps(marker, indent=2), encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        os.replace(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def _logits_of(model, names: list[str]):  # type: ignore[no-untyped-def]
    """The model as ``(*inputs) -> (start_logits, end_logits)``, positional as ONNX wants."""
    import torch

    class Logits(torch.nn.Module):
        def __init__(self, m: torch.nn.Module) -> None:
            super().__init__()
            self.m = m

        def forward(self, *args: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            o = self.m(**dict(zip(names, args, strict=True)))
            return o.start_logits, o.end_logits

    return Logits(model)


def _trace(wrapped, feed: dict[str, np.ndarray], path: Path) -> None:  # type: ignore[no-untyped-def]
    """Trace ``wrapped`` on ``feed`` into ``path``, its weights in a file beside the graph
    (memory-mapped by ONNX Runtime: a serving process pages in only the rows it uses)."""
    import torch

    from rag.models.files import save_with_external_weights

    names = list(feed)
    inline = path.with_name("inline.onnx")
    axes = {n: {0: "batch", 1: "tokens"} for n in [*names, "start_logits", "end_logits"]}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings about shape-dependent branches
        torch.onnx.export(
            wrapped,
            tuple(torch.from_numpy(feed[n]) for n in names),
            str(inline),
            input_names=names,
            output_names=["start_logits", "end_logits"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
    save_with_external_weights(inline, path)


def _drift(path: Path, feed: dict[str, np.ndarray], ref: list[np.ndarray]) -> tuple[float, float]:
    """Max logit difference of the graph at ``path`` from torch's ``ref``, and the lowest
    correlation of its logits with them (real tokens only)."""
    import onnxruntime as ort

    mask = feed["attention_mask"].astype(bool)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = [np.zeros_like(r) for r in ref]
    for row in range(len(mask)):  # one window at a time, as the reader reads an int8 graph
        n = int(mask[row].sum())
        one = {k: v[row : row + 1, :n] for k, v in feed.items()}
        for g, o in zip(got, sess.run(["start_logits", "end_logits"], one), strict=True):
            g[row, :n] = o[0]
    diff = max(float(np.abs(g - r)[mask].max()) for g, r in zip(got, ref, strict=True))
    corr = min(float(np.corrcoef(g[mask], r[mask])[0, 1]) for g, r in zip(got, ref, strict=True))
    return diff, corr


def _quantise(source: Path, target: Path) -> None:
    """int8 matrix products whose integer sums are exact on every CPU.

    Dynamic quantisation, one weight scale per output channel, weights in 7 bits
    (``reduce_range``): x86 without VNNI multiplies uint8 activations by int8 weights in pairs
    summed in 16 bits (``vpmaddubsw``), which saturate above 32767; with |w| <= 64 a pair sums
    to at most 255 * 64 * 2 = 32640, so every CPU (VNNI, AVX2, AVX-512, ARM) computes the same
    integers (``benchmarks/reader_numerics.py`` checks it under valgrind's AVX2 CPU).
    Activation scales are per tensor: :class:`rag.models.reader.OnnxReader` runs the graph on
    one window at a time, so a window's scale is its own, whatever else is read with it."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quiet = logging.getLogger()  # the quantiser logs a pre-processing hint at warning level
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        quantize_dynamic(
            str(source),
            str(target),
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["MatMul"],
            per_channel=True,
            reduce_range=True,
            use_external_data_format=True,
        )
    finally:
        quiet.setLevel(level)


def hf_qa_model(path: Path):  # type: ignore[no-untyped-def]
    """Any Hugging Face extractive-QA model directory, loaded offline."""
    from transformers import AutoModelForQuestionAnswering

    quiet_transformers()
    try:
        return AutoModelForQuestionAnswering.from_pretrained(str(path), local_files_only=True)
    except Exception as exc:  # many kinds; all mean "not a loadable QA model"
        raise ModelError(f"{path} is not a loadable extractive-QA model: {exc}") from exc


def main(argv: list[str] | None = None) -> int:
    """Export a reader to ONNX (run by :func:`rag.models.reader.load_reader` in a child process)."""
    p = argparse.ArgumentParser(prog="python -m rag.models.reader_model")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--packaged", action="store_true", help="the reader shipped in the package")
    src.add_argument("--packed", help="packed weights written by rag train-reader --out")
    src.add_argument("--model", help="a Hugging Face extractive-QA model directory")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    try:
        if args.packaged:
            from rag.models.reader import packaged_reader

            model, tok_dir = packaged_model()
            extra = {"source": "packaged", "sha256": packaged_reader()[1]["sha256"]}
        elif args.packed:
            from rag.models.reader import packaged_reader

            model, tok_dir = packaged_model(Path(args.packed))
            extra = {"source": "packed", "sha256": packaged_reader(args.packed)[1]["sha256"]}
        else:
            model, tok_dir = hf_qa_model(Path(args.model)), Path(args.model)
            extra = {"source": str(Path(args.model).resolve())}
        export(model, tok_dir, Path(args.out), extra)
    except ModelError as exc:
        print(f"reader export failed: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
