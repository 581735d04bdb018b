"""``python -m ui``: serve the chat page (127.0.0.1:7860 unless told otherwise)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Mapping
from functools import partial
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    """Load the index, then serve the page until interrupted."""
    p = argparse.ArgumentParser(prog="python -m ui", description="报纸档案问答 chat page")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument(
        "--index", default=None, help="index directory (default $RAG_INDEX_DIR or index/)"
    )
    p.add_argument("--share", action="store_true", help="also open a public share link")
    p.add_argument(
        "--concurrency",
        type=int,
        default=32,
        help="questions answered at once (they share the reader's batches; default 32)",
    )
    p.add_argument(
        "--reader",
        default=None,
        help="span extractor: a Hugging Face QA model directory or 'rules' "
        "(default $RAG_READER or the packaged reader)",
    )
    args = p.parse_args(argv)

    import rag
    from rag.errors import RagError
    from rag.ingest.dates import format_date
    from rag.qa.answer import reader_of
    from rag.qa.locate import article_boxes
    from ui.app import CSS, ChatService, build_app

    index_dir = Path(args.index) if args.index else None
    try:
        info = rag.archive_summary(index_dir)
    except RagError as exc:
        print(f"ui: {exc}", file=sys.stderr)
        return 2
    dates = [format_date(d) for d in info.get("dates", [])]
    summary = (
        f"档案收录 {info.get('pages', 0)} 个版面、{info.get('articles', 0)} 篇文章"
        + (f"，日期：{'、'.join(dates)}" if dates else "")
        + "。答案均为原文摘录，并注明版面与标题。"
    )
    try:
        # load (and export once) before serving, so the first question is not slow
        reader = reader_of(args.reader)
    except RagError as exc:
        print(f"ui: {exc}", file=sys.stderr)
        return 2

    def answer_fn(q, k, history, date_range):  # type: ignore[no-untyped-def]
        return rag.answer(
            q, k=k, index_dir=index_dir, history=history, reader=reader, date_range=date_range
        )

    service = ChatService(
        answer_fn=answer_fn,
        article_fn=partial(rag.get_article, index_dir=index_dir),
        page_labels=_PageLabels(index_dir),
        image_fn=partial(rag.page_image, index_dir=index_dir),
        article_boxes_fn=partial(article_boxes, index_dir=index_dir),
    )
    examples = _examples(index_dir, lambda q: answer_fn(q, 5, [], None))
    demo = build_app(
        service,
        summary=summary,
        examples=examples,
        dates=list(info.get("dates", [])),
        page_images=_has_pictures(index_dir),
    )
    demo.queue(default_concurrency_limit=args.concurrency, max_size=200)
    demo.launch(
        server_name=args.host, server_port=args.port, share=args.share, css=CSS, show_error=False
    )
    return 0


class _PageLabels(Mapping[str, str]):
    """How a reader names each page (``9月3日 第1版``), by page id, for the index as it is now:
    pages added while the page is served (``rag add``) are named too."""

    def __init__(self, index_dir: Path | None) -> None:
        self.index_dir = index_dir
        self._made: tuple[object, dict[str, str]] | None = None

    def _labels(self) -> dict[str, str]:
        from rag.ingest.dates import format_date
        from rag.qa.records import page_label
        from rag.qa.retrieve import get_runtime

        index = get_runtime(self.index_dir).index
        if self._made is None or self._made[0] is not index:
            labels = {
                p.page_id: " ".join(
                    x
                    for x in (format_date(p.date), page_label(p.page_id, p.number, p.edition))
                    if x
                )
                for p in index.pages.values()
            }
            self._made = (index, labels)
        return self._made[1]

    def __getitem__(self, page_id: str) -> str:
        return self._labels()[page_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._labels())

    def __len__(self) -> int:
        return len(self._labels())


def _has_pictures(index_dir: Path | None) -> bool:
    """Whether any page of the archive was read from a picture (a scan, a PDF page)."""
    from rag.qa.retrieve import get_runtime
    from rag.store.pictures import records

    return bool(records(get_runtime(index_dir).index.path))


def _examples(index_dir: Path | None, ask) -> list[str]:  # type: ignore[no-untyped-def]
    """Example questions the archive answers: a factoid, a whole article, an issue (made from
    the index and checked by asking them)."""
    from rag.qa.examples import example_questions
    from rag.qa.retrieve import get_runtime

    return example_questions(get_runtime(index_dir), ask)


if __name__ == "__main__":
    sys.exit(main())
