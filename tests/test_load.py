"""Many readers at once (#30): questions asked together from threads share the reader's
batches, and each gets exactly the answer it gets alone."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import SHARED_EVAL


def test_batch_queue_hands_each_caller_its_own_results_and_errors():
    from rag.models.batching import BatchQueue

    seen_batches: list[int] = []
    gate = threading.Event()

    def run(items: list[int]) -> list[int]:
        gate.wait(5)  # the first batch holds the worker while the others queue up
        seen_batches.append(len(items))
        if -1 in items:
            raise ValueError("bad item")
        return [x * 10 for x in items]

    queue: BatchQueue[int, int] = BatchQueue(run, max_items=8, name="test-queue")
    with ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(queue, [i, i + 100]) for i in range(6)]
        time.sleep(0.3)
        gate.set()
        results = [f.result() for f in futures]
    assert results == [[i * 10, (i + 100) * 10] for i in range(6)]
    assert len(seen_batches) < 6 and max(seen_batches) <= 8  # callers shared runs
    assert queue.callers == 6
    with pytest.raises(ValueError, match="bad item"):
        queue([-1])
    assert queue([3]) == [30]  # the worker lives on after a failed batch
    assert queue([]) == []


@pytest.mark.slow
def test_questions_asked_together_answer_as_alone(seed_index):
    import rag
    from rag.evaluate import read_jsonl
    from rag.models.reader import load_reader
    from rag.qa.retrieve import get_runtime

    rt = get_runtime(seed_index)
    questions = []
    qa = SHARED_EVAL / "qa_dev.jsonl"
    if qa.is_file():
        questions += [r["question"] for r in read_jsonl(qa)]
    questions += [rt.index.sentences[i].text[:20] + "是什么？" for i in range(0, 200, 10)]

    def seen(q: str) -> tuple:
        a = rag.answer(q, index_dir=seed_index)
        return (a.text, a.found, a.score, a.sentence, tuple(c.passage.page for c in a.citations))

    alone = [seen(q) for q in questions]
    queue = load_reader().queue
    batches, callers = queue.batches, queue.callers
    with ThreadPoolExecutor(12) as pool:
        together = list(pool.map(seen, questions))
    assert together == alone
    assert queue.callers - callers > queue.batches - batches  # some runs read several questions
