"""Does the reader answer the same on every CPU and in every batch? Measure it.

Integer matrix products are exact on any CPU only when no intermediate sum saturates: x86
without VNNI multiplies uint8 x int8 pairs with ``vpmaddubsw``, whose 16-bit pair sums saturate
at 32767 (255 * 127 * 2 = 64770 does); with 7-bit weights (``reduce_range``: |w| <= 64, so
255 * 64 * 2 = 32640) or uint8 x uint8 products (widened to 16 bits first) every sum is exact,
and so is the int32 accumulation (255 * 64 * 1536 < 2**31). Valgrind's CPU has AVX2 and no
AVX-512 or VNNI, so running this script under ``valgrind --tool=none`` reads the logits a
non-VNNI machine computes.

    python benchmarks/reader_numerics.py variants DIR    # quantise DIR/reader.onnx (an export)
    python benchmarks/reader_numerics.py windows DIR WIN.npz [--n 12]
    python benchmarks/reader_numerics.py dump DIR WIN.npz OUT.npz [--graphs float,u8s8_rr]
    OPENBLAS_NUM_THREADS=1 valgrind --tool=none -q \
        python benchmarks/reader_numerics.py dump DIR WIN.npz OUT_avx2.npz --graphs …
    python benchmarks/reader_numerics.py compare OUT.npz OUT_avx2.npz
    python benchmarks/reader_numerics.py speed DIR [--n 48]

DIR is a reader export (``~/.cache/baozhi-rag/models/reader-*``, copied: the quantiser refuses
a symlinked weights file); the int8 graph shipped before #27 is ``variants``' ``u8s8``.

``windows`` saves a fixed set of windows (CMRC 2018 trial questions with their passages) as
arrays, so a run under valgrind loads no tokenizer; ``dump`` reads them with
each graph, every window alone and all of them in batches of 16, and saves the logits and
best spans; ``compare`` prints, per graph, the largest logit difference between two dumps
(two CPUs), between alone and batched, and against the float graph, and how many windows'
best spans agree. ``speed`` prints windows per second alone and batched.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rag.models.files import load_tokenizer, onnx_session, pad_id_of  # noqa: E402
from rag.models.reader import ONNX_NAME, Window, batch_arrays, windows  # noqa: E402

TRIAL = ROOT.parent / "shared" / "data" / "cmrc2018_trial.json"
VARIANTS = {
    "float": None,
    "u8s8": {"reduce_range": False, "weight_type": "QInt8"},  # shipped before #27
    "u8s8_rr": {"reduce_range": True, "weight_type": "QInt8"},
    "u8u8": {"reduce_range": False, "weight_type": "QUInt8"},
}


def graph_path(directory: Path, name: str) -> Path:
    return directory / (ONNX_NAME if name == "float" else f"reader.{name}.onnx")


def make_variants(directory: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    for name, opts in VARIANTS.items():
        if opts is None or graph_path(directory, name).is_file():
            continue
        t = time.perf_counter()
        quantize_dynamic(
            str(directory / ONNX_NAME),
            str(graph_path(directory, name)),
            weight_type=getattr(QuantType, opts["weight_type"]),
            op_types_to_quantize=["MatMul"],
            per_channel=True,
            reduce_range=opts["reduce_range"],
            use_external_data_format=True,
        )
        print(f"{name}: {time.perf_counter() - t:.0f} s", flush=True)


def trial_windows(tok, n: int):  # type: ignore[no-untyped-def]
    """The first windows of the first ``n`` trial questions (each question's first window)."""
    data = json.loads(TRIAL.read_text(encoding="utf-8"))["data"]
    out = []
    for art in data:
        for para in art["paragraphs"]:
            for qa in para["qas"]:
                w = windows(tok, qa["question"], [para["context"]])
                out.append(w[len(out) % len(w)])
                if len(out) == n:
                    return out
    return out


def run(session, inputs: set[str], wins, pad: int, batch: int):  # type: ignore[no-untyped-def]
    starts, ends = [], []
    for at in range(0, len(wins), batch):
        chunk = wins[at : at + batch]
        feed = {k: v for k, v in batch_arrays(chunk, pad).items() if k in inputs}
        s, e = session.run(["start_logits", "end_logits"], feed)
        for i, w in enumerate(chunk):
            starts.append(np.asarray(s[i, : len(w.ids)], np.float32))
            ends.append(np.asarray(e[i, : len(w.ids)], np.float32))
    return starts, ends


def best_span(s: np.ndarray, e: np.ndarray, offsets) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    ctx = np.array([a >= 0 for a, _ in offsets])
    s = np.where(ctx, s, -np.inf)
    e = np.where(ctx, e, -np.inf)
    score = s[:, None] + e[None, :]
    n = len(s)
    valid = np.triu(np.ones((n, n), bool)) & ~np.triu(np.ones((n, n), bool), 40)
    score = np.where(valid, score, -np.inf)
    i, j = np.unravel_index(int(np.argmax(score)), score.shape)
    return int(i), int(j)


def save_windows(directory: Path, out: Path, n: int) -> None:
    """The fixed windows as arrays (so a run under valgrind reads no tokenizer)."""
    tok = load_tokenizer(directory)
    wins = trial_windows(tok, n)
    width = max(len(w.ids) for w in wins)
    offsets = np.full((len(wins), width, 2), -1, np.int32)
    for i, w in enumerate(wins):
        offsets[i, : len(w.ids)] = w.offsets
    pad = pad_id_of(tok)
    np.savez(out, **batch_arrays(wins, pad), offsets=offsets, pad_id=np.array(pad))


def load_windows(path: Path) -> list[Window]:
    arrays = np.load(path)
    out = []
    for i, mask in enumerate(arrays["attention_mask"]):
        k = int(mask.sum())
        offsets = [tuple(int(x) for x in o) for o in arrays["offsets"][i, :k]]
        ids = arrays["input_ids"][i, :k].tolist()
        out.append(Window(0, ids, arrays["token_type_ids"][i, :k].tolist(), offsets))
    return out


def dump(directory: Path, windows_file: Path, out: Path, graphs: list[str]) -> None:
    wins = load_windows(windows_file)
    pad = int(np.load(windows_file).get("pad_id", 1))  # files written before it was kept: 1
    arrays: dict[str, np.ndarray] = {}
    for name in graphs:
        sess = onnx_session(graph_path(directory, name), threads=1)
        inputs = {i.name for i in sess.get_inputs()}
        for mode, batch in (("alone", 1), ("batched", 16)):
            t = time.perf_counter()
            s, e = run(sess, inputs, wins, pad, batch)
            spans = [best_span(a, b, w.offsets) for a, b, w in zip(s, e, wins, strict=True)]
            arrays[f"{name}/{mode}/start"] = np.concatenate(s)
            arrays[f"{name}/{mode}/end"] = np.concatenate(e)
            arrays[f"{name}/{mode}/spans"] = np.array(spans, np.int32)
            print(f"{name} {mode}: {time.perf_counter() - t:.1f} s", flush=True)
            np.savez(out, **arrays)  # under valgrind a graph takes an hour: keep each part


def compare(a_path: Path, b_path: Path | None) -> None:
    a = dict(np.load(a_path))
    b = dict(np.load(b_path)) if b_path else {}
    names = sorted({k.split("/")[0] for k in a})
    for name in names:
        row: dict[str, object] = {"graph": name}

        def diff(x: str, y: str, left: dict = a, right: dict = a) -> float:
            return float(
                max(np.abs(left[f"{x}/start"] - right[f"{y}/start"]).max(),
                    np.abs(left[f"{x}/end"] - right[f"{y}/end"]).max())
            )  # fmt: skip

        def same(x: str, y: str, left: dict = a, right: dict = a) -> str:
            eq = (left[f"{x}/spans"] == right[f"{y}/spans"]).all(axis=1)
            return f"{int(eq.sum())}/{len(eq)}"

        row["alone_vs_batched"] = diff(f"{name}/alone", f"{name}/batched")
        row["spans_alone_vs_batched"] = same(f"{name}/alone", f"{name}/batched")
        if "float/alone/start" in a and name != "float":
            row["vs_float"] = diff(f"{name}/alone", "float/alone")
            row["spans_vs_float"] = same(f"{name}/alone", "float/alone")
        if b and f"{name}/alone/start" in b:
            for mode in [m for m in ("alone", "batched") if f"{name}/{m}/start" in b]:
                row[f"cpu_{mode}"] = diff(f"{name}/{mode}", f"{name}/{mode}", a, b)
                row[f"spans_cpu_{mode}"] = same(f"{name}/{mode}", f"{name}/{mode}", a, b)
        print(json.dumps(row))


def speed(directory: Path, n: int, graphs: list[str]) -> None:
    import os

    tok = load_tokenizer(directory)
    pad = pad_id_of(tok)
    wins = trial_windows(tok, n)
    for name in graphs:
        sess = onnx_session(graph_path(directory, name))
        inputs = {i.name for i in sess.get_inputs()}
        run(sess, inputs, wins[:4], pad, 4)  # warm up
        row: dict[str, object] = {"graph": name, "cores": os.cpu_count()}
        for mode, batch in (("alone", 1), ("batched", 16)):
            t = time.perf_counter()
            run(sess, inputs, wins, pad, batch)
            row[f"windows_per_s_{mode}"] = round(len(wins) / (time.perf_counter() - t), 2)
        print(json.dumps(row), flush=True)


def main() -> None:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    v = sub.add_parser("variants")
    v.add_argument("dir", type=Path)
    w = sub.add_parser("windows")
    w.add_argument("dir", type=Path)
    w.add_argument("out", type=Path)
    w.add_argument("--n", type=int, default=24)
    d = sub.add_parser("dump")
    d.add_argument("dir", type=Path)
    d.add_argument("windows", type=Path)
    d.add_argument("out", type=Path)
    d.add_argument("--graphs", default=",".join(VARIANTS))
    c = sub.add_parser("compare")
    c.add_argument("a", type=Path)
    c.add_argument("b", type=Path, nargs="?")
    s = sub.add_parser("speed")
    s.add_argument("dir", type=Path)
    s.add_argument("--n", type=int, default=48)
    s.add_argument("--graphs", default=",".join(VARIANTS))
    args = p.parse_args()
    if args.cmd == "variants":
        make_variants(args.dir)
    elif args.cmd == "windows":
        save_windows(args.dir, args.out, args.n)
    elif args.cmd == "dump":
        dump(args.dir, args.windows, args.out, args.graphs.split(","))
    elif args.cmd == "compare":
        compare(args.a, args.b)
    else:
        speed(args.dir, args.n, args.graphs.split(","))


if __name__ == "__main__":
    main()
