"""报纸档案问答: extractive question answering with citations over a Chinese newspaper archive.

Importing this package loads nothing heavy; the model and the index load on first use.
"""

from __future__ import annotations

from rag.errors import IndexMismatchError, IndexMissingError, ModelError, RagError
from rag.ingest.articles import Article, Paragraph, Part
from rag.ingest.pages import Page
from rag.qa.answer import Answer, Citation, answer
from rag.qa.retrieve import Hit, archive_summary, get_article, retrieve
from rag.store.index import BuildReport, build_index

__all__ = [
    "Answer",
    "Article",
    "BuildReport",
    "Citation",
    "Hit",
    "IndexMismatchError",
    "IndexMissingError",
    "ModelError",
    "Page",
    "Paragraph",
    "Part",
    "RagError",
    "answer",
    "archive_summary",
    "build_index",
    "get_article",
    "retrieve",
]
