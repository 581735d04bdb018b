"""Answering: a question is read once, routed by kind, and answered from the index.

- ``records``: ``Hit``, ``Citation``, ``Answer`` (what callers get back).
- ``config``: frozen retrieval and answering settings.
- ``dates``: the dates of a sentence; relative dates read against the report's dateline.
- ``spans``: question types, clause alignment and span edges; the pattern extractor (the
  ``rules`` reader).
- ``dialogue``: follow-up resolution and the dates a question names.
- ``query``: ``read_question``, the one place a question is understood, and its route.
- ``retrieve``: the one retriever (``rag.retrieve`` and answering both use it).
- ``digest``: whole-article answers: an article's lead, an issue's articles, a topic's.
- ``answer``: the router and the span handler (``rag.answer``).
- ``examples``: questions the archive answers, made from the index for the chat page.
"""
