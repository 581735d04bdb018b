"""Many readers at once (#30): the chat page started on an index, ``--users`` simulated readers
asking ``--questions`` questions each through its API (``gradio_client``, the ``/ask`` endpoint
the page's own button calls), all at the same time.

Every question is a different one (the dev questions, then questions made of the archive's own
sentences), so nothing is answered from a cache. A question counts as answered when the page
replied with an answer or with its "not found" message, not with an error.

Prints one JSON line:
``{"users": 50, "questions": …, "answered": …, "qps": …, "p50_s": …, "p95_s": …}``

Run: python benchmarks/bench_load.py [--users 50] [--questions 4] [--index index]
     [--concurrency 64]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _questions(index: Path, n: int) -> list[str]:
    from rag.evaluate import read_jsonl
    from rag.store.index import load_index

    out: list[str] = []
    qa = ROOT.parent / "shared" / "eval" / "qa_dev.jsonl"
    if qa.is_file():
        out += [r["question"] for r in read_jsonl(qa)]
    idx = load_index(index)
    asks = ("是什么？", "有哪些？", "是多少？", "在哪里？")
    i = 0
    while len(out) < n:
        s = idx.sentences[(i * 7) % len(idx.sentences)].text
        out.append(s[: 8 + i % 12] + asks[i % len(asks)])
        i += 1
    return out[:n]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=50)
    ap.add_argument("--questions", type=int, default=4, help="questions per user")
    ap.add_argument("--index", default=None, help="index directory (default: the seeds, built)")
    ap.add_argument("--concurrency", type=int, default=None, help="the page's --concurrency")
    args = ap.parse_args()

    index = Path(args.index) if args.index else Path(tempfile.mkdtemp()) / "index"
    if not (index / "manifest.json").is_file():
        from rag.models.embed import load_embedder
        from rag.store.index import build_index

        build_index(ROOT / "seeds", index, load_embedder())
    questions = _questions(index, args.users * args.questions)

    port = _free_port()
    cmd = [sys.executable, "-m", "ui", "--index", str(index), "--port", str(port)]
    if args.concurrency:
        cmd += ["--concurrency", str(args.concurrency)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen(
        cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.time() + 300
        while True:
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.time() > deadline:
                    raise SystemExit("the chat page did not come up") from None
                time.sleep(1)
        from gradio_client import Client

        clients = [Client(url, verbose=False) for _ in range(args.users)]
        times: list[float] = []
        answered = 0
        lock = threading.Lock()
        start = threading.Barrier(args.users + 1)

        def user(u: int) -> None:
            nonlocal answered
            start.wait()
            for j in range(args.questions):
                q = questions[u * args.questions + j]
                t0 = time.perf_counter()
                try:
                    result = clients[u].predict(q, [], 5, "", "", api_name="/ask")
                    ok = bool(result and result[0] and result[0][-1].get("content"))
                except Exception:  # an error reply: not answered
                    ok = False
                with lock:
                    times.append(time.perf_counter() - t0)
                    answered += ok

        threads = [threading.Thread(target=user, args=(u,)) for u in range(args.users)]
        for t in threads:
            t.start()
        start.wait()
        t0 = time.perf_counter()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
    finally:
        server.terminate()
        server.wait(timeout=30)
    times.sort()
    print(
        json.dumps(
            {
                "users": args.users,
                "questions": len(times),
                "answered": answered,
                "qps": round(len(times) / wall, 2),
                "p50_s": round(times[len(times) // 2], 2),
                "p95_s": round(times[int(0.95 * (len(times) - 1))], 2),
                "concurrency": args.concurrency or "default",
                "machine": f"{platform.machine()}, {os.cpu_count()} cores",
            }
        )
    )


if __name__ == "__main__":
    main()
