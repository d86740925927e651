"""`cards` with nothing to print; parcels files as pick lists come (order ids alone)."""
from __future__ import annotations

import pytest
from click.testing import CliRunner
from helpers import print_project

from memberportal.cli import cli
from memberportal.errors import ValidationFailed
from memberportal.inputs.project import load
from memberportal.print.contexts import read_parcels


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("MEMBERPORTAL_SECRET", "fixture-secret-0123456789abcdef0123456789")
    return print_project(tmp_path / "brand")


def test_cards_with_nothing_to_print_say_so_and_succeed(root):
    # years after every first order, no member has an active retention offer
    result = CliRunner().invoke(cli, ["--lang", "en", "-C", str(root), "--as-of", "2031-01-01", "cards",
                                      "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "no member has an active retention offer on 2031-01-01" in result.output
    assert not (root / "output" / "print" / "cards.pdf").exists()


def parcels(root, text):
    path = root / "today.csv"
    path.write_text(text, encoding="utf-8")
    return read_parcels(path, load(root))


def test_a_pick_list_with_order_ids_only_finds_the_members(root):
    p = load(root)
    orders = [(o.id, m.id) for m in p.members for o in m.orders][:3]
    got = parcels(root, "order_id\n" + "".join(f"{o}\n" for o, _ in orders))
    assert [(x.order_id, x.member_id, x.line) for x in got] == [
        (o, m, n) for n, (o, m) in enumerate(orders, 2)]
    with pytest.raises(ValidationFailed) as failed:
        parcels(root, f"order_id\n{orders[0][0]}\nNO-SUCH-ORDER\n")
    [error] = failed.value.errors
    assert str(error).startswith("today.csv:3, field 'order_id': order NO-SUCH-ORDER is in no "
                                 "member's records")


def test_an_order_of_another_member_than_the_row_says_names_the_line(root):
    p = load(root)
    (a_order, a), (b_order, b) = [(m.orders[0].id, m.id) for m in p.members if m.orders][:2]
    assert a != b
    good = parcels(root, f"order_id,member_id,note\n{a_order},{a},x\n")
    assert [(x.member_id, x.extra) for x in good] == [(a, (("note", "x"),))]
    with pytest.raises(ValidationFailed) as failed:
        parcels(root, f"order_id,member_id\n{a_order},{a}\n{b_order},{a}\n")
    [error] = failed.value.errors
    assert str(error) == (f"today.csv:3, member {a}, field 'member_id': order {b_order} is "
                          f"member {b}'s, not {a}'s")
    result = CliRunner().invoke(cli, ["--lang", "en", "-C", str(root), "inserts", "--parcels",
                                      str(root / "today.csv"), "--no-progress"])
    assert result.exit_code == 1 and f"order {b_order} is member {b}'s" in result.output
    assert not (root / "output" / "print").exists() or not any(
        (root / "output" / "print").glob("inserts-*.pdf"))
