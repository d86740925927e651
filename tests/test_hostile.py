"""Hostile input: member data with markup is escaped everywhere, templates fail by name and line,
templates reach for nothing outside the project, huge layouts are stopped by time and memory."""
from __future__ import annotations

import re
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import PRINT_SECRET, RENDERERS, page_texts, pdftotext, portal_project, print_project

from memberportal.cli import cli
from memberportal.core.tokens import page_token
from memberportal.errors import MemberPortalError, ValidationFailed
from memberportal.inputs.project import load
from memberportal.inputs.secret import load_secret
from memberportal.layout import BUILTIN_TEMPLATES
from memberportal.print import contexts, inserts
from memberportal.site.build import run

AS_OF = date(2026, 11, 24)
SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(2)>'
NAME = f"{SCRIPT} {IMG}"                     # a name a shop export could carry
CHILD = "<b>豆豆</b>"                         # shown on the insert's birthday line
HOSTILE = f"""id: H001
name: '{NAME}'
phone: "13800000099"
joined: 2026-01-05
children:
  - name: '{CHILD}'
    birthday: 2024-12-01
segments: ['{IMG}']
consultant: '{SCRIPT}{IMG}'
region: '{IMG}'
orders:
  - id: H-1
    date: 2026-08-01
    items:
      - {{sku: MILK-3-800, qty: 1, price: 300, name: '{SCRIPT}'}}
"""


class _Tags(HTMLParser):
    """What a browser's parser makes of a page: elements, event handlers, scripts, text."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.handlers: list[tuple[str, str]] = []
        self.scripts: list[str] = []
        self.text: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.handlers += [(tag, k) for k, _ in attrs if k.lower().startswith("on")]
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        (self.scripts if self._in_script else self.text).append(data)


def parsed(html: str) -> _Tags:
    p = _Tags()
    p.feed(html)
    return p


def assert_inert(html: str, *literal: str) -> None:
    """No markup from the data took effect, and the data shows as the characters it is."""
    tags = parsed(html)
    assert tags.handlers == [], tags.handlers
    assert not [s for s in tags.scripts if "alert(" in s]
    text = "".join(tags.text)
    for s in literal:
        assert s in text, s


@pytest.fixture
def hostile_site(tmp_path, monkeypatch):
    monkeypatch.delenv("MEMBERPORTAL_SECRET", raising=False)
    root = portal_project(tmp_path / "brand")
    (root / "members" / "H001.yml").write_text(HOSTILE, encoding="utf-8")
    return root


def test_member_markup_is_escaped_in_personal_page_and_staff_report(hostile_site):
    root = hostile_site
    b = run(root, AS_OF, show_progress=False)
    assert not b.failures, [str(f) for f in b.failures]
    page = (root / "output" / "site" / "m" / page_token(load_secret(root), "H001", 0) /
            "index.html").read_text(encoding="utf-8")
    assert_inert(page, SCRIPT + IMG)              # the consultant, shown literally
    assert NAME not in "".join(parsed(page).text)  # the name only masked
    result = CliRunner().invoke(cli, ["--lang", "en", "-C", str(root), "--as-of", "2026-11-24", "report"])
    assert result.exit_code == 0, result.output
    report = (root / "output" / "staff" / "report.html").read_text(encoding="utf-8")
    assert_inert(report, NAME)                    # staff see the full name, as characters


def insert_for(root: Path) -> Path:
    """The insert PDF of one parcel for member H001."""
    (root / "parcels.csv").write_text("order_id,member_id\nP-1,H001\n")
    project = load(root)
    job = contexts.make_job(project, AS_OF, "zh", PRINT_SECRET)
    out = root / "inserts.pdf"
    inserts.build_inserts(job, project, contexts.read_parcels(root / "parcels.csv", project), out,
                         workers=1)
    return out


def test_member_markup_is_literal_text_in_the_insert_pdf(tmp_path, monkeypatch):
    monkeypatch.setenv("MEMBERPORTAL_SECRET", PRINT_SECRET.decode())
    out = insert_for(print_project(tmp_path / "brand", {"H001": HOSTILE}))
    text = pdftotext(out).replace("\n", " ")
    assert CHILD in text                          # <b> is two characters, not bold
    assert '"*****' in text and "<***" in text     # the masked name keeps its < and "
    assert "alert(1)</script>" not in text and SCRIPT not in text  # masked, never whole
    raw = out.read_bytes()
    assert b"/JavaScript" not in raw and b"/JS " not in raw and b"/Launch" not in raw


def test_a_500_character_name_is_refused_by_name_and_a_100_character_one_fits(tmp_path,
                                                                              monkeypatch):
    monkeypatch.setenv("MEMBERPORTAL_SECRET", PRINT_SECRET.decode())
    long_name = HOSTILE.replace(f"name: '{NAME}'", f"name: '{'王' * 500}'", 1)
    root = print_project(tmp_path / "a", {"H001": long_name})
    with pytest.raises(ValidationFailed) as err:
        load(root)
    (e,) = err.value.errors
    assert e.member == "H001" and e.field == "name" and e.where.line == 2
    assert "at most 100 characters" in str(e)
    # the longest name allowed, with markup in it, fits the insert and prints masked
    widest = (IMG + " ") * 3 + "X" * (100 - 3 * (len(IMG) + 1))
    assert len(widest) == 100
    out = insert_for(print_project(tmp_path / "b", {"H001": HOSTILE.replace(
        NAME, widest.replace("'", "''"))}))
    assert len(page_texts(out)) == 1 and '"*****' in pdftotext(out)


# --- templates that fail: every renderer names template and line -----------------------------

BROKEN = {
    "unknown variable": ("{{ no_such_thing }}", "'no_such_thing' is undefined"),
    "filter raises": ("{{ 'lots' | money }}", "InvalidOperation"),
    "bad call": ("{{ (1).nothing() }}", "UndefinedError|has no attribute"),
}


@pytest.mark.parametrize("case", BROKEN)
@pytest.mark.parametrize("renderer", RENDERERS)
def test_broken_template_names_template_and_line_in_every_renderer(tmp_path, monkeypatch,
                                                                   renderer, case):
    monkeypatch.setenv("MEMBERPORTAL_SECRET", PRINT_SECRET.decode())
    root = print_project(tmp_path / "brand")
    (root / "mkdocs.yml").write_text("site_url: https://member.test.example/\n"
                                     "theme:\n  name: material\n  font: false\n"
                                     "extra:\n  generator: false\n  memberportal_example: true\n")
    template, command = RENDERERS[renderer]
    line, message = BROKEN[case]
    target = root / "templates" / template
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("first line\nsecond line\n" + line + "\n", encoding="utf-8")
    monkeypatch.chdir(root)
    result = CliRunner().invoke(cli, ["--lang", "en", "-C", str(root), "--as-of", "2026-11-24", *command])
    assert result.exit_code == 1, result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception,
                                                                     SystemExit), result.exception
    assert f"template {template} line 3" in result.output, result.output
    assert re.search(message, result.output), result.output
    assert "Traceback" not in result.output


# --- templates that reach out: named and refused ----------------------------------------------

OUTSIDE = ["file:///etc/passwd", "http://169.254.169.254/latest/meta-data/",
           "//evil.example/x.png", "../../../../etc/passwd", "javascript:alert(1)"]
IN_HTML = {
    "img": '<img src="{u}" alt="">',
    "link": '<link rel="stylesheet" href="{u}">',
    "anchor": '<a href="{u}">x</a>',
    "style attribute": '<div style="background: url(\'{u}\')"></div>',
    "style block": "<style>@import \"{u}\"; .x {{ background: url({u}) }}</style>",
    "srcset": '<img src="ok.png" srcset="ok.png 1x, {u} 2x" alt="">',
}


@pytest.mark.parametrize("url", OUTSIDE)
@pytest.mark.parametrize("where", IN_HTML)
def test_every_way_a_page_can_reference_a_url_is_checked(url, where):
    from memberportal.site.links import refused
    bad = refused(IN_HTML[where].format(u=url), "m/TOKEN")
    assert url in bad and all(url.startswith(b) for b in bad), bad  # url(x) ends at ")"
    inside = IN_HTML[where].format(u="../../assets/x.png")
    assert refused(inside, "m/TOKEN") == []


def test_personal_page_template_reaching_out_fails_naming_url_template_and_member(
        tmp_path, monkeypatch):
    monkeypatch.delenv("MEMBERPORTAL_SECRET", raising=False)
    root = portal_project(tmp_path / "brand")
    page = (BUILTIN_TEMPLATES / "member" / "page.html").read_text(encoding="utf-8")
    override = root / "templates" / "member" / "page.html"
    override.parent.mkdir(parents=True)
    # one member per URL, each in another place of the page
    members = ["A001", "A002", "A003", "A004", "A005"]
    cases = dict(zip(members, zip(OUTSIDE, IN_HTML.values())))
    hooks = "".join("{% if s.member_id == '" + mid + "' %}" + snippet.format(u=url) +
                    "{% endif %}" for mid, (url, snippet) in cases.items())
    override.write_text(hooks + page, encoding="utf-8")
    b = run(root, AS_OF, show_progress=False)
    assert sorted(f.member for f in b.failures) == members
    for failure in b.failures:
        url = cases[failure.member][0]
        assert url in str(failure) and "template member/page.html" in str(failure), str(failure)
    assert not list((root / "output" / "site" / "m").glob("*/index.html"))
    # what stays inside the site is fine: the theme's assets, fragments, data: images
    override.write_text('<img src="../../assets/images/favicon.png" alt=""><a href="#top">t</a>'
                        '<img src="data:image/png;base64,iVBORw0KGgo=" alt="">' + page,
                        encoding="utf-8")
    assert not run(root, AS_OF, show_progress=False).failures


def test_portal_theme_linking_to_another_host_is_refused(tmp_path, monkeypatch):
    monkeypatch.delenv("MEMBERPORTAL_SECRET", raising=False)
    root = portal_project(tmp_path / "brand")
    config = root / "mkdocs.yml"
    config.write_text(config.read_text(encoding="utf-8").replace(
        "extra:\n", "extra:\n  social:\n    - icon: fontawesome/brands/weixin\n"
                    "      link: https://weixin.example.com/brand\n"), encoding="utf-8")
    with pytest.raises(MemberPortalError, match="https://weixin.example.com/brand"):
        run(root, AS_OF, show_progress=False)
    assert not (root / "output" / "site").exists()


PDF_URLS = ["file:///etc/passwd", "http://169.254.169.254/latest/meta-data/",
            "https://example.com/x.png"]
IN_PDF = {
    "img": '<img src="{u}">',
    "css url": '<div style="background-image: url(\'{u}\'); height: 5mm"></div>',
    "@import": '<style>@import url("{u}");</style>',
}


def _print_override(root: Path, snippet: str) -> None:
    folder = root / "templates" / "print"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "insert.html").write_text(
        "<html><head>" + snippet + "</head><body>{% for p in inserts %}<p>{{ p.order }}</p>"
        "{% endfor %}</body></html>", encoding="utf-8")


def test_print_template_reaching_out_fails_naming_the_url(tmp_path, monkeypatch):
    monkeypatch.setenv("MEMBERPORTAL_SECRET", PRINT_SECRET.decode())
    root = print_project(tmp_path / "brand")
    project = load(root)
    job = contexts.make_job(project, AS_OF, "zh", PRINT_SECRET)
    parcels = contexts.read_parcels(root / "parcels.csv", project)
    out = root / "out.pdf"
    outside = tmp_path / "private.png"
    outside.write_bytes(b"\x89PNG\r\n\x1a\n")
    (root / "templates" / "print").mkdir(parents=True)
    (root / "templates" / "print" / "link.png").symlink_to(outside)
    urls = [(u, u.removeprefix("file://")) for u in PDF_URLS] + [
        ("../../../private.png", str(outside)), ("link.png", str(outside))]
    snippets = list(IN_PDF.values()) * 2
    for (url, named), snippet in zip(urls, snippets):
        _print_override(root, snippet.format(u=url))
        with pytest.raises(MemberPortalError) as err:
            inserts.build_inserts(job, project, parcels, out, workers=1)
        assert named in str(err.value) and "refused" in str(err.value), (url, str(err.value))
        assert not out.exists()


# --- huge layouts: time and memory limits name the member or the chunk ---------------------------


def test_huge_font_size_is_stopped_by_the_time_limit_naming_the_member(tmp_path, monkeypatch):
    monkeypatch.setenv("MEMBERPORTAL_SECRET", PRINT_SECRET.decode())
    monkeypatch.setenv("MEMBERPORTAL_RENDER_TIMEOUT", "2")
    root = print_project(tmp_path / "brand")
    (root / "content" / "story.md").write_text("# 故事\n\n" + "两位新手妈妈开了这家店。" * 60)
    notebook = (BUILTIN_TEMPLATES / "print" / "notebook.html").read_text(encoding="utf-8")
    (root / "templates" / "print").mkdir(parents=True)
    (root / "templates" / "print" / "notebook.html").write_text(notebook.replace(
        "</head>", "<style>.prose { font-size: 300pt !important }</style></head>"))
    result = CliRunner().invoke(cli, ["--lang", "en", "-C", str(root), "--as-of", "2026-11-24", "notebook",
                                      "--member", "M0001"])
    assert result.exit_code == 1
    assert "notebook for member M0001" in result.output and "time limit" in result.output
    assert not (root / "output" / "print" / "notebook.pdf").exists()


def test_huge_page_content_in_one_chunk_is_named_the_other_chunks_render(tmp_path, monkeypatch):
    monkeypatch.setenv("MEMBERPORTAL_SECRET", PRINT_SECRET.decode())
    monkeypatch.setenv("MEMBERPORTAL_RENDER_TIMEOUT", "6")
    # Workers are forked from this process: their cap is on top of what it maps already (which
    # grows with the tests that ran before in the same pytest process).
    mapped = int(re.search(r"VmSize:\s+(\d+) kB", Path("/proc/self/status").read_text())[1])
    monkeypatch.setenv("MEMBERPORTAL_RENDER_MEMORY", str(mapped // 1024 + 1000))
    root = print_project(tmp_path / "brand")
    insert = (BUILTIN_TEMPLATES / "print" / "insert.html").read_text(encoding="utf-8")
    # M0003 (parcel line 4): 300 pt text that flows onto hundreds of pages; M0004 (line 6):
    # a template that needs more memory than a worker has.
    hook = ("{% if p.member.id == 'M0003' %}<div style=\"font-size: 300pt\">"
            "{{ '两位新手妈妈开了这家店。' * 400 }}</div>{% endif %}"
            "{% if p.member.id == 'M0004' %}{{ ('x' * 2000000000) | length }}{% endif %}")
    assert "{% for p in inserts %}" in insert
    (root / "templates" / "print").mkdir(parents=True)
    (root / "templates" / "print" / "insert.html").write_text(
        insert.replace("{% for p in inserts %}", "{% for p in inserts %}" + hook, 1)
        .replace("overflow: hidden;", ""))
    result = CliRunner().invoke(cli, ["--lang", "en", "-C", str(root), "--as-of", "2026-11-24", "inserts",
                                      "--parcels", str(root / "parcels.csv"), "--chunk", "2",
                                      "--workers", "2"])
    assert result.exit_code == 1, result.output
    out = result.output
    assert "lines 4–5 of the parcels file (members M0003, M0002)" in out and "time limit" in out
    assert "lines 6–6 of the parcels file (member M0004)" in out and "out of memory" in out
    assert "lines 2–3" not in out and "2 errors found" in out   # the first chunk rendered
    assert not list((root / "output").rglob("*.pdf"))
