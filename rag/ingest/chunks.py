"""Split articles into sentences and into overlapping chunks that never cross an article."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from rag.ingest.articles import Article

MAX_CHUNK_CHARS = 320  # ~1 token per Chinese character: well inside e5's 512-token window
OVERLAP_SENTENCES = 1
MAX_SENTENCE_CHARS = 300

# A sentence ends at 。！？； (or their half-width forms), optionally followed by closing quotes;
# also at a full-width full stop ． outside a number (OCR reads a small 。 or …… as one).
_SENTENCE_END = re.compile(
    r"[。！？；!?;]+[”’」』）)]*|[…]{2,}[”’」』]*|(?<![0-9０-９])．(?![0-9０-９])[”’」』）)]*"
)


@dataclass(frozen=True)
class Sentence:
    """A sentence of an article, verbatim, with its span in the clean page text."""

    sentence_id: int
    article_id: str
    part: int  # index into Article.parts
    page: str
    text: str
    start: int
    end: int


@dataclass(frozen=True)
class Chunk:
    """A retrieval unit: consecutive sentences of one part of one article."""

    chunk_id: int
    article_id: str
    part: int
    page: str
    text: str  # verbatim article text
    start: int  # span in the clean text of ``page``
    end: int
    sentence_ids: tuple[int, ...]


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences of one paragraph (over-long ones cut at commas)."""
    spans: list[tuple[int, int]] = []
    pos = 0
    for m in _SENTENCE_END.finditer(text):
        spans.append((pos, m.end()))
        pos = m.end()
    if pos < len(text):
        spans.append((pos, len(text)))
    out: list[tuple[int, int]] = []
    for s, e in spans:
        while e - s > MAX_SENTENCE_CHARS:
            window = text[s : s + MAX_SENTENCE_CHARS]
            cut = max(window.rfind("，"), window.rfind(","), window.rfind("、"))
            cut = cut + 1 if cut > MAX_SENTENCE_CHARS // 3 else MAX_SENTENCE_CHARS
            out.append((s, s + cut))
            s += cut
        if text[s:e].strip():
            out.append((s, e))
    return out


def sentences_of(articles: list[Article], first_id: int = 0) -> list[Sentence]:
    """Every sentence of every article, in reading order."""
    out: list[Sentence] = []
    sid = first_id
    for art in articles:
        for pi, part in enumerate(art.parts):
            for para in part.paragraphs:
                for s, e in split_sentences(para.text):
                    lead = len(para.text[s:e]) - len(para.text[s:e].lstrip())
                    text = para.text[s:e].strip()
                    out.append(
                        Sentence(
                            sid,
                            art.article_id,
                            pi,
                            part.page_id,
                            text,
                            para.start + s + lead,
                            para.start + s + lead + len(text),
                        )
                    )
                    sid += 1
    return out


def chunk_sentences(sentences: list[Sentence], max_chars: int = MAX_CHUNK_CHARS) -> list[Chunk]:
    """Group consecutive sentences of the same article part into chunks of at most
    ``max_chars`` characters, repeating the last sentence of a chunk at the start of the next."""
    chunks: list[Chunk] = []
    groups: dict[tuple[str, int], list[Sentence]] = {}
    order: list[tuple[str, int]] = []
    for s in sentences:
        key = (s.article_id, s.part)
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(s)
    for key in order:
        sents = groups[key]
        i = 0
        while i < len(sents):
            j = i
            size = 0
            while j < len(sents) and (j == i or size + len(sents[j].text) <= max_chars):
                size += len(sents[j].text)
                j += 1
            chosen = sents[i:j]
            chunks.append(_make_chunk(len(chunks), chosen))
            if j >= len(sents):
                break
            i = max(j - OVERLAP_SENTENCES, i + 1)
    return chunks


def _make_chunk(cid: int, sents: list[Sentence]) -> Chunk:
    # Sentences of a part are in page order; the chunk text joins them as they stand,
    # with a newline where the page has a paragraph break.
    pieces: list[str] = []
    for a, b in itertools.pairwise(sents):
        pieces.append(a.text)
        if b.start > a.end:
            pieces.append("\n")
    pieces.append(sents[-1].text)
    return Chunk(
        chunk_id=cid,
        article_id=sents[0].article_id,
        part=sents[0].part,
        page=sents[0].page,
        text="".join(pieces),
        start=sents[0].start,
        end=sents[-1].end,
        sentence_ids=tuple(s.sentence_id for s in sents),
    )
