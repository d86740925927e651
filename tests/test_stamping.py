"""Stamped inserts (shapes laid out once, each parcel's fields drawn on them) match inserts laid out whole."""
from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import replace
from pathlib import Path

import pikepdf
import pytest
from helpers import PRINT_AS_OF, PRINT_SECRET, fonts, pdftotext, print_project

from memberportal.inputs.project import load
from memberportal.layout import BUILTIN_TEMPLATES
from memberportal.print import contexts, inserts
from memberportal.print.stamp import fields, stamper, weasyprint_layout


def test_this_weasyprint_is_one_stamping_reads():
    # pyproject.toml pins it; a WeasyPrint that stamping does not know lays inserts out whole
    assert weasyprint_layout.supported()


def pages(pdf: Path, dpi: int) -> list:
    from PIL import Image
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["pdftoppm", "-png", "-r", str(dpi), str(pdf), f"{tmp}/p"], check=True,
                       capture_output=True)
        out = []
        for path in sorted(Path(tmp).glob("p-*.png")):
            with Image.open(path) as im:
                out.append(im.convert("RGB"))
        return out


def differing(a, b, level: int = 48) -> int:
    """Pixels whose colour differs by more than `level` (of 255) in some channel."""
    from PIL import ImageChops
    assert a.size == b.size
    diff = ImageChops.difference(a, b).convert("L")
    return sum(diff.histogram()[level + 1:])


def both(job, project, parcels, folder: Path, **kw) -> tuple[Path, Path]:
    """The same parcels stamped and laid out whole."""
    out, said = [], []
    for stamp in (True, False):
        path = folder / f"inserts-{'stamped' if stamp else 'whole'}.pdf"
        result = inserts.build_inserts(replace(job, stamp=stamp), project, parcels, path, **kw)
        out.append(path)
        said.append(result["whole"])
    assert said[1] == {"stamping is off": len(parcels)}
    both.said = said[0]              # why the stamped run laid inserts out whole, if it did
    return out[0], out[1]


def words(text: str) -> str:
    return re.sub(r"\s+", "", text)


def forms(pdf: Path) -> int:
    """Shapes in the joined PDF (each laid out once, drawn by every page that uses it)."""
    with pikepdf.open(pdf) as doc:
        return len(doc.pages[0].obj.Resources.XObject)


def links(pdf: Path) -> list[str]:
    with pikepdf.open(pdf) as doc:
        return [str(a.A.URI) for page in doc.pages for a in page.obj.get("/Annots", [])]


def stamped_text_ops(pdf: Path) -> int:
    """TJ operators written on the pages themselves (not inside shapes): stamped fields."""
    with pikepdf.open(pdf) as doc:
        # pages laid out whole draw their background and then their own stream (an array)
        return sum(page.obj.Contents.read_bytes().count(b"] TJ") for page in doc.pages
                   if isinstance(page.obj.Contents, pikepdf.Stream))


def assert_same(stamped: Path, whole: Path, dpi: int, tolerance: int = 0) -> None:
    a, b = pages(stamped, dpi), pages(whole, dpi)
    assert len(a) == len(b)
    bad = [(i + 1, n) for i, (x, y) in enumerate(zip(a, b)) if (n := differing(x, y)) > tolerance]
    assert not bad, f"{len(bad)} pages differ from the whole layout (page, pixels): {bad[:8]}"
    assert words(pdftotext(stamped)) == words(pdftotext(whole))


def synthetic(folder: Path, members: int, template: str | None = None):
    """A bench/make_brand.py brand (its own insert.html if given): project, job, and a parcel
    for every member."""
    import make_brand
    root = folder / "brand"
    make_brand.make(members, root)
    if template is not None:
        (root / "templates" / "print" / "insert.html").write_text(template, encoding="utf-8")
    project = load(root)
    rows = ["order_id,member_id"] + [f"S{i:05d},{m.id}" for i, m in enumerate(project.members)]
    (root / "all.csv").write_text("\n".join(rows) + "\n")
    return (project, contexts.make_job(project, PRINT_AS_OF, "zh", PRINT_SECRET),
            contexts.read_parcels(root / "all.csv", project))


@pytest.fixture(scope="module")
def brand(tmp_path_factory):
    root = print_project(tmp_path_factory.mktemp("stamp"))
    project = load(root)
    return root, project, contexts.make_job(project, PRINT_AS_OF, "zh", PRINT_SECRET)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_example_brand_stamped_equals_whole_at_150_dpi(tmp_path, lang):
    """Chinese, and English: proportional Latin text, kerning, lines broken between words."""
    project = load(Path(__file__).resolve().parent.parent)
    job = contexts.make_job(project, PRINT_AS_OF, lang, PRINT_SECRET)
    parcels = contexts.read_parcels(project.root / "members" / "parcels-example.csv", project)
    stamped, whole = both(job, project, parcels, tmp_path, workers=2, chunk=8)
    assert stamped_text_ops(stamped) >= 4 * len(parcels)     # names, points, orders... stamped
    assert_same(stamped, whole, 150)
    rows = fonts(stamped)
    assert rows and all(r["emb"] == "yes" and "Print-" in r["name"] for r in rows)


def test_stamped_equals_whole_in_the_press_profile(tmp_path):
    """CMYK, PDF/X-4: the fields drawn on shapes convert as the whole layout's colours do."""
    project = load(Path(__file__).resolve().parent.parent)
    job = contexts.make_job(project, PRINT_AS_OF, "zh", PRINT_SECRET)
    parcels = contexts.read_parcels(project.root / "members" / "parcels-example.csv", project)
    out = []
    for stamp in (True, False):     # the same file name: the slug names the job
        path = tmp_path / ("stamped" if stamp else "whole") / "inserts.pdf"
        path.parent.mkdir()
        said = inserts.build_inserts(replace(job, stamp=stamp), project, parcels, path,
                                     workers=2, chunk=8, profile="press")["whole"]
        assert said == ({} if stamp else {"stamping is off": len(parcels)})
        out.append(path)
    stamped, whole = out
    with pikepdf.open(stamped) as pdf:
        assert pdf.Root.OutputIntents[0].S == "/GTS_PDFX"
    assert_same(stamped, whole, 150)


def test_synthetic_brand_variety_stamped_equals_whole(tmp_path):
    """Rare characters (the fallback font, Ext. B), expiring points, birthdays, reminders whose
    names wrap: every shape and variant against WeasyPrint's own layout."""
    project, job, parcels = synthetic(tmp_path, 400)
    stamped, whole = both(job, project, parcels, tmp_path, workers=2, chunk=100)
    assert stamped_text_ops(stamped) >= 4 * len(parcels)
    # names, dates, products, codes are drawn, not laid out: the shapes are few (a field taken
    # into its shape by mistake makes a shape per parcel)
    assert forms(stamped) < len(parcels) / 4
    assert_same(stamped, whole, 40)
    # each page's own text, so a field cannot move to another insert unnoticed
    for page in (1, 57, 203, 399):
        assert words(pdftotext(stamped, page)) == words(pdftotext(whole, page))


@pytest.mark.parametrize("sheet", [inserts.Sheet("A5", 0, False), inserts.Sheet("100x150", 5),
                                   inserts.Sheet("A6 landscape", 2)], ids=str)
def test_other_pages_bleeds_and_marks(brand, tmp_path, sheet):
    root, project, job = brand
    parcels = contexts.read_parcels(root / "parcels.csv", project)
    stamped, whole = both(job, project, parcels, tmp_path, workers=1, sheet=sheet)
    assert_same(stamped, whole, 100)
    with pikepdf.open(stamped) as a, pikepdf.open(whole) as b:
        for box in ("/MediaBox", "/TrimBox", "/BleedBox"):
            assert [float(v) for v in a.pages[0].obj[box]] == \
                [float(v) for v in b.pages[0].obj[box]]


TEMPLATE = (BUILTIN_TEMPLATES / "print" / "insert.html").read_text(encoding="utf-8")


LAYER = "/* the insert's own layer */"


@pytest.mark.parametrize("old, new, stamps", [
    # a field inside a sentence cannot be drawn apart: its value becomes part of the shape
    ("{{ (t('print.thanks', name=m.name|nowrap) if m.name else t('print.thanks_anon'))|field }}",
     "{{ t('print.thanks', name=m.name|nowrap|field) }}", True),
    # a selector that tells siblings apart: each insert is laid out as one block
    (LAYER, LAYER + " .insert > h1:first-child { letter-spacing: 0.05em; }", True),
    # an element in the flow: the insert's elements depend on each other, one block each
    ('<div class="a welcome">', '<div class="welcome" style="padding-top: 30mm">', True),
    # a link: a form object cannot carry it, so these inserts are laid out whole (and the
    # command says why)
    ('<div class="a order num">', '<a class="a" href="https://shop.example/" style="left: 2mm; '
     'top: 2mm; width: 20mm">shop</a><div class="a order num">', "links or bookmarks"),
    # no text field (the QR codes are still drawn on the shapes)
    ("|field", "", False),
], ids=["field-in-sentence", "sibling-selector", "in-flow", "link", "no-fields"])
def test_designers_templates_stay_exact(brand, tmp_path, old, new, stamps):
    root, _, _ = brand
    assert old in TEMPLATE
    folder = tmp_path / "project"
    shutil.copytree(root, folder, ignore=shutil.ignore_patterns("output"))
    (folder / "templates" / "print").mkdir(parents=True)
    (folder / "templates" / "print" / "insert.html").write_text(TEMPLATE.replace(old, new),
                                                               encoding="utf-8")
    mine = load(folder)
    job = contexts.make_job(mine, PRINT_AS_OF, "zh", PRINT_SECRET)
    parcels = contexts.read_parcels(folder / "parcels.csv", mine)
    stamped, whole = both(job, mine, parcels, tmp_path, workers=1)
    if isinstance(stamps, str):
        assert list(both.said) == ["the insert has " + stamps]
        stamps = False
    assert (stamped_text_ops(stamped) > 0) == stamps
    assert_same(stamped, whole, 150)
    assert links(stamped) == links(whole)


def test_a_template_where_every_insert_is_a_shape_is_soon_laid_out_whole(tmp_path,
                                                                         monkeypatch):
    """No |field and a selector that keeps each insert one block: every insert would be a shape
    of its own, costlier than laying it out whole. After stamper.TALLY blocks (40 here, 200 in
    use) a worker lays the rest out whole and says why."""
    monkeypatch.setattr(stamper, "TALLY", 40)
    project, job, parcels = synthetic(tmp_path, 60, TEMPLATE.replace("|field", "").replace(
        LAYER, LAYER + " h1 + div { margin: 0; }"))
    stamped, whole = both(job, project, parcels, tmp_path, workers=1, chunk=20)
    assert both.said == {"most per-parcel values are not marked |field": 20}
    assert_same(stamped, whole, 40)


def test_split_finds_blocks_fields_and_units():
    html = ('<html><head><style>.a{position:absolute}</style></head><body>'
            '<section id="background"></section>\n'
            '<section class="insert" id="parcel-2"><h1 class="a">' + fields.OPEN + '王*梅' +
            fields.CLOSE + '</h1>\n  <div class="a"><div style="width: ' + fields.OPEN + '37.5' +
            fields.CLOSE + '%"></div><img src="' + fields.QR_OPEN + 'https://x/?a=1&amp;b=2' +
            fields.CLOSE + '"></div></section>\n'
            '<section class="insert" id="parcel-3"><h1 class="a">' + fields.OPEN + '李*' +
            fields.CLOSE + '</h1>\n  <div class="a"><div style="width: ' + fields.OPEN + '0' +
            fields.CLOSE + '%"></div><img src="' + fields.QR_OPEN + 'y' + fields.CLOSE +
            '"></div></section>\n</body></html>')
    doc = fields.split(html)
    assert doc.split_blocks and [i.line for i in doc.inserts] == [2, 3]
    (b1, f1), (b2, f2) = doc.inserts[0].blocks
    assert b1.kinds == ("text",) and f1[0].value == "王*梅"
    assert b2.kinds == ("width", "qr")
    assert (f2[0].value, f2[0].unit, f2[1].value) == ("37.5", "%", "https://x/?a=1&b=2")
    assert [b.key for b, _ in doc.inserts[1].blocks] == [b1.key, b2.key]   # same shapes
    assert fields.MARK in doc.frame and "parcel-" not in doc.frame

    sibling = html.replace(".a{position:absolute}", ".a{position:absolute} h1 + div{top:0}")
    assert len(fields.split(sibling).inserts[0].blocks) == 1
    with pytest.raises(fields.SplitError):
        fields.split(html.replace("</section>\n<section class=\"insert\" id=\"parcel-3\">",
                                  "</section><p>between</p>\n<section class=\"insert\" "
                                  "id=\"parcel-3\">"))
    with pytest.raises(ValueError, match="private-use"):
        fields.field_markup("a" + fields.CLOSE)


PLAIN = """<html><head><style>@page { size: A6 } section + section { break-before: page }
</style></head><body>{% for p in inserts %}<section id="parcel-{{ p.line }}">{{ p.order }}
</section>{% endfor %}</body></html>"""


@pytest.mark.parametrize("case", ["stamped", "other WeasyPrint", "no field"])
def test_inserts_command_says_how_inserts_were_made(tmp_path, monkeypatch, case):
    """When stamping turns itself off (a WeasyPrint it does not read, a template that marks no
    field), `memberportal inserts` says why and for how many inserts."""
    from click.testing import CliRunner

    from memberportal.cli import cli
    root = print_project(tmp_path / "brand")
    monkeypatch.setenv("MEMBERPORTAL_SECRET", PRINT_SECRET.decode())
    if case == "other WeasyPrint":
        monkeypatch.setattr(weasyprint_layout, "supported", lambda: False)
    if case == "no field":
        (root / "templates" / "print").mkdir(parents=True)
        (root / "templates" / "print" / "insert.html").write_text(PLAIN, encoding="utf-8")
    result = CliRunner().invoke(cli, ["--lang", "en", "-C", str(root), "--as-of", PRINT_AS_OF.isoformat(), "inserts",
                                      "--parcels", str(root / "parcels.csv"), "--workers", "1",
                                      "--no-progress"])
    assert result.exit_code == 0, result.output
    said = {"stamped": "fields drawn on ",
            "other WeasyPrint": "5 laid out whole: stamping is made for WeasyPrint 70)",
            "no field": "5 laid out whole: the template marks no field (|field, |qr_src))"}
    assert said[case] in result.output
    assert ("laid out whole" in result.output) == (case != "stamped")
