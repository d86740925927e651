"""Bounds at validation: extreme dates and numbers are errors naming file, line, field and
member, never a traceback or a hang."""
from __future__ import annotations

import time
from datetime import date

import pytest
from click.testing import CliRunner
from helpers import STAFF_SECRET, FixtureProject, dump, member, order, staff_project

from memberportal.cli import cli
from memberportal.core.rules import evaluate
from memberportal.errors import ValidationFailed
from memberportal.inputs.project import load

AS_OF = "2026-11-24"


def invoke(root, *args):
    result = CliRunner().invoke(cli, ["--lang", "en", "-C", str(root), *args])
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        repr(result.exception)
    return result


@pytest.mark.parametrize("field, value, line", [
    ("joined", "0001-01-01", 4),
    ("joined", "9999-12-31", 4),
    ("birthday", "1899-12-31", 5),
    ("birthday", "2200-01-01", 5),
])
def test_member_dates_out_of_bounds_name_file_line_field_member(tmp_path, field, value, line):
    fx = FixtureProject(tmp_path)
    fx.write("members/M1.yml", f"id: M1\nname: 王晓梅\nphone: '13800000000'\n"
                               f"joined: {'2024-01-01' if field != 'joined' else value}\n"
                               f"birthday: {'1990-01-01' if field != 'birthday' else value}\n")
    with pytest.raises(ValidationFailed) as caught:
        load(tmp_path, cache=False)
    (e,) = caught.value.errors
    assert (e.member, e.field, e.where.file, e.where.line) == ("M1", field, "members/M1.yml",
                                                                line), str(e)
    assert "between 1900-01-01 and 2199-12-31" in str(e)
    result = invoke(tmp_path, "--as-of", AS_OF, "check")
    assert result.exit_code == 1 and "members/M1.yml:" in result.output


@pytest.mark.parametrize("where, data", [
    ("order date", {"orders": [order("O1", "9999-12-31", 10)]}),
    ("child birthday", {"children": [{"name": "豆豆", "birthday": "0001-01-01"}]}),
    ("redemption points", {"redemptions": [{"date": "2026-01-01", "points": 10 ** 15,
                                            "gift": "x"}]}),
    ("profile not a number", {"profile": {"月龄": float("nan")}}),
    ("profile infinite", {"profile": {"月龄": float("inf")}}),
    ("profile huge integer", {"profile": {"月龄": 10 ** 40}}),
    ("quantity", {"orders": [order("O1", "2026-01-01", 10, qty=10 ** 30)]}),
    ("price", {"orders": [order("O1", "2026-01-01", 10 ** 20)]}),
])
def test_extreme_member_values_are_refused(tmp_path, where, data):
    fx = FixtureProject(tmp_path)
    fx.add(member(**data))
    with pytest.raises(ValidationFailed) as caught:
        load(tmp_path, cache=False)
    assert all(e.member == "M1" and e.where.file == "members/M1.yml" and e.where.line
               for e in caught.value.errors), [str(e) for e in caught.value.errors]


def test_the_most_stock_a_member_can_buy_does_not_overflow_the_dates(tmp_path):
    program = yaml_program_with_long_lasting_product()
    fx = FixtureProject(tmp_path)
    fx.write("members/tiers.yml", dump(program))
    orders = [order(f"O{i}", "2199-12-01", 1, qty=10_000) for i in range(5)]
    fx.add(member(orders=orders))
    project = load(tmp_path, cache=False)
    status = evaluate(project.members[0], project.program, date(2199, 12, 31))
    assert status.reminders and status.reminders[0].run_out.year == 3000
    result = invoke(tmp_path, "--as-of", "2199-12-31", "explain", "M1")
    assert result.exit_code == 0, result.output


def yaml_program_with_long_lasting_product() -> dict:
    from helpers import program
    data = program()
    for product in data["products"]:
        if product["sku"] == "MILK-3-800":
            product["lasts_days"] = 3650
    return data


@pytest.mark.parametrize("as_of", ["0001-01-01", "5000-01-01", "9999-12-31", "1899-12-31"])
def test_an_as_of_out_of_bounds_is_a_usage_error(tmp_path, as_of):
    FixtureProject(tmp_path).add(member())
    result = invoke(tmp_path, "--as-of", as_of, "check")
    assert result.exit_code == 2 and "--as-of" in result.output
    assert "between 1900-01-01 and 2199-12-31" in result.output


HEADER = "order,member,phone,paid,sku,qty,paid_total\n"
MAPPING = ("name: mine\nchannel: own-shop\ncolumns:\n  order_id: order\n  member_id: member\n"
           "  phone: phone\n  date: paid\n  sku: sku\n  qty: qty\n  amount: paid_total\n")


@pytest.mark.parametrize("qty, amount, paid, says", [
    ("1", "1e99999999", "2026-11-01", "amount must be a number"),
    ("1", "9" * 5000, "2026-11-01", "amount must be a number"),
    ("1", "NaN", "2026-11-01", "amount must be a number"),
    ("1", "-Infinity", "2026-11-01", "amount must be a number"),
    ("1", "1E5", "2026-11-01", "amount must be a number"),
    ("1e99999999", "59", "2026-11-01", "quantity must be a whole number"),
    ("9" * 5000, "59", "2026-11-01", "quantity must be a whole number"),
    ("NaN", "59", "2026-11-01", "quantity must be a whole number"),
    ("1", "59", "0001-01-01", "not a date: '0001-01-01'"),
    ("1", "59", "9999-12-31", "not a date: '9999-12-31'"),
])
def test_import_refuses_extreme_numbers_and_dates_quickly(tmp_path, monkeypatch, qty, amount,
                                                          paid, says):
    monkeypatch.setenv("MEMBERPORTAL_SECRET", STAFF_SECRET)
    root = staff_project(tmp_path / "brand")
    (tmp_path / "mine.yml").write_text(MAPPING, encoding="utf-8")
    export = tmp_path / "own.csv"
    export.write_text(HEADER + f"OWN-1,M0002,,{paid},WIPES-80x6,{qty},{amount}\n",
                      encoding="utf-8")
    start = time.monotonic()
    result = invoke(root, "--as-of", AS_OF, "import", str(export), "--mapping",
                    str(tmp_path / "mine.yml"))
    assert time.monotonic() - start < 20
    assert result.exit_code == 1, result.output
    assert says in result.output and f"{export}:2" in result.output, result.output


def test_import_still_takes_ordinary_amounts_and_whole_quantities(tmp_path, monkeypatch):
    monkeypatch.setenv("MEMBERPORTAL_SECRET", STAFF_SECRET)
    root = staff_project(tmp_path / "brand")
    (tmp_path / "mine.yml").write_text(MAPPING, encoding="utf-8")
    export = tmp_path / "own.csv"
    export.write_text(HEADER + 'OWN-1,M0002,,2026-11-01,WIPES-80x6,2.0,"¥1,234.5"\n',
                      encoding="utf-8")
    result = invoke(root, "--as-of", AS_OF, "import", str(export), "--mapping",
                    str(tmp_path / "mine.yml"))
    assert result.exit_code == 0, result.output
    items = load(root).member("M0002").orders[-1].items
    assert sum(i.qty for i in items) == 2 and sum(i.total for i in items) == 1234.5
