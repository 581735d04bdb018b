"""The index on disk: build it from a pages folder, write it atomically, load it back.

An index is a directory of plain files: ``manifest.json`` (schema, model, chunking, corpus
fingerprint, library versions, the FAISS structure and why), columnar tables of articles,
chunks and sentences (``rag.store.tables``: integer ``.npy`` columns and UTF-8 text blobs,
memory-mapped when loaded), ``pages.json``, float32 ``.npy`` vector arrays, a FAISS file and
lexical postings (``rag.store.lexical``). No pickle.
A build writes a sibling temporary directory and swaps it in, so an interrupted build leaves
the previous index as it was. Vectors of texts that did not change are reused.

Those files form the base segment; ``rag add`` (``rag.store.grow``) writes a day's pages as a
further segment under ``segments/`` and lists it in the manifest, and the index is loaded as
the live rows of all segments (``rag.store.segments``).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from rag.errors import IndexBusyError, IndexMismatchError, IndexMissingError
from rag.ingest.articles import Article, page_numbers, segment
from rag.ingest.chunks import (
    MAX_CHUNK_CHARS,
    MAX_SENTENCE_CHARS,
    OVERLAP_SENTENCES,
    Chunk,
    Sentence,
    chunk_sentences,
    sentences_of,
)
from rag.ingest.pages import Page, read_pages
from rag.ingest.tokenize import fold, tokenize
from rag.models.embed import Embedder
from rag.store.lexical import Postings
from rag.store.pictures import write_pictures
from rag.store.segments import Segment, combine
from rag.store.tables import (
    ArticleTable,
    ChunkTable,
    CodeView,
    SentenceTable,
    mapped,
    write_json,
    write_tables,
)

SCHEMA_VERSION = 3  # 2: columnar tables (rag.store.tables); 3: lexical postings, segments
REUSABLE_SCHEMAS = (2, 3)  # whose vectors a build may copy instead of embedding again
INDEX_ENV = "RAG_INDEX_DIR"
HNSW_THRESHOLD = 50_000  # chunks; above this the dense index is HNSW instead of exact
SQ8_THRESHOLD = 2_000_000  # chunks; above this the HNSW graph holds 8-bit codes (dense_plan)
HNSW_M = 32
HNSW_EF_SEARCH = 512  # recall@10 0.97 of exact at 100 000 chunks (bench_query.py)
HNSW_EF_SEARCH_MAX = 4096


def ef_construction(n: int) -> int:
    """HNSW build breadth: a better graph for large archives, where search breadth costs most."""
    return 80 if n <= 250_000 else 200


def ef_search(n: int) -> int:
    """HNSW search breadth for ``n`` vectors: 512 up to 250 000, then growing with the size,
    1280 at 1 000 000 (recall@10 >= 0.95 of exact on bench_million.py's near-tied data, with
    the efConstruction of :func:`ef_construction`)."""
    if n <= 250_000:
        return HNSW_EF_SEARCH
    grown = HNSW_EF_SEARCH + 768 * (n - 250_000) / 750_000
    return int(min(HNSW_EF_SEARCH_MAX, 64 * round(grown / 64)))


TOKENIZER = "jieba.cut_for_search"
BUILD_HINT = "rag build <pages-folder> --index {path}"


def default_index_dir() -> Path:
    """``$RAG_INDEX_DIR`` or ``index/`` in the current directory."""
    return Path(os.environ.get(INDEX_ENV) or "index")


@dataclass(frozen=True)
class PageInfo:
    """What the index keeps of a page: its metadata (the text lives in the article tables)."""

    page_id: str
    file: str
    sha256: str
    date: str | None
    edition: str | None
    number: int | None
    warnings: tuple[str, ...]
    path: str | None = None  # where the page file stood when read (``rag add`` re-reads it)


@dataclass
class BuildReport:
    """Figures of one build."""

    pages: int
    articles: int
    chunks: int
    sentences: int
    embedded: int
    reused: int
    seconds: float
    warnings: list[str] = field(default_factory=list)
    dense: dict = field(default_factory=dict)  # the FAISS structure chosen (dense_plan)
    pictures: int = 0  # pages read from a picture (PDF pages, page images)
    ocr: int = 0  # of those, pages read by OCR in this build
    ocr_cached: int = 0  # pages whose OCR came from the cache (nothing read again)

    def lines(self) -> list[str]:
        """Human-readable summary."""
        out = [
            f"pages: {self.pages}   articles: {self.articles}   chunks: {self.chunks}   "
            f"sentences: {self.sentences}",
            f"embedded: {self.embedded}   reused from previous index: {self.reused}   "
            f"seconds: {self.seconds:.1f}",
            f"dense index: {self.dense.get('type', '?')} ({self.dense.get('reason', '')})",
            *(
                [f"pictures: {self.pictures}   OCR: {self.ocr}   OCR from cache: {self.ocr_cached}"]
                if self.pictures
                else []
            ),
            f"warnings: {len(self.warnings)}",
        ]
        out.extend(f"  - {w}" for w in self.warnings)
        return out


@dataclass
class Index:
    """A loaded index. Chunks, sentences and articles are columnar tables (``rag.store.tables``);
    plain lists and dicts given here are turned into tables."""

    path: Path
    manifest: dict
    pages: dict[str, PageInfo]
    articles: ArticleTable
    chunks: ChunkTable
    sentences: SentenceTable
    chunk_vectors: np.ndarray
    sentence_vectors: np.ndarray
    dense: Any  # faiss.Index, or SegmentedDense over the segments' indexes
    lexical: Any  # rag.store.lexical.Lexical (BM25 over the live chunks)
    article_sentences: dict[str, range] = field(default_factory=dict)
    sentence_chunk: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    chunk_article: Sequence[str] = field(default_factory=list)  # article id of each chunk
    coded_vectors: bool = False  # the dense index holds 8-bit codes: rerank with exact vectors
    _tie_rank: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.sentences, SentenceTable) or not isinstance(self.chunks, ChunkTable):
            article_ids: list[str] = list(self.articles)
            page_ids: list[str] = list(self.pages)
            self.sentences = SentenceTable.of(list(self.sentences), article_ids, page_ids)
            self.chunks = ChunkTable.of(list(self.chunks), article_ids, page_ids)
        if not isinstance(self.articles, ArticleTable):
            self.articles = ArticleTable.of(self.articles.values(), self.sentences)
        self.article_sentences = self.sentences.article_ranges()
        self.sentence_chunk = self.chunks.first_chunk_of_sentences(len(self.sentences))
        self.chunk_article = CodeView(self.chunks.article_codes(), self.chunks.article_ids)
        self.coded_vectors = bool(getattr(self.dense, "coded", False)) or (
            type(self.dense).__name__ == "IndexHNSWSQ"
        )

    @property
    def tie_rank(self) -> np.ndarray:
        """Each chunk's place when chunks are ordered by what they are (article id, part,
        start), not by where they stand in the index: ties in a search go to the lower rank,
        so an index grown by ``rag add`` breaks them as a full build of the same pages does."""
        if self._tie_rank is None:
            names = self.chunks.article_ids
            by_name = np.empty(len(names), dtype=np.int64)
            by_name[np.argsort(np.asarray(names, dtype=object), kind="stable")] = np.arange(
                len(names)
            )
            cols = self.chunks.columns
            order = np.lexsort(
                (
                    np.asarray(cols["start"]),
                    np.asarray(cols["part"]),
                    by_name[np.asarray(cols["article"])],
                )
            )
            rank = np.empty(len(order), dtype=np.int64)
            rank[order] = np.arange(len(order))
            self._tie_rank = rank
        return self._tie_rank

    @property
    def generation(self) -> int:
        """How many times pages were added to or removed from this index since its build."""
        return int(self.manifest.get("generation", 0))


# ----------------------------------------------------------------------------- serialisation


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("numpy", "faiss-cpu", "jieba", "sentence-transformers", "torch"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "absent"
    return out


def embed_text_of(chunk: Chunk, article: Article) -> str:
    """What the model sees for a chunk: the headline as context, then the verbatim text (in
    simplified script when it is printed in traditional: see :func:`fold`)."""
    return fold(f"{article.headline}\n{chunk.text}" if article.headline else chunk.text)


def embed_text_of_sentence(sentence: Sentence) -> str:
    """What the model sees for a sentence: its text, in simplified script."""
    return fold(sentence.text)


def _key(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


# ----------------------------------------------------------------------------- build


def _previous_vectors(
    index_dir: Path, model_name: str, dim: int
) -> dict[str, tuple[np.ndarray, int]]:
    """Rows of the current index's (memory-mapped) vectors by text hash, in every segment,
    when it was built by the same model: a rebuild copies them instead of embedding their
    texts again."""
    try:
        manifest = _read_json(index_dir / "manifest.json")
        if manifest.get("schema_version") not in REUSABLE_SCHEMAS:
            return {}
        if manifest.get("model", {}).get("name") != model_name:
            return {}
        names = segment_names(manifest)
    except (OSError, ValueError, KeyError):
        return {}
    out: dict[str, tuple[np.ndarray, int]] = {}
    for name in names:
        try:
            where = index_dir / name
            keys = _read_json(where / "vector_keys.json")
            chunk = _load_vectors(where / "chunk_vectors.npy")
            sent = _load_vectors(where / "sentence_vectors.npy")
        except (OSError, ValueError, KeyError):
            continue
        n = len(chunk)
        if len(keys) != n + len(sent) or chunk.shape[1:] != (dim,) or sent.shape[1:] != (dim,):
            continue
        out.update({k: (chunk, i) if i < n else (sent, i - n) for i, k in enumerate(keys)})
    return out


def segment_names(manifest: dict) -> list[str]:
    """The segment directories of an index, relative to it: the base (``.``) a build wrote,
    then the ones ``rag add`` wrote, in order."""
    return [str(s["name"]) for s in manifest.get("segments", [{"name": "."}])]


def _load_vectors(path: Path) -> np.ndarray:
    """A float32 vector array, memory-mapped (an empty one read plainly)."""
    return mapped(path)


def _vector_file(path: Path, rows: int, dim: int) -> np.ndarray:
    """A float32 ``.npy`` of ``rows`` x ``dim`` on disk, filled as vectors come."""
    if rows == 0:
        empty = np.zeros((0, dim), dtype=np.float32)
        np.save(path, empty, allow_pickle=False)
        return empty
    return np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(rows, dim))


def dense_plan(n: int, dim: int) -> dict:
    """The FAISS structure for ``n`` chunk vectors, and why (written into the manifest)."""
    flat_mb = n * dim * 4 / 2**20
    if n <= HNSW_THRESHOLD:
        return {
            "type": "flat-ip",
            "reason": f"{n} chunks <= {HNSW_THRESHOLD}: exact search is fast enough",
        }
    if n <= SQ8_THRESHOLD:
        return {
            "type": "hnsw",
            "M": HNSW_M,
            "efSearch": ef_search(n),
            "efConstruction": ef_construction(n),
            "reason": f"{n} chunks > {HNSW_THRESHOLD}: exact search grows linearly; an HNSW "
            f"graph over the float vectors (~{flat_mb:.0f} MB, memory-mapped when served) "
            "answers in milliseconds",
        }
    return {
        "type": "hnsw-sq8",
        "M": HNSW_M,
        "efSearch": ef_search(n),
        "efConstruction": ef_construction(n),
        "rerank": "exact, memory-mapped float vectors",
        "reason": f"{n} chunks > {SQ8_THRESHOLD}: the float vectors (~{flat_mb:.0f} MB) would "
        "no longer stay in memory beside everything else, and a search touching the disk is "
        "slow; 8-bit codes need a quarter of that, and the candidates are re-scored with the "
        "exact vectors",
    }


def _dense_index(vectors: np.ndarray, plan: dict | None = None):  # type: ignore[no-untyped-def]
    """A FAISS inner-product index over ``vectors``, of the structure ``plan`` names."""
    import faiss

    dim = vectors.shape[1]
    plan = plan or dense_plan(len(vectors), dim)
    index: Any
    if plan["type"] == "hnsw":
        index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = int(plan.get("efConstruction", ef_construction(len(vectors))))
    elif plan["type"] == "hnsw-sq8":
        qt: Any = faiss.ScalarQuantizer.QT_8bit
        index = faiss.IndexHNSWSQ(dim, qt, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = int(plan.get("efConstruction", ef_construction(len(vectors))))
        # the 8-bit range of each dimension comes from a sample of the vectors
        rows = np.random.default_rng(0).choice(len(vectors), min(len(vectors), 65536), False)
        index.train(np.ascontiguousarray(vectors[np.sort(rows)], dtype=np.float32))
    else:
        index = faiss.IndexFlatIP(dim)
    if len(vectors):
        step = 65536  # add in slices: a memory-mapped array is never copied whole
        for a in range(0, len(vectors), step):
            index.add(np.ascontiguousarray(vectors[a : a + step], dtype=np.float32))
    if hasattr(index, "hnsw"):
        index.hnsw.efSearch = int(plan.get("efSearch", ef_search(len(vectors))))
    return index


def lexical_tokens(chunks: Sequence[Chunk], articles: Any) -> list[list[str]]:
    """What the lexical side indexes of each chunk: its article's headline and its text."""
    return [tokenize(f"{articles[c.article_id].headline or ''} {c.text}") for c in chunks]


def build_index(
    pages_dir: Path,
    index_dir: Path,
    embedder: Embedder,
    full: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
    read: Callable[..., list[Page]] = read_pages,
    settings: dict | None = None,
) -> BuildReport:
    """Build (or rebuild) the index of ``pages_dir`` into ``index_dir``.

    Without ``full``, vectors of chunks and sentences whose text did not change are taken
    from the existing index instead of being embedded again. ``read`` reads the pages folder
    (``rag.store.distributed`` passes one that reads pages as Ray tasks). ``settings`` are
    recorded in the manifest (``rag build`` records the retrieval settings).
    """
    t0 = time.perf_counter()
    with write_lock(index_dir), _staging(index_dir) as staging:
        report = _build(pages_dir, index_dir, staging, embedder, full, progress, read, settings)
    report.seconds = time.perf_counter() - t0
    return report


def _build(
    pages_dir: Path,
    index_dir: Path,
    staging: Path,
    embedder: Embedder,
    full: bool,
    progress: Callable[[str, int, int], None] | None,
    read: Callable[..., list[Page]] = read_pages,
    settings: dict | None = None,
) -> BuildReport:
    """Build everything into ``staging``; ``index_dir`` is only read (for reusable vectors)."""
    pages = read(pages_dir, progress=progress)
    seg = segment(pages)
    articles = {a.article_id: a for a in seg.articles}
    sentences = sentences_of(seg.articles)
    chunks = chunk_sentences(sentences)
    if progress:
        progress("chunks", len(chunks), len(chunks))
    warnings = [w for p in pages for w in p.warnings] + seg.warnings

    texts = [embed_text_of(c, articles[c.article_id]) for c in chunks]
    texts += [embed_text_of_sentence(s) for s in sentences]
    keys = [_key(t) for t in texts]
    old = {} if full else _previous_vectors(index_dir, embedder.name, embedder.dim)
    chunk_vecs, sent_vecs, embedded = _embed(
        staging, texts, keys, len(chunks), old, embedder, progress
    )
    report = BuildReport(
        pages=len(pages),
        articles=len(articles),
        chunks=len(chunks),
        sentences=len(sentences),
        embedded=embedded,
        reused=len(keys) - embedded,
        seconds=0.0,
        warnings=warnings,
        dense=dense_plan(len(chunks), embedder.dim),
        pictures=sum(p.source != "text" for p in pages),
        ocr=sum(p.source == "ocr" for p in pages),
        ocr_cached=sum(p.source == "ocr-cached" for p in pages),
    )
    write_pictures(staging, pages, index_dir if (index_dir / "manifest.json").is_file() else None)
    manifest = _manifest(pages, report, embedder, settings or {})
    numbers = page_numbers(pages, seg.articles)
    _write_files(
        staging, manifest, pages, numbers, articles, chunks, sentences, chunk_vecs, sent_vecs, keys
    )
    return report


def _embed(
    staging: Path,
    texts: list[str],
    keys: list[str],
    n_chunks: int,
    old: dict[str, tuple[np.ndarray, int]],
    embedder: Embedder,
    progress: Callable[[str, int, int], None] | None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Vectors of the chunk texts (the first ``n_chunks``) and sentence texts, written to disk
    as they come (memory-mapped: never all of them in memory twice); a text whose key the
    previous index holds is copied, not embedded. Returns both arrays and how many were
    embedded."""
    dim = embedder.dim
    chunk_vecs = _vector_file(staging / "chunk_vectors.npy", n_chunks, dim)
    sent_vecs = _vector_file(staging / "sentence_vectors.npy", len(texts) - n_chunks, dim)

    def put(rows: list[int], vecs: np.ndarray) -> None:
        rows_a = np.asarray(rows)
        first = rows_a < n_chunks
        chunk_vecs[rows_a[first]] = vecs[first]
        sent_vecs[rows_a[~first] - n_chunks] = vecs[~first]

    todo = [i for i, k in enumerate(keys) if k not in old]
    for i, k in enumerate(keys):
        if k in old:
            arr, row = old[k]
            put([i], arr[row : row + 1])
    # texts per call: sentence-transformers sorts each call by length (less padding); an
    # embedder that batches itself (Ray) takes them all at once
    batch = int(getattr(embedder, "call_size", 256))
    for b in range(0, len(todo), batch):
        ids = todo[b : b + batch]
        put(ids, np.asarray(embedder.encode_passages([texts[i] for i in ids])))
        if progress and not hasattr(embedder, "progress"):  # Ray's reports as vectors arrive
            progress("embedding", min(b + batch, len(todo)), len(todo))
    for arr in (chunk_vecs, sent_vecs):
        if isinstance(arr, np.memmap):
            arr.flush()
    return chunk_vecs, sent_vecs, len(todo)


def _manifest(pages: list[Page], report: BuildReport, embedder: Embedder, settings: dict) -> dict:
    """What ``manifest.json`` says of a build (``settings``: what the caller records, such as
    the retrieval settings the index is meant to be searched with)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "model": {"name": embedder.name, "dimension": embedder.dim},
        "chunking": {
            "max_chunk_chars": MAX_CHUNK_CHARS,
            "overlap_sentences": OVERLAP_SENTENCES,
            "max_sentence_chars": MAX_SENTENCE_CHARS,
            "embedded_text": "headline + newline + chunk",
        },
        "lexical": {
            "tokenizer": TOKENIZER,
            "scorer": "Lucene BM25 (k1=1.5, b=0.75) over term-frequency postings",
        },
        "dense": report.dense,
        "settings": settings,
        "corpus_fingerprint": _key("".join(sorted(p.page_id + _page_hash(p) for p in pages))),
        "counts": {
            "pages": report.pages,
            "articles": report.articles,
            "chunks": report.chunks,
            "sentences": report.sentences,
        },
        "dates": sorted({p.date for p in pages if p.date}),
        "generation": 0,
        "segments": [{"name": "."}],
        "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": _library_versions(),
        "warnings": report.warnings,
    }


def _page_hash(page: Page) -> str:
    return _key(page.raw)


def _write_files(
    tmp: Path,
    manifest: dict,
    pages: list[Page],
    numbers: dict[str, int | None],
    articles: dict[str, Article],
    chunks: list[Chunk],
    sentences: list[Sentence],
    chunk_vecs: np.ndarray,
    sent_vecs: np.ndarray,
    keys: list[str],
) -> None:
    infos = page_infos(pages, numbers)
    write_segment(tmp, infos, articles, chunks, sentences, chunk_vecs, keys, manifest["dense"])
    (tmp / ".gitkeep").touch()
    # the manifest last: a directory without one is never a finished index
    write_json(tmp / "manifest.json", manifest)


def page_infos(pages: Sequence[Page], numbers: dict[str, int | None]) -> list[PageInfo]:
    """What the index keeps of each page."""
    return [
        PageInfo(
            p.page_id,
            Path(p.path).name,
            _page_hash(p),
            p.date,
            p.edition,
            numbers.get(p.page_id, p.number),
            p.warnings,
            str(Path(p.path).resolve()),
        )
        for p in pages
    ]


def write_segment(
    where: Path,
    pages: Sequence[PageInfo],
    articles: dict[str, Article],
    chunks: Sequence[Chunk],
    sentences: Sequence[Sentence],
    chunk_vecs: np.ndarray,
    keys: list[str],
    plan: dict,
    postings: Postings | None = None,
) -> None:
    """Write one segment's files into ``where`` (its vectors were written while embedding):
    pages, tables, vector keys, the dense index of ``plan`` and the lexical postings (made
    from the chunks unless given)."""
    import faiss

    write_json(where / "pages.json", [asdict(p) for p in pages])
    write_tables(where, articles, chunks, sentences, [p.page_id for p in pages])
    write_json(where / "vector_keys.json", keys)
    faiss.write_index(_dense_index(chunk_vecs, plan), str(where / "chunks.faiss"))
    (postings or Postings.of(lexical_tokens(chunks, articles))).save(where)


_held: set[Path] = set()


@contextmanager
def write_lock(index_dir: Path) -> Iterator[None]:
    """Hold the index's write lock for the block: one build, add or merge at a time.

    The lock is an advisory ``flock`` on ``.<name>.lock`` beside the index directory (the
    directory itself is swapped by builds); the kernel releases it when its holder dies, even
    by ``kill -9``. A second writer gets :class:`IndexBusyError` at once, naming the holder.
    """
    index_dir = index_dir.resolve()
    if index_dir in _held:  # this process holds it already (a build that grows)
        yield
        return
    index_dir.parent.mkdir(parents=True, exist_ok=True)
    path = index_dir.parent / f".{index_dir.name}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "?"
            raise IndexBusyError(
                f"the index at {index_dir} is being written by another process (pid {holder}); "
                "wait for that build or add to finish, then try again"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        _held.add(index_dir)
        try:
            yield
        finally:
            _held.discard(index_dir)
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def write_json_atomic(path: Path, data: object) -> None:
    """Write JSON so that readers see the old file or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(json.dumps(data, ensure_ascii=False))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


@contextmanager
def _staging(index_dir: Path) -> Iterator[Path]:
    """A sibling temporary directory that replaces ``index_dir`` when the block succeeds.

    Created before any work, so an interrupted build (even a kill) never touches the current
    index; staging directories left by dead builds are removed by the next one.
    """
    index_dir = index_dir.resolve()
    index_dir.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{index_dir.name}.building-"
    for stale in index_dir.parent.glob(prefix + "*"):
        pid = stale.name[len(prefix) :].split("-")[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir=index_dir.parent))
    try:
        yield tmp
        old = None
        if index_dir.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{index_dir.name}.old-", dir=index_dir.parent))
            old.rmdir()
            os.rename(index_dir, old)
        os.rename(tmp, index_dir)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# ----------------------------------------------------------------------------- load


def check_manifest(index_dir: Path, model_name: str | None = None) -> dict:
    """Read and validate ``manifest.json``; raise with the command that fixes a problem."""
    path = index_dir / "manifest.json"
    hint = BUILD_HINT.format(path=index_dir)
    if not path.is_file():
        raise IndexMissingError(f"no index at {index_dir}; build one with: {hint}")
    try:
        manifest = _read_json(path)
    except (OSError, ValueError) as exc:
        raise IndexMismatchError(
            f"index manifest {path} is unreadable ({exc}); rebuild with: {hint} --full"
        ) from exc
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise IndexMismatchError(
            f"index at {index_dir} has schema {manifest.get('schema_version')}, this version "
            f"reads schema {SCHEMA_VERSION}; rebuild with: {hint} --full"
        )
    built_with = manifest.get("model", {}).get("name")
    if model_name is not None and built_with != model_name:
        raise IndexMismatchError(
            f"index at {index_dir} was built with model {built_with!r}, not {model_name!r}; "
            f"rebuild with: {hint} --full --model {model_name}"
        )
    return manifest


def load_segment(
    where: Path,
    dim: int,
    dead_articles: Sequence[str] = (),
    dead_pages: Sequence[str] = (),
) -> Segment:
    """Load one segment's files (memory-mapped); ``ValueError``/``OSError`` when damaged."""
    import faiss

    pages = [
        PageInfo(**{**d, "warnings": tuple(d["warnings"])})
        for d in _read_json(where / "pages.json")
    ]
    ids = _read_json(where / "tables.json")
    articles = ArticleTable.load(where)
    chunks = ChunkTable.load(where, ids["articles"], ids["pages"])
    sentences = SentenceTable.load(where, ids["articles"], ids["pages"])
    # memory-mapped: a large archive's vectors are paged in as questions touch them
    chunk_vecs = _load_vectors(where / "chunk_vectors.npy")
    sent_vecs = _load_vectors(where / "sentence_vectors.npy")
    # memory-mapped, read-only: the graph and its vectors are paged in as searches go
    dense = faiss.read_index(str(where / "chunks.faiss"), faiss.IO_FLAG_MMAP_IFC)
    postings = Postings.load(where)
    if (
        len(chunks) != len(chunk_vecs)
        or len(sentences) != len(sent_vecs)
        or dense.ntotal != len(chunks)
        or len(postings.lengths) != len(chunks)
        or (len(chunk_vecs) and chunk_vecs.shape[1] != dim)
    ):
        raise ValueError(f"the files of {where} do not agree with each other")
    if hasattr(dense, "hnsw"):
        dense.hnsw.efSearch = ef_search(dense.ntotal)
    return Segment(
        where,
        pages,
        articles,
        chunks,
        sentences,
        chunk_vecs,
        sent_vecs,
        dense,
        postings,
        frozenset(dead_articles),
        frozenset(dead_pages),
    )


def load_index(
    index_dir: Path, model_name: str | None = None, manifest: dict | None = None
) -> Index:
    """Load an index directory written by :func:`build_index` (and grown by ``rag add``);
    ``manifest``: load as that manifest says, not as the one on disk does (``rag add``
    checks a new manifest this way before it writes it)."""
    manifest = manifest or check_manifest(index_dir, model_name)
    hint = BUILD_HINT.format(path=index_dir) + " --full"
    dim = manifest["model"]["dimension"]
    try:
        segments = [
            load_segment(
                index_dir / str(entry["name"]),
                dim,
                entry.get("dead_articles", ()),
                entry.get("dead_pages", ()),
            )
            for entry in manifest.get("segments", [{"name": "."}])
        ]
        if segments and hasattr(segments[0].dense, "hnsw"):
            segments[0].dense.hnsw.efSearch = int(
                manifest.get("dense", {}).get("efSearch", ef_search(segments[0].dense.ntotal))
            )
        whole = combine(segments)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise IndexMismatchError(
            f"index at {index_dir} is damaged ({exc}); rebuild: {hint}"
        ) from exc
    return Index(
        path=index_dir,
        manifest=manifest,
        pages=whole.pages,
        articles=whole.articles,
        chunks=whole.chunks,
        sentences=whole.sentences,
        chunk_vectors=whole.chunk_vectors,
        sentence_vectors=whole.sentence_vectors,
        dense=whole.dense,
        lexical=whole.lexical,
    )
