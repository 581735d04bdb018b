"""The library's own exceptions; the CLI and the UI translate them at the edges."""

from __future__ import annotations


class RagError(Exception):
    """Base class of every error this library raises on purpose."""


class ModelError(RagError):
    """The embedding model cannot be materialised or loaded."""


class IndexMissingError(RagError):
    """No index exists where one was expected."""


class IndexMismatchError(RagError):
    """The index on disk was built by another model, schema or settings, or is damaged."""


class PageReadError(RagError):
    """A page file cannot be read as text."""


class IndexBusyError(RagError):
    """Another process is writing the index (a build, an add or a merge holds its lock)."""
