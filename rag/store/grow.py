"""An archive that grows: a day's pages added to a live index, pages replaced or removed, and
the segments merged back into one, without rebuilding what exists.

``add_pages`` reads the new page files, re-reads the pages already indexed that belong to the
same issues (an article may continue from one page of an issue to another, and segmentation
weighs words by the issue's own pages: :func:`rag.ingest.articles.issue_key`), segments,
chunks and embeds them (vectors of unchanged texts are copied), and writes them as a new
segment under ``segments/``. The pages they replace are marked deleted in the manifest with
all their articles. The manifest is written last, atomically: a kill at any moment leaves the
index as it was before or as it is after, never half; a segment directory no manifest names is
removed by the next writer. All writers hold the index's lock (:func:`write_lock`).

Answers after adding equal those of a full build of the same pages: segmentation is per issue,
BM25 weights come from every live chunk at question time (:mod:`rag.store.lexical`), and dense
scores are inner products of the same vectors (approximate only where a segment is an HNSW
graph, as a full build's is).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from rag.errors import RagError
from rag.ingest.articles import issue_key, page_numbers, segment
from rag.ingest.chunks import chunk_sentences, sentences_of
from rag.ingest.pages import Page, PageMapper, read_files, read_pages
from rag.models.embed import Embedder, load_embedder
from rag.store.index import (
    BuildReport,
    Index,
    PageInfo,
    _dense_index,
    _embed,
    _key,
    _previous_vectors,
    _staging,
    _vector_file,
    build_index,
    check_manifest,
    default_index_dir,
    dense_plan,
    embed_text_of,
    embed_text_of_sentence,
    load_index,
    load_segment,
    page_infos,
    segment_names,
    write_json_atomic,
    write_lock,
    write_segment,
)
from rag.store.lexical import Postings
from rag.store.pictures import merge_pictures, write_pictures
from rag.store.segments import TextRows
from rag.store.tables import ArticleTable, ChunkTable, SentenceTable, TextColumn, write_json

SEGMENTS = "segments"


@dataclass
class GrowReport:
    """What one ``rag add`` (or merge) did."""

    added: list[str] = field(default_factory=list)  # page ids new to the index
    replaced: list[str] = field(default_factory=list)  # page ids read again from a new file
    removed: list[str] = field(default_factory=list)
    reread: list[str] = field(default_factory=list)  # pages of the same issues, segmented again
    articles: int = 0
    chunks: int = 0
    embedded: int = 0
    reused: int = 0
    segment: str | None = None
    generation: int = 0
    seconds: float = 0.0
    total_chunks: int = 0
    warnings: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """Human-readable summary."""
        out = [
            f"pages added: {len(self.added)}   replaced: {len(self.replaced)}   "
            f"removed: {len(self.removed)}   read again (same issues): {len(self.reread)}",
            f"articles: {self.articles}   chunks: {self.chunks}   embedded: {self.embedded}   "
            f"reused: {self.reused}   seconds: {self.seconds:.1f}",
            f"segment: {self.segment or '-'}   generation: {self.generation}   "
            f"chunks in the index: {self.total_chunks}",
            f"warnings: {len(self.warnings)}",
        ]
        out.extend(f"  - {w}" for w in self.warnings)
        return out


def _page_order(page: Page) -> tuple[str, int]:
    """Pages of a segment in the order a build of their folder reads them."""
    return (str(Path(page.path)), page.pdf_page or 0)


def add_pages(
    files: Sequence[str | Path],
    index_dir: str | Path | None = None,
    embedder: Embedder | None = None,
    remove: Sequence[str] = (),
    progress: Callable[[str, int, int], None] | None = None,
    mapper: PageMapper | None = None,
) -> GrowReport:
    """Add (or replace) the pages of ``files`` and remove the pages ``remove`` names, in the
    index at ``index_dir`` (None: ``$RAG_INDEX_DIR`` or ``index/``), embedding with the
    index's own model unless ``embedder`` is given; see the module's docstring. Raises
    ``ValueError`` for a missing file or an unknown page id, ``IndexBusyError`` while another
    process writes the index."""
    t0 = time.perf_counter()
    index_dir = Path(index_dir) if index_dir is not None else default_index_dir()
    with write_lock(index_dir):
        if embedder is None:
            embedder = load_embedder(check_manifest(index_dir)["model"]["name"])
        manifest = check_manifest(index_dir, embedder.name)
        drop_orphans(index_dir, manifest)
        missing = [f for f in files if not Path(f).is_file()]
        if missing:
            raise ValueError(f"no such page file: {', '.join(str(m) for m in missing)}")
        pages = read_files([Path(f) for f in files], mapper, progress) if files else []
        report = _grow(index_dir, manifest, pages, list(remove), embedder, progress, None)
    report.seconds = time.perf_counter() - t0
    return report


def build_or_grow(
    pages_dir: Path,
    index_dir: Path,
    embedder: Embedder,
    full: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
    read: Callable[..., list[Page]] = read_pages,
    settings: dict | None = None,
) -> BuildReport | GrowReport:
    """``rag build``: when the index exists and the folder differs from it by a few issues,
    only those are added and removed (:func:`grow_from`); otherwise a build
    (:func:`rag.store.index.build_index`, reusing vectors unless ``full``)."""
    index_dir = Path(index_dir)
    with write_lock(index_dir):
        manifest = _same_settings(index_dir, embedder, settings or {}) if not full else None
        if manifest is None:
            return build_index(pages_dir, index_dir, embedder, full, progress, read, settings)
        t0 = time.perf_counter()
        pages = read(pages_dir, progress=progress)
        report = grow_from(index_dir, manifest, pages, embedder, progress)
        if report is not None:
            report.seconds = time.perf_counter() - t0
            return report
        return build_index(
            pages_dir, index_dir, embedder, full, progress, lambda *a, **k: pages, settings
        )


def _same_settings(index_dir: Path, embedder: Embedder, settings: dict) -> dict | None:
    """The index's manifest when it can grow: same schema, model and recorded settings."""
    try:
        manifest = check_manifest(index_dir, embedder.name)
    except RagError:
        return None
    return manifest if manifest.get("settings", {}) == settings else None


def grow_from(
    index_dir: Path,
    manifest: dict,
    pages: list[Page],
    embedder: Embedder,
    progress: Callable[[str, int, int], None] | None = None,
) -> GrowReport | None:
    """The incremental form of a build (under its lock): when the folder read into ``pages``
    differs from the index by a few issues, add and remove just those and return the report;
    None when a full build is the better way (a small folder, most of it changed)."""
    t0 = time.perf_counter()
    try:
        index = load_index(index_dir, embedder.name, manifest)
    except RagError:  # a damaged index: the full build decides
        return None
    known = {pid: info.sha256 for pid, info in index.pages.items()}
    now = {p.page_id: p for p in pages}
    changed = [p for p in pages if known.get(p.page_id) != _key(p.raw)]
    gone = [pid for pid in known if pid not in now]
    touched = {issue_key(p) for p in changed} | {
        (index.pages[g].date, index.pages[g].edition) for g in gone
    }
    affected = sum(1 for p in pages if issue_key(p) in touched)
    if len(pages) < GROW_MIN_PAGES or affected > len(pages) * GROW_MAX_SHARE:
        return None
    drop_orphans(index_dir, manifest)
    report = _grow(index_dir, manifest, changed, gone, embedder, progress, now)
    report.seconds = time.perf_counter() - t0
    return report


GROW_MIN_PAGES = 8  # a folder this small is rebuilt whole: as fast, and one segment
GROW_MAX_SHARE = 0.25  # more of the pages than this touched: rebuild (reusing vectors)


def _grow(
    index_dir: Path,
    manifest: dict,
    new_pages: list[Page],
    remove: list[str],
    embedder: Embedder,
    progress: Callable[[str, int, int], None] | None,
    at_hand: dict[str, Page] | None,
) -> GrowReport:
    index = load_index(index_dir, embedder.name, manifest)
    live = index.pages
    report = GrowReport(generation=index.generation, total_chunks=len(index.chunks))
    ids = [p.page_id for p in new_pages]
    doubled = sorted({i for i in ids if ids.count(i) > 1})
    if doubled:
        raise ValueError(f"two files give the same page id: {', '.join(doubled)}")
    unknown = [r for r in remove if r not in live]
    if unknown:
        raise ValueError(f"no page {', '.join(unknown)} in the index at {index_dir}")
    new_ids = set(ids)
    keys = {issue_key(p) for p in new_pages}
    keys |= {(live[r].date, live[r].edition) for r in remove}
    keys |= {(live[i].date, live[i].edition) for i in new_ids if i in live}
    dead = {pid for pid, info in live.items() if (info.date, info.edition) in keys}
    dead |= (new_ids & set(live)) | set(remove)
    mates = [live[pid] for pid in sorted(dead) if pid not in new_ids and pid not in remove]
    report.added = sorted(new_ids - set(live))
    report.replaced = sorted(new_ids & set(live))
    report.removed = sorted(remove)
    report.reread = [m.page_id for m in mates]
    seg_pages = sorted(new_pages + _reread(mates, at_hand, index_dir), key=_page_order)
    if not seg_pages and not dead:
        return report

    seg = segment(seg_pages)
    articles = {a.article_id: a for a in seg.articles}
    sentences = sentences_of(seg.articles)
    chunks = chunk_sentences(sentences)
    report.warnings = [w for p in new_pages for w in p.warnings] + seg.warnings
    generation = index.generation + 1
    name = f"{SEGMENTS}/s{generation:06d}"
    entries = [dict(e) for e in manifest.get("segments", [{"name": "."}])]
    if seg_pages:
        (index_dir / SEGMENTS).mkdir(exist_ok=True)
        staging = index_dir / SEGMENTS / f".s{generation:06d}.{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        try:
            texts = [embed_text_of(c, articles[c.article_id]) for c in chunks]
            texts += [embed_text_of_sentence(s) for s in sentences]
            vkeys = [_key(t) for t in texts]
            # texts of pages read again keep their vectors; a new day's pages have none to
            # keep (and a large index's text hashes take seconds to read)
            reuse = bool(mates or report.replaced)
            old = _previous_vectors(index_dir, embedder.name, embedder.dim) if reuse else {}
            chunk_vecs, _, embedded = _embed(
                staging, texts, vkeys, len(chunks), old, embedder, progress
            )
            infos = page_infos(seg_pages, page_numbers(seg_pages, seg.articles))
            plan = dense_plan(len(chunks), embedder.dim)
            write_segment(staging, infos, articles, chunks, sentences, chunk_vecs, vkeys, plan)
            write_pictures(staging, seg_pages, None)
            os.replace(staging, index_dir / name)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        report.embedded, report.reused = embedded, len(vkeys) - embedded
        report.segment = name
    _mark_dead(index_dir, entries, dead, index.manifest["model"]["dimension"])
    if seg_pages:
        entries.append({"name": name})
    new_manifest = {
        **manifest,
        "segments": entries,
        "generation": generation,
        "updated_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "warnings": list(manifest.get("warnings", [])) + report.warnings,
    }
    # the new index is loaded (every file checked) before the manifest names it
    after = load_index(index_dir, embedder.name, new_manifest)
    new_manifest.update(summary(after.pages, after))
    write_json_atomic(index_dir / "manifest.json", new_manifest)
    report.articles, report.chunks = len(articles), len(chunks)
    report.generation, report.total_chunks = generation, len(after.chunks)
    return report


def summary(pages: dict[str, PageInfo], index: object) -> dict:
    """The manifest's counts, dates and fingerprint of a loaded index (as a build writes)."""
    return {
        "counts": {
            "pages": len(pages),
            "articles": len(index.articles),  # type: ignore[attr-defined]
            "chunks": len(index.chunks),  # type: ignore[attr-defined]
            "sentences": len(index.sentences),  # type: ignore[attr-defined]
        },
        "dates": sorted({p.date for p in pages.values() if p.date}),
        "corpus_fingerprint": _key("".join(sorted(pid + p.sha256 for pid, p in pages.items()))),
    }


def _reread(mates: list[PageInfo], at_hand: dict[str, Page] | None, index_dir: Path) -> list[Page]:
    """The pages ``mates`` read again from their files (or taken from ``at_hand``)."""
    if not mates:
        return []
    if at_hand is not None:
        return [at_hand[m.page_id] for m in mates]
    files: list[Path] = []
    for m in mates:
        path = Path(m.path) if m.path else None
        if path is None or not path.is_file():
            raise ValueError(
                f"page {m.page_id} is of the same issue as pages being added, and its file "
                f"{m.path or m.file} can no longer be read; rebuild the index from the pages "
                f"folder: rag build <pages-folder> --index {index_dir}"
            )
        if path not in files:
            files.append(path)
    wanted = {m.page_id for m in mates}
    got = [p for p in read_files(files) if p.page_id in wanted]
    lost = wanted - {p.page_id for p in got}
    if lost:
        raise ValueError(
            f"pages {', '.join(sorted(lost))} are no longer in their files; rebuild the index "
            f"from the pages folder: rag build <pages-folder> --index {index_dir}"
        )
    return got


def _mark_dead(index_dir: Path, entries: list[dict], dead: set[str], dim: int) -> None:
    """Mark the pages ``dead`` deleted in the segment entries that hold them live, with every
    article that has a part on them."""
    if not dead:
        return
    for entry in entries:
        seg = load_segment(
            index_dir / str(entry["name"]),
            dim,
            entry.get("dead_articles", ()),
            entry.get("dead_pages", ()),
        )
        here = {p.page_id for p in seg.pages} - seg.dead_pages
        hit = here & dead
        if not hit:
            continue
        codes = [i for i, pid in enumerate(seg.chunks.page_ids) if pid in hit]
        arts: set[str] = set()
        for table in (seg.chunks, seg.sentences):
            rows = np.isin(np.asarray(table.columns["page"]), codes)
            arts |= {table.article_ids[c] for c in np.unique(table.columns["article"][rows])}
        arts |= {a for a in seg.articles.ids if a.split(":", 1)[0] in hit}
        entry["dead_pages"] = sorted(seg.dead_pages | hit)
        entry["dead_articles"] = sorted(seg.dead_articles | arts)


def drop_orphans(index_dir: Path, manifest: dict) -> None:
    """Remove segment directories the manifest does not name (left by a killed add)."""
    folder = index_dir / SEGMENTS
    if not folder.is_dir():
        return
    named = set(segment_names(manifest))
    for child in folder.iterdir():
        if f"{SEGMENTS}/{child.name}" not in named:
            shutil.rmtree(child, ignore_errors=True)


def _gathered(text: TextColumn | TextRows) -> TextColumn:
    """One text column of the rows ``text`` shows (segments' columns copied run by run)."""
    if isinstance(text, TextColumn):
        return text
    blobs: list[np.ndarray] = []
    lengths: list[np.ndarray] = []
    for col, rows in text.parts:
        off = np.asarray(col.offsets)
        blob = np.asarray(col.blob)
        if rows is None:
            blobs.append(blob[: int(off[-1])])
            lengths.append(np.diff(off))
            continue
        rows = np.asarray(rows, dtype=np.int64)
        lengths.append(off[rows + 1] - off[rows])
        # consecutive rows are one run of bytes: few runs when few rows were deleted
        cuts = np.flatnonzero(np.diff(rows) != 1) + 1
        for run in np.split(rows, cuts):
            if len(run):
                blobs.append(blob[int(off[run[0]]) : int(off[run[-1] + 1])])
    offsets = np.zeros(sum(len(x) for x in lengths) + 1, dtype=np.int64)
    if len(offsets) > 1:
        np.cumsum(np.concatenate(lengths), out=offsets[1:])
    joined = np.concatenate(blobs) if blobs else np.zeros(0, np.uint8)
    return TextColumn(joined.astype(np.uint8, copy=False), offsets)


def _write_merged(
    staging: Path,
    index: Index,
    dim: int,
    plan: dict,
    progress: Callable[[str, int, int], None] | None,
) -> None:
    """Write the live rows of a loaded index as one segment, column by column: no article,
    chunk or sentence object is made (a million chunks as objects take gigabytes)."""
    import faiss

    chunks, sentences, arts = index.chunks, index.sentences, index.articles
    write_json(staging / "pages.json", [asdict(p) for p in index.pages.values()])
    ChunkTable(chunks.columns, _gathered(chunks.text), chunks.article_ids, chunks.page_ids).save(
        staging
    )
    SentenceTable(
        sentences.columns, _gathered(sentences.text), sentences.article_ids, sentences.page_ids
    ).save(staging)
    ArticleTable(arts.ids, arts.dates, arts.headers, _gathered(arts.rows)).save(staging)
    write_json(staging / "tables.json", {"articles": arts.ids, "pages": chunks.page_ids})
    if list(chunks.article_ids) != list(arts.ids):
        raise ValueError("the index's chunk and article tables disagree; rebuild it")
    # the text hashes that let a later build reuse these vectors
    headlines = [json.loads(arts.rows[i]).get("headline") for i in range(len(arts.ids))]
    codes = np.asarray(chunks.columns["article"])
    keys = []
    for i in range(len(chunks)):
        head, text = headlines[int(codes[i])], chunks.text[i]
        keys.append(_key(f"{head}\n{text}" if head else text))
    keys += [_key(sentences.text[i]) for i in range(len(sentences))]
    write_json(staging / "vector_keys.json", keys)
    for name, source in (
        ("chunk_vectors.npy", index.chunk_vectors),
        ("sentence_vectors.npy", index.sentence_vectors),
    ):
        out = _vector_file(staging / name, len(source), dim)
        for a in range(0, len(source), 65536):
            out[a : a + 65536] = np.asarray(source[a : a + 65536])
            if progress:
                progress(name.split("_")[0] + " vectors", min(a + 65536, len(source)), len(source))
        if isinstance(out, np.memmap):
            out.flush()
    chunk_vecs = np.load(staging / "chunk_vectors.npy", mmap_mode="r")
    faiss.write_index(_dense_index(chunk_vecs, plan), str(staging / "chunks.faiss"))
    lexical = index.lexical
    Postings.merged([(p.postings, p.rows, p.offset) for p in lexical.parts]).save(staging)


def merge_index(
    index_dir: str | Path | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> GrowReport:
    """Merge every segment of the index into one base, dropping deleted rows: the index a
    full build of the same pages writes (its dense structure chosen for the whole size),
    without reading or embedding anything again."""
    t0 = time.perf_counter()
    index_dir = Path(index_dir) if index_dir is not None else default_index_dir()
    with write_lock(index_dir):
        manifest = check_manifest(index_dir)
        index = load_index(index_dir)
        report = GrowReport(generation=index.generation, total_chunks=len(index.chunks))
        entries = manifest.get("segments", [{"name": "."}])
        if len(entries) == 1 and not entries[0].get("dead_pages"):
            return report
        with _staging(index_dir) as staging:
            dim = int(manifest["model"]["dimension"])
            plan = dense_plan(len(index.chunks), dim)
            _write_merged(staging, index, dim, plan, progress)
            merge_pictures(staging, index_dir)
            (staging / ".gitkeep").touch()
            new_manifest = {
                **manifest,
                "segments": [{"name": "."}],
                "dense": plan,
                "generation": index.generation + 1,
                **summary(index.pages, index),
            }
            load_index(staging, manifest=new_manifest)  # every file checked before the swap
            write_json(staging / "manifest.json", new_manifest)
        report.generation = index.generation + 1
        report.seconds = time.perf_counter() - t0
        return report
