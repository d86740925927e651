"""The staff report adds up: totals are the sums of their charts and lists, in HTML, JSON, CSV."""
from __future__ import annotations

import csv
import io
import json
import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
from click.testing import CliRunner
from helpers import REPO
from make_brand import make

from memberportal.cli import cli
from memberportal.inputs.project import load
from memberportal.render.messages import money
from memberportal.staff.exports import report_json, safe_cell
from memberportal.staff.report import gather

AS_OF = date(2026, 11, 24)


@pytest.fixture(scope="module")
def brand(tmp_path_factory):
    root = tmp_path_factory.mktemp("figures") / "brand"
    make(2000, root, seed=3)
    return root


def paid_between(members, start: date, end: date) -> Decimal:
    """Written here, not taken from the report: every paid order's total in [start, end]."""
    return sum((i.price * i.qty for m in members for o in m.orders
                if not o.refunded and start <= o.date <= end for i in o.items), Decimal(0))


def check_identities(figures: dict, members, as_of: date) -> None:
    months = figures["revenue_by_month"]
    assert len(months) == 12
    firsts = [date.fromisoformat(mo["month"] + "-01") for mo in months]
    for a, b in zip(firsts, firsts[1:]):
        assert (a.year * 12 + a.month) + 1 == b.year * 12 + b.month   # consecutive
    # the 12 whole months before as_of's month (as_of's is not complete)
    assert firsts[-1] == (as_of.replace(day=1) - timedelta(days=1)).replace(day=1)
    total = Decimal(str(figures["revenue_12m"]))
    assert total == sum(Decimal(str(mo["revenue"])) for mo in months)
    assert total == Decimal(str(figures["revenue_new_12m"])) + \
        Decimal(str(figures["revenue_returning_12m"]))
    for mo in months:
        assert Decimal(str(mo["revenue"])) == Decimal(str(mo["new"])) + \
            Decimal(str(mo["returning"]))
    assert total == paid_between(members, firsts[0], as_of.replace(day=1) - timedelta(days=1))
    assert Decimal(str(figures["revenue_month_to_date"])) == \
        paid_between(members, as_of.replace(day=1), as_of)
    kpi = figures["kpi"]
    assert kpi["revenue_12m"] == figures["revenue_12m"]
    assert kpi["members"] == len(members)
    assert kpi["members"] == sum(t["members"] for t in figures["members_by_tier"])
    assert kpi["members"] == sum(s["members"] for s in figures["members_by_stage"])
    assert kpi["members"] == figures["members_by_stage"][0]["reached"]
    assert kpi["calls"] == len(figures["calls"])
    assert kpi["calls_late"] == sum(1 for c in figures["calls"] if c["days_late"] > 0)
    assert kpi["at_risk"] == len(figures["at_risk"])
    assert kpi["tier_changes"] == len(figures["tier_changes"])


def test_the_synthetic_brand_adds_up_in_json_csv_and_html(brand):
    result = CliRunner().invoke(cli, ["--lang", "en", "-C", str(brand), "--as-of", AS_OF.isoformat(), "report",
                                      "--format", "html", "--format", "json",
                                      "--format", "csv"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    staff = brand / "output" / "staff"
    figures = json.loads((staff / "report.json").read_text(encoding="utf-8"))
    members = load(brand).members
    check_identities(figures, members, AS_OF)
    assert figures["revenue_12m"] > 0 and figures["kpi"]["calls"] > 0
    assert (staff / "report.json").stat().st_mode & 0o077 == 0

    calls = list(csv.reader(io.StringIO((staff / "calls.csv").read_text(encoding="utf-8-sig"))))
    assert len(calls) - 1 == figures["kpi"]["calls"]
    assert [r[2] for r in calls[1:]] == [c["member_id"] for c in figures["calls"]]

    # the HTML shows the same figures: the KPI and the sum of the chart's bar labels
    html = (staff / "report.html").read_text(encoding="utf-8")
    total = Decimal(str(figures["revenue_12m"]))
    assert money(total) in html
    revenue_svg = html[html.index('<svg class="chart revenue"'):]
    revenue_svg = revenue_svg[:revenue_svg.index("</svg>")]
    bars = re.findall(r'<g class="month">(.*?)</g>', revenue_svg, re.S)
    assert len(bars) == 12
    labels = [re.search(r'class="note">¥([\d,.]+)<', b) for b in bars]
    assert sum(Decimal(m.group(1).replace(",", "")) for m in labels if m) == total
    assert all(m for m in labels)  # no empty month in this brand


def test_the_example_brand_adds_up():
    project = load(REPO)
    figures = report_json(gather(project, AS_OF, None), "zh")
    check_identities(figures, project.members, AS_OF)
    assert figures["revenue_12m"] > 0


def test_the_months_follow_as_of():
    from memberportal.staff.report import revenue_months
    assert revenue_months(date(2026, 11, 24))[-1] == date(2026, 10, 1)
    assert revenue_months(date(2026, 12, 1))[0] == date(2025, 12, 1)     # data to 11-30: full
    assert revenue_months(date(2026, 11, 30)) == [date(2025, 12, 1)] + [
        date(2026, m, 1) for m in range(1, 12)]                          # a month's last day


@pytest.mark.parametrize("cell, shown", [
    ("=SUM(A1:A9)", "'=SUM(A1:A9)"), ("+86 138 0000 0000", "'+86 138 0000 0000"),
    ("-1", "'-1"), ("@cmd", "'@cmd"), ("\tx", "'\tx"), ("\rx", "'\rx"),
    ("王晓梅", "王晓梅"), ("13800000000", "13800000000"), (None, ""),
    (date(2026, 1, 2), "2026-01-02"), (3, "3")])
def test_csv_cells_never_start_a_formula(cell, shown):
    assert safe_cell(cell) == shown
