"""Pages that cannot break a build: each becomes pages with the right text and boxes, or is
skipped with a warning naming its file, and the rest of the folder is read."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from rag.evaluate import char_error_rate as cer
from rag.evaluate import norm
from tests.test_scans import CONTINUED, FRONT

TEXT_PAGE = "001_bda6349dde205a91"


@pytest.fixture(scope="module")
def strip(made, tmp_path_factory) -> Path:
    """The top third of the front page's scan: a small picture to OCR in new forms."""
    from PIL import Image

    out = tmp_path_factory.mktemp("strip") / "strip.png"
    with Image.open(made / "scan" / f"{FRONT}.png") as im:
        im.crop((0, 0, im.width, im.height // 3)).save(out)
    return out


@pytest.fixture(scope="module")
def strip_page(strip, ocr_cache):
    from rag.ingest.pages import read_page

    page = read_page(strip)
    assert len(page.text) > 100
    return page


def centres(page) -> np.ndarray:
    b = np.asarray(page.boxes, np.float64)
    ok = ~np.isnan(b).any(axis=1)
    return np.c_[(b[ok, 0] + b[ok, 2]) / 2, (b[ok, 1] + b[ok, 3]) / 2]


def test_a_scan_past_pillows_bomb_guard_is_read(strip, strip_page, monkeypatch):
    from PIL import Image

    from rag.ingest.pages import read_page

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # Pillow alone would refuse it
    page = read_page(strip)
    assert page.text == strip_page.text and not page.warnings


def test_a_picture_over_the_size_limit_is_skipped_by_name(strip, tmp_path, monkeypatch):
    import rag.ingest.scans as scans
    from rag.ingest.pages import read_pages
    from tests.conftest import SEEDS

    monkeypatch.setattr(scans, "MAX_PICTURE_PIXELS", 1000)
    shutil.copy(strip, tmp_path / "huge.png")
    shutil.copy(SEEDS / f"{TEXT_PAGE}.txt", tmp_path)
    pages = {p.page_id: p for p in read_pages(tmp_path)}
    assert pages["huge"].text == "" and "huge.png" in pages["huge"].warnings[0]
    assert "million pixels" in pages["huge"].warnings[0]
    assert len(pages[TEXT_PAGE].text) > 500  # the build goes on


def test_a_16_bit_tiff_is_read_not_blank(strip, strip_page, tmp_path):
    from PIL import Image

    from rag.ingest.pages import read_page

    with Image.open(strip) as im:
        grey = np.asarray(im.convert("L"), np.uint16) * 257
    path = tmp_path / "deep.tif"
    Image.fromarray(grey).save(path)  # mode I;16
    with Image.open(path) as im:
        assert im.mode.startswith("I;16")
    page = read_page(path)
    assert cer(norm(page.text), norm(strip_page.text)) < 0.05
    assert page.image_size == strip_page.image_size


def test_every_frame_of_a_tiff_is_a_page(made, strip, strip_page, tmp_path):
    from PIL import Image

    from rag.ingest.pages import read_page, read_pages
    from rag.ingest.scans import render

    with Image.open(made / "scan" / f"{CONTINUED}.png") as im:
        second = im.crop((0, 0, im.width, im.height // 3))
    second.save(tmp_path / "second.png")
    folder = tmp_path / "pages"
    folder.mkdir()
    with Image.open(strip) as im:
        first = Image.fromarray(np.asarray(im))  # the pixels alone, none of the PNG's info
    second = Image.fromarray(np.asarray(second))
    first.save(folder / "edition.tif", save_all=True, append_images=[second])
    pages = read_pages(folder)
    assert [p.page_id for p in pages] == ["edition_p1", "edition_p2"]
    alone = read_page(tmp_path / "second.png")
    assert pages[0].text == strip_page.text and pages[1].text == alone.text
    assert len(pages[1].text) > 100 and pages[1].image_size == alone.image_size
    assert render(folder / "edition.tif", 1, tmp_path / "p2.png") == pages[1].image_size


def test_a_jpeg_turned_by_exif_is_read_and_placed_upright(strip, strip_page, tmp_path):
    from PIL import Image

    from rag.ingest.pages import read_page
    from rag.ingest.scans import render, shown_as_is

    path = tmp_path / "turned.jpg"
    with Image.open(strip) as im:
        exif = Image.Exif()
        exif[0x0112] = 6  # shown turned 90° clockwise: the pixels stand turned the other way
        im.convert("RGB").transpose(Image.Transpose.ROTATE_90).save(path, quality=95, exif=exif)
    page = read_page(path)
    assert page.image_size == strip_page.image_size  # upright, as a browser shows it
    assert cer(norm(page.text), norm(strip_page.text)) < 0.05
    # the boxes stand where the upright read puts them
    a, b = centres(page), centres(strip_page)
    near = [np.hypot(*(b - p).T).min() for p in a]
    assert np.median(near) < 3
    # the index keeps the upright picture (the browser would turn the JPEG as it came)
    assert not shown_as_is(path)
    assert render(path, None, tmp_path / "shown.png") == page.image_size


@pytest.mark.parametrize("rotation", [90, 270, 180])
def test_a_pdf_with_crop_box_and_rotation_places_its_boxes(made, tmp_path, rotation):
    import pypdfium2 as pdfium
    from PIL import Image

    from rag.ingest.pages import read_page
    from rag.ingest.scans import render

    doc = pdfium.PdfDocument(str(made / "text" / f"{TEXT_PAGE}.pdf"))
    page = doc[0]
    left, bottom, right, top = page.get_mediabox()
    page.set_cropbox(left + 30, bottom + 50, right - 20, top - 10)
    page.set_rotation(rotation)
    doc.save(str(tmp_path / "turned.pdf"))
    doc.close()

    plain = read_page(made / "text" / f"{TEXT_PAGE}.pdf")
    got = read_page(tmp_path / "turned.pdf")
    assert got.text == plain.text  # read upright, whatever the page's turn
    size = render(tmp_path / "turned.pdf", 0, tmp_path / "shown.png")
    assert got.image_size == size
    ink = np.asarray(Image.open(tmp_path / "shown.png").convert("L")) < 128
    boxes = np.asarray(got.boxes)[[not c.isspace() for c in got.text]]
    inked = [ink[int(y0) : int(y1) + 1, int(x0) : int(x1) + 1].any() for x0, y0, x1, y1 in boxes]
    assert np.mean(inked) > 0.97


def test_two_files_with_one_stem_are_two_pages(made, tmp_path, embedder):
    from rag.store.index import build_index, load_index
    from tests.conftest import SEEDS

    shutil.copy(SEEDS / f"{TEXT_PAGE}.txt", tmp_path / "a.txt")
    shutil.copy(made / "text" / f"{CONTINUED}.pdf", tmp_path / "a.pdf")
    index_dir = tmp_path / "index"
    report = build_index(tmp_path, index_dir, embedder)
    idx = load_index(index_dir)
    assert sorted(idx.pages) == ["a_pdf", "a_txt"]
    ids = list(idx.articles.ids)
    assert len(ids) == len(set(ids)) and {a.split(":")[0] for a in ids} >= {"a_pdf", "a_txt"}
    assert any("a.pdf" in w and "a_pdf" in w for w in report.warnings)
    import rag

    assert rag.page_image("a_pdf", index_dir=index_dir).is_file()
    with pytest.raises(rag.RagError):
        rag.page_image("a_txt", index_dir=index_dir)  # a text page has no picture
