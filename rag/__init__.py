"""报纸档案问答: extractive question answering with citations over a Chinese newspaper archive.

Importing this package loads nothing heavy; the model and the index load on first use.
"""

from __future__ import annotations

from rag.errors import IndexMismatchError, IndexMissingError, ModelError, RagError
from rag.ingest.articles import Article, Paragraph, Part
from rag.ingest.pages import Page
from rag.qa.answer import answer
from rag.qa.config import AnswerConfig, RetrievalConfig
from rag.qa.locate import page_image
from rag.qa.records import Answer, Box, Citation, Hit
from rag.qa.retrieve import archive_summary, get_article, retrieve
from rag.store.grow import GrowReport, add_pages, merge_index
from rag.store.index import BuildReport, build_index

__all__ = [
    "Answer",
    "AnswerConfig",
    "Article",
    "Box",
    "BuildReport",
    "Citation",
    "GrowReport",
    "Hit",
    "IndexMismatchError",
    "IndexMissingError",
    "ModelError",
    "Page",
    "Paragraph",
    "Part",
    "RagError",
    "RetrievalConfig",
    "add_pages",
    "answer",
    "archive_summary",
    "build_index",
    "get_article",
    "merge_index",
    "page_image",
    "retrieve",
]
