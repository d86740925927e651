"""One voice: a rule is worded once in the catalogue and every channel (portal pages, the
brand's own Markdown, the personal page, the notebook) says it in those words, with the
program's one form of address."""
from __future__ import annotations

import csv
import re
import shutil
from datetime import date

import pytest
from helpers import REPO, dump, program

from memberportal.inputs.project import load
from memberportal.inputs.secret import load_secret
from memberportal.print import contexts, workers
from memberportal.print.notebook import handbook_context
from memberportal.render.messages import discount, word
from memberportal.render.templates import render
from memberportal.site.build import run

AS_OF = date(2026, 11, 24)


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))


@pytest.fixture(scope="module", params=["你", "您"])
def brand(request, tmp_path_factory):
    root = tmp_path_factory.mktemp("brand")
    for name in ("members", "content"):
        shutil.copytree(REPO / name, root / name)
    shutil.copy(REPO / "mkdocs.yml", root / "mkdocs.yml")
    data = program()
    data["brand"]["address"] = request.param
    (root / "members" / "tiers.yml").write_text(dump(data), encoding="utf-8")
    assert not run(root, AS_OF, show_progress=False).failures
    project = load(root)
    job = contexts.make_job(project, AS_OF, "zh", load_secret(root))
    _, env, _ = workers.tools(job)      # the print environment, as the notebook gets it
    notebook = render(env, "print/notebook.html", brand=contexts.brand_context(project),
                      story="", handbook=handbook_context(project, job), notes=0,
                      style="lined", owner=None, portal=job.site_url, memo=0,
                      year=2026)
    site = root / "output" / "site"
    pages = {p: _text(p.read_text(encoding="utf-8")) for p in (site / "m").glob("*/index.html")}
    return request.param, site, _text(notebook), pages


def test_the_birthday_rule_and_the_base_tier_read_the_same_everywhere(brand):
    _, site, notebook, _ = brand
    birthday = word("rule.birthday").format(days=30)
    tiers = _text((site / "tiers" / "index.html").read_text(encoding="utf-8"))
    content = _text((site / "participate" / "birthday" / "index.html").read_text("utf-8"))
    for channel in (tiers, content, notebook):
        assert birthday in channel
    for channel in (tiers, notebook):
        assert word("rule.base_tier") in channel
    assert "注册即是" not in notebook and "提前 30 天寄出" not in notebook


def test_a_discount_is_said_one_way(brand):
    _, site, notebook, _ = brand
    tiers = _text((site / "tiers" / "index.html").read_text(encoding="utf-8"))
    for percent in (3, 5, 8):
        assert discount(percent, "zh") in tiers and discount(percent, "zh") in notebook
    assert "% off" not in notebook


def test_the_brands_markdown_quotes_the_program(brand):
    _, site, _, _ = brand
    checkin = _text((site / "participate" / "checkin" / "index.html").read_text("utf-8"))
    assert f"每次签到得 {program()['activities']['checkin']['points']} 积分" in checkin
    assert "{{" not in checkin


def test_one_form_of_address(brand):
    address, site, notebook, pages = brand
    other = "您" if address == "你" else "你"
    assert pages
    for text in pages.values():
        # the brand's own names and free text (slogan, gifts) are theirs: only our words count
        ours = text.replace("陪你从孕期走到宝宝三岁", "").replace("你们", "")
        assert address in ours and other not in ours
    tiers = _text((site / "tiers" / "index.html").read_text(encoding="utf-8"))
    assert other not in tiers.replace("陪你从孕期走到宝宝三岁", "")


def test_markdown_naming_what_the_program_lacks_stops_the_build(tmp_path):
    from memberportal.errors import MemberPortalError
    root = tmp_path / "brand"
    for name in ("members", "content"):
        shutil.copytree(REPO / name, root / name)
    shutil.copy(REPO / "mkdocs.yml", root / "mkdocs.yml")
    (root / "content" / "story.md").write_text("# x\n\n{{ program.nothing }}\n", "utf-8")
    with pytest.raises(MemberPortalError, match="content/story.md"):
        run(root, AS_OF, show_progress=False)


def test_markdown_cannot_change_the_program_it_quotes(tmp_path):
    # the same sandbox policy as every template: no list or dict of the program is changed
    from memberportal.errors import MemberPortalError
    root = tmp_path / "brand"
    for name in ("members", "content"):
        shutil.copytree(REPO / name, root / name)
    shutil.copy(REPO / "mkdocs.yml", root / "mkdocs.yml")
    (root / "content" / "story.md").write_text(
        "# x\n\n{{ program.tiers.clear() }}{{ program.tiers | length }}\n", "utf-8")
    with pytest.raises(MemberPortalError, match="content/story.md"):
        run(root, AS_OF, show_progress=False)


def test_the_notebook_states_the_programs_rules_in_the_portals_sentences(brand):
    # points per yuan, the tier thresholds, expiry and grace: the same sentence on the
    # portal's points and tiers pages and in the notebook's handbook
    address, site, notebook, _ = brand
    data = program()
    tiers = _text((site / "tiers" / "index.html").read_text(encoding="utf-8"))
    points = _text((site / "points" / "index.html").read_text(encoding="utf-8"))
    per_unit = str(data["points"].get("per_currency_unit", 1))
    intro = word("portal.points.intro", "zh", address).format(symbol="¥", points=per_unit)
    assert intro in points and intro in notebook
    months = data["points"]["expire_after_months"]
    expire = word("portal.points.expire_after", "zh", address).format(
        months=months, days=data["points"].get("warn_days", 30))
    assert expire in points and expire in notebook
    grace = word("portal.tiers.grace", "zh", address).format(months=data["grace_months"])
    assert grace in tiers and grace in notebook
    window = data["qualification"]["window"]
    for tier in data["tiers"][1:]:
        rule = word(f"portal.tiers.rule.{window}", "zh", address).format(
            amount=f"¥{int(tier['threshold']):,}", basis=word("page.basis.spend"))
        assert rule in tiers and rule in notebook, rule


def test_the_notebooks_story_quotes_the_program_as_the_portal_does(tmp_path, monkeypatch):
    # the same content/ Markdown, quoting a rule and a number: the portal's page and the
    # notebook's story say the same sentence, and no template syntax reaches the print
    from helpers import pdftotext

    from memberportal.print.notebook import build_notebook
    root = tmp_path / "brand"
    for name in ("members", "content"):
        shutil.copytree(REPO / name, root / name)
    shutil.copy(REPO / "mkdocs.yml", root / "mkdocs.yml")
    story = root / "content" / "story.md"
    story.write_text(story.read_text(encoding="utf-8") + (
        "\n\n生日礼：{{ t('rule.birthday', days=program.birthday_gifts.member.days_before) }}。"
        "签到一次得 {{ program.activities.checkin.points }} 积分。\n"), encoding="utf-8")
    assert not run(root, AS_OF, show_progress=False).failures
    project = load(root)
    secret = load_secret(root)
    monkeypatch.setenv("MEMBERPORTAL_SECRET", secret.decode())
    job = contexts.make_job(project, AS_OF, "zh", secret)
    out = tmp_path / "notebook.pdf"
    build_notebook(job, project, out, notes=0)
    printed = re.sub(r"\s+", "", pdftotext(out))
    portal = re.sub(r"\s+", "", _text((root / "output" / "site" / "story" / "index.html")
                                      .read_text(encoding="utf-8")))
    data = program()
    sentence = word("rule.birthday", "zh", data["brand"]["address"]).format(
        days=data["birthday_gifts"]["member"]["days_before"])
    points = f"签到一次得{data['activities']['checkin']['points']}积分"
    for channel in (printed, portal):
        assert sentence.replace(" ", "") in channel and points in channel
    assert "{{" not in printed and "program." not in printed


def test_a_member_in_grace_reads_the_same_amount_and_day_on_page_insert_and_report(brand):
    from helpers import pdftotext

    from memberportal.core.tokens import page_token
    from memberportal.print.contexts import Parcel
    from memberportal.print.inserts import build_inserts
    from memberportal.render.messages import say
    from memberportal.staff.exports import csv_files, report_json
    from memberportal.staff.report import gather
    address, site, _, _ = brand
    root = site.parent.parent
    project = load(root)
    secret = load_secret(root)
    s = project.status(project.member("M0006"), AS_OF)   # diamond, in grace
    assert s.tier.grace_until and s.tier.keep_needed_by
    amount, until = f"¥{int(s.tier.keep_needed_by):,}", s.tier.grace_until
    sentence = say(s.tier.keep, "zh", "¥", address)
    assert amount in sentence and f"{until.year}年{until.month}月{until.day}日" in sentence

    page = _text((site / "m" / page_token(secret, "M0006", 0) / "index.html").read_text("utf-8"))
    assert sentence in page

    job = contexts.make_job(project, AS_OF, "zh", secret)
    pdf = root / "grace-insert.pdf"
    build_inserts(job, project, [Parcel(2, "T-GRACE", "M0006")], pdf, workers=1)
    # pdftotext breaks lines (and puts spaces) where the insert does: compare without them
    assert re.sub(r"\s", "", sentence) in re.sub(r"\s", "", pdftotext(pdf))

    data = gather(project, AS_OF, None)
    row = next(r for r in report_json(data, "zh")["about_to_drop"] if r["member_id"] == "M0006")
    assert row["why"] == sentence and row["in_grace"]
    assert row["amount"] == int(s.tier.keep_needed_by) and row["keep_until"] == until.isoformat()
    lines = csv_files(data, "zh")["about-to-drop.csv"].splitlines()
    cells = next(c for c in csv.reader(lines[1:]) if c[2] == "M0006")
    head = next(csv.reader(lines[:1]))
    assert cells[head.index("to_keep")] == sentence and cells[head.index("in_grace")] == "yes"
    assert cells[head.index("keep_until")] == until.isoformat()


def test_the_keep_tier_rule_is_one_catalogue_sentence():
    # one key words it: page, insert and report have nothing else of their own to say it with
    from memberportal.render.messages import CATALOGUE
    for table in CATALOGUE.values():
        assert "tier.keep" in table and "tier.keep_points" in table
        assert not [k for k in table if k.startswith(("staff.drop.keep", "page.keep_tier"))]
