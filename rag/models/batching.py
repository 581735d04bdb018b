"""A small batching queue: work submitted from many threads at once runs as one batch.

The chat page answers each question in a thread of its own. Run one by one, fifty questions
asking the reader for five windows each make fifty small ONNX runs that compete for two cores;
queued, whatever arrived while the last batch ran is read together (ONNX Runtime is faster per
window in a batch, and nothing waits on purpose: a lone question runs at once). A caller gets
exactly its own results, so batching changes nothing a caller sees as long as ``run`` computes
each item independently of the others (the reader's float graph does: a window's logits are
the same alone and in any batch, see ``tests/test_reader.py``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

log = logging.getLogger(__name__)


@dataclass
class _Job(Generic[T, R]):
    items: Sequence[T]
    done: threading.Event = field(default_factory=threading.Event)
    results: list[R] = field(default_factory=list)
    error: BaseException | None = None


class BatchQueue(Generic[T, R]):
    """``queue(items)`` returns ``run(items)``, but items of callers waiting at the same time
    are passed to ``run`` together, at most ``max_items`` per call (a caller's items are never
    split across calls unless they alone exceed it). One worker thread runs the batches; it
    starts on first use and lives as long as the process (a daemon)."""

    def __init__(self, run: Callable[[list[T]], list[R]], max_items: int, name: str) -> None:
        self._run = run
        self.max_items = max(1, max_items)
        self.name = name
        self._cond = threading.Condition()
        self._pending: list[_Job[T, R]] = []
        self._worker: threading.Thread | None = None
        self.batches = 0  # how many runs, and of how many callers' items: for benchmarks
        self.callers = 0

    def __call__(self, items: Sequence[T]) -> list[R]:
        if not items:
            return []
        job: _Job[T, R] = _Job(items)
        with self._cond:
            self._pending.append(job)
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._work, name=self.name, daemon=True)
                self._worker.start()
            self._cond.notify()
        job.done.wait()
        if job.error is not None:
            raise job.error
        return job.results

    def _take(self) -> list[_Job[T, R]]:
        with self._cond:
            while not self._pending:
                self._cond.wait()
            taken = [self._pending.pop(0)]
            size = len(taken[0].items)
            while self._pending and size + len(self._pending[0].items) <= self.max_items:
                size += len(self._pending[0].items)
                taken.append(self._pending.pop(0))
            return taken

    def _work(self) -> None:
        while True:
            jobs = self._take()
            items: list[Any] = [x for job in jobs for x in job.items]
            try:
                out = self._run(items)
                if len(out) != len(items):
                    raise RuntimeError(f"{self.name}: {len(out)} results for {len(items)} items")
            except BaseException as exc:  # handed to every caller of the batch
                log.debug("%s: batch failed: %s", self.name, exc)
                for job in jobs:
                    job.error = exc
                    job.done.set()
                continue
            self.batches += 1
            self.callers += len(jobs)
            at = 0
            for job in jobs:
                job.results = list(out[at : at + len(job.items)])
                at += len(job.items)
                job.done.set()
