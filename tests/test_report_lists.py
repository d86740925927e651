"""The report's action lists against computations written here: about to drop, win back,
ambassadors to be."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from helpers import FixtureProject, member, order
from make_brand import make

from memberportal.core.models import Item, Order
from memberportal.core.rules import evaluate
from memberportal.inputs.project import load
from memberportal.staff.report import DROP_WARN_DAYS, gather

AS_OF = date(2026, 11, 24)


@pytest.fixture(scope="module")
def brand(tmp_path_factory):
    root = tmp_path_factory.mktemp("lists") / "brand"
    make(2000, root, seed=11)
    project = load(root)
    return project, gather(project, AS_OF, None)


def test_about_to_drop_is_everyone_who_drops_without_an_order_and_the_amount_keeps_it(brand):
    project, data = brand
    program = project.program
    rank = program.ranks
    # with no further order, who is on a lower tier DROP_WARN_DAYS + 1 days from now?
    later = AS_OF + timedelta(days=DROP_WARN_DAYS + 1)
    expected = set()
    for m in project.members:
        if m.tier_override and m.tier_override.until >= AS_OF:
            continue
        status = evaluate(m, program, AS_OF)
        now = status.tier.tier.id
        # and everyone in grace, however far away its end
        if (rank[evaluate(m, program, later).tier.tier.id] < rank[now]
                or status.tier.grace_until is not None):
            expected.add(m.id)
    listed = data["about_to_drop"]
    assert expected and {d.member.id for d in listed} == expected
    assert data["kpi"]["about_to_drop"] == len(listed)
    assert [d.keep_until for d in listed] == sorted(d.keep_until for d in listed)

    def tier_after_buying(m, amount: Decimal, day: date) -> str:
        extra = Order(id="KEEP", date=day, items=[Item(sku="MILK-3-800", qty=1, price=amount)])
        bought = m.model_copy(update={"orders": [*m.orders, extra]})
        return evaluate(bought, program, day + timedelta(days=1)).tier.tier.id

    far = [d for d in listed if d.keep_until > later]   # in grace, ending later
    assert far
    for d in listed[:25] + far[:10]:
        tier = d.status.tier.tier.id
        assert d.amount > 0
        # the amount, bought on the last day, keeps the tier; a cent less does not
        assert tier_after_buying(d.member, d.amount, d.keep_until) == tier
        assert rank[tier_after_buying(d.member, d.amount - Decimal("0.01"),
                                      d.keep_until)] < rank[tier]
        # bought today it is enough too
        assert tier_after_buying(d.member, d.amount, AS_OF) == tier


def test_win_back_is_every_lost_member_most_valuable_first(brand):
    project, data = brand
    lost_days = project.program.churn.lost_days
    rows = []
    for m in project.members:
        paid = [o for o in m.orders if not o.refunded and o.date <= AS_OF]
        if not paid:
            continue
        last = max(o.date for o in paid)
        if (AS_OF - last).days >= lost_days:
            value = sum((i.price * i.qty for o in paid for i in o.items), Decimal(0))
            rows.append((-value, last, m.id))
    rows.sort()
    got = [(-w.value, w.last_order, w.member.id) for w in data["win_back"]]
    assert rows and got == rows
    assert data["kpi"]["lost"] == data["kpi"]["win_back"] == len(rows)
    # the offer: her retention offer while it lasts, else what she spent most on
    program = project.program
    for w in data["win_back"][:200]:
        spent: dict[str, Decimal] = {}
        for o in w.member.orders:
            for i in o.items:
                if not o.refunded and program.product(i.sku) and program.product(i.sku).price:
                    spent[i.sku] = spent.get(i.sku, Decimal(0)) + i.price * i.qty
        active = [o for o in evaluate(w.member, program, AS_OF).offers if o.state == "active"]
        if active:
            assert w.offer.key == "staff.offer.retention"
        elif spent:
            top = max(spent.values())
            assert w.offer.key == "staff.offer.product"
            assert w.offer.params["product"] in {program.product(k).name for k, v in spent.items()
                                                 if v == top}


def test_ambassadors_to_be(tmp_path):
    p = FixtureProject(tmp_path / "brand")
    def big(who, n=3):                                                 # ¥3,600: gold
        return [order(f"{who}{i}", f"2026-0{i}-10", 1200) for i in range(1, n + 1)]

    friends = [member(f"F{i}", orders=[order(f"F{i}-1", "2026-05-01", 100)])
               for i in range(1, 12)]  # each friend referred by one member
    p.add(*friends, file="members/friends.yml")
    p.add(member("A", orders=big("A"), referrals=["F1", "F2", "F3"]))          # eligible
    p.add(member("B", orders=big("B"), referrals=["F4", "F5"]))                # one short
    p.add(member("C", orders=big("C", 1), referrals=["F6", "F7"]))            # silver: no
    p.add(member("D", orders=big("D"), referrals=["F8"]))                      # two short: no
    p.add(member("E", orders=big("E"), referrals=["F9", "F10", "F11"], role="ambassador"))  # is one
    data = gather(load(p.root), AS_OF, None)
    got = [(x.member.id, x.eligible, x.offer.key) for x in data["ambassadors_to_be"]]
    assert got == [("A", True, "staff.offer.invite"), ("B", False, "staff.offer.one_more")]
    assert data["kpi"]["ambassadors_to_be"] == 2
