"""Per-parcel facts: each insert's order number is its order's place in the member's history."""
from __future__ import annotations

import random
from datetime import date

from helpers import FixtureProject, member, order

from memberportal.inputs.project import load
from memberportal.print.contexts import Parcel, make_job, number_parcels
from memberportal.print.inserts import insert_contexts

AS_OF = date(2026, 11, 20)
SECRET = b"fixture-secret-0123456789abcdef0123456789"


def histories() -> list[dict]:
    """Members with several orders: refunds, two orders on one day (the record lists the
    later id first), an order after a refund, one member with no order at all."""
    return [
        member("A1", orders=[order("A1-1", "2025-03-01", 120),
                             order("A1-2", "2025-10-02", 80, refunded=True),
                             order("A1-3", "2025-10-05", 90),
                             order("A1-9", "2026-02-01", 40),
                             order("A1-4", "2026-02-01", 60),
                             order("A1-5", "2026-11-18", 200)]),
        member("B2", orders=[order("B2-1", "2026-11-01", 300, refunded=True),
                             order("B2-2", "2026-11-10", 99)]),
        member("C3", orders=[order("C3-1", "2026-11-19", 50)]),
        member("D4"),
    ]


def brand(tmp_path) -> FixtureProject:
    fx = FixtureProject(tmp_path / "brand")
    fx.write("mkdocs.yml", "site_url: https://member.test.example/\n")
    for m in histories():
        fx.add(m)
    return fx


def expected(records: dict[str, list[dict]], parcels: list[tuple[str, str]]):
    """Worked out by hand from the records, independently of the code under test."""
    out, unrecorded = [], {}
    for oid, mid in parcels:
        orders = records[mid]
        # the one history order: by date, one day's orders by order id
        paid = [(o["date"], o["id"]) for o in orders if not o.get("refunded")]
        mine = [(o["date"], o["id"], o) for o in orders if o["id"] == oid]
        if mine:
            n = sum(1 for p in paid if p < mine[0][:2]) + 1
            refunded = bool(mine[0][2].get("refunded"))
            out.append((n, n == 1 and not refunded, True))
        else:
            unrecorded[mid] = unrecorded.get(mid, 0) + 1
            n = len([p for p in paid if p[0] <= AS_OF.isoformat()]) + unrecorded[mid]
            out.append((n, n == 1, False))
    return out


def test_order_number_is_the_orders_place_in_the_history(tmp_path):
    fx, people = brand(tmp_path), histories()
    project = load(fx.root)
    records = {m["id"]: m.get("orders", []) for m in people}
    parcels = [(o["id"], mid) for mid, orders in records.items() for o in orders]
    parcels += [("NEW-1", "B2"), ("NEW-2", "D4"), ("NEW-3", "D4"), ("NEW-4", "A1")]
    random.Random(7).shuffle(parcels)
    rows = [Parcel(n, oid, mid) for n, (oid, mid) in enumerate(parcels, 2)]
    job = make_job(project, AS_OF, "zh", SECRET)
    got = insert_contexts(job, project, rows)
    want = expected(records, parcels)
    assert [(c["member"]["orders"], c["member"]["first_order"], c["recorded"]) for c in got] \
        == want
    # spot checks of what the rules say, in words
    by_order = {c["order"]: c for c in got}
    assert by_order["A1-1"]["member"]["first_order"]                  # her first paid order
    assert by_order["A1-3"]["member"]["orders"] == 2                  # the refund not counted
    assert by_order["A1-4"]["member"]["orders"] == 3                  # same day: by order id
    assert by_order["A1-9"]["member"]["orders"] == 4
    assert by_order["A1-5"]["member"]["orders"] == 5
    assert by_order["NEW-4"]["member"]["orders"] == 6                 # her next order
    assert by_order["B2-2"]["member"]["first_order"]                  # after a refund
    assert not by_order["B2-1"]["member"]["first_order"]              # refunded: not paid
    news = sorted(by_order[o]["member"]["orders"] for o in ("NEW-2", "NEW-3"))
    assert news == [1, 2]
    assert [c["seq"] for c in got] == list(range(1, len(rows) + 1))
    assert {c["of"] for c in got} == {len(rows)}


def test_the_new_member_offer_comes_with_the_first_paid_orders_parcel(tmp_path):
    fx = brand(tmp_path)
    project = load(fx.root)
    job = make_job(project, AS_OF, "zh", SECRET)
    rows = [Parcel(2, "C3-1", "C3"), Parcel(3, "NEW-1", "D4"), Parcel(4, "NEW-2", "D4"),
            Parcel(5, "A1-5", "A1")]
    got = insert_contexts(job, project, rows)
    first = [c["member"]["first_order"] and c["member"]["offer"] is not None for c in got]
    assert first == [True, True, False, False]
    # no order on record: her offer runs from today, as it will once the order is imported
    assert got[1]["member"]["offer"]["until"] == date(2027, 11, 20)
    assert got[2]["member"]["orders"] == 2


def test_numbering_keeps_the_pick_list_order_and_says_what_is_unrecorded(tmp_path):
    fx = brand(tmp_path)
    project = load(fx.root)
    rows = [Parcel(2, "X-1", "C3"), Parcel(3, "C3-1", "C3")]
    got = number_parcels(project, rows, AS_OF)
    assert [(p.seq, p.of, p.place.number, p.place.recorded) for p in got] == [
        (1, 2, 2, False), (2, 2, 1, True)]


def test_same_day_orders_follow_one_rule_in_points_and_on_the_insert(tmp_path):
    # two orders on one day, the record lists the later id first: the points history, the
    # tier and the insert's order number all take them by order id
    from memberportal.core.rules import evaluate, history_key, paid_orders
    fx = FixtureProject(tmp_path / "brand")
    fx.write("mkdocs.yml", "site_url: https://member.test.example/\n")
    fx.add(member("S1", orders=[order("S1-20", "2026-05-02", 80),
                                order("S1-10", "2026-05-02", 30)]))
    project = load(fx.root)
    m = project.member("S1")
    assert [o.id for o in paid_orders(m)] == ["S1-10", "S1-20"]
    assert sorted(m.orders, key=history_key) == paid_orders(m)
    job = make_job(project, AS_OF, "zh", SECRET)
    got = insert_contexts(job, project, [Parcel(2, "S1-20", "S1"), Parcel(3, "S1-10", "S1")])
    assert [(c["order"], c["member"]["orders"], c["member"]["first_order"]) for c in got] == [
        ("S1-20", 2, False), ("S1-10", 1, True)]
    status = evaluate(m, project.program, AS_OF)
    earned = [e.what.params["order"] for e in status.points.history
              if e.what.key == "points.order"]
    assert earned == ["S1-10", "S1-20"]
