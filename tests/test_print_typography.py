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


def test_the_brands_tips_fill_what_nothing_else_does(tmp_path, monkeypatch):
    """A member with no offer, no birthday, no consumable and no points expiring, at the top
    tier: her insert's middle ends with the brand's tips from content/ (front matter
    `insert:`, quoting the program), down into its lowest band; without them that band is
    empty."""
    from helpers import FixtureProject, dump, member, order, program, raster

    from memberportal.print.inserts import build_inserts
    monkeypatch.setenv("MEMBERPORTAL_SECRET", PRINT_SECRET.decode())
    fx = FixtureProject(tmp_path / "brand")
    data = program()
    del data["ambassador"]                              # no invitation to take the room
    for product in data["products"]:
        product.pop("new", None)                        # nothing new to recommend
    fx.write("members/tiers.yml", dump(data))
    fx.add(member("Q1", joined="2025-06-01",
                  orders=[order("Q1-1", "2025-06-01", 120, sku="BOTTLE-240"),
                          order("Q1-2", "2026-10-01", 9000, sku="CUP-STRAW")]))
    fx.write("parcels.csv", "order_id\nQ1-2\n")
    tips = ["签到一次得 {{ program.activities.checkin.points }} 积分，天天都能攒。",
            "会员群里有育儿顾问，喂养和辅食的问题随时问。",
            "晒图评价一次得 {{ program.activities.photo_review.points }} 积分。",
            "每一件商品，都先给自己的孩子用过。"]
    dpi, bleed = 100, 3.0
    top, bottom = 122 - 7 - 12, 122 - 7                 # A6: the middle's lowest 12 mm

    def px(mm):
        return round((mm + bleed) / 25.4 * dpi)

    def insert(with_tips: bool):
        for i, tip in enumerate(tips):
            head = f"---\ninsert: \"{tip}\"\n---\n" if with_tips else ""
            fx.write(f"content/tip{i}.md", f"{head}# 第 {i} 页\n\n正文。\n")
        project = load(fx.root)
        job = contexts.make_job(project, date(2026, 11, 24), "zh", PRINT_SECRET)
        parcels = contexts.read_parcels(fx.root / "parcels.csv", project)
        status = project.status(project.member("Q1"), job.as_of)
        assert not status.offers or not any(o.active for o in status.offers)
        assert not status.birthdays and not status.reminders
        assert not status.points.expiring and status.tier.next_tier is None
        assert not status.recommendations
        out = tmp_path / f"inserts-{with_tips}.pdf"
        build_inserts(job, project, parcels, out, workers=1)
        band = raster(out, 1, dpi).crop((px(8), px(top), px(97), px(bottom)))
        return band.getextrema()[0], re.sub(r"\s+", "", pdftotext(out))

    bare, _ = insert(False)
    filled, text = insert(True)
    assert bare > 200, "without tips this band was already filled: the test shows nothing"
    assert filled < 128, "the tips do not reach the middle's lowest band"
    assert f"签到一次得{data['activities']['checkin']['points']}积分" in text
    assert "{{" not in text and "小贴士" in text
