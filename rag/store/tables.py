"""Columnar, memory-mapped tables of an index's chunks, sentences and articles.

A million chunks as Python objects cost gigabytes and a minute of JSON parsing; as columns they
cost a few integers per row in memory, and their texts stay on disk (memory-mapped) until a
question touches them. The tables behave like the plain containers they replace:
``chunks[i]`` is a :class:`~rag.ingest.chunks.Chunk`, ``sentences[i]`` a
:class:`~rag.ingest.chunks.Sentence`, ``articles[article_id]`` an
:class:`~rag.ingest.articles.Article`, each made when asked for.
"""

from __future__ import annotations

import json
import mmap
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Generic, TypeVar, overload

import numpy as np

from rag.ingest.articles import Article, article_from_dict, article_to_dict
from rag.ingest.chunks import Chunk, Sentence


def random_access(arr: np.ndarray) -> None:
    """Tell the kernel a memory-mapped array is read at random: no read-ahead, so a question
    that touches a few rows pages in a few pages, not hundreds of kilobytes around each."""
    mm = getattr(arr, "_mmap", None)
    if mm is not None and hasattr(mm, "madvise") and hasattr(mmap, "MADV_RANDOM"):
        mm.madvise(mmap.MADV_RANDOM)


def mapped(path: Path) -> np.ndarray:
    """A ``.npy`` array memory-mapped for random access (an empty one read plainly)."""
    arr = np.load(path, allow_pickle=False, mmap_mode="r")
    if not arr.size:
        return np.load(path, allow_pickle=False)
    random_access(arr)
    return arr


def _save(path: Path, arr: np.ndarray) -> None:
    np.save(path, arr, allow_pickle=False)


def _load(path: Path) -> np.ndarray:
    arr = np.load(path, allow_pickle=False, mmap_mode="r")
    return arr if arr.size else np.load(path, allow_pickle=False)


def _named(prefix: Path, suffix: str) -> Path:
    return prefix.with_name(prefix.name + suffix)


class TextColumn:
    """Strings stored as one UTF-8 blob plus byte offsets (``offsets[i]:offsets[i+1]``)."""

    def __init__(self, blob: np.ndarray, offsets: np.ndarray) -> None:
        self.blob = blob  # uint8, possibly memory-mapped
        self.offsets = offsets  # int64, len n + 1

    @classmethod
    def of(cls, texts: Iterable[str]) -> TextColumn:
        encoded = [t.encode("utf-8") for t in texts]
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum([len(b) for b in encoded], out=offsets[1:])
        return cls(np.frombuffer(b"".join(encoded), dtype=np.uint8), offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int) -> str:
        a, b = int(self.offsets[i]), int(self.offsets[i + 1])
        return self.blob[a:b].tobytes().decode("utf-8")

    def save(self, prefix: Path) -> None:
        self.blob.tofile(_named(prefix, ".utf8"))
        _save(_named(prefix, ".offsets.npy"), self.offsets)

    @classmethod
    def load(cls, prefix: Path) -> TextColumn:
        path = _named(prefix, ".utf8")
        size = path.stat().st_size
        blob = np.memmap(path, dtype=np.uint8, mode="r") if size else np.zeros(0, np.uint8)
        random_access(blob)
        offsets = _load(_named(prefix, ".offsets.npy"))
        if len(offsets) == 0 or int(offsets[-1]) != size:
            raise ValueError(f"{path} does not match its offsets")
        return cls(blob, offsets)


def _codes(values: Sequence[str], names: list[str], where: dict[str, int]) -> np.ndarray:
    """Integer codes of ``values``, extending ``names`` with new ones."""
    out = np.empty(len(values), dtype=np.int32)
    for i, v in enumerate(values):
        code = where.get(v)
        if code is None:
            code = where[v] = len(names)
            names.append(v)
        out[i] = code
    return out


R = TypeVar("R", Chunk, Sentence)
T = TypeVar("T", bound="_Rows[Any]")


class _Rows(Sequence[R], Generic[R]):
    """Shared machinery: integer columns, a text column, the article and page id vocabularies;
    ``table[i]`` makes row ``i`` (:meth:`_make`), ``table[a:b]`` a list of rows."""

    INT_COLUMNS: tuple[str, ...] = ()
    NAME = ""

    def __init__(
        self,
        columns: dict[str, np.ndarray],
        text: TextColumn,
        article_ids: list[str],
        page_ids: list[str],
    ) -> None:
        self.columns = columns
        self.text = text
        self.article_ids = article_ids
        self.page_ids = page_ids
        n = len(text)
        if any(len(c) != n for c in columns.values()):
            raise ValueError(f"{self.NAME} columns have different lengths")

    def __len__(self) -> int:
        return len(self.text)

    def _row(self, i: int) -> int:
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"{self.NAME} row {i} out of range")
        return i

    def save(self, directory: Path) -> None:
        for name, col in self.columns.items():
            _save(directory / f"{self.NAME}.{name}.npy", np.ascontiguousarray(col))
        self.text.save(directory / f"{self.NAME}.text")

    @classmethod
    def load(cls: type[T], directory: Path, article_ids: list[str], page_ids: list[str]) -> T:
        columns = {name: _load(directory / f"{cls.NAME}.{name}.npy") for name in cls.INT_COLUMNS}
        return cls(columns, TextColumn.load(directory / f"{cls.NAME}.text"), article_ids, page_ids)

    @classmethod
    def _common(
        cls,
        rows: Sequence[Chunk] | Sequence[Sentence],
        article_ids: list[str],
        page_ids: list[str],
    ) -> tuple[dict[str, np.ndarray], TextColumn]:
        """The columns every table has (article, part, page, start, end) and the texts."""
        a_where = {a: i for i, a in enumerate(article_ids)}
        p_where = {p: i for i, p in enumerate(page_ids)}
        columns = {
            "article": _codes([r.article_id for r in rows], article_ids, a_where),
            "part": np.array([r.part for r in rows], dtype=np.int32),
            "page": _codes([r.page for r in rows], page_ids, p_where),
            "start": np.array([r.start for r in rows], dtype=np.int64),
            "end": np.array([r.end for r in rows], dtype=np.int64),
        }
        return columns, TextColumn.of(r.text for r in rows)

    @overload
    def __getitem__(self, i: int) -> R: ...
    @overload
    def __getitem__(self, i: slice) -> list[R]: ...
    def __getitem__(self, i: int | slice) -> R | list[R]:
        if isinstance(i, slice):
            return [self._make(j) for j in range(*i.indices(len(self)))]
        return self._make(self._row(i))

    def _make(self, i: int) -> R:
        raise NotImplementedError


class SentenceTable(_Rows[Sentence]):
    """The sentences of an index; ``table[i]`` is the :class:`Sentence` with id ``i``."""

    INT_COLUMNS = ("article", "part", "page", "start", "end")
    NAME = "sentences"

    @classmethod
    def of(
        cls, sentences: Sequence[Sentence], article_ids: list[str], page_ids: list[str]
    ) -> SentenceTable:
        if any(s.sentence_id != i for i, s in enumerate(sentences)):
            raise ValueError("sentence ids must be 0..n-1 in order")
        columns, text = cls._common(sentences, article_ids, page_ids)
        return cls(columns, text, article_ids, page_ids)

    def _make(self, i: int) -> Sentence:
        c = self.columns
        return Sentence(
            i,
            self.article_ids[c["article"][i]],
            int(c["part"][i]),
            self.page_ids[c["page"][i]],
            self.text[i],
            int(c["start"][i]),
            int(c["end"][i]),
        )

    def article_ranges(self) -> dict[str, range]:
        """Sentence ids of each article: consecutive, in reading order."""
        codes = np.asarray(self.columns["article"])
        if not len(codes):
            return {}
        cuts = np.flatnonzero(np.diff(codes)) + 1
        starts = np.concatenate([[0], cuts])
        ends = np.concatenate([cuts, [len(codes)]])
        out: dict[str, range] = {}
        for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
            aid = self.article_ids[codes[a]]
            if aid in out:
                raise ValueError(f"sentences of article {aid} are not consecutive")
            out[aid] = range(a, b)
        return out


class ChunkTable(_Rows[Chunk]):
    """The chunks of an index; ``table[i]`` is the :class:`Chunk` with id ``i``."""

    INT_COLUMNS = ("article", "part", "page", "start", "end", "first_sentence", "sentences")
    NAME = "chunks"

    @classmethod
    def of(cls, chunks: Sequence[Chunk], article_ids: list[str], page_ids: list[str]) -> ChunkTable:
        if any(c.chunk_id != i for i, c in enumerate(chunks)):
            raise ValueError("chunk ids must be 0..n-1 in order")
        for c in chunks:
            ids = c.sentence_ids
            if ids and list(ids) != list(range(ids[0], ids[0] + len(ids))):
                raise ValueError(f"chunk {c.chunk_id}: sentences are not consecutive")
        columns, text = cls._common(chunks, article_ids, page_ids)
        columns["first_sentence"] = np.array(
            [c.sentence_ids[0] if c.sentence_ids else -1 for c in chunks], dtype=np.int64
        )
        columns["sentences"] = np.array([len(c.sentence_ids) for c in chunks], dtype=np.int32)
        return cls(columns, text, article_ids, page_ids)

    def _make(self, i: int) -> Chunk:
        c = self.columns
        first = int(c["first_sentence"][i])
        return Chunk(
            i,
            self.article_ids[c["article"][i]],
            int(c["part"][i]),
            self.page_ids[c["page"][i]],
            self.text[i],
            int(c["start"][i]),
            int(c["end"][i]),
            tuple(range(first, first + int(c["sentences"][i]))),
        )

    def article_codes(self) -> np.ndarray:
        """Article code of every chunk (an index into ``article_ids``)."""
        return np.asarray(self.columns["article"])

    def first_chunk_of_sentences(self, n_sentences: int) -> np.ndarray:
        """For each sentence, the first chunk that holds it (-1 if none)."""
        out = np.full(n_sentences, -1, dtype=np.int64)
        first = np.asarray(self.columns["first_sentence"])
        count = np.asarray(self.columns["sentences"])
        # walk chunks backwards so the earliest chunk writes last
        for cid in range(len(first) - 1, -1, -1):
            if count[cid]:
                out[first[cid] : first[cid] + count[cid]] = cid
        return out


class ArticleTable(Mapping[str, Article]):
    """Articles by id, each stored as one JSON line and parsed when asked for (a few cached).

    The fields retrieval needs for every article (date, header words) are kept as lists.
    """

    CACHE = 4096

    def __init__(
        self, ids: list[str], dates: list[str | None], headers: list[str], rows: TextColumn
    ) -> None:
        if not len(ids) == len(dates) == len(headers) == len(rows):
            raise ValueError("article columns have different lengths")
        self.ids = ids
        self.dates = dates
        self.headers = headers
        self.rows = rows
        self.where = {a: i for i, a in enumerate(ids)}
        self._cache: OrderedDict[str, Article] = OrderedDict()

    @classmethod
    def of(cls, articles: Iterable[Article], sentences: Sequence[Sentence]) -> ArticleTable:
        arts = list(articles)
        firsts: dict[str, str] = {}
        for s in sentences:
            firsts.setdefault(s.article_id, s.text)
        headers = [
            " ".join([a.headline or "", *a.other_titles, firsts.get(a.article_id, "")]).lower()
            for a in arts
        ]
        rows = TextColumn.of(
            json.dumps(article_to_dict(a), ensure_ascii=False, separators=(",", ":")) for a in arts
        )
        return cls([a.article_id for a in arts], [a.date for a in arts], headers, rows)

    def save(self, directory: Path) -> None:
        meta = {"ids": self.ids, "dates": self.dates, "headers": self.headers}
        (directory / "articles.meta.json").write_text(
            json.dumps(meta, ensure_ascii=False), encoding="utf-8"
        )
        self.rows.save(directory / "articles.rows")

    @classmethod
    def load(cls, directory: Path) -> ArticleTable:
        meta = json.loads((directory / "articles.meta.json").read_text(encoding="utf-8"))
        rows = TextColumn.load(directory / "articles.rows")
        return cls(list(meta["ids"]), list(meta["dates"]), list(meta["headers"]), rows)

    def __getitem__(self, article_id: str) -> Article:
        hit = self._cache.get(article_id)
        if hit is not None:
            self._cache.move_to_end(article_id)
            return hit
        row = self.where[article_id]  # KeyError for an unknown id, as a dict would
        art = article_from_dict(json.loads(self.rows[row]))
        self._cache[article_id] = art
        if len(self._cache) > self.CACHE:
            self._cache.popitem(last=False)
        return art

    def __iter__(self) -> Iterator[str]:
        return iter(self.ids)

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, article_id: object) -> bool:
        return article_id in self.where

    def date_of(self, article_id: str) -> str | None:
        """The article's date without parsing the article."""
        return self.dates[self.where[article_id]]

    def header_of(self, article_id: str) -> str:
        """Lower-cased headline, other titles and first sentence (for lexical evidence)."""
        row = self.where.get(article_id)
        return "" if row is None else self.headers[row]


class CodeView(Sequence[str]):
    """``names[codes[i]]`` for each ``i``: a column of ids without a list of strings."""

    def __init__(self, codes: np.ndarray, names: list[str]) -> None:
        self.codes = codes
        self.names = names

    def __len__(self) -> int:
        return len(self.codes)

    @overload
    def __getitem__(self, i: int) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> list[str]: ...
    def __getitem__(self, i: int | slice) -> str | list[str]:
        if isinstance(i, slice):
            return [self.names[c] for c in self.codes[i]]
        return self.names[self.codes[i]]


def write_json(path: Path, data: object) -> None:
    """Write ``data`` as UTF-8 JSON (Chinese kept as it is)."""
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def write_tables(
    directory: Path,
    articles: dict[str, Article],
    chunks: Sequence[Chunk],
    sentences: Sequence[Sentence],
    page_ids: list[str],
) -> None:
    """Write the article, chunk and sentence tables (``rag.store.tables``) into ``directory``."""
    article_ids = list(articles)
    ArticleTable.of(articles.values(), sentences).save(directory)
    ChunkTable.of(chunks, article_ids, list(page_ids)).save(directory)
    SentenceTable.of(sentences, article_ids, list(page_ids)).save(directory)
    write_json(directory / "tables.json", {"articles": article_ids, "pages": list(page_ids)})
