"""Index builds on a Ray cluster: the same index as a local build, with the embedding spread over
a pool of actors that each load the model once.

``rag build PAGES --ray local`` starts a Ray runtime on this machine (what tests use);
``--ray auto`` (or ``$RAY_ADDRESS``) joins a running cluster (``ray start --head`` first);
``--ray ADDRESS`` names one. Pages are read and cleaned as parallel Ray tasks; segmentation
(which links the pages of an issue to each other) and chunking run on the driver, they are
cheap; embedding, the cost of a build, runs in ``--ray-actors`` actors of Ray Data. Because
:class:`RayEmbedder` is just another embedder, :func:`rag.store.index.build_index` writes
exactly what a local build writes: the same chunk ids and manifest, the atomic swap, the reuse
of vectors whose text did not change.

Ray is an optional extra: ``pip install -e .[ray]``.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable

import numpy as np

from rag.errors import RagError

log = logging.getLogger(__name__)


def _ray():  # type: ignore[no-untyped-def]
    try:
        import ray
    except ImportError as exc:
        raise RagError("--ray needs Ray: pip install -e .[ray]") from exc
    return ray


def connect(address: str) -> None:
    """Start (``local``) or join (``auto``, an address) a Ray runtime, quietly."""
    ray = _ray()
    if ray.is_initialized():
        return
    kwargs = {
        "include_dashboard": False,
        "log_to_driver": False,
        "configure_logging": True,
        "logging_level": logging.ERROR,
    }
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    # Ray Data's start/finish reports and its notice about disabled progress bars
    os.environ.setdefault("RAY_DATA_DISABLE_PROGRESS_BARS", "1")
    try:
        if address == "local":
            ray.init(address="local", **kwargs)
        else:
            ray.init(address=None if address == "auto" else address, **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise RagError(f"cannot reach a Ray cluster at {address!r}: {exc}") from exc
    for name in ("ray", "ray.data", "ray.data._internal"):
        logging.getLogger(name).setLevel(logging.ERROR)
    ctx = ray.data.DataContext.get_current()
    ctx.print_on_execution_start = False


class _EmbedActor:
    """A Ray Data actor: loads the embedding model once, then embeds batches of texts."""

    model: str | None = None  # set on a subclass made per build (no constructor arguments)

    def __init__(self) -> None:
        from rag.models.embed import load_embedder
        from rag.models.files import THREADS_ENV

        os.environ[THREADS_ENV] = "1"  # one core per actor; Ray schedules the actors
        self.embedder = load_embedder(self.model)
        if self.embedder.passage_engine is None:  # a sentence-transformers model: torch embeds
            import torch

            torch.set_num_threads(1)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        vecs = self.embedder.encode_passages([str(t) for t in batch["text"]])
        return {"i": batch["i"], "vec": vecs}


class RayEmbedder:
    """An :class:`rag.models.embed.Embedder` whose passages are embedded by a pool of Ray actors.

    Queries (few, at build time none) are embedded locally by ``local``, the same model.
    """

    call_size = 1 << 30  # the build hands over every text at once: Ray does the batching

    def __init__(self, local, address: str, actors: int = 2, batch_size: int = 64) -> None:  # type: ignore[no-untyped-def]
        connect(address)
        self.local = local
        self.name = local.name
        self.dim = local.dim
        self.actors = max(1, actors)
        self.batch_size = max(1, batch_size)
        self.progress: Callable[[int, int], None] | None = None

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        """Unit-length query vectors, from the local model."""
        return np.asarray(self.local.encode_queries(texts))

    def encode_passages(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        """Unit-length passage vectors, embedded by the actor pool, in input order."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        ray = _ray()
        # longest first and in similar lengths per batch: less padding in every actor
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        ds = ray.data.from_items([{"i": i, "text": texts[i]} for i in order])
        actor = type("EmbedActor", (_EmbedActor,), {"model": self.name})
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")  # Ray renames its arguments often: debug log
            ds = self._embed(ds, actor)
        for w in caught:
            log.debug("ray: %s", w.message)
        done = 0
        for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
            out[batch["i"]] = batch["vec"]
            done += len(batch["i"])
            if self.progress:
                self.progress(done, len(texts))
        if done != len(texts):
            raise RagError(f"the Ray actors returned {done} vectors for {len(texts)} texts")
        return out

    def _embed(self, ds, actor):  # type: ignore[no-untyped-def]
        ray = _ray()
        return ds.map_batches(
            actor,
            compute=ray.data.ActorPoolStrategy(size=self.actors),
            batch_size=self.batch_size,
            num_cpus=1,
            batch_format="numpy",
            max_restarts=0,  # a failed actor fails the build (the old index stays)
        )


def ray_mapper(fn, jobs, progress=None):  # type: ignore[no-untyped-def]
    """Run ``fn(*job)`` for every job as a Ray task (a page's OCR is one); results in job
    order, ``progress("pages", done, total)`` told as tasks finish."""
    ray = _ray()
    # one core per task, as Ray schedules them: OCR runs single-threaded in each
    from rag.ingest.scans import OCR_THREADS_ENV

    env = {"env_vars": {OCR_THREADS_ENV: "1"}}
    remote = ray.remote(num_cpus=1, runtime_env=env)(fn)
    refs = [remote.remote(*job) for job in jobs]
    pending = list(refs)
    while pending:
        _, pending = ray.wait(pending, num_returns=1)
        if progress:
            progress("pages", len(refs) - len(pending), len(refs))
    return list(ray.get(refs))
