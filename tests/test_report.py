"""`memberportal report`: the confidential staff report, checked in headless Chromium."""
from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest
from click.testing import CliRunner
from helpers import chromium, open_page, serve, staff_project

from memberportal.cli import cli
from memberportal.core.rhythm import rhythm
from memberportal.errors import BuildError, InputError
from memberportal.inputs.project import load
from memberportal.inputs.snapshot import Snapshot, load_snapshot, save_snapshot, snapshot_path
from memberportal.staff.report import gather, nice_ceiling, output_path

AS_OF = date(2026, 11, 24)


@pytest.fixture
def project(tmp_path):
    return staff_project(tmp_path / "brand")


def run(root, *args, lang="zh"):
    result = CliRunner().invoke(cli, ["-C", str(root), "--as-of", AS_OF.isoformat(),
                                      "--lang", lang, *args], catch_exceptions=False)
    return result.exit_code, result.output


def lower_gold_threshold(root, to: int) -> None:
    tiers = root / "members" / "tiers.yml"
    text = tiers.read_text(encoding="utf-8")
    assert "threshold: 3000" in text
    tiers.write_text(text.replace("threshold: 3000", f"threshold: {to}"), encoding="utf-8")


def test_report_in_chromium_with_tier_change_after_a_threshold_edit(project):
    code, out = run(project, "report", "--save-snapshot", lang="en")
    assert code == 0, out
    assert "no previous build recorded" in out and "saved this run's tiers" in out
    assert load_snapshot(project).tiers["M0001"] == "silver"  # ¥2,932 in 12 months
    lower_gold_threshold(project, 2500)
    code, out = run(project, "report")
    assert code == 0, out
    assert "自 2026-11-24 的生成以来等级变动 1 次" in out
    code, out = run(project, "report", lang="en")
    assert "1 tier changes since the build of 2026-11-24" in out
    report = project / "output" / "staff" / "report.html"
    html = report.read_text(encoding="utf-8")
    assert '<meta name="robots" content="noindex, nofollow, noarchive, nosnippet">' in html

    with serve(report.parent) as base, chromium() as browser:
        page = open_page(browser, f"{base}/report.html", screenshot="staff-report.png")
        live = browser.new_page()
        live.goto(f"{base}/report.html")
        charts = live.locator("svg.chart")
        chart_count = charts.count()
        chart_titles = [charts.nth(i).locator("title").text_content() for i in range(chart_count)]
        tier_labels = live.locator("#tiers svg text.label").all_text_contents()
        stage_labels = live.locator("#funnel svg text.label").all_text_contents()
        month_bars = live.locator("#revenue svg g.month").count()
        change_rows = live.locator("#tier-changes tbody tr").all_inner_texts()
        call_rows = live.locator("#calls tbody tr").all_inner_texts()
        kpis = live.locator(".kpi .v").all_inner_texts()
        phone_href = live.locator("#calls a.phone").first.get_attribute("href")
        live.close()
    assert page.console_errors == [] and page.foreign_requests == []
    assert page.screenshot is not None and page.screenshot.stat().st_size > 20_000
    assert chart_count == 3
    assert chart_titles == ["各等级会员", "六度关系漏斗", "近 12 个月销售额：老客与新客"]
    assert tier_labels == ["禾苗会员", "银禾会员", "金禾会员", "钻石会员"]
    assert stage_labels == ["满意度", "记忆度", "挽留度", "参与度", "交往度", "合作度"]
    assert month_bars == 12
    assert len(change_rows) == 1
    assert "王晓梅" in change_rows[0] and "升级" in change_rows[0]
    assert "银禾会员" in change_rows[0] and "金禾会员" in change_rows[0]
    assert "金禾会员需 ¥2,500" in change_rows[0]
    # the one place contact data appears: full name and phone, callable
    assert any("王晓梅" in r and "+86 138 0571 2231" in r for r in call_rows)
    assert phone_href.startswith("tel:+86")
    assert "机密" in page.text and page.title.startswith("员工日报")
    assert kpis[0] == "3" and kpis[3] == "67%"  # members, repurchase rate


def test_report_data(project):
    p = load(project)
    data = gather(p, AS_OF, None)
    kpi = data["kpi"]
    # the whole months 2025-11 to 2026-10: M0001 ¥1,990 (first order, 2025-12-20), M0002 ¥665
    # (first, 2026-10-02), M0003 ¥456 (a repeat, 2026-07-20); M0001's ¥942 of 2026-11-05 is
    # this month so far
    assert kpi["revenue_12m"] == Decimal(3111)
    assert kpi["revenue_month_to_date"] == Decimal(942)
    assert kpi["returning_share"] == Decimal(456) / Decimal(3111)
    assert (data["revenue_from"], data["revenue_to"]) == (date(2025, 11, 1), date(2026, 10, 31))
    assert kpi["repurchase_rate"] == 2 / 3
    # 李娜's formula (2 cans × 8 days from 10-02) ran out 10-18; 赵敏's DHA (60 days from
    # 07-20) on 09-18: both later than their products' cycle allows; neither has three orders
    assert [(a.member.name, a.signal, a.rhythm.expected) for a in data["at_risk"]] == [
        ("李娜", "product", date(2026, 10, 18)), ("赵敏", "product", date(2026, 9, 18))]
    assert [(b.member.id, b.who, b.age, b.past) for b in data["birthdays"]] == [
        ("M0001", "member", 33, True), ("M0001", "child", 2, True), ("M0003", "member", 36,
                                                                      False)]
    assert data["birthdays"][1].gift == "宝宝生日礼：定制成长相册"
    calls = {c.member.id: [r.sku for r in c.reminders] for c in data["calls"]}
    assert calls == {"M0001": ["WIPES-80x6"]}  # runs out 12-05, call on 11-28
    assert sum(mo.total for mo in data["months"]) == Decimal(3111)
    assert data["changes"] == {"changed": [], "new": [], "gone": 0}


def test_report_lists_keep_everyone_they_would_show_from_all_statuses(tmp_path):
    # gather() keeps a status only for the members its lists show: with a birthday in the
    # month (member or child), calls due, at risk, a tier other than the snapshot's. The lists
    # must be what the same functions give over every member's status.
    from make_brand import make

    from memberportal.staff import report
    root = tmp_path / "brand"
    make(300, root, seed=5)
    p = load(root)
    statuses, errors = p.statuses(AS_OF)
    assert not errors
    pairs = list(zip(p.members, statuses))
    tiers = {s.member_id: s.tier.tier.id for s in statuses}
    ids = sorted(tiers)
    before = {k: ("member" if tiers[k] != "member" else "gold") if i % 7 == 0 else tiers[k]
              for i, k in enumerate(ids) if i % 11}            # changed, new (absent) and...
    before["GONE"] = "gold"                                      # ...one no longer there
    for snapshot in (None, Snapshot(AS_OF, before)):
        data = gather(p, AS_OF, snapshot)
        rank = {t.id: i for i, t in enumerate(p.program.tiers)}
        assert data["birthdays"] == report._birthdays(pairs, p.program, AS_OF, rank)
        assert data["changes"] == report._tier_changes(pairs, set(tiers), p.program, snapshot,
                                                       rank)
        everyone = [m.id for m, s in pairs if s.orders and s.churn.level != "lost" and
                    rhythm(m, p.program, AS_OF).flagged]
        assert sorted(a.member.id for a in data["at_risk"]) == everyone
        assert data["member_tiers"] == tiers and data["kpi"]["members"] == 300
    assert data["birthdays"] and data["at_risk"] and data["calls"]
    assert data["changes"]["changed"] and data["changes"]["new"] and data["changes"]["gone"] == 1


def test_report_in_english(project):
    """The report speaks the brand's language (mkdocs.yml theme.language), not --lang's."""
    (project / "mkdocs.yml").write_text("site_name: 小禾家母婴\ntheme:\n  name: material\n"
                                        "  language: en\n", encoding="utf-8")
    code, out = run(project, "report", lang="zh")
    assert code == 0, out
    html = (project / "output/staff/report.html").read_text(encoding="utf-8")
    assert "<title>Staff report" in html and "Replenishment calls" in html
    assert "员工日报" not in html


def test_report_never_lands_in_the_published_site(project):
    (project / "output" / "site").mkdir(parents=True)
    code, out = run(project, "report")
    assert code == 0, out
    assert output_path(project) == project / "output" / "staff" / "report.html"
    assert list((project / "output" / "site").rglob("*")) == []
    # a staff folder linked into the site is refused, and nothing is written there
    (project / "output" / "staff" / "report.html").unlink()
    (project / "output" / "staff").rmdir()
    (project / "output" / "site" / "staff").mkdir()
    (project / "output" / "staff").symlink_to(project / "output" / "site" / "staff")
    with pytest.raises(BuildError, match="inside the published site"):
        output_path(project)
    code, out = run(project, "report")
    assert code == 1 and "inside the published site" in out
    assert list((project / "output" / "site").rglob("*.html")) == []


def test_snapshot_round_trip_and_bad_files(project):
    p = load(project)
    statuses, _ = p.statuses(AS_OF)
    path = save_snapshot(project, AS_OF, {s.member_id: s.tier.tier.id for s in statuses})
    assert path == snapshot_path(project) and path.parent.name == ".memberportal"
    assert (path.parent / ".gitignore").read_text() == "*\n"
    data = json.loads(path.read_text())
    assert data == {"as_of": "2026-11-24",
                    "tiers": {"M0001": "silver", "M0002": "member", "M0003": "member"}}
    snap = load_snapshot(project)
    assert snap.as_of == AS_OF and snap.tiers == data["tiers"]
    path.write_text("{not json")
    with pytest.raises(InputError, match="last-build.json"):
        load_snapshot(project)
    path.write_text('{"as_of": "2026-11-24"}')
    with pytest.raises(InputError, match="malformed"):
        load_snapshot(project)
    path.unlink()
    assert load_snapshot(project) is None


@pytest.mark.parametrize("value,top", [(0, 0), (7, 10), (19129, 20000), (12000, 20000),
                                       (2400, 2500), (4100, 5000), (100, 100)])
def test_nice_axis_top(value, top):
    assert nice_ceiling(Decimal(value)) == top
