"""The press profile read back: PDF/X-4 output intent, nested boxes, marks outside the bleed,
only CMYK colour, order codes that decode, the check catching an office PDF."""
from __future__ import annotations

import csv
import io

import pikepdf
import pytest
from click.testing import CliRunner
from helpers import PRINT_AS_OF, PRINT_SECRET, pdftotext, print_project, qr_codes, raster

from memberportal.cli import cli
from memberportal.errors import BuildError
from memberportal.inputs.project import load
from memberportal.layout import BUILTIN_TEMPLATES
from memberportal.print import contexts, inserts, press
from memberportal.print.impose import sheet_of
from memberportal.print.weasy import MM

PIECES = {   # name: the command's arguments
    "inserts": ["inserts", "--parcels", "parcels.csv"],
    "inserts-stack": ["inserts", "--parcels", "parcels.csv", "--impose",
                      "2x1 on A4 landscape, cut and stack"],
    "cards": ["cards"],
    "cards-single": ["cards", "--layout", "single"],
    "notebook": ["notebook", "--notes", "4"],
    "booklet": ["notebook", "--notes", "4", "--booklet"],
}


def run(root, *args):
    result = CliRunner().invoke(cli, ["-C", str(root), "--as-of", PRINT_AS_OF.isoformat(),
                                      *args])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """Every piece in the press profile, and the inserts and cards in the office profile."""
    mp = pytest.MonkeyPatch()
    mp.setenv("MEMBERPORTAL_SECRET", PRINT_SECRET.decode())
    root = print_project(tmp_path_factory.mktemp("press"))
    out = {}
    for name, args in PIECES.items():
        progress = ["--no-progress"] if args[0] != "notebook" else []
        for profile in ("press", "office") if name in ("inserts", "cards") else ("press",):
            path = root / "output" / f"{name}-{profile}.pdf"
            args = [str(root / a) if a == "parcels.csv" else a for a in args]
            run(root, *args, *progress, "--profile", profile, "-o", str(path))
            out[name, profile] = path
    yield root, out
    mp.undo()


def boxes(page) -> dict[str, list[float]]:
    return {b: [float(v) for v in page.obj[b]] for b in ("/MediaBox", "/BleedBox", "/TrimBox")}


def rgb_left(pdf) -> list[str]:
    """Every RGB colour in the file, found apart from press.check: operators in every content
    stream (pages, forms, patterns), colour spaces of images, shadings, groups, resources."""
    found = []
    streams = [p.obj for p in pdf.pages]
    for obj in pdf.objects:
        if isinstance(obj, pikepdf.Stream) and obj.get("/Subtype") == "/Form" or \
                isinstance(obj, pikepdf.Stream) and obj.get("/PatternType") == 1:
            streams.append(obj)
        if isinstance(obj, (pikepdf.Dictionary, pikepdf.Stream)):
            for key in ("/ColorSpace", "/CS"):
                space = obj.get(key)
                if space is None:
                    continue
                flat = [space] if not isinstance(space, pikepdf.Array) else list(space)
                names = {str(s) for s in flat if isinstance(s, pikepdf.Name)}
                if names & {"/DeviceRGB", "/CalRGB"} or any(
                        isinstance(s, pikepdf.Array) and str(s[0]) == "/ICCBased"
                        and int(s[1].N) == 3 for s in flat):
                    found.append(f"{key} {space}")
                if isinstance(space, pikepdf.Dictionary):      # a /ColorSpace resource dict
                    found += [f"resource {v}" for v in space.values()
                              if str(v) in ("/DeviceRGB", "/CalRGB")]
    for s in streams:
        for _operands, op in pikepdf.parse_content_stream(s):
            if str(op) in ("rg", "RG"):
                found.append(str(op))
    return found


@pytest.mark.parametrize("name", list(PIECES))
def test_a_press_pdf_is_pdf_x4_with_nested_boxes_and_only_cmyk(made, name):
    root, out = made
    data = out[name, "press"].read_bytes()
    assert press.check(data) == []
    with pikepdf.open(io.BytesIO(data)) as pdf:
        assert pdf.pdf_version >= "1.6"
        [intent] = pdf.Root.OutputIntents
        assert intent.S == "/GTS_PDFX"
        assert str(intent.OutputConditionIdentifier) == "FOGRA39"
        profile = intent.DestOutputProfile
        assert int(profile.N) == 4 and profile.read_bytes() == press.ICC.read_bytes()
        assert b"<pdfxid:GTS_PDFXVersion>PDF/X-4</pdfxid:GTS_PDFXVersion>" in \
            pdf.Root.Metadata.read_bytes()
        assert pdf.docinfo.Trapped == "/False"
        for page in pdf.pages:
            b = boxes(page)
            media, bleed, trim = b["/MediaBox"], b["/BleedBox"], b["/TrimBox"]
            assert media[0] < bleed[0] <= trim[0] and media[1] < bleed[1] <= trim[1]
            assert trim[2] <= bleed[2] < media[2] and trim[3] <= bleed[3] < media[3]
        assert rgb_left(pdf) == []


def test_press_boxes_keep_the_piece_and_its_bleed(made):
    root, out = made
    with pikepdf.open(out["inserts", "press"]) as p, pikepdf.open(out["inserts", "office"]) as o:
        pb, ob = boxes(p.pages[0]), boxes(o.pages[0])
        # the same trim and bleed as the office PDF; the media grows by the slug on every side
        assert pb["/TrimBox"] == pytest.approx(ob["/TrimBox"])
        assert pb["/BleedBox"] == pytest.approx(ob["/BleedBox"])
        assert ob["/MediaBox"] == pytest.approx(ob["/BleedBox"])     # office: no room outside
        grow = [a - b for a, b in zip(pb["/MediaBox"], pb["/BleedBox"])]
        assert grow == pytest.approx([-press.SLUG * MM, -press.SLUG * MM,
                                      press.SLUG * MM, press.SLUG * MM])


def dark(image, box) -> int:
    """Dark pixels (< 128 of 255) in an image's box (left, top, right, bottom)."""
    return sum(image.crop(box).point(lambda v: 255 if v < 128 else 0).histogram()[255:])


def test_crop_marks_are_outside_the_bleed_and_the_office_ones_inside(made):
    root, out = made
    dpi, px = 150, 150 / 72
    for profile in ("press", "office"):
        path = out["inserts", profile]
        image = raster(path, 1, dpi)
        with pikepdf.open(path) as pdf:
            b = boxes(pdf.pages[0])
        media, bleed, trim = b["/MediaBox"], b["/BleedBox"], b["/TrimBox"]

        def at(x, y, media=media):     # PDF points to pixels (top-left origin)
            return round((x - media[0]) * px), round((media[3] - y) * px)
        # the trim line's continuation through the bleed at the bottom left: the office crop
        # mark is there, the press profile leaves it clear (the insert's white foot)
        x, top = at(trim[0], trim[1])
        _, bottom = at(trim[0], bleed[1])
        corner = dark(image, (x - 2, top + 2, x + 3, bottom - 1))
        if profile == "office":
            assert corner > 0
            continue
        assert corner == 0
        # the press marks: on the trim lines, from 1 mm outside the bleed outwards
        mx, my = at(trim[0], bleed[1] - (press.MARK_GAP + press.MARK_LENGTH / 2) * MM)
        assert dark(image, (mx - 2, my - 2, mx + 3, my + 3)) > 0
        mx, my = at(bleed[0] - (press.MARK_GAP + press.MARK_LENGTH / 2) * MM, trim[3])
        assert dark(image, (mx - 2, my - 2, mx + 3, my + 3)) > 0
        # nothing the press stage drew reaches into the bleed: the band just inside it is clear
        # where the marks' lines would continue
        inside = at(trim[0], bleed[1] + 0.5 * MM)
        assert dark(image, (inside[0] - 2, inside[1] - 2, inside[0] + 3, inside[1] + 3)) == 0


def test_the_slug_names_the_job_and_the_sheet(made):
    root, out = made
    path = out["inserts", "press"]
    for n in (1, 5):
        assert f"inserts-press {n}/5" in pdftotext(path, n)
    assert "cards-press 1/" in pdftotext(out["cards", "press"], 1)


def test_order_codes_still_decode_on_every_press_insert(made):
    root, out = made
    path = out["inserts", "press"]
    with open(path.with_suffix(".csv"), encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 5
    for row in rows:
        codes = {r.text for r in qr_codes(raster(path, int(row["page"]), 200))}
        assert row["order_id"] in codes


def test_cut_and_stack_puts_each_stack_in_order(made):
    root, out = made
    path = out["inserts-stack", "press"]
    with open(path.with_suffix(".csv"), encoding="utf-8") as f:
        pages = [int(r["page"]) for r in csv.DictReader(f)]
    # 5 inserts 2 a sheet: 3 sheets; the left stack holds 1-3, the right 4-5
    assert pages == [1, 2, 3, 1, 2]
    assert [sheet_of(i, 5, 2, "stack") for i in range(5)] == [0, 1, 2, 0, 1]
    assert [sheet_of(i, 5, 2, "repeat") for i in range(5)] == [0, 0, 1, 1, 2]
    first = pdftotext(path, 1)
    assert "P-001" in first and "P-004" in first and "P-002" not in first


def test_an_imposed_sheet_cuts_on_the_pieces_trim_not_their_bleed(made):
    # the sheet's trim box (and its crop marks, from the same figures) is each piece's trim:
    # inside the grid's bleed by the piece's own bleed on every outer edge
    root, out = made
    with pikepdf.open(out["inserts", "office"]) as one:
        piece = boxes(one.pages[0])
    bleed = piece["/TrimBox"][0] - piece["/BleedBox"][0]
    assert bleed == pytest.approx(3 * MM, abs=0.01)
    with pikepdf.open(out["inserts-stack", "press"]) as sheet:
        b = boxes(sheet.pages[0])
        inset = [t - g for t, g in zip(b["/TrimBox"], b["/BleedBox"])]
        assert inset == pytest.approx([bleed, bleed, -bleed, -bleed], abs=0.01)


def test_the_check_catches_an_office_pdf_and_each_fault(made):
    root, out = made
    office = press.check(out["inserts", "office"].read_bytes())
    assert any("output intent" in p for p in office)
    assert any("RGB colour: the operator rg" in p for p in office)
    good = out["inserts", "press"].read_bytes()

    def spoiled(change) -> list[str]:
        with pikepdf.open(io.BytesIO(good)) as pdf:
            change(pdf, pdf.pages[0].obj)
            buf = io.BytesIO()
            pdf.save(buf)
        return press.check(buf.getvalue())

    def rgb_text(pdf, page):
        page.Contents.append(pikepdf.Stream(pdf, b"q 1 0 0 rg 0 0 5 5 re f Q"))

    def rgb_in_a_shape(pdf, page):    # a shape laid out once, drawn by every page
        forms = [x for x in page.Resources.XObject.values() if x.Subtype == "/Form"]
        forms[0].write(forms[0].read_bytes() + b"\n0.2 0.4 0.6 RG")

    def rgb_image(pdf, page):
        image = pikepdf.Stream(pdf, bytes(3), Type=pikepdf.Name.XObject,
                               Subtype=pikepdf.Name.Image, Width=1, Height=1,
                               ColorSpace=pikepdf.Name.DeviceRGB, BitsPerComponent=8)
        page.Resources.XObject[pikepdf.Name("/Im9")] = image

    def mark_inside(pdf, page):
        x, y = float(page.TrimBox[0]), float(page.TrimBox[1])
        page.Contents.append(pikepdf.Stream(
            pdf, f"q 1 1 1 1 K {x:.3f} {y - 20:.3f} m {x:.3f} {y + 2:.3f} l S Q".encode()))

    def loose_boxes(pdf, page):
        page.BleedBox = pikepdf.Array([float(v) + 5 for v in page.TrimBox])

    def no_intent(pdf, page):
        del pdf.Root["/OutputIntents"]

    assert any("the operator rg" in p for p in spoiled(rgb_text))
    assert any("the operator RG" in p for p in spoiled(rgb_in_a_shape))
    assert any("the image /Im9 is RGB" in p for p in spoiled(rgb_image))
    assert any("crop mark inside the bleed" in p for p in spoiled(mark_inside))
    assert any("trim box is not inside the bleed box" in p for p in spoiled(loose_boxes))
    assert any("no PDF/X output intent" in p for p in spoiled(no_intent))


def test_a_press_pdf_that_fails_its_check_is_not_written(tmp_path, monkeypatch):
    monkeypatch.setenv("MEMBERPORTAL_SECRET", PRINT_SECRET.decode())
    root = print_project(tmp_path / "brand")
    project = load(root)
    job = contexts.make_job(project, PRINT_AS_OF, "zh", PRINT_SECRET)
    parcels = contexts.read_parcels(root / "parcels.csv", project)
    monkeypatch.setattr(press, "to_press", lambda data, how: data)   # a conversion that fails
    out = tmp_path / "x.pdf"
    with pytest.raises(BuildError, match="the press PDF fails its check, nothing written"):
        inserts.build_inserts(job, project, parcels, out, workers=1, profile="press")
    assert not out.exists()


def test_colours_are_converted_through_the_profile_and_greys_go_on_black_alone():
    from PIL import Image, ImageCms
    inks = press.Inks()
    assert inks.cmyk(0, 0, 0) == (0, 0, 0, 1.0)
    assert inks.cmyk(1, 1, 1) == (0, 0, 0, 0.0)
    grey = inks.cmyk(0.5, 0.5, 0.5)
    assert grey[:3] == (0, 0, 0) and 0.4 < grey[3] < 0.8
    # the brand green on the press has (nearly) the colour it has on screen: ΔE76 < 6, where
    # the naive 1 - rgb formula is far off
    srgb, lab = ImageCms.createProfile("sRGB"), ImageCms.createProfile("LAB", 5000)
    cmyk_profile = ImageCms.getOpenProfile(str(press.ICC))
    to_lab = ImageCms.buildTransform(srgb, lab, "RGB", "LAB")
    back = ImageCms.buildTransform(cmyk_profile, lab, "CMYK", "LAB")

    def lab_of_cmyk(c):
        im = Image.new("CMYK", (1, 1), tuple(round(255 * v) for v in c))
        return _lab(ImageCms.applyTransform(im, back).getpixel((0, 0)))
    rgb = (0x2f, 0x7d, 0x6d)
    want = _lab(ImageCms.applyTransform(Image.new("RGB", (1, 1), rgb), to_lab).getpixel((0, 0)))
    got = lab_of_cmyk(inks.cmyk(*(v / 255 for v in rgb)))
    k = min(1 - v / 255 for v in rgb)
    naive = lab_of_cmyk([(1 - v / 255 - k) / (1 - k) for v in rgb] + [k])
    assert _delta(want, got) < 6 < _delta(want, naive)


def _lab(pixel):     # Pillow's 8-bit LAB: L 0..255 for 0..100, a and b offset by 128
    return pixel[0] * 100 / 255, pixel[1] - 128, pixel[2] - 128


def _delta(a, b) -> float:
    return sum((x - y) ** 2 for x, y in zip(a, b)) ** 0.5


def test_colours_given_in_cmyk_are_printed_as_given(tmp_path, monkeypatch):
    monkeypatch.setenv("MEMBERPORTAL_SECRET", PRINT_SECRET.decode())
    root = print_project(tmp_path / "brand")
    tiers = root / "members" / "tiers.yml"
    text = tiers.read_text(encoding="utf-8")
    tiers.write_text(text.replace('  color: "#2f7d6d"\n',
                                  '  color: "#2f7d6d"\n  cmyk: [82, 18, 62, 21]\n', 1),
                     encoding="utf-8")
    out = root / "n.pdf"
    run(root, "notebook", "--notes", "2", "--profile", "press", "-o", str(out))
    with pikepdf.open(out) as pdf:
        ops = [[float(v) for v in operands] for page in pdf.pages
               for operands, op in pikepdf.parse_content_stream(page.obj) if str(op) == "k"]
    assert [0.82, 0.18, 0.62, 0.21] in ops
    # out of range or not four numbers: refused, naming the file and the field
    tiers.write_text(text.replace('  color: "#2f7d6d"\n',
                                  '  color: "#2f7d6d"\n  cmyk: [82, 18, 162]\n', 1),
                     encoding="utf-8")
    result = CliRunner().invoke(cli, ["-C", str(root), "--as-of", PRINT_AS_OF.isoformat(),
                                      "notebook", "--profile", "press", "-o", str(out)])
    assert result.exit_code != 0
    assert "tiers.yml" in result.output and "cmyk" in result.output


def test_card_sheet_marks_are_in_registration_colour(made):
    root, out = made

    def fills(path) -> int:
        with pikepdf.open(path) as pdf:
            return sum(1 for operands, op in pikepdf.parse_content_stream(pdf.pages[0].obj)
                       if str(op) == "scn" and [float(v) for v in operands] == [1, 1, 1, 1])
    # 2 columns, 5 rows: 3 vertical lines top and bottom, 6 horizontal ones left and right
    assert fills(out["cards", "press"]) == 18
    assert fills(out["cards", "office"]) == 0


def test_a_press_pdf_is_the_same_when_made_again(made):
    root, out = made
    office = out["inserts", "office"].read_bytes()
    how = press.Press("again", PRINT_AS_OF, fonts=BUILTIN_TEMPLATES / "fonts")
    made_once = press.to_press(office, how)
    with pikepdf.open(io.BytesIO(made_once)) as pdf:     # with its slug line
        assert b"Tj" in pdf.pages[0].obj.Contents[-1].read_bytes()
    assert press.to_press(office, how) == made_once
