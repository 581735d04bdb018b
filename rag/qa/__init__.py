"""Answering: a question is read once, routed by kind, and answered from the index.

- ``records``: ``Hit``, ``Citation``, ``Answer`` (what callers get back).
- ``config``: frozen retrieval and answering settings.
- ``spans``: question types and the pattern extractor (the ``rules`` reader).
- ``dialogue``: follow-up resolution and the dates a question names.
- ``query``: ``read_question``, the one place a question is understood.
- ``retrieve``: the one retriever (``rag.retrieve`` and answering both use it).
- ``answer``: the router and the handler of each kind of question (``rag.answer``).
"""
