"""The measured word lists of question reading (``lexicon.json``), each with where its entries
come from: written by ``scripts/lexicons.py`` from public training questions (CMRC 2018 train,
DRCD train), jieba's dictionary and GB/T 2260; never from dev questions."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

LEXICON = Path(__file__).with_name("lexicon.json")


@cache
def entries(name: str) -> tuple[str, ...]:
    """The entries of one list (``predicates``, ``place_hints``, ``org_hints``)."""
    lists = json.loads(LEXICON.read_text(encoding="utf-8"))["lists"]
    try:
        return tuple(lists[name]["entries"])
    except KeyError:
        raise KeyError(f"no word list {name!r} in {LEXICON}; valid: {', '.join(lists)}") from None
