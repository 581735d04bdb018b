"""The index on disk: its columnar tables, its builds (local or on Ray) and loading it back.

- ``tables``: chunks, sentences and articles as memory-mapped columns.
- ``index``: ``build_index`` (atomic, incremental), ``load_index``, the manifest.
- ``distributed``: ``rag build --ray`` (pages read as Ray tasks, embedding on actors).
"""
