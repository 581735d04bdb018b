"""Page scans and PDF editions: made here from the seeds by ``scripts/make_scans.py``, then read,
indexed and answered with the answer's boxes on the page image."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rag.evaluate import char_error_rate as cer
from rag.evaluate import norm
from tests.conftest import ROOT, SHARED_EVAL

# a front page with jump lines and the page its articles go on to
FRONT, CONTINUED = "000_700bdcd828e48fcd", "003_f95bffb9c810cf88"
QUESTION = "西海岸新区首批成立了哪些产业链党建联盟？"


def truth(made: Path, page_id: str) -> dict:
    return json.loads((made / "truth" / f"{page_id}.json").read_text("utf-8"))


@pytest.fixture(scope="session")
def mixed_folder(made, tmp_path_factory) -> Path:
    """An archive of two PNG scans (a front page and its continuation page) and PDFs with a
    text layer for the other pages."""
    folder = tmp_path_factory.mktemp("mixed")
    for pid in (FRONT, CONTINUED):
        shutil.copy(made / "scan" / f"{pid}.png", folder)
    for pdf in (made / "text").glob("*.pdf"):
        if pdf.stem not in (FRONT, CONTINUED):
            shutil.copy(pdf, folder)
    return folder


@pytest.fixture(scope="session")
def scan_index(mixed_folder, ocr_cache, embedder, tmp_path_factory) -> Path:
    from rag.store.index import build_index

    path = tmp_path_factory.mktemp("scan-idx") / "index"
    report = build_index(mixed_folder, path, embedder)
    assert report.pictures == 5 and report.ocr + report.ocr_cached == 2
    return path


def test_pdf_text_layer_reads_as_the_laid_out_text(made):
    from rag.ingest.pages import read_pages

    pages = read_pages(made / "text")
    assert len(pages) == 5
    for page in pages:
        assert page.source == "pdf-text"
        assert norm(page.text) == norm(truth(made, page.page_id)["text"]), page.page_id
        # every printed character has its box on the picture, inside it
        printed = np.array([not ch.isspace() for ch in page.text])
        assert page.boxes is not None and not np.isnan(page.boxes[printed]).any()
        w, h = page.image_size or (0, 0)
        assert page.boxes[printed][:, 2].max() <= w and page.boxes[printed][:, 3].max() <= h


@pytest.mark.slow
def test_scans_are_read_by_ocr_and_never_twice(scan_index, mixed_folder, made, ocr_cache):
    from rag.ingest.pages import read_page

    before = len(list(ocr_cache.glob("*.json")))
    for pid in (FRONT, CONTINUED):
        page = read_page(mixed_folder / f"{pid}.png")
        assert page.source == "ocr-cached"  # the index build read it; a rebuild reads the cache
        assert cer(page.text, truth(made, pid)["text"]) <= 0.02
        assert page.confidence is not None and float(np.median(page.confidence)) > 0.9
    assert len(list(ocr_cache.glob("*.json"))) == before  # nothing was read by OCR again


@pytest.mark.slow
def test_rebuild_ocrs_nothing_and_reuses_pictures(scan_index, mixed_folder, embedder, tmp_path):
    from rag.store.index import build_index

    target = tmp_path / "index"
    shutil.copytree(scan_index, target)
    report = build_index(mixed_folder, target, embedder)
    assert report.ocr == 0 and report.ocr_cached == 2
    assert any("OCR: 0" in line for line in report.lines())


@pytest.mark.slow
def test_a_pdf_without_text_layer_is_read_by_ocr(made, ocr_cache, tmp_path):
    from rag.ingest.pages import read_pages

    pid = "001_bda6349dde205a91"
    shutil.copy(made / "image" / f"{pid}.pdf", tmp_path)
    (page,) = read_pages(tmp_path)
    assert page.source == "ocr" and page.page_id == pid
    assert cer(page.text, truth(made, pid)["text"]) <= 0.02


@pytest.mark.slow
def test_answer_has_boxes_on_the_page_image(scan_index, made):
    from PIL import Image

    import rag

    ans = rag.answer(QUESTION, index_dir=scan_index)
    assert ans.found and "基因科技" in ans.text
    cite = ans.citations[0]
    assert cite.page == FRONT and cite.answer_boxes and cite.boxes
    assert not cite.low_confidence
    image = rag.page_image(cite.page, index_dir=scan_index)
    with Image.open(image) as im:
        assert list(im.size) == truth(made, FRONT)["size"]
    # the boxes cover the answer's characters as they were drawn on the (skewed) scan
    t = truth(made, FRONT)
    at = t["chars"].find(ans.text)
    assert at >= 0
    drawn = np.array(t["scan_boxes"][at : at + len(ans.text)])
    boxes = np.array([(b.x0, b.y0, b.x1, b.y1) for b in cite.answer_boxes])
    centres = np.c_[(drawn[:, 0] + drawn[:, 2]) / 2, (drawn[:, 1] + drawn[:, 3]) / 2]
    inside = [any(b[0] <= x <= b[2] and b[1] <= y <= b[3] for b in boxes) for x, y in centres]
    assert np.mean(inside) >= 0.95
    area = ((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])).sum()
    drawn_area = ((drawn[:, 2] - drawn[:, 0]) * (drawn[:, 3] - drawn[:, 1])).sum()
    assert area <= 1.6 * drawn_area  # not the whole passage
    # passage boxes hold the answer's
    assert all(
        any(p.y0 - 3 <= a.y0 and a.y1 <= p.y1 + 3 for p in cite.boxes) for a in cite.answer_boxes
    )
    # every page of this archive is a picture (scans and PDFs): every citation is placed
    assert all(c.boxes for c in ans.citations)


@pytest.mark.slow
def test_citations_of_text_pages_have_no_boxes(seed_index):
    import rag

    ans = rag.answer(QUESTION, index_dir=seed_index)
    assert ans.found and all(not c.boxes and not c.answer_boxes for c in ans.citations)
    assert all(c.illegible is None and not c.low_confidence for c in ans.citations)
    with pytest.raises(rag.RagError):
        rag.page_image(ans.citations[0].page, index_dir=seed_index)


@pytest.mark.slow
def test_a_continued_article_has_boxes_on_both_pages(scan_index):
    import rag
    from rag.qa.locate import article_boxes
    from rag.qa.retrieve import get_runtime

    index = get_runtime(scan_index).index
    continued = [a for a in index.articles.values() if set(a.pages) == {FRONT, CONTINUED}]
    assert continued, "the front page's jump lines link to the scanned continuation page"
    boxes = article_boxes(continued[0].article_id, index_dir=scan_index)
    assert set(boxes) == {FRONT, CONTINUED} and all(boxes.values())
    with pytest.raises(rag.RagError):
        rag.page_image("no-such-page", index_dir=scan_index)


@pytest.mark.slow
def test_an_answer_on_illegible_text_is_declined(scan_index, tmp_path):
    import rag
    from rag.qa.retrieve import clear_cache
    from rag.store.pictures import records

    target = tmp_path / "index"
    shutil.copytree(scan_index, target)
    rec = records(target)[FRONT]
    path = target / rec["geometry"]
    with np.load(path) as g:
        boxes, conf = g["boxes"], g["confidence"]
    np.savez(path, boxes=boxes, confidence=np.full_like(conf, 0.3))
    clear_cache()
    ans = rag.answer(QUESTION, index_dir=target)
    assert not ans.found and "扫描不清" in ans.notice
    low = [c for c in ans.citations if c.page == FRONT]
    assert low and all(c.low_confidence for c in low)


def test_unreadable_pictures_are_kept_with_a_warning(tmp_path):
    from rag.ingest.pages import read_pages

    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4\nhalf a file")
    pages = read_pages(tmp_path)
    assert [p.page_id for p in pages] == ["broken_pdf", "broken_png"]  # one stem, two pages
    assert all(p.text == "" and p.warnings for p in pages)
    assert any("not a readable image" in w for p in pages for w in p.warnings)
    assert any("not a readable PDF" in w for p in pages for w in p.warnings)


def test_a_pdf_of_several_pages_is_several_archive_pages(made, tmp_path):
    import pypdfium2 as pdfium

    from rag.ingest.pages import read_pages

    doc = pdfium.PdfDocument.new()
    for pid in ("001_bda6349dde205a91", "002_a12014d9f47eab5e"):
        src = pdfium.PdfDocument(str(made / "text" / f"{pid}.pdf"))
        doc.import_pages(src)
    doc.save(str(tmp_path / "edition.pdf"))
    (tmp_path / "pages.json").write_text(
        json.dumps({"edition_p2": {"page": 2, "date": "2022-09-03"}}), encoding="utf-8"
    )
    pages = read_pages(tmp_path)
    assert [p.page_id for p in pages] == ["edition_p1", "edition_p2"]
    assert pages[1].number == 2 and pages[1].date == "2022-09-03"
    assert norm(pages[1].text) == norm(truth(made, "002_a12014d9f47eab5e")["text"])


@pytest.mark.skipif(not SHARED_EVAL.is_dir(), reason="needs ../shared/eval")
def test_rendered_pdf_pages_segment_as_the_text_pages(made):
    from rag.evaluate import read_jsonl, score_segmentation
    from rag.ingest.articles import segment
    from rag.ingest.pages import read_pages

    score = score_segmentation(
        segment(read_pages(made / "text")).articles, read_jsonl(SHARED_EVAL / "articles.jsonl")
    )
    text = "\n".join(score.lines())
    assert "continuation links found:  4/4" in text, text
    assert "boundary accuracy:         20/20" in text, text


@pytest.mark.slow
def test_browser_shows_the_answer_highlighted_on_the_page_image(scan_index, tmp_path):
    if not Path("/usr/bin/chromium").exists():
        pytest.fail("Debian's chromium is not installed (scripts/test.sh installs it)")
    from PIL import Image
    from playwright.sync_api import sync_playwright

    import rag
    from tests.test_ui import chromium, serve

    cite = rag.answer(QUESTION, index_dir=scan_index).citations[0]
    with Image.open(rag.page_image(cite.page, index_dir=scan_index)) as im:
        natural = im.size
    with serve(scan_index) as url, sync_playwright() as p:
        browser = chromium(p)
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        page.goto(url)
        box = page.locator("#question textarea")
        box.fill(QUESTION)
        box.press("Enter")
        page.locator("#chat").get_by_text("基因科技").last.wait_for(timeout=120_000)
        # the gallery opens on the cited page, large (its thumbnails below it)
        img = page.locator("#page-images .media-button img").first
        img.wait_for(timeout=60_000)
        page.wait_for_function(
            "(() => { const i = document.querySelector('#page-images .media-button img');"
            " return i && i.complete && i.naturalWidth > 0; })()"
        )
        assert img.evaluate("i => getComputedStyle(i).objectFit") == "contain"
        assert "引文所在页" in page.locator("#page-images").inner_text()
        shot = tmp_path / "page-image.png"
        img.screenshot(path=str(shot))
        browser.close()
    with Image.open(shot) as s:
        pixels = np.asarray(s.convert("RGB")).astype(int)
    h, w = pixels.shape[:2]
    scale = min(w / natural[0], h / natural[1])  # object-fit: contain
    ox, oy = (w - natural[0] * scale) / 2, (h - natural[1] * scale) / 2

    def yellow_share(x0: float, y0: float, x1: float, y1: float) -> float:
        region = pixels[
            int(oy + y0 * scale) : int(oy + y1 * scale) + 1,
            int(ox + x0 * scale) : int(ox + x1 * scale) + 1,
        ].reshape(-1, 3)
        r, g, b = region[:, 0], region[:, 1], region[:, 2]
        return float(((r > 200) & (g > 150) & (b < 150)).mean()) if len(region) else 0.0

    # the answer's boxes are yellow on the screenshot (the text's strokes stay dark)
    shares = [yellow_share(b.x0, b.y0, b.x1, b.y1) for b in cite.answer_boxes]
    assert min(shares) > 0.3, shares
    # nowhere else: the page's top margin carries no highlight
    assert yellow_share(0, 0, natural[0], 30) < 0.01


@pytest.mark.slow
def test_ray_build_ocrs_pages_as_tasks_and_gives_the_local_index(
    made, ocr_cache, embedder, tmp_path
):
    pytest.importorskip("ray", reason="install the ray extra: pip install -e .[ray]")
    from PIL import Image

    from rag.store.index import build_index
    from tests.conftest import terminal_noise

    folder = tmp_path / "pages"
    folder.mkdir()
    with Image.open(made / "scan" / f"{FRONT}.png") as im:
        im.crop((0, 0, im.width, 700)).save(folder / "top.png")  # a small scan: quick OCR
    shutil.copy(made / "text" / "001_bda6349dde205a91.pdf", folder)
    local = tmp_path / "local"
    build_index(folder, local, embedder)
    ray_index = tmp_path / "ray"
    env = {**os.environ, "RAG_OCR_CACHE": str(tmp_path / "fresh-cache")}
    cmd = [sys.executable, "-m", "rag", "build", str(folder), "--index", str(ray_index)]
    out = subprocess.run(
        [*cmd, "--ray", "local", "--ray-actors", "1"],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=ROOT,
        env=env,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert not terminal_noise(out.stderr), out.stderr[-2000:]
    assert "pictures: 2   OCR: 1   OCR from cache: 0" in out.stdout  # OCR'd in a Ray task
    assert "pages:" in out.stderr  # a bar per page
    for name in ("chunks.text.utf8", "sentences.text.utf8", "pictures.json"):
        a, b = (ray_index / name).read_bytes(), (local / name).read_bytes()
        assert a == b, name


def _line(text: str, x: float, y: float, size: float = 20.0) -> object:
    from rag.ingest.layout import Line

    return Line(
        text, tuple((x + i * size, y, x + (i + 1) * size, y + size) for i in range(len(text)))
    )


def test_reading_order_columns_under_a_short_headline_and_a_long_byline():
    from rag.ingest.layout import page_text

    # a band: a short headline centred over the middle of three columns, a byline running
    # across the first column gap, then three columns of five lines each
    lines = [_line("短标题", 300, 0, size=40), _line("□记者某某某通讯员某某某", 20, 60)]
    for c, name in enumerate("甲乙丙"):
        for r in range(5):
            lines.append(_line(f"{name}栏第{r}行文字内容", 20 + c * 240, 100 + r * 30))
    # a second band below a wide gap: two articles side by side, each under its own headline
    lines += [_line("左文标题", 20, 400, size=40), _line("右文标题", 380, 400, size=40)]
    for r in range(3):
        lines += [_line(f"左文第{r}行", 20, 460 + r * 30), _line(f"右文第{r}行", 380, 460 + r * 30)]
    raw = page_text(lines[::-1]).raw  # whatever order the lines come in
    order = [ln for ln in raw.split("\n") if ln.strip()]
    expected = ["短标题", "□记者某某某通讯员某某某"]
    expected += [f"{n}栏第{r}行文字内容" for n in "甲乙丙" for r in range(5)]
    expected += ["左文标题"] + [f"左文第{r}行" for r in range(3)]
    expected += ["右文标题"] + [f"右文第{r}行" for r in range(3)]
    assert [ln.strip("\u3000") for ln in order] == expected
