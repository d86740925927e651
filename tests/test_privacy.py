"""Privacy scans: nothing personal anywhere under output/site/, personal pages closed to robots,
referrers and other hosts; printed PDFs carry no personal data in their metadata."""
from __future__ import annotations

import gzip
import re
from datetime import date
from pathlib import Path

from helpers import PORTAL_MEMBERS, PRINT_MEMBERS, PRINT_SECRET, portal_project, print_project

from memberportal.inputs.project import load
from memberportal.inputs.secret import load_secret
from memberportal.print import cards, contexts, inserts, notebook
from memberportal.render.templates import mask_name
from memberportal.site.build import run
from memberportal.site.links import references, refused

SHOP = "https://xiaohejia.tmall.example/"    # the example's brand.shop_url

DAY = date(2026, 11, 24)
EMAIL = "wang.xiaomei@example.com"
PHONE_RE = re.compile(r"(?<!\d)(?:\+?86[ -]?)?1[3-9]\d[ -]?\d{4}[ -]?\d{4}(?!\d)")
EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")


def site_texts(site: Path):
    """Every file under the site as text (gzip opened), with its path."""
    for path in sorted(site.rglob("*")):
        if not path.is_file():
            continue
        data = path.read_bytes()
        if path.suffix == ".gz":
            data = gzip.decompress(data)
        yield path.relative_to(site), data.decode("utf-8", errors="ignore")


def test_nothing_personal_anywhere_under_output_site(tmp_path, monkeypatch):
    monkeypatch.delenv("MEMBERPORTAL_SECRET", raising=False)
    root = portal_project(tmp_path / "brand")
    first = root / "members" / "A001.yml"
    first.write_text(first.read_text(encoding="utf-8") +
                     f"activities:\n  - {{type: checkin, date: 2026-11-20, note: '{EMAIL}'}}\n",
                     encoding="utf-8")
    first.write_text(first.read_text(encoding="utf-8").replace(
        "profile:\n", f"profile:\n  邮箱: {EMAIL}\n"), encoding="utf-8")
    b = run(root, DAY, show_progress=False)
    assert not b.failures
    secret = load_secret(root).decode()
    names = [name for name, _, _ in PORTAL_MEMBERS.values()]
    phones = {p for _, p, _ in PORTAL_MEMBERS.values()} | {p.replace(" ", "") for _, p, _ in
                                                     PORTAL_MEMBERS.values()}
    scanned = 0
    for path, text in site_texts(root / "output" / "site"):
        scanned += 1
        for name in names:
            assert name not in text, (path, name)
        for phone in phones:
            assert phone not in text, (path, phone)
        assert not PHONE_RE.search(text), (path, PHONE_RE.search(text)[0])
        assert EMAIL not in text, path
        if path.parts[:2] not in (("assets", "javascripts"), ("assets", "stylesheets")):
            # (the theme's own bundle credits its author by e-mail; no member's data is there)
            assert not EMAIL_RE.search(text), (path, EMAIL_RE.search(text)[0])
        assert secret not in text and secret[:16] not in text, path
    assert scanned > 50   # the theme's assets, the search index and the sitemap too


def test_every_personal_page_is_closed_to_robots_referrers_and_other_hosts(tmp_path,
                                                                         monkeypatch):
    monkeypatch.delenv("MEMBERPORTAL_SECRET", raising=False)
    root = portal_project(tmp_path / "brand")
    run(root, DAY, show_progress=False)
    private = root / "output" / "site" / "m"
    pages = sorted(private.glob("*/index.html")) + [private / "index.html"]
    assert len(pages) == len(PORTAL_MEMBERS) + 1
    for page in pages:
        html = page.read_text(encoding="utf-8")
        assert '<meta name="robots" content="noindex,nofollow">' in html, page
        assert '<meta name="referrer" content="no-referrer">' in html, page
        location = str(page.parent.relative_to(root / "output" / "site"))
        assert references(html), page                # the scan does see the page's URLs
        # the shop's own addresses (tiers.yml shop_url) are the one exception: links a
        # reader may follow, never loaded, and followed without a referrer
        shop = [u for u in refused(html, location) if u.startswith(SHOP)]
        assert refused(html, location) == shop, (page, refused(html, location))
        for u in shop:
            assert html.count(u) == html.count(f'<a class="mp-buy" href="{u}" '
                                               'rel="noopener noreferrer"'), (page, u)
        # no other host named at all, not even in a link (a data: image is inside the page;
        # its base64 may hold '//')
        assert not [u for u in references(html) if "//" in u and not u.startswith("data:")
                    and not u.startswith(SHOP)], page


def test_pdf_metadata_of_inserts_cards_and_notebooks_holds_no_personal_data(tmp_path,
                                                                           monkeypatch):
    from pypdf import PdfReader
    monkeypatch.setenv("MEMBERPORTAL_SECRET", PRINT_SECRET.decode())
    root = print_project(tmp_path / "brand")
    project = load(root)
    job = contexts.make_job(project, DAY, "zh", PRINT_SECRET)
    out = tmp_path / "pdf"
    inserts.build_inserts(job, project, contexts.read_parcels(root / "parcels.csv", project),
                         out / "inserts.pdf", workers=1)
    cards.build_cards(job, project, out / "cards.pdf")
    notebook.build_notebook(job, project, out / "notebook.pdf", notes=2, member_id="M0001")
    personal = []
    for m in project.members:
        personal += [m.name, mask_name(m.name), m.id, m.phone, m.phone.replace(" ", "")]
    assert "王*梅" in personal and "M0001" in personal
    for pdf in sorted(out.glob("*.pdf")):  # the manifest beside (ids, no names) is staff's
        reader = PdfReader(str(pdf))
        meta = {k: str(v) for k, v in (reader.metadata or {}).items()}
        xmp = reader.xmp_metadata
        fields = " ".join(meta.values()) + (xmp.stream.get_data().decode("utf-8", "ignore")
                                            if xmp is not None else "")
        for key in ("/Title", "/Author", "/Subject", "/Keywords", "/Creator"):
            value = meta.get(key, "")
            assert not [p for p in personal if p and p in value], (pdf.name, key, value)
        assert not [p for p in personal if p and p in fields], (pdf.name, meta)
        assert not PHONE_RE.search(fields) and not EMAIL_RE.search(fields), (pdf.name, meta)
    # the notebook is personalised (her name on the cover, as the example's print_names
    # says) but its title is the brand's
    assert "王晓梅" in " ".join(p.extract_text() for p in PdfReader(str(out / "notebook.pdf"))
                              .pages[:1])
    assert PRINT_MEMBERS  # the fixture members are the ones scanned
