"""Scanned and PDF archives against the text archive they were laid out from.

Lays out PAGES with ``scripts/make_scans.py`` (PDFs with a text layer, PNG scans with noise,
skew and JPEG artefacts), builds an index of each kind and prints:
  - PDF text layer -> clean text: identical to the laid-out text (whitespace removed)?
  - character error rate of the scans (NFKC: a full-width comma read for a half-width one is
    not an error)
  - seconds of OCR per page on this machine, and a rebuild's OCR count (should be 0)
  - with ``--gold``: the same answer on the scanned archive as on the text archive, and the
    IoU of each answer's boxes with the rendered truth
  - with ``--a3``: OCR seconds of one A3 page at 300 dpi

Run: python benchmarks/bench_scans.py [PAGES] [--gold ../shared/eval/qa_dev.jsonl] [--a3]
     (prints figures; not a test). OCR results are cached in $RAG_OCR_CACHE: the first run
     pays the OCR, a second one reads the cache (pass --fresh-cache to measure OCR again).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

import numpy as np

from rag.evaluate import char_error_rate as cer

ROOT = Path(__file__).resolve().parent.parent


def norm(text: str) -> str:
    """Whitespace dropped, each character NFKC-normalised on its own (one for one, so that
    positions still name the truth's characters)."""
    return "".join(
        n if len(n := unicodedata.normalize("NFKC", ch)) == 1 else ch
        for ch in re.sub(r"\s", "", text)
    )


def mask_iou(
    pred: list[tuple[float, ...]], true: list[tuple[float, ...]], scale: float = 0.5
) -> float:
    """IoU of two unions of rectangles, rasterised at ``scale``."""
    boxes = pred + true
    if not pred or not true:
        return 0.0
    x0 = min(b[0] for b in boxes)
    y0 = min(b[1] for b in boxes)
    w = int((max(b[2] for b in boxes) - x0) * scale) + 2
    h = int((max(b[3] for b in boxes) - y0) * scale) + 2

    def mask(bs: list[tuple[float, ...]]) -> np.ndarray:
        m = np.zeros((h, w), bool)
        for b in bs:
            m[
                int((b[1] - y0) * scale) : int(np.ceil((b[3] - y0) * scale)),
                int((b[0] - x0) * scale) : int(np.ceil((b[2] - x0) * scale)),
            ] = True
        return m

    a, t = mask(pred), mask(true)
    return float((a & t).sum() / max((a | t).sum(), 1))


def truth_boxes(truth: dict, answer: str, pred: list[tuple[float, ...]], key: str) -> list:
    """The rendered boxes of the occurrence of ``answer`` on the page nearest the prediction."""
    at = [i for i, ch in enumerate(truth["chars"]) if not ch.isspace()]
    chars = norm(truth["chars"])  # one character per kept position
    target = norm(answer)
    best: list = []
    best_iou = -1.0
    spans = [(m.start(), m.end()) for m in re.finditer(re.escape(target), chars)]
    if not spans and len(target) >= 8:
        # OCR dropped or misread a character inside the answer: its span runs from where its
        # first four characters stand to where its last four end, about as long
        head, tail = target[:4], target[-4:]
        for m in re.finditer(re.escape(head), chars):
            end = chars.find(tail, m.start() + len(target) - 6, m.start() + len(target) + 3)
            if end >= 0:
                spans.append((m.start(), end + 4))
    for a, b in spans:
        boxes = [tuple(truth[key][at[i]]) for i in range(a, b)]
        iou = mask_iou(pred, boxes)
        if iou > best_iou:
            best, best_iou = boxes, iou
    return best


def build(pages: Path, index: Path, *extra: str) -> tuple[float, list[str]]:
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "rag", "build", str(pages), "--index", str(index), *extra],
        capture_output=True,
        text=True,
        check=True,
    )
    return time.perf_counter() - t0, out.stdout.splitlines()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("pages", nargs="?", default=str(ROOT / "seeds"))
    ap.add_argument("--gold", default=None, help="qa file: compare answers and boxes")
    ap.add_argument("--work", default=None, help="folder for scans and indexes (kept)")
    ap.add_argument("--a3", action="store_true", help="time OCR of an A3 page at 300 dpi")
    ap.add_argument("--fresh-cache", action="store_true", help="OCR again (empty cache)")
    ap.add_argument("--ray", action="store_true", help="also OCR the scans as Ray tasks")
    args = ap.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="bench-scans-"))
    if args.fresh_cache:
        os.environ["RAG_OCR_CACHE"] = str(Path(tempfile.mkdtemp(prefix="ocr-cache-")))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; work: {work}")
    scans = work / "scans"
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_scans.py"), args.pages, str(scans)],
        check=True,
        capture_output=True,
    )
    from rag.ingest.pages import read_pages

    truths = {p.stem: json.loads(p.read_text("utf-8")) for p in (scans / "truth").glob("*.json")}
    text_pages = read_pages(scans / "text")
    same = sum(norm(p.text) == norm(truths[p.page_id]["text"]) for p in text_pages)
    print(f"PDF text layer -> clean text identical: {same}/{len(text_pages)} pages")

    t0 = time.perf_counter()
    scan_pages = read_pages(scans / "scan")
    seconds = time.perf_counter() - t0
    fresh = sum(p.source == "ocr" for p in scan_pages)
    rates = [cer(p.text, truths[p.page_id]["text"]) for p in scan_pages]
    print(
        "scan CER per page: "
        + ", ".join(f"{r:.2%}" for r in rates)
        + f"; mean {np.mean(rates):.2%}"
    )
    if fresh:
        print(f"OCR: {seconds / fresh:.1f} s per page ({fresh} pages OCR'd, 2 cores)")
    else:
        print("OCR: every page came from the cache (run with --fresh-cache to time it)")

    for kind in ("text", "scan"):
        secs, lines = build(scans / kind, work / f"index_{kind}")
        print(
            f"build of the {kind} folder: {secs:.1f} s; "
            + "; ".join(ln for ln in lines if "OCR" in ln)
        )
    secs, lines = build(scans / "scan", work / "index_scan")
    print(
        f"rebuild of the scan folder: {secs:.1f} s; " + "; ".join(ln for ln in lines if "OCR" in ln)
    )

    if args.ray:
        env_cache = os.environ.get("RAG_OCR_CACHE")
        os.environ["RAG_OCR_CACHE"] = str(Path(tempfile.mkdtemp(prefix="ocr-ray-")))
        secs, lines = build(scans / "scan", work / "index_ray", "--ray", "local", "--full")
        n = len(scan_pages)
        print(
            f"--ray local build of {n} scans, OCR as Ray tasks: {secs:.1f} s "
            f"({n / secs * 3600:.0f} pages per hour with the build's start-up and embedding)"
        )
        if env_cache is not None:
            os.environ["RAG_OCR_CACHE"] = env_cache
    if args.gold:
        compare(Path(args.gold), work, truths)
    if args.a3:
        time_a3(scans, work)


def compare(gold: Path, work: Path, truths: dict) -> None:
    import rag

    rows = [json.loads(x) for x in gold.read_text("utf-8").splitlines() if x.strip()]
    same = 0
    ious: dict[str, list[float]] = {"text": [], "scan": []}
    for r in rows:
        a = rag.answer(r["question"], index_dir=work / "index_text")
        b = rag.answer(r["question"], index_dir=work / "index_scan")
        if a.found == b.found and norm(a.text) == norm(b.text):
            same += 1
        for ans, key, kind in ((a, "boxes", "text"), (b, "scan_boxes", "scan")):
            if not ans.found or not ans.citations or not ans.citations[0].answer_boxes:
                continue
            cite = ans.citations[0]
            pred = [(x.x0, x.y0, x.x1, x.y1) for x in cite.answer_boxes]
            true = truth_boxes(truths[cite.page], ans.text, pred, key)
            ious[kind].append(mask_iou(pred, true) if true else 0.0)
    print(f"same answer, scanned vs text archive: {same}/{len(rows)} ({same / len(rows):.0%})")
    for kind, got in ious.items():
        if not got:
            continue
        good = sum(i >= 0.8 for i in got)
        print(
            f"answer boxes IoU >= 0.8 ({kind} archive): {good}/{len(got)} "
            f"({good / len(got):.0%}); median IoU {np.median(got):.2f}"
        )


def time_a3(scans: Path, work: Path) -> None:
    """OCR of one A3 page at 300 dpi (3508 x 4961): the first scan, scaled up."""
    from PIL import Image

    from rag.ingest import scans as reader

    src = sorted((scans / "scan").glob("*.png"))[0]
    with Image.open(src) as im:
        big = im.resize((3508, 4961), Image.BICUBIC)
    os.environ["RAG_OCR_CACHE"] = str(Path(tempfile.mkdtemp(prefix="ocr-a3-")))
    path = work / "a3.png"
    big.save(path)
    t0 = time.perf_counter()
    got = reader.read_image(path)
    print(
        f"OCR of an A3 page at 300 dpi: {time.perf_counter() - t0:.1f} s ({len(got.lines)} lines)"
    )


if __name__ == "__main__":
    main()
