"""bench/make_brand.py: a valid project, byte-identical for the same N and seed."""
from __future__ import annotations

import csv

import pytest
from click.testing import CliRunner
from make_brand import make

from memberportal.cli import cli
from memberportal.inputs.project import load


def files_of(root):
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("layout", ["sharded", "batched"])
def test_synthetic_brand_is_valid_and_reproducible(tmp_path, layout):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    make(200, a, seed=3, layout=layout)
    make(200, b, seed=3, layout=layout)
    make(200, c, seed=4, layout=layout)
    assert files_of(a) == files_of(b)
    assert files_of(a) != files_of(c)
    result = CliRunner().invoke(cli, ["--lang", "en", "-C", str(a), "--as-of", "2026-11-24", "check"])
    assert result.exit_code == 0, result.output
    assert "200 members, valid" in result.output
    project = load(a)
    owner = {o.id: m.id for m in project.members for o in m.orders}
    with open(a / "parcels.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert rows and all(owner[r["order_id"]] == r["member_id"] for r in rows)


def test_synthetic_brand_is_realistic(tmp_path):
    make(2000, tmp_path / "a", seed=1)
    members = load(tmp_path / "a").members
    orders = sorted(len(m.orders) for m in members)
    assert orders[len(orders) // 2] <= 3 and orders[-1] >= 20  # most few, a long tail
    assert any(len(m.name) >= 3 and m.name[:2] in ("欧阳", "司马", "上官", "诸葛", "东方",
                                                   "皇甫", "慕容", "令狐", "尉迟", "公孙")
               for m in members)
    assert any(m.birthday and (m.birthday.month, m.birthday.day) == (2, 29) for m in members)
    roles = [m.role for m in members]
    assert 0 < roles.count("ambassador") < len(members) // 50
    assert any(o.refunded for m in members for o in m.orders)
    assert any(m.redemptions for m in members) and any(m.referrals for m in members)


def test_a_generic_export_imports_into_the_empty_brand(tmp_path, monkeypatch):
    from make_brand import make_export
    monkeypatch.setenv("MEMBERPORTAL_SECRET", "bench-secret-0123456789abcdef0123456789")
    counts = make_export(120, tmp_path / "g", seed=2)
    with open(tmp_path / "g" / "orders.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["order_id", "customer_id", "date", "quantity", "amount"]
    assert len(rows) == counts["orders"] and not list((tmp_path / "g" / "members").glob("*/"))
    args = ["--lang", "en", "-C", str(tmp_path / "g"), "--as-of", "2026-11-24", "import",
            str(tmp_path / "g" / "orders.csv"), "--no-progress"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert f"{counts['customers']} new members, {counts['orders']} new orders" in result.output
    members = load(tmp_path / "g").members
    assert len(members) == counts["customers"]
    assert all(m.name is None and m.phone is None and m.customer_id for m in members)
