"""Print artifacts read back: pages, boxes, text, embedded fonts, QR codes; bad input refused."""
from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import (
    PRINT_AS_OF,
    PRINT_MEMBERS,
    PRINT_SECRET,
    box_mm,
    fonts,
    pdftotext,
    print_project,
    qr_codes,
    quiet_zone_ok,
    raster,
)

from memberportal.cli import cli
from memberportal.core.codes import verify
from memberportal.errors import MemberPortalError
from memberportal.inputs.project import load
from memberportal.layout import BUILTIN_TEMPLATES
from memberportal.print import cards, contexts, inserts, notebook, preview, workers
from memberportal.print.impose import booklet_order
from memberportal.print.weasy import Fonts
from memberportal.render.qr import qr_matrix


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    os.environ["MEMBERPORTAL_SECRET"] = PRINT_SECRET.decode()
    root = print_project(tmp_path_factory.mktemp("brand"))
    project = load(root)
    job = contexts.make_job(project, PRINT_AS_OF, "zh", PRINT_SECRET)
    yield root, project, job
    os.environ.pop("MEMBERPORTAL_SECRET", None)


@pytest.fixture(scope="module")
def inserts_pdf(env):
    root, project, job = env
    parcels = contexts.read_parcels(root / "parcels.csv", project)
    out = root / "output" / "print" / "inserts.pdf"
    # chunk=2 and 2 workers: the batch path, results joined in file order
    inserts.build_inserts(job, project, parcels, out, workers=2, chunk=2)
    return out


def test_inserts_pages_boxes_and_order(env, inserts_pdf):
    from pypdf import PdfReader
    root, project, job = env
    reader = PdfReader(str(inserts_pdf))
    assert len(reader.pages) == 5
    for page in reader.pages:
        assert box_mm(page.trimbox) == (105.0, 148.0)
        assert box_mm(page.bleedbox) == (111.0, 154.0)
        assert page.mediabox.width >= page.bleedbox.width       # crop marks live outside
        assert float(page.trimbox.left) - float(page.bleedbox.left) == pytest.approx(3 * 72 / 25.4, abs=0.05)
    texts = [pdftotext(inserts_pdf, i + 1) for i in range(5)]
    expected = [("P-001", "李*"), ("P-002", "王*梅"), ("P-003", "欧阳**"), ("P-004", "李*"),
                ("P-005", "堃*雨")]
    for text, (order, name) in zip(texts, expected):
        assert order in text and name in text
    all_text = "".join(texts)
    for full in ("王晓梅", "李娜", "欧阳娜娜", "13905710042", "138 0571"):
        assert full not in all_text                              # names masked, no phones


def test_inserts_fonts_embedded_and_bundled(inserts_pdf):
    rows = fonts(inserts_pdf)
    assert rows and all(r["emb"] == "yes" for r in rows)
    assert all("Print-" in r["name"] for r in rows)            # never a system font
    assert any("Fallback" in r["name"] for r in rows)           # 堃 is not in GB2312


def test_insert_qr_codes_decode_with_quiet_zone(env, tmp_path):
    root, project, job = env
    # JD1 is M0002's first paid order: its parcel brings her new-member offer
    picks = [contexts.Parcel(2, "JD1", "M0002"), contexts.Parcel(3, "P-002", "M0001")]
    inserts_pdf = tmp_path / "first.pdf"
    inserts.build_inserts(job, project, picks, inserts_pdf, workers=1)
    image = raster(inserts_pdf, 1)
    found = {r.text: r for r in qr_codes(image)}
    url = contexts.member_url(job, "M0002")
    assert url.startswith("https://member.test.example/m/") and url in found
    assert quiet_zone_ok(image, found[url], len(qr_matrix(url)))
    order = "JD1"
    assert order in found                                        # the parcel's own code
    coupon = [t for t in found if t not in (url, order)]
    assert coupon == [url + "#code-second-half"]     # her page, at the offer's coupon
    assert quiet_zone_ok(image, found[coupon[0]], len(qr_matrix(coupon[0])))
    shown = re.search(r"[0-9A-Z]{4}(-[0-9A-Z]{4}){3}", pdftotext(inserts_pdf, 1))
    v = verify(PRINT_SECRET, shown[0], PRINT_AS_OF, {**_refs(project)})
    assert v.state == "valid" and v.member_id == "M0002"
    second = {r.text for r in qr_codes(raster(inserts_pdf, 2))}  # M0001: no offer
    assert second == {contexts.member_url(job, "M0001"), "P-002"}


def _refs(project):
    from memberportal.core.codes import member_refs
    return member_refs(PRINT_SECRET, [m.id for m in project.members])


def test_cards_sheet_duplex_and_codes(env):
    from pypdf import PdfReader
    root, project, job = env
    out = root / "output" / "print" / "cards.pdf"
    result = cards.build_cards(job, project, out)
    assert result["cards"] == 3                                  # M0002, M0003, M0004 active
    reader = PdfReader(str(out))
    assert len(reader.pages) == 2                                # front sheet, back sheet
    assert all(box_mm(p.mediabox) == (210.0, 297.0) for p in reader.pages)
    assert all(r["emb"] == "yes" for r in fonts(out))
    back = raster(out, 2)
    found = qr_codes(back)
    assert len(found) == 3
    refs = _refs(project)
    px_per_mm = 300 / 25.4
    pages = {f"{contexts.member_url(job, m)}#code-second-half": m for m in refs.values()}
    # every code on the back sheet is whole on one line (four groups of four)
    shown = re.findall(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}", pdftotext(out, 2))
    verdicts = {v.member_id: v for v in (verify(PRINT_SECRET, c, PRINT_AS_OF, refs)
                                         for c in shown)}
    assert sorted(verdicts) == ["M0002", "M0003", "M0004"]
    assert all(v.state == "valid" for v in verdicts.values())
    for r in found:
        member_id = pages[r.text]                    # the coupon QR opens her page
        assert quiet_zone_ok(back, r, len(qr_matrix(r.text)))
        # fronts fill slots in member order, two per row; each back sits behind its front:
        # same row, mirrored column (long-edge duplex)
        slot = ["M0002", "M0003", "M0004"].index(member_id)
        col = int((r.position.top_left.x / px_per_mm - 15) // 90)
        row = int((r.position.top_left.y / px_per_mm - 13.5) // 54)
        assert (row, col) == (slot // 2, 1 - slot % 2)
    assert "李*" in pdftotext(out, 1)


def test_cards_in_chunks_on_workers_equal_one_document(env, tmp_path, monkeypatch):
    from pypdf import PdfReader
    root, project, job = env
    chosen = cards.card_contexts(job, project) * 9              # 27 cards, three sheets
    whole, chunked = tmp_path / "whole.pdf", tmp_path / "chunked.pdf"
    cards.render_cards(job, project, chosen, whole, workers=1)  # CARD_CHUNK 100: one document
    monkeypatch.setattr(cards, "CARD_CHUNK", 10)                # one sheet a document
    done = []
    result = cards.render_cards(job, project, chosen, chunked, workers=2, progress=done.append)
    assert result["cards"] == 27 and done and sum(done) == 27 and len(done) == 3
    pages = len(PdfReader(str(whole)).pages)
    assert pages == len(PdfReader(str(chunked)).pages) == 6      # front, back, ×3
    for page in range(1, pages + 1):
        assert pdftotext(chunked, page) == pdftotext(whole, page), page
    assert len(qr_codes(raster(chunked, 6, dpi=200))) == 7       # the last back sheet
    assert all(r["emb"] == "yes" for r in fonts(chunked))


def test_cards_single_layout_has_bleed(env):
    from pypdf import PdfReader
    root, project, job = env
    out = root / "output" / "print" / "card-single.pdf"
    cards.build_cards(job, project, out, layout="single", member_ids=["M0002"])
    pages = PdfReader(str(out)).pages
    assert len(pages) == 2
    assert box_mm(pages[0].trimbox) == (90.0, 54.0) and box_mm(pages[0].bleedbox) == (96.0, 60.0)


def test_notebook_and_booklet(env):
    from pypdf import PdfReader
    root, project, job = env
    out = root / "output" / "print" / "notebook.pdf"
    result = notebook.build_notebook(job, project, out, notes=5, style="dotted",
                                   member_id="M0001")
    reader = PdfReader(str(out))
    n = len(reader.pages)
    assert n == result["pages"] and n >= 1 + 1 + 1 + 5
    assert all(box_mm(p.trimbox) == (148.0, 210.0) for p in reader.pages)
    assert all(box_mm(p.bleedbox) == (154.0, 216.0) for p in reader.pages)
    text = pdftotext(out)
    assert "王晓梅" in text          # the example brand's print_names: notebook: full
    assert "两位新手妈妈开了这家店，每一件商品" in text.replace("\n", "")  # CJK lines joined
    assert "金禾会员" in text and "钻石会员" in text                 # handbook from tiers.yml
    assert str(n - 1) in pdftotext(out, n - 1)                     # page numbers
    assert "小禾家母婴" in pdftotext(out, n)                          # the back cover
    assert all(r["emb"] == "yes" for r in fonts(out))
    bk = root / "output" / "print" / "booklet.pdf"
    notebook.build_notebook(job, project, bk, notes=5, booklet_a4=True)
    pages = PdfReader(str(bk)).pages
    assert len(pages) == -(-n // 4) * 2                          # notes added to fill sheets
    assert box_mm(pages[0].trimbox) == (296.0, 210.0)            # 2 × A5 side by side
    assert box_mm(pages[0].bleedbox) == (302.0, 216.0)           # the bleed on the outer edges


def test_layered_chunk_reads_on_its_own(env):
    # One worker's chunk before joining: the dropped background page must leave a PDF a strict
    # reader (poppler) takes as it is, not one that only pypdf's joining repairs.
    # (laid out whole; stamped chunks are joined before they are a PDF: test_stamping.py)
    root, project, job = env
    job = replace(job, stamp=False)
    parcels = contexts.read_parcels(root / "parcels.csv", project)[:2]
    chunk_contexts = inserts.insert_contexts(job, project, parcels)
    data = inserts._insert_chunk(job, contexts.brand_context(project), inserts.Sheet().css(),
                                 chunk_contexts).parts[0]
    chunk = root / "output" / "chunk.pdf"
    chunk.parent.mkdir(parents=True, exist_ok=True)
    chunk.write_bytes(data)
    info = subprocess.run(["pdfinfo", str(chunk)], capture_output=True, text=True)
    assert "Pages:           2" in info.stdout and "rror" not in info.stderr
    texts = [pdftotext(chunk, i + 1) for i in range(2)]
    assert "P-001" in texts[0] and "P-002" in texts[1]
    assert all(r["emb"] == "yes" for r in fonts(chunk))


def test_lean_user_agent_stylesheet_keeps_what_a_document_uses(tmp_path):
    # The pseudo-element rules left out for speed (pdf.UA_PSEUDO_USED_BY) are kept whenever
    # the document has list items, footnotes or notes, or CSS the check cannot read.
    from weasyprint import HTML

    from memberportal.print.weasy import Renderer
    from memberportal.print.weasyprint_private import html_class
    assert html_class("<div>plain</div>") is not HTML
    assert html_class('<link rel="stylesheet" href="more.css"><div>x</div>') is HTML
    html = ('<style>@page { size: A6 }</style><ol><li>alpha</li><li>beta</li></ol>'
            '<p>Body<span style="float: footnote">Footnote text</span></p>')
    data, _ = Renderer([tmp_path]).pdf(html, tmp_path, "lists and footnotes")
    out = tmp_path / "notes.pdf"
    out.write_bytes(data)
    text = pdftotext(out)
    assert "1. alpha" in text and "2. beta" in text                # list markers
    assert "Body1" in text and "1. Footnote text" in text          # footnote call and marker


def test_booklet_order():
    assert booklet_order(8) == [7, 0, 1, 6, 5, 2, 3, 4]
    assert booklet_order(6) == [None, 0, 1, None, 5, 2, 3, 4]


def test_preview_writes_pdf_and_png(env):
    root, project, job = env
    paths = preview.preview(job, project, "card", "M0002")
    assert paths[0].suffix == ".pdf" and paths[0].is_file()
    assert [p.suffix for p in paths[1:]] == [".png", ".png"]


def test_impose_inserts_two_up(env):
    from pypdf import PdfReader
    root, project, job = env
    parcels = contexts.read_parcels(root / "parcels.csv", project)
    out = root / "output" / "print" / "imposed.pdf"
    inserts.build_inserts(job, project, parcels, out, workers=1,
                         impose=inserts.parse_impose("2x1 on A4 landscape"))
    pages = PdfReader(str(out)).pages
    assert len(pages) == 3 and box_mm(pages[0].mediabox) == (297.0, 210.0)
    with pytest.raises(MemberPortalError, match="need a sheet of at least"):
        inserts.build_inserts(job, project, parcels, root / "x.pdf", workers=1,
                             impose=inserts.parse_impose("2x2 on A4"))
    assert not (root / "x.pdf").exists()


# --- bad input: a clear error, and no PDF ---------------------------------------------------


def _fails(root, project, job, csv_text=None, raw=None, match=""):
    path = root / "bad.csv"
    if raw is not None:
        path.write_bytes(raw)
    else:
        path.write_text(csv_text)
    out = root / "output" / "bad.pdf"
    with pytest.raises(MemberPortalError) as err:
        inserts.build_inserts(job, project, contexts.read_parcels(path, project), out, workers=1)
    assert not out.exists() and not list(out.parent.glob(".bad.pdf*"))
    assert match in str(err.value), str(err.value)
    return str(err.value)


def test_unknown_member_names_the_line(env):
    root, project, job = env
    msg = _fails(root, project, job, "order_id,member_id\nA,M0001\nB,M9999\n", match="bad.csv:3")
    assert "M9999" in msg and "member_id" in msg


def test_missing_column_and_bad_encoding(env):
    root, project, job = env
    _fails(root, project, job, "customer\nM0001\n", match="missing column order_id")
    msg = _fails(root, project, job, raw="order_id,member_id\nA,M0001\nB,M0002 \xe4\n".encode("latin-1"),
                 match="bad.csv:3")
    assert "UTF-8" in msg
    _fails(root, project, job, "order_id,member_id\nA,M0001,extra\n", match="bad.csv:2")


def _override(root: Path, body: str) -> Path:
    folder = root / "templates" / "print"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "insert.html").write_text(body)
    return folder / "insert.html"


def test_template_missing_field_and_outside_file(tmp_path):
    root = print_project(tmp_path / "brand")
    project = load(root)
    job = contexts.make_job(project, PRINT_AS_OF, "zh", PRINT_SECRET)
    parcels = contexts.read_parcels(root / "parcels.csv", project)
    out = root / "out.pdf"
    _override(root, "<html><body>\n{% for p in inserts %}\n<p>{{ p.member.nickname }}</p>\n"
                    "{% endfor %}</body></html>")
    with pytest.raises(MemberPortalError, match="insert.html line 3") as err:
        inserts.build_inserts(job, project, parcels, out, workers=1)
    assert "nickname" in str(err.value) and not out.exists()
    workers._worker.clear()
    secret_file = tmp_path / "outside.css"
    secret_file.write_text("p { color: red }")
    for href in (secret_file.as_uri(), "../../outside.css", "file:///etc/passwd",
                 "https://example.com/x.css"):
        _override(root, f'<html><head><link rel="stylesheet" href="{href}"></head>'
                        "<body>{% for p in inserts %}<p>{{ p.order }}</p>{% endfor %}</body></html>")
        with pytest.raises(MemberPortalError, match="refused") as err:
            inserts.build_inserts(job, project, parcels, out, workers=1)
        assert not out.exists()
    link = root / "templates" / "print" / "escape.css"
    link.symlink_to(secret_file)
    _override(root, '<html><head><link rel="stylesheet" href="escape.css"></head>'
                    "<body>{% for p in inserts %}<p>{{ p.order }}</p>{% endfor %}</body></html>")
    with pytest.raises(MemberPortalError, match="refused"):
        inserts.build_inserts(job, project, parcels, out, workers=1)
    assert not out.exists()
    workers._worker.clear()


def test_a_character_no_font_has_fails_only_that_members_insert_and_card(tmp_path):
    fonts_ = Fonts.load([BUILTIN_TEMPLATES / "fonts"])
    rare = next(chr(cp) for cp in range(0x2A700, 0x2B73F) if cp not in fonts_.covered)
    members = {"M0001": PRINT_MEMBERS["M0001"], "M0002": PRINT_MEMBERS["M0002"],
               "M0009": PRINT_MEMBERS["M0004"].replace("M0004", "M0009").replace("堃", rare)}
    root = print_project(tmp_path / "brand", members)
    (root / "parcels.csv").write_text("order_id,member_id\nA,M0001\nB,M0009\nC,M0002\n")
    project = load(root)
    job = contexts.make_job(project, PRINT_AS_OF, "zh", PRINT_SECRET)
    parcels = contexts.read_parcels(root / "parcels.csv", project)
    for chunk in (None, 1):   # one chunk for all, or the bad insert alone in its chunk
        out = root / f"out-{chunk}.pdf"
        result = inserts.build_inserts(job, project, parcels, out, workers=1, chunk=chunk)
        [error] = result["failed"]
        assert error.member == "M0009" and f"'{rare}' (U+{ord(rare):04X})" in str(error)
        assert "insert for order B (line 3)" in str(error)
        assert result["inserts"] == 2 and len(pdftotext(out).split("\f")) - 1 == 2
        assert "B," not in out.with_suffix(".csv").read_text()
        assert [line.split(",")[1] for line in
                out.with_suffix(".csv").read_text().splitlines()[1:]] == ["A", "C"]
    # the command line: the rest printed, the failure named and counted, exit 1
    runner = CliRunner()
    args = ["--lang", "en", "-C", str(root), "--as-of", PRINT_AS_OF.isoformat()]
    env = {"MEMBERPORTAL_SECRET": PRINT_SECRET.decode()}
    done = runner.invoke(cli, [*args, "inserts", "--parcels", str(root / "parcels.csv"),
                               "-o", str(root / "cli.pdf"), "--no-progress", "--workers", "1"],
                         env=env)
    assert done.exit_code == 1, done.output
    assert "cli.pdf: 2 inserts" in done.output
    assert "member M0009" in done.output and f"U+{ord(rare):04X}" in done.output
    assert "1 insert failed and is not in the PDF" in done.output
    done = runner.invoke(cli, [*args, "cards", "-o", str(root / "cards.pdf"), "--no-progress",
                               "--workers", "1", "--layout", "single"], env=env)
    assert done.exit_code == 1, done.output
    assert "member M0009" in done.output and f"U+{ord(rare):04X}" in done.output
    assert "1 card failed and is not in the PDF" in done.output
    assert rare not in pdftotext(root / "cards.pdf") and (root / "cards.pdf").is_file()


def test_cli_inserts_and_preview_leave_no_temporary_files(env, tmp_path):
    root, project, job = env
    exe = Path(sys.executable).parent / "memberportal"
    temp = {**os.environ, "TMPDIR": str(tmp_path)}  # where WeasyPrint copies the fonts
    run = subprocess.run([str(exe), "--lang", "en", "-C", str(root), "--as-of", "2026-11-24", "inserts",
                          "--parcels", str(root / "parcels.csv"), "--chunk", "1",
                          "--workers", "2"], capture_output=True, text=True, env=temp)
    assert run.returncode == 0, run.stderr
    assert "5 inserts" in run.stdout and "fields drawn on" in run.stdout
    assert list(tmp_path.iterdir()) == []           # nor the forked workers' fonts
    run = subprocess.run([str(exe), "-C", str(root), "--as-of", "2026-11-24", "preview",
                          "insert", "M0001"], capture_output=True, text=True, env=temp)
    assert run.returncode == 0, run.stderr
    paths = run.stdout.split()
    assert paths[0].endswith("insert-M0001.pdf") and paths[1].endswith(".png")
    assert all(Path(p).is_file() for p in paths)
    assert list(tmp_path.iterdir()) == []


def _on_a_terminal(command: list[str]) -> str:
    """What `command` writes to its stderr when that is a terminal (100 columns), as by hand."""
    master, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=terminal)
    os.close(terminal)
    out = b""
    with contextlib.suppress(OSError):               # EIO: the program has ended
        while chunk := os.read(master, 4096):        # read as it is written
            out += chunk
    os.close(master)
    assert proc.wait(timeout=120) == 0, out
    return out.decode()


@pytest.mark.parametrize("what, unit, total, args", [
    ("inserts", "insert", 5, ["--parcels", "{root}/parcels.csv", "--chunk", "2", "--workers",
                              "2", "-o", "{tmp}/{flag}.pdf", "{flag}"]),
    ("cards", "card", 3, ["--workers", "2", "-o", "{tmp}/{flag}.pdf", "{flag}"]),
    ("check", "member", None, []),                               # every member
    ("report", "member", None, []),
])
def test_cli_long_runs_show_progress_bars_on_a_terminal(env, tmp_path, what, unit, total, args):
    root, project, job = env
    exe = Path(sys.executable).parent / "memberportal"
    files = len(list((root / "members").glob("*.yml"))) - 1      # not tiers.yml
    flags = ("--progress", "--no-progress") if "{flag}" in args else ("",)
    shown = {flag: _on_a_terminal(
        [str(exe), "-C", str(root), "--as-of", "2026-11-24", what] +
        [a.format(root=root, tmp=tmp_path, flag=flag) for a in args]) for flag in flags}
    # tqdm's bars: count of the whole, elapsed<remaining, rate
    bar = r": +\d+%\|.*\| \d+/{} \[\d\d:\d\d<[?\d:]+, +[?\d.]+{}/s\]"
    first = shown[flags[0]]
    assert re.search("reading members" + bar.format(files, "file"), first), first
    label = "members" if what in ("check", "report") else what
    assert re.search(label + bar.format(total or len(project.members), unit), first), first
    if "--no-progress" in shown:
        assert "%|" not in shown["--no-progress"], shown["--no-progress"]


def _part(title: str, sizes: list[tuple[int, int]], inherit: bool) -> bytes:
    """A small PDF; with `inherit` its pages take their MediaBox from the page tree."""
    import io

    import pikepdf
    pdf = pikepdf.new()
    for w, h in sizes:
        pdf.add_blank_page(page_size=(w, h))
    if inherit:
        pdf.Root.Pages.MediaBox = pdf.pages[0].MediaBox
        for page in pdf.pages:
            del page.obj["/MediaBox"]
    pdf.docinfo["/Title"] = title
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def test_joined_parts_keep_their_order_inherited_boxes_and_the_first_title(tmp_path):
    from pypdf import PdfReader

    from memberportal.print.joiner import Joiner
    parts = [_part("first", [(200, 300), (200, 300)], inherit=True),
             _part("second", [(400, 500)], inherit=False),
             _part("third", [(600, 700), (610, 710)], inherit=True)]
    joiner = Joiner()
    for part in parts:
        joiner.add(part)
    path = tmp_path / "joined.pdf"
    path.write_bytes(joiner.finish())
    reader = PdfReader(path)
    assert [(round(p.mediabox.width), round(p.mediabox.height)) for p in reader.pages] == \
        [(200, 300), (200, 300), (400, 500), (600, 700), (600, 700)]
    assert reader.metadata.title == "first"
    info = subprocess.run(["pdfinfo", "-l", "5", str(path)], capture_output=True, text=True,
                          check=True).stdout          # poppler reads the same tree
    sizes = re.findall(r"Page +\d+ size: +(\d+) x (\d+) pts", info)
    assert sizes == [("200", "300")] * 2 + [("400", "500")] + [("600", "700")] * 2


def margin_boxes_skipped(_task) -> bool:
    import weasyprint.layout as layout
    return workers.guarded(0, lambda: getattr(layout.make_margin_boxes, "skips_empty", False)).pdf


def test_only_processes_that_render_skip_empty_margin_boxes(env, tmp_path, monkeypatch):
    # WeasyPrint is changed (weasyprint_private.skip_empty_margin_boxes) in the workers that
    # render (workers.worker_setup), not in the process that starts them
    import weasyprint.layout as layout
    from weasyprint.layout import page

    from memberportal.runtime.limits import run_limited
    monkeypatch.setattr(layout, "make_margin_boxes", page.make_margin_boxes)
    monkeypatch.setattr(workers, "_worker", {})      # a renderer made afresh in this process
    root, project, job = env
    notebook.build_notebook(job, project, tmp_path / "notebook.pdf", notes=1)
    assert layout.make_margin_boxes is page.make_margin_boxes
    assert run_limited(margin_boxes_skipped, [0], ["probe"]) == [True]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_offer_discount_is_worded_as_on_the_member_page(env, lang):
    # one wording everywhere (render.messages.discount): 15% off is 85折, as shops write it
    from memberportal.render.messages import discount
    root, project, job = env
    status = project.status(project.member("M0002"), job.as_of)
    assert any(o.active for o in status.offers)
    for percent in (5, 15, 50, 99, 100):
        offers = tuple(replace(o, discount_percent=percent) for o in status.offers)
        ctx = contexts.offer_context(replace(job, lang=lang), project, "M0002",
                                     replace(status, offers=offers))
        assert ctx["discount"] == discount(percent, lang)
    assert (discount(15, lang), discount(50, lang)) == \
        (("85折", "5折") if lang == "zh" else ("15% off", "50% off"))


def test_the_next_tier_block_says_what_the_next_tier_adds(env, inserts_pdf):
    # the tier panel says how much is left to spend; the block below it says what the next
    # tier brings (discount, multiplier, benefits), never the panel's sentence again
    root, project, job = env
    gains = contexts.tier_gains(project, "zh")
    silver = next(t for t in project.program.tiers if t.id == "silver")
    assert gains[silver.name] == "97折、积分 ×1.2、会员价"
    seen = 0
    from pypdf import PdfReader
    for page in range(1, len(PdfReader(str(inserts_pdf)).pages) + 1):
        text = re.sub(r"\s+", "", pdftotext(inserts_pdf, page))
        assert len(re.findall(r"再消费¥[\d,]+，升级", text)) <= 1, text
        if "升级攻略" in text:
            block = text.split("升级攻略", 1)[1]
            tier = re.match(r"升到(.+?)，多享", block).group(1)
            assert block.startswith(f"升到{tier}，多享{gains[tier]}".replace(" ", ""))
            seen += 1
    assert seen
