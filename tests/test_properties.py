"""Properties of the rules that must hold for any member history (hypothesis)."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from helpers import program
from hypothesis import given, settings
from hypothesis import strategies as st

from memberportal.core.models import Member, Program
from memberportal.core.rules import add_months, evaluate, tier_for
from memberportal.errors import InputError

AS_OF = date(2026, 11, 24)
PROGRAMS = {
    (basis, window, grace): Program.model_validate(program(
        grace_months=grace, qualification={"basis": basis, "window": window}))
    for basis in ("spend", "points")
    for window in ("rolling_12_months", "calendar_year", "lifetime")
    for grace in (0, 3)
}
SKUS = ["MILK-3-800", "DIAPER-L-54", "BOTTLE-240", "PUREE-TRIAL", "UNLISTED-SKU"]

days = st.dates(min_value=date(2023, 1, 1), max_value=date(2026, 12, 31))
money = st.decimals(min_value=0, max_value=6000, places=2, allow_nan=False,
                    allow_infinity=False)
items = st.fixed_dictionaries({"sku": st.sampled_from(SKUS), "qty": st.integers(1, 5),
                               "price": money})
orders = st.lists(st.fixed_dictionaries({"date": days, "items": st.lists(items, min_size=1,
                                                                           max_size=3),
                                         "refunded": st.booleans()}), max_size=8)
activities = st.lists(st.fixed_dictionaries({
    "type": st.sampled_from(["checkin", "photo_review", "share", "referral"]), "date": days}),
    max_size=10)
redemptions = st.lists(st.fixed_dictionaries({"date": days, "points": st.integers(1, 3000),
                                              "gift": st.just("礼品")}), max_size=4)
programs = st.sampled_from(sorted(PROGRAMS))


def build(order_list, acts=(), reds=()) -> Member:
    return Member.model_validate({
        "id": "M1", "name": "测试", "phone": "13800000000", "joined": date(2023, 1, 1),
        "orders": [{"id": f"O{i}", **o} for i, o in enumerate(order_list)],
        "activities": list(acts), "redemptions": list(reds)})


def rank(p: Program, tier_id: str) -> int:
    return [t.id for t in p.tiers].index(tier_id)


@settings(max_examples=150, deadline=None)
@given(programs, orders, st.fixed_dictionaries({"date": days, "items": st.lists(
    items, min_size=1, max_size=2), "refunded": st.just(False)}), days)
def test_more_spend_never_lowers_the_tier(key, history, extra, as_of):
    p = PROGRAMS[key]
    before = evaluate(build(history), p, as_of).tier.tier.id
    after = evaluate(build(history + [extra]), p, as_of).tier.tier.id
    assert rank(p, after) >= rank(p, before)


@settings(max_examples=150, deadline=None)
@given(programs, orders, activities, redemptions, days)
def test_points_are_never_negative(key, history, acts, reds, as_of):
    try:
        s = evaluate(build(history, acts, reds), PROGRAMS[key], as_of)
    except InputError as e:
        assert e.field == "redemptions" and "balance" in e.message
        return
    pts = s.points
    assert pts.balance >= 0 and all(e.points > 0 for e in pts.expiring)
    assert pts.balance == pts.earned - pts.redeemed - pts.expired
    assert pts.expiring_total <= pts.balance


@settings(max_examples=100, deadline=None)
@given(orders, days)
def test_spend_tier_matches_a_brute_force_sum(history, as_of):
    p = PROGRAMS[("spend", "rolling_12_months", 0)]
    start = add_months(as_of, -12) + timedelta(days=1)
    total = sum((Decimal(i["price"]) * i["qty"] for o in history
                 if not o["refunded"] and start <= o["date"] <= as_of for i in o["items"]),
                Decimal(0))
    s = evaluate(build(history), p, as_of)
    assert s.tier.amount == total and s.tier.tier == tier_for(p, total)


@settings(max_examples=100, deadline=None)
@given(programs, orders, activities, st.randoms(use_true_random=False))
def test_order_of_records_does_not_matter(key, history, acts, rnd):
    shuffled, shuffled_acts = list(history), list(acts)
    rnd.shuffle(shuffled)
    rnd.shuffle(shuffled_acts)
    a = evaluate(build(history, acts), PROGRAMS[key], AS_OF)
    b = evaluate(build([{**o} for o in shuffled], shuffled_acts), PROGRAMS[key], AS_OF)
    # Order ids follow list position, so compare everything but the history's order ids.
    assert (a.tier.tier, a.tier.amount, a.points.balance, a.reminders, a.stage.key) == \
           (b.tier.tier, b.tier.amount, b.points.balance, b.reminders, b.stage.key)


@settings(max_examples=100, deadline=None)
@given(programs, orders, days)
def test_grace_never_gives_less_than_the_window(key, history, as_of):
    p = PROGRAMS[key]
    s = evaluate(build(history), p, as_of)
    assert rank(p, s.tier.tier.id) >= rank(p, s.tier.qualified.id)
    if s.tier.grace_until:
        assert s.tier.grace_until >= as_of


@settings(max_examples=150, deadline=None)
@given(st.sampled_from([k for k in sorted(PROGRAMS) if k[0] == "spend"]), orders, days)
def test_spending_what_is_needed_by_the_day_reaches_the_next_tier(key, history, as_of):
    p = PROGRAMS[key]
    s = evaluate(build(history), p, as_of)
    if s.tier.next_tier is None or s.tier.needed_by is None or s.tier.needed <= 0:
        return
    extra = {"date": s.tier.needed_by, "refunded": False,
             "items": [{"sku": "BOTTLE-240", "qty": 1, "price": s.tier.needed}]}
    later = evaluate(build(history + [extra]), p, s.tier.needed_by)
    assert rank(p, later.tier.qualified.id) >= rank(p, s.tier.next_tier.id)
