"""Where the models' files live and how they are opened: the model cache, the shared subword
tokenizer, ONNX Runtime sessions and the child processes that convert or export a model once.

A leaf: the encoder (``embed``), the reader and their converters all stand on it, and it imports
nothing of the project but its errors.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from rag.errors import ModelError

log = logging.getLogger(__name__)
CACHE_ENV = "RAG_MODEL_CACHE"
THREADS_ENV = "RAG_THREADS"  # threads of each ONNX Runtime session (default: all cores)


def model_cache_dir() -> Path:
    """Where models are materialised and exported (``$RAG_MODEL_CACHE`` or the user cache)."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "baozhi-rag" / "models"


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in blocks."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


_tokenizers: dict[str, object] = {}
_tokenizers_lock = threading.Lock()


def load_tokenizer(model_dir: Path):  # type: ignore[no-untyped-def]
    """The fast tokenizer of a model directory (``tokenizer.json``), truncation and padding off.

    One instance per distinct file content, shared: the e5 vocabulary's tokenizer holds ~290 MB,
    and the query encoder, the passage encoder and the reader (fine-tuned from the same model)
    all use the same one. Callers must not change its truncation or padding.
    """
    from tokenizers import Tokenizer

    path = model_dir / "tokenizer.json"
    if not path.is_file():
        raise ModelError(f"{model_dir} has no tokenizer.json (a fast tokenizer is needed)")
    data = path.read_bytes()
    key = hashlib.sha256(data).hexdigest()
    with _tokenizers_lock:
        tok = _tokenizers.get(key)
        if tok is None:
            tok = Tokenizer.from_str(data.decode("utf-8"))
            tok.no_truncation()
            tok.no_padding()
            _tokenizers[key] = tok
    return tok


def pad_id_of(tok) -> int:  # type: ignore[no-untyped-def]
    """The padding id of a tokenizer (``<pad>`` or ``[PAD]``), 0 when it has none."""
    for name in ("<pad>", "[PAD]"):
        i = tok.token_to_id(name)
        if i is not None:
            return int(i)
    return 0


def onnx_session(path: Path, threads: int = 0, fix: str = "") -> Any:
    """An ONNX Runtime session on the CPU, quiet; ``threads`` (else ``$RAG_THREADS``, else all
    cores) per session. The weights file stays memory-mapped (only the rows of the vocabulary a
    text uses are paged in). Raises :class:`ModelError` saying ``fix`` when it cannot load."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    env = os.environ.get(THREADS_ENV, "")
    threads = threads or (int(env) if env.isdigit() else 0)
    if threads > 0:
        opts.intra_op_num_threads = threads
    # pre-packing copies the weight matrices into the heap (~85 MB for the encoder) and halves
    # the time of a query (11 -> 6 ms on 2 cores): kept. The arena stays on: it keeps the
    # largest batch's activations for reuse, and callers bound that batch (rows x length)
    try:
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise ModelError(f"cannot load {path}: {exc}; {fix or 'delete it to rebuild it'}") from exc


def run_module(module: str, args: list[str], what: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m module args`` in a child process (a conversion or export needs torch and
    gigabytes once; the process that asked never carries them). Its stderr goes to debug
    logging; a failure raises :class:`ModelError` naming ``what`` with the child's last lines."""
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run(
        [sys.executable, "-m", module, *args], capture_output=True, text=True, env=env, check=False
    )
    for line in (proc.stderr or "").splitlines():
        log.debug("%s: %s", module, line)
    if proc.returncode != 0:
        tail = " / ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
        raise ModelError(f"cannot {what}: {tail}")
    return proc


def save_with_external_weights(inline: Path, out: Path) -> None:
    """Rewrite the ONNX graph at ``inline`` as ``out`` with its weights in ``out.name + ".data"``
    beside it (memory-mapped by ONNX Runtime: a process pages in only the rows it uses), then
    remove ``inline``."""
    import onnx

    graph = onnx.load(str(inline))
    onnx.save_model(
        graph,
        str(out),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=out.name + ".data",
        size_threshold=1024,
    )
    del graph
    inline.unlink()
