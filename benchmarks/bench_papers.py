"""Real newspaper pages, rendered: how well the scanned archive reads against the text archive.

Lays out PAGES with ``scripts/make_scans.py --style paper`` (printed rules, a boxed article, a
tinted panel, headlines two to four times the body size, a vertical headline, a photo with a
caption and the text wrapped round it, one page in traditional script, one at 1000 px wide, one
a 300 dpi flatbed scan with a shadow at the fold), builds an index of the scans and prints:
  - reading order per article: 2·LCS / (printed + read) of each printed article (headline,
    byline, body) against the article the build made of it on that page (both in simplified
    script, NFKC, whitespace dropped); a caption or a neighbour's line read into an article
    lowers it as much as a line lost or read out of order
  - headlines found: the article's headline within 15 % character error of the printed one
  - with ``--gold``: the same answer as on the text archive (folded to simplified script), and
    on the traditional-script page the same answer to the question asked in traditional script
  - OCR seconds per page and pages per hour on this machine

Run: python benchmarks/bench_papers.py [PAGES] [--gold ../shared/eval/qa_dev.jsonl] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def fold(text: str) -> str:
    from rag.evaluate import in_one_script

    return in_one_script(text)


def agreement(printed: str, read: str) -> float:
    from rag.evaluate import reading_order

    return reading_order(printed, read)


def cer(a: str, b: str) -> float:
    from rag.evaluate import char_error_rate

    return char_error_rate(a, b)


def read_articles(pages: list) -> dict[str, list[tuple[str, str]]]:
    """Per page: (headline, text) of every article part segmented on it."""
    from rag.ingest.articles import segment

    out: dict[str, list[tuple[str, str]]] = {}
    for art in segment(pages).articles:
        for part in art.parts:
            head = part.headline or part.jump_headline or ""
            if not head and len(art.parts) == 1:
                head = art.headline or ""
            text = head + (part.byline or "") + "".join(p.text for p in part.paragraphs)
            out.setdefault(part.page_id, []).append((head, text))
    return out


def build(pages: Path, index: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "rag", "build", str(pages), "--index", str(index), "--full"],
        capture_output=True,
        text=True,
        check=True,
    )
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("pages", nargs="?", default=str(ROOT / "seeds"))
    ap.add_argument("--gold", default=None, help="qa file: compare answers with the text archive")
    ap.add_argument("--work", default=None, help="folder for the pages and indexes (kept)")
    ap.add_argument("--fresh-cache", action="store_true", help="OCR again (empty cache)")
    args = ap.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="bench-papers-"))
    if args.fresh_cache:
        os.environ["RAG_OCR_CACHE"] = str(Path(tempfile.mkdtemp(prefix="ocr-cache-")))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; work: {work}")
    made = work / "made"
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "make_scans.py"),
            args.pages,
            str(made),
            "--style",
            "paper",
        ],
        check=True,
        capture_output=True,
    )
    truths = {
        p.stem: json.loads(p.read_text("utf-8")) for p in (made / "paper_truth").glob("*.json")
    }
    from rag.ingest.pages import read_pages

    t0 = time.perf_counter()
    pages = read_pages(made / "paper")
    seconds = time.perf_counter() - t0
    fresh = sum(p.source == "ocr" for p in pages)
    if fresh:
        print(
            f"OCR and layout: {seconds / fresh:.1f} s per page, {3600 * fresh / seconds:.0f} "
            f"pages per hour ({fresh} pages, {os.cpu_count()} cores)"
        )
    scores, heads, n_heads = [], 0, 0
    read = read_articles(pages)
    for pid, truth in sorted(truths.items()):
        parts = [(fold(h), fold(t)) for h, t in read.get(pid, [])]
        page_scores = []
        for art in truth["articles"]:
            printed = fold(art["text"])
            best = max(parts, key=lambda p: agreement(printed, p[1]), default=("", ""))
            page_scores.append(agreement(printed, best[1]))
            if art["headline"]:
                n_heads += 1
                heads += bool(best[0]) and cer(best[0], fold(art["headline"])) <= 0.15
        scores += page_scores
        print(
            f"{pid} ({truth['script']}, {truth['dpi']} dpi): reading order "
            + " ".join(f"{s:.2f}" for s in page_scores)
            + f"; {len(parts)} articles read, {len(truth['articles'])} printed"
        )
    print(
        f"reading order per article: mean {sum(scores) / len(scores):.3f}, "
        f"≥0.95 on {sum(s >= 0.95 for s in scores)}/{len(scores)}"
    )
    print(f"headlines found: {heads}/{n_heads} ({heads / max(n_heads, 1):.0%})")
    if args.gold:
        compare(Path(args.gold), Path(args.pages), work, truths)


def compare(gold: Path, pages: Path, work: Path, truths: dict) -> None:
    import opencc

    import rag

    build(work / "made" / "paper", work / "index_paper")
    build(pages, work / "index_text")
    s2t = opencc.OpenCC("s2t").convert
    traditional = {pid for pid, t in truths.items() if t["script"] == "traditional"}
    rows = [json.loads(x) for x in gold.read_text("utf-8").splitlines() if x.strip()]
    same = 0
    trad_same, trad_n = 0, 0
    for r in rows:
        a = rag.answer(r["question"], index_dir=work / "index_text")
        b = rag.answer(r["question"], index_dir=work / "index_paper")
        ok = a.found == b.found and fold(a.text) == fold(b.text)
        same += ok
        if not ok:
            print(f"  differs: {r['question']} text={a.text!r} paper={b.text!r}")
        if a.found and a.citations and a.citations[0].page in traditional:
            trad_n += 1
            c = rag.answer(s2t(r["question"]), index_dir=work / "index_paper")
            trad_same += c.found and fold(c.text) == fold(a.text)
    print(f"same answer, paper scans vs text archive: {same}/{len(rows)} ({same / len(rows):.0%})")
    if trad_n:
        print(f"traditional-script page, asked in traditional script: {trad_same}/{trad_n} same")


if __name__ == "__main__":
    main()
