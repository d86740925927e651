"""The notebook read back: its QR codes decode to what its words promise, covers with bleed
and a back cover, no near-empty page, fold marks on the spine, booklets that end on the back."""
from __future__ import annotations

import shutil

import pytest
from helpers import PRINT_AS_OF, PRINT_SECRET, REPO, box_mm, pdftotext, qr_codes, raster

from memberportal.inputs.project import load
from memberportal.print import contexts, notebook
from memberportal.render.messages import word

DPI = 100
MM = DPI / 25.4          # pixels per mm at DPI
BLEED = 3                # mm


@pytest.fixture(scope="module")
def brand(tmp_path_factory):
    """The example brand (its real story and handbook intro), as a fresh project."""
    root = tmp_path_factory.mktemp("brand")
    for name in ("members", "content"):
        shutil.copytree(REPO / name, root / name)
    shutil.copy(REPO / "mkdocs.yml", root / "mkdocs.yml")
    project = load(root)
    job = contexts.make_job(project, PRINT_AS_OF, "zh", PRINT_SECRET)
    return root, project, job


@pytest.fixture(scope="module")
def books(brand):
    root, project, job = brand
    out = root / "output" / "print"
    generic = notebook.build_notebook(job, project, out / "generic.pdf", notes=3)
    mine = notebook.build_notebook(job, project, out / "mine.pdf", notes=3, member_id="M0001")
    return generic, mine


def _codes(pdf, pages: int) -> dict[int, list[str]]:
    return {n: [r.text for r in qr_codes(raster(pdf, n, 200))] for n in range(1, pages + 1)}


def test_the_members_notebook_carries_her_page_qr_where_it_says_so(brand, books):
    root, project, job = brand
    _, mine = books
    url = contexts.member_url(job, "M0001")
    codes = _codes(mine["path"], mine["pages"])
    with_hers = [n for n, found in codes.items() if url in found]
    assert len(with_hers) == 1
    promise = word("notebook.qr_member", "zh", job.address)
    page_text = pdftotext(mine["path"], with_hers[0]).replace("\n", "").replace(" ", "")
    assert promise[:12] in page_text                       # the words beside the code
    assert codes[mine["pages"]] == [job.site_url]           # the back cover: the portal
    whole = pdftotext(mine["path"]).replace("\n", "").replace(" ", "")
    assert "每一页，都印着" not in whole


def test_the_generic_notebook_promises_no_code_it_does_not_carry(brand, books):
    root, project, job = brand
    generic, _ = books
    codes = _codes(generic["path"], generic["pages"])
    every = [c for found in codes.values() for c in found]
    assert every == [job.site_url]                          # only the portal, on the back
    whole = pdftotext(generic["path"]).replace("\n", "").replace(" ", "")
    assert word("notebook.qr_generic", "zh", job.address)[:14] in whole
    assert word("notebook.qr_member", "zh", job.address)[:10] not in whole
    assert "每一页，都印着" not in whole


def test_covers_bleed_and_the_back_cover(brand, books):
    from pypdf import PdfReader
    root, project, job = brand
    generic, _ = books
    pdf = generic["path"]
    pages = PdfReader(str(pdf)).pages
    for page in pages:
        assert box_mm(page.trimbox) == (148.0, 210.0)
        assert box_mm(page.bleedbox) == (148.0 + 2 * BLEED, 210.0 + 2 * BLEED)
    brand_rgb = tuple(int(project.program.brand.color[i:i + 2], 16) for i in (1, 3, 5))
    for n in (1, generic["pages"]):
        image = raster(pdf, n, DPI)                         # the whole bleed box, greyscale
        grey = round(0.299 * brand_rgb[0] + 0.587 * brand_rgb[1] + 0.114 * brand_rgb[2])
        w, h = image.size
        inside = int(1.5 * MM)                              # half way into the bleed
        for x, y in ((inside, h - inside), (w - inside, h - inside), (w // 2, h - inside),
                     (inside, h - 30 * MM)):
            assert abs(image.getpixel((x, y)) - grey) <= 3, (n, x, y)  # brand colour to the edge
        for x, y in ((inside, inside), (w - inside, inside)):
            assert image.getpixel((x, y)) < 255, (n, x, y)  # the paper tint, not white
    back = pdftotext(pdf, generic["pages"])
    b = project.program.brand
    for fact in (b.name, b.shop, job.site_url):
        assert fact in back


def _ink_bottom(image, top_mm: float, bottom_mm: float, side_mm: float) -> float:
    """How far down the page (0..1 of the text area) the lowest dark pixel is, ignoring the
    bleed, the margins with the page number and the fold marks."""
    w, h = image.size
    x0, x1 = int((BLEED + side_mm) * MM), int(w - (BLEED + side_mm) * MM)
    y0, y1 = int((BLEED + top_mm) * MM), int(h - (BLEED + bottom_mm) * MM)
    px = image.load()
    for y in range(y1 - 1, y0, -1):
        if any(px[x, y] < 200 for x in range(x0, x1, 2)):
            return (y - y0) / (y1 - y0)
    return 0.0


@pytest.mark.parametrize("which", [0, 1])
def test_no_page_is_near_empty(books, which):
    book = books[which]
    pdf, n = book["path"], book["pages"]
    reached = {p: _ink_bottom(raster(pdf, p, DPI), 14, 16, 14) for p in range(2, n)}
    short = {p: round(r, 2) for p, r in reached.items() if r < 0.6}
    assert not short, f"pages whose ink stops in the upper part: {short}"
    for p in range(2, n):                                  # not one page of a few words
        text = [line for line in pdftotext(pdf, p).splitlines() if line.strip()]
        ruled = raster(pdf, p, DPI)
        assert len(text) >= 8 or _ruled_lines(ruled) >= 10, p


def _ruled_lines(image) -> int:
    """Horizontal rules across most of the width: the lines of note and memo pages."""
    w, h = image.size
    px = image.load()
    rows = [y for y in range(h) if sum(px[x, y] < 235 for x in range(0, w, 4)) > w / 4 * 0.6]
    return sum(1 for i, y in enumerate(rows) if i == 0 or y - rows[i - 1] > 2)


def test_fold_marks_on_the_spine_edge_of_inner_pages_only(books):
    generic, _ = books
    pdf, n = generic["path"], generic["pages"]
    for p in range(1, n + 1):
        image = raster(pdf, p, 300)
        dpmm = 300 / 25.4
        w, h = image.size
        spine = int(BLEED * dpmm) + 1 if p % 2 else w - int(BLEED * dpmm) - 2  # inside trim
        px = image.load()
        top = [px[spine, int((BLEED + d) * dpmm)] for d in (0.5, 2.5, 4.5)]
        foot = [px[spine, h - int((BLEED + d) * dpmm)] for d in (0.5, 2.5, 4.5)]
        beside = px[spine + (6 if p % 2 else -6), int((BLEED + 2.5) * dpmm)]
        if p in (1, n):
            assert min(top) > 240, p                        # the covers: none
            continue
        assert max(top) < 200 and max(foot) < 200, p        # a hairline at the fold
        assert beside > 240, p                              # and only a hairline


def test_a_booklet_ends_on_the_back_cover(brand, books):
    from pypdf import PdfReader
    root, project, job = brand
    generic, _ = books
    bk = root / "output" / "print" / "booklet.pdf"
    result = notebook.build_notebook(job, project, bk, notes=3, booklet_a4=True)
    assert result["pages"] % 4 == 0                         # note pages fill the sheets
    assert result["pages"] >= generic["pages"]
    sheets = PdfReader(str(bk)).pages
    assert len(sheets) == result["pages"] // 2
    first = pdftotext(bk, 1)
    assert job.site_url in first and word("notebook.title") in first  # back | front
    for sheet in sheets:
        assert box_mm(sheet.trimbox) == (296.0, 210.0)
        assert box_mm(sheet.bleedbox) == (296.0 + 2 * BLEED, 210.0 + 2 * BLEED)
