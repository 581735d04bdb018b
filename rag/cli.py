"""Command line: ``rag build``, ``ask``, ``eval``, ``eval-segmentation``, ``eval-reader``,
``train-reader``."""

from __future__ import annotations

import argparse
import json
import sys
from functools import partial
from pathlib import Path

from rag.errors import RagError


def _progress():  # type: ignore[no-untyped-def]
    from tqdm import tqdm

    bar: dict[str, tqdm] = {}

    def update(stage: str, done: int, total: int) -> None:
        if stage not in bar and done >= total:
            return  # complete at its first report: a bar would only flash 0% then 100%
        if stage not in bar:
            unit = {"pages": "page", "chunks": "chunk"}.get(stage, "text")
            bar[stage] = tqdm(total=total, desc=stage, unit=unit, file=sys.stderr)
        b = bar[stage]
        b.update(done - b.n)
        if done >= total:
            b.close()

    return update


def cmd_build(args: argparse.Namespace) -> int:
    from rag.models.embed import load_embedder
    from rag.qa.config import settings_record
    from rag.store.grow import build_or_grow, merge_index
    from rag.store.index import default_index_dir

    index_dir = Path(args.index) if args.index else default_index_dir()
    if args.merge:
        merged = merge_index(index_dir, progress=_progress())
        print(f"index: {index_dir.resolve()} (segments merged)")
        print("\n".join(merged.lines()))
        return 0
    settings = settings_record()
    embedder = load_embedder(args.model)
    progress = _progress()
    if args.ray:
        from functools import partial

        from rag.ingest.pages import read_pages
        from rag.store.distributed import RayEmbedder, ray_mapper

        ray_embedder = RayEmbedder(embedder, args.ray, args.ray_actors, args.batch_size)
        ray_embedder.progress = partial(progress, "embedding")  # as vectors arrive
        report = build_or_grow(
            Path(args.pages),
            index_dir,
            ray_embedder,
            full=args.full,
            progress=progress,  # pages and chunks; the actors report the embedding
            read=partial(read_pages, mapper=ray_mapper),
            settings=settings,
        )
    else:
        report = build_or_grow(
            Path(args.pages), index_dir, embedder, args.full, progress, settings=settings
        )
    print(f"index: {index_dir.resolve()}" + (f" (built on Ray: {args.ray})" if args.ray else ""))
    print("\n".join(report.lines()))
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    from rag.store.grow import add_pages
    from rag.store.index import default_index_dir

    index_dir = Path(args.index) if args.index else default_index_dir()
    if not args.pages and not args.remove:
        raise ValueError("name page files to add, or --remove PAGE_ID")
    # embedded with the model the index was built with
    report = add_pages(args.pages, index_dir, remove=args.remove, progress=_progress())
    print(f"index: {index_dir.resolve()}")
    print("\n".join(report.lines()))
    return 0


def cmd_segment(args: argparse.Namespace) -> int:
    from rag.evaluate import read_jsonl, score_segmentation
    from rag.ingest.articles import segment
    from rag.ingest.pages import read_pages

    seg = segment(read_pages(Path(args.pages)))
    score = score_segmentation(seg.articles, read_jsonl(Path(args.gold)))
    print("\n".join(score.lines()))
    if args.verbose:
        print("\n".join(score.misses))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from rag.evaluate import (
        gold_titles_from,
        read_jsonl,
        score_answers,
        score_dialogues,
        score_reading,
    )
    from rag.qa.answer import answer, reader_of

    reader = reader_of(args.reader)
    ask = partial(answer, k=args.k, index_dir=args.index, reader=reader)
    reports = {}
    for name in args.qa:
        path = Path(name)
        rows = read_jsonl(path)
        if not rows:
            raise ValueError(f"{path} holds no question")
        ask(rows[0]["turns"][0]["q"] if "turns" in rows[0] else rows[0]["question"])  # load
        if "turns" in rows[0]:
            score = score_dialogues(rows, lambda q, h: ask(q, history=h))
        elif "class" in rows[0]:
            score = score_reading(rows, ask)
        else:
            titles = {}
            gold = Path(args.articles) if args.articles else path.with_name("articles.jsonl")
            if gold.is_file():
                titles = gold_titles_from(read_jsonl(gold))
            score = score_answers(rows, ask, titles)  # type: ignore[assignment]
        reports[str(path)] = score
    if args.json:
        out = {p: s.as_dict() for p, s in reports.items()}
        print(
            json.dumps(
                out if len(out) > 1 else next(iter(out.values())), ensure_ascii=False, indent=2
            )
        )
        return 0
    for path_name, score in reports.items():
        if len(reports) > 1:
            print(f"== {path_name}")
        print("\n".join(score.lines()))
        if args.verbose:
            print("\n".join(score.failures))
    return 0


def cmd_eval_reader(args: argparse.Namespace) -> int:
    import tempfile
    from functools import partial

    from rag.evaluate import (
        READER_HEADER,
        load_squad,
        reader_closed,
        rules_closed,
        score_closed,
        score_open,
        write_passage_pages,
    )
    from rag.models.reader import load_reader
    from rag.qa.answer import answer, reader_of
    from rag.qa.spans import RULES

    examples = load_squad(Path(args.file))[: args.n or None]
    if not examples:
        raise ValueError(f"{args.file} holds no answerable question")
    extractors = [e.strip() for e in args.extractors.split(",") if e.strip()]
    for e in extractors:
        if e not in ("reader", RULES):
            raise ValueError(f"unknown extractor {e!r}; valid: reader, rules")
    reader = load_reader(args.reader) if "reader" in extractors else None
    scores = []
    if args.mode in ("closed", "both"):
        for e in extractors:
            if e == RULES:
                scores.append(score_closed(examples, rules_closed, RULES))
            elif reader is not None:
                scores.append(score_closed(examples, reader_closed(reader), "reader"))
    if args.mode in ("open", "both"):
        from rag.models.embed import load_embedder
        from rag.store.index import build_index

        work = Path(args.index) if args.index else Path(tempfile.mkdtemp(prefix="rag-eval-"))
        pages = work.with_name(work.name + "-pages")
        write_passage_pages(examples, pages)
        print(f"indexing {len(examples)} questions' passages into {work} …", file=sys.stderr)
        build_index(pages, work, load_embedder(), progress=_progress())
        for e in extractors:
            choice = reader_of(RULES) if e == RULES else reader
            answer(examples[0].question, index_dir=work, reader=choice)  # load once, untimed
            scores.append(score_open(examples, partial(answer, index_dir=work, reader=choice), e))
    if args.json:
        print(json.dumps([s.__dict__ for s in scores], ensure_ascii=False, indent=2))
    else:
        print(READER_HEADER)
        print("\n".join(s.line() for s in scores))
    return 0


def cmd_train_reader(args: argparse.Namespace) -> int:
    from rag.train.reader_train import main as train_main

    return train_main(args.rest)


def cmd_ask(args: argparse.Namespace) -> int:
    from rag.qa.answer import answer

    ans = answer(args.question, k=args.k, index_dir=args.index, reader=args.reader)
    if not ans.found:
        print("档案中没有找到答案")
        if ans.notice:
            print(f"  {ans.notice}")
    elif ans.items:  # an issue's articles, a topic's coverage: one cited line each
        for i, item in enumerate(ans.items, 1):
            print(f"{i}. {item} [{i}]")
        return 0
    elif ans.kind == "lead":
        print(f"导语：{ans.text} [1]")
    else:
        print(ans.text)
        if ans.date_note:
            print(f"  日期推算：{ans.date_note}")
        print(f"  句子：{ans.sentence}")
    for i, c in enumerate(ans.citations, 1):
        print(f"[{i}] {c.title}")  # as a reader cites it: headline · 9月3日 · 第1版
        if c.low_confidence:
            print("    扫描件识别置信度低，请对照原版页面")
        if i == 1 and c.answer_boxes:  # where the answer stands on the page image
            where = "; ".join(
                f"({b.x0:.0f},{b.y0:.0f})-({b.x1:.0f},{b.y1:.0f})" for b in c.answer_boxes
            )
            print(f"    页面图像位置：{where}  (rag.page_image({c.page!r}))")
    return 0


READER_HELP = (
    "span extractor: a Hugging Face QA model directory, 'rules', or (default) $RAG_READER "
    "or the packaged reader"
)


def parser() -> argparse.ArgumentParser:
    """The ``rag`` argument parser."""
    p = argparse.ArgumentParser(prog="rag", description="报纸档案问答 command line")
    sub = p.add_subparsers(dest="command", required=True)

    b = sub.add_parser("build", help="build or update the index of a pages folder")
    b.add_argument("pages", nargs="?", default="seeds", help="folder of page files (seeds)")
    b.add_argument("--index", help="index directory (default $RAG_INDEX_DIR or index/)")
    b.add_argument("--model", help="sentence-transformers model name or path (default: offline e5)")
    b.add_argument("--full", action="store_true", help="re-embed everything")
    b.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="build on Ray: 'local' starts a runtime here, 'auto' joins $RAY_ADDRESS or a "
        "running cluster, or a cluster address (pip install -e .[ray])",
    )
    b.add_argument("--ray-actors", type=int, default=2, help="embedding actors (--ray)")
    b.add_argument("--batch-size", type=int, default=64, help="texts per actor call (--ray)")
    b.add_argument(
        "--merge",
        action="store_true",
        help="merge the segments 'rag add' wrote into one (deleted pages dropped); reads and "
        "embeds nothing",
    )
    b.set_defaults(func=cmd_build)

    g = sub.add_parser(
        "add",
        help="add a day's page files to the index (or replace pages), without a rebuild",
    )
    g.add_argument("pages", nargs="*", help="page files (.txt, .pdf, images)")
    g.add_argument("--index", help="index directory (default $RAG_INDEX_DIR or index/)")
    g.add_argument("--remove", nargs="+", default=[], metavar="PAGE_ID", help="page ids to remove")
    g.set_defaults(func=cmd_add)

    s = sub.add_parser("eval-segmentation", help="score article segmentation against gold")
    s.add_argument("gold", help="gold file in articles.jsonl format")
    s.add_argument("--pages", default="seeds")
    s.add_argument("-v", "--verbose", action="store_true")
    s.set_defaults(func=cmd_segment)

    e = sub.add_parser(
        "eval",
        help="score answers against gold files: questions (qa_dev.jsonl), classes of news "
        "reading (reading_dev.jsonl) or conversations (dialogues_dev.jsonl)",
    )
    e.add_argument("qa", nargs="+", help="gold files; the format is told from their rows")
    e.add_argument("--articles", help="gold articles.jsonl for headline checks")
    e.add_argument("--index")
    e.add_argument("-k", type=int, default=5)
    e.add_argument("--json", action="store_true")
    e.add_argument("-v", "--verbose", action="store_true")
    e.add_argument("--reader", help=READER_HELP)
    e.set_defaults(func=cmd_eval)

    r = sub.add_parser("eval-reader", help="EM/F1 of the reader on SQuAD-format data")
    r.add_argument("file", help="SQuAD-format JSON (e.g. cmrc2018_trial.json)")
    r.add_argument("--mode", choices=["closed", "open", "both"], default="both")
    r.add_argument("--extractors", default="reader,rules", help="reader,rules (default both)")
    r.add_argument("--reader", help=READER_HELP)
    r.add_argument("--index", help="where open mode builds its index (default: a temp dir)")
    r.add_argument("-n", type=int, default=0, help="only the first N questions")
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=cmd_eval_reader)

    t = sub.add_parser(
        "train-reader",
        help="train the reader (see rag/models/README.md)",
        add_help=False,
    )
    t.add_argument("rest", nargs=argparse.REMAINDER)
    t.set_defaults(func=cmd_train_reader)

    a = sub.add_parser("ask", help="answer one question")
    a.add_argument("question")
    a.add_argument("--index")
    a.add_argument("-k", type=int, default=5)
    a.add_argument("--reader", help=READER_HELP)
    a.set_defaults(func=cmd_ask)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``rag`` console script."""
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (RagError, ValueError) as exc:
        print(f"rag: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rag: interrupted; the previous index is unchanged", file=sys.stderr)
        return 130


def build_main() -> int:
    """Entry point of ``rag-build`` (same as ``rag build``)."""
    return main(["build", *sys.argv[1:]])


if __name__ == "__main__":
    sys.exit(main())
