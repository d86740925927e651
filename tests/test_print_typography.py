"""Print typography: dates and amounts marked |nowrap never break inside themselves."""
from __future__ import annotations

import re
from datetime import date

from helpers import PRINT_SECRET, pdftotext, print_project

from memberportal.inputs.project import load
from memberportal.print import contexts, workers

TEXT = "其中 1,280 分积分将于{d}到期，请尽快使用积分兑换礼品。"
PAGE = """<html><head><style>{% include "print/print.css" %}
@page { size: 40mm 60mm; margin: 4mm; } body { margin: 0; }
div { width: 23mm; font-size: 8pt; margin-bottom: 3mm; }</style></head><body>
{% for d in days %}<div>{{ text.format(d=d|day|nowrap) }}</div>{% endfor %}</body></html>"""
DATE = re.compile(r"\d{4}年\d{1,2}月\d{1,2}日")


def test_a_date_marked_nowrap_stays_on_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("MEMBERPORTAL_SECRET", PRINT_SECRET.decode())
    root = print_project(tmp_path / "brand")
    project = load(root)
    job = contexts.make_job(project, date(2026, 11, 24), "zh", PRINT_SECRET)
    renderer, env, _ = workers.tools(job)
    days = [date(2027, 1, 5), date(2027, 11, 25), date(2027, 12, 31), date(2028, 2, 29)]
    brand = contexts.brand_context(project)
    out = tmp_path / "t.pdf"

    def lines(template: str) -> list[str]:
        html = env.from_string(template).render(days=days, text=TEXT, brand=brand)
        doc = renderer.document(html, workers.template_dir(env, "print/insert.html"), "t")
        out.write_bytes(doc.write_pdf())
        return [s.replace(" ", "") for s in pdftotext(out).splitlines() if s.strip()]

    kept = lines(PAGE)
    assert len([x for d in kept for x in DATE.findall(d)]) == len(days), kept
    # without |nowrap the same boxes break some of these dates: the test can tell
    broken = lines(PAGE.replace("|nowrap", ""))
    assert len([x for d in broken for x in DATE.findall(d)]) < len(days), broken


def test_no_insert_is_half_empty(tmp_path, monkeypatch):
    """Every insert of the fixture job has text in the lower half of its middle (between the
    status panels and the footer), filled from the fallback blocks when nothing else is."""
    from helpers import raster

    from memberportal.print.inserts import build_inserts
    monkeypatch.setenv("MEMBERPORTAL_SECRET", PRINT_SECRET.decode())
    root = print_project(tmp_path / "brand")
    project = load(root)
    job = contexts.make_job(project, date(2026, 11, 24), "zh", PRINT_SECRET)
    parcels = contexts.read_parcels(root / "parcels.csv", project)
    out = tmp_path / "inserts.pdf"
    build_inserts(job, project, parcels, out, workers=1)
    dpi, bleed = 100, 3.0
    top, bottom = (41 + 27.5 + 122 - 7) / 2, 122 - 7          # A6: the middle's lower half

    def px(mm):
        return round((mm + bleed) / 25.4 * dpi)

    for page in range(1, len(parcels) + 1):
        image = raster(out, page, dpi)
        box = image.crop((px(8), px(top), px(97), px(bottom)))
        assert box.getextrema()[0] < 128, f"insert {page}: the lower half of its middle is empty"
