"""Table-driven tests of each rule: windows, grace, expiry, multipliers, birthdays, stages."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from helpers import member, order, program

from memberportal.core.models import Member, Program
from memberportal.core.rules import add_months, evaluate, next_anniversary
from memberportal.render.messages import say

AS_OF = date(2026, 11, 24)


def prog(**changes) -> Program:
    return Program.model_validate(program(**changes))


def mem(**fields) -> Member:
    return Member.model_validate(member(**fields))


def status(m: Member, p: Program | None = None, as_of: date = AS_OF, **kw):
    return evaluate(m, p or prog(grace_months=0), as_of, **kw)


# --- dates ---------------------------------------------------------------------------------

@pytest.mark.parametrize("start, months, expected", [
    (date(2026, 1, 31), 1, date(2026, 2, 28)),
    (date(2024, 1, 31), 1, date(2024, 2, 29)),
    (date(2024, 2, 29), 12, date(2025, 2, 28)),
    (date(2026, 11, 24), -12, date(2025, 11, 24)),
    (date(2026, 3, 31), -1, date(2026, 2, 28)),
    (date(2026, 12, 15), 1, date(2027, 1, 15)),
])
def test_add_months(start, months, expected):
    assert add_months(start, months) == expected


@pytest.mark.parametrize("born, as_of, expected", [
    (date(1992, 2, 29), date(2026, 2, 1), date(2026, 2, 28)),   # common year: 28 February
    (date(1992, 2, 29), date(2027, 12, 1), date(2028, 2, 29)),  # leap year: the day itself
    (date(1992, 2, 29), date(2026, 3, 1), date(2027, 2, 28)),
    (date(1990, 11, 24), date(2026, 11, 24), date(2026, 11, 24)),  # today counts
    (date(1990, 11, 23), date(2026, 11, 24), date(2027, 11, 23)),
])
def test_next_birthday(born, as_of, expected):
    assert next_anniversary(born, as_of) == expected


# --- tier windows --------------------------------------------------------------------------

@pytest.mark.parametrize("window, order_day, tier", [
    ("rolling_12_months", "2025-11-24", "member"),    # exactly 12 months back: outside
    ("rolling_12_months", "2025-11-25", "gold"),      # first day inside
    ("rolling_12_months", "2026-11-24", "gold"),      # as_of itself counts
    ("rolling_12_months", "2026-11-25", "member"),    # the future does not
    ("calendar_year", "2026-01-01", "gold"),
    ("calendar_year", "2025-12-31", "member"),
    ("lifetime", "2019-05-01", "gold"),
])
def test_window_edges(window, order_day, tier):
    p = prog(grace_months=0, qualification={"basis": "spend", "window": window})
    s = status(mem(orders=[order("O1", order_day, 3000)]), p)
    assert s.tier.tier.id == tier


@pytest.mark.parametrize("amount, tier, needed", [
    (0, "member", 800), (799.99, "member", Decimal("0.01")), (800, "silver", 2200),
    (2999, "silver", 1), (3000, "gold", 5000), (8000, "diamond", None), (99999, "diamond", None),
])
def test_thresholds_and_what_is_still_needed(amount, tier, needed):
    s = status(mem(orders=[order("O1", "2026-06-01", amount)]))
    assert s.tier.tier.id == tier
    assert s.tier.needed == (Decimal(str(needed)) if needed is not None else None)


def test_refunded_orders_count_nothing():
    s = status(mem(orders=[order("O1", "2026-06-01", 5000, refunded=True),
                           order("O2", "2026-06-02", 900)]))
    assert s.tier.tier.id == "silver" and s.tier.amount == 900 and s.orders == 1


def test_calendar_year_needs_by_year_end():
    p = prog(grace_months=0, qualification={"basis": "spend", "window": "calendar_year"})
    s = status(mem(orders=[order("O1", "2026-03-01", 500)]), p)
    assert s.tier.needed == 300 and s.tier.needed_by == date(2026, 12, 31)


def test_points_basis_counts_activities_too():
    p = prog(grace_months=0, qualification={"basis": "points", "window": "lifetime"})
    acts = [{"type": "referral", "date": f"2026-0{i}-01"} for i in range(1, 5)]
    s = status(mem(orders=[order("O1", "2026-06-01", 100)], activities=acts), p)
    # 4 × 200 referral points make silver by April, so the June order earns 100 × 1.2.
    assert s.tier.amount == 920 and s.tier.tier.id == "silver"


def test_reason_names_amount_window_and_threshold():
    s = status(mem(orders=[order("O1", "2026-06-01", 3200)]))
    assert say(s.tier.reason) == ("2025年11月25日 至 2026年11月24日 的 12 个月内消费 ¥3,200；"
                                  "金禾会员需 ¥3,000")
    assert say(s.tier.reason, "en") == ("¥3,200 spent in the 12 months 2025-11-25 to "
                                        "2026-11-24; 金禾会员 needs ¥3,000")


# --- grace ---------------------------------------------------------------------------------

@pytest.mark.parametrize("order_day, tier, grace_until", [
    # Gold from a ¥3,000 order; it leaves the window 12 months later, then 3 months of grace.
    ("2025-11-20", "gold", date(2027, 2, 19)),   # fell below on 2026-11-20: grace until Feb
    ("2025-08-25", "gold", date(2026, 11, 24)),  # fell below 2026-08-25: last day of grace
    ("2025-08-24", "member", None),              # one day earlier: grace is over
    ("2026-01-10", "gold", None),                # still qualifies: no grace needed
])
def test_grace(order_day, tier, grace_until):
    s = status(mem(orders=[order("O1", order_day, 3000)]), prog(grace_months=3))
    assert s.tier.tier.id == tier
    assert s.tier.grace_until == grace_until
    if grace_until:
        assert s.tier.qualified.id == "member" and "宽限期" in say(s.tier.reason)


def test_keep_until_without_further_orders():
    s = status(mem(orders=[order("O1", "2026-03-10", 3000)]), prog(grace_months=3))
    assert s.tier.keep_until == date(2027, 6, 9)   # falls below 2027-03-10, +3 months grace


def test_override_wins_while_it_lasts():
    m = mem(orders=[order("O1", "2026-06-01", 100)],
            tier_override={"tier": "gold", "until": "2026-12-31", "reason": "体验官"})
    assert status(m).tier.tier.id == "gold"
    assert status(m, as_of=date(2027, 1, 1)).tier.tier.id == "member"


# --- points --------------------------------------------------------------------------------

def test_multiplier_is_the_tier_held_the_day_before_the_order():
    s = status(mem(orders=[order("O1", "2026-01-05", 3000), order("O2", "2026-01-05", 100),
                           order("O3", "2026-01-06", 100)]))
    # O1 and O2 on the same day: member ×1; O3 the next day: gold ×1.5.
    assert [e.points for e in s.points.history] == [3000, 100, 150]
    assert s.points.balance == 3250


def test_points_expire_after_24_months_fifo():
    m = mem(orders=[order("O1", "2024-11-24", 300), order("O2", "2024-12-20", 200),
                    order("O3", "2025-06-01", 100)],
            redemptions=[{"date": "2025-01-01", "points": 100, "gift": "湿巾"}])
    s = status(m)
    # O1 (300, 100 of it redeemed) expired on 2026-11-24; O2 expires 2026-12-20 (in 26 days).
    assert s.points.expired == 200
    assert [(e.date, e.points) for e in s.points.expiring] == [(date(2026, 12, 20), 200)]
    assert s.points.balance == 300


@pytest.mark.parametrize("as_of, balance", [
    (date(2026, 11, 23), 300), (date(2026, 11, 24), 0)])
def test_expiry_day_edge(as_of, balance):
    s = status(mem(orders=[order("O1", "2024-11-24", 300)]), as_of=as_of)
    assert s.points.balance == balance


def test_activity_limits():
    acts = [{"type": "checkin", "date": "2026-11-01"}, {"type": "checkin", "date": "2026-11-01"},
            {"type": "checkin", "date": "2026-11-02"}]
    acts += [{"type": "photo_review", "date": f"2026-10-{d:02d}"} for d in range(1, 7)]
    s = status(mem(activities=acts))
    assert s.points.balance == 5 + 5 + 4 * 50
    assert sum(1 for e in s.points.history if e.what.key == "points.over_limit") == 3


def test_points_per_currency_unit_and_floor():
    p = prog(grace_months=0, points={"per_currency_unit": 2, "warn_days": 60})
    assert status(mem(orders=[order("O1", "2026-01-05", 10.75)]), p).points.balance == 21


# --- offers, reminders, birthdays ----------------------------------------------------------

@pytest.mark.parametrize("first, redeemed, state", [
    ("2026-10-02", False, "active"), ("2025-11-24", False, "active"),   # day 365: still valid
    ("2025-11-23", False, "expired"), ("2026-10-02", True, "redeemed")])
def test_retention_offer(first, redeemed, state):
    m = mem(orders=[order("O1", first, 100)])
    s = status(m, redeemed=frozenset({"M1"}) if redeemed else frozenset())
    assert [o.state for o in s.offers] == [state]


def test_no_offer_before_the_first_order():
    assert status(mem()).offers == ()


def test_replenishment_carries_stock_over():
    # 3 cans × 12 days from 11-01 run out 11-37 = 12-07; 2 more on 11-20 push it to 12-31.
    m = mem(orders=[order("O1", "2026-11-01", 268, qty=3), order("O2", "2026-11-20", 268, qty=2)])
    (r,) = status(m).reminders
    assert (r.run_out, r.remind_on, r.due) == (date(2026, 12, 31), date(2026, 12, 26), False)


def test_reminder_due_and_long_lapsed():
    due = status(mem(orders=[order("O1", "2026-11-01", 268, qty=2)])).reminders
    assert [(r.run_out, r.due) for r in due] == [(date(2026, 11, 25), True)]
    lapsed = status(mem(orders=[order("O1", "2026-05-20", 268)]))
    assert lapsed.reminders == () and lapsed.churn.level == "lost"


@pytest.mark.parametrize("born, as_of, shown_on", [
    ("1992-02-29", date(2026, 2, 1), date(2026, 2, 28)),
    ("1992-02-29", date(2028, 2, 1), date(2028, 2, 29)),
    ("1990-12-24", AS_OF, date(2026, 12, 24)),    # 30 days ahead: shown
    ("1990-12-25", AS_OF, None),                  # 31 days: not yet
])
def test_member_birthday_gift(born, as_of, shown_on):
    s = status(mem(birthday=born), as_of=as_of)
    assert [b.date for b in s.birthdays] == ([shown_on] if shown_on else [])


@pytest.mark.parametrize("born, shown", [
    ("2024-02-29", False), ("2024-12-01", True), ("2020-12-01", False),  # 6: max_age 6 ok...
    ("2019-12-01", False), ("2026-12-01", False)])                        # 7; not born yet
def test_child_birthday_gift(born, shown):
    s = status(mem(children=[{"name": "乐乐", "birthday": born}]))
    expected = [("child", "乐乐")] if shown else []
    if born == "2020-12-01":
        expected = [("child", "乐乐")]  # turns 6: max_age is 6, still gets the gift
    assert [(b.who, b.child_name) for b in s.birthdays] == expected


def test_child_born_29_february_in_a_common_year():
    s = status(mem(children=[{"birthday": "2024-02-29"}]), as_of=date(2027, 2, 10))
    assert [(b.date, b.age) for b in s.birthdays] == [(date(2027, 2, 28), 3)]


# --- stage, churn, rfm, ambassador ---------------------------------------------------------

@pytest.mark.parametrize("fields, stage", [
    ({}, "satisfaction"),
    ({"orders": [order("O1", "2026-10-01", 100)]}, "memory"),
    ({"orders": [order("O1", "2026-01-01", 100), order("O2", "2026-10-01", 100)]}, "retention"),
    ({"orders": [order("O1", "2026-10-01", 100)],
      "activities": [{"type": "checkin", "date": "2026-11-01"}]}, "participation"),
    ({"orders": [order("O1", "2026-01-01", 100), order("O2", "2026-10-01", 100)],
      "consultant": "周老师", "profile": {"宝宝月龄": 12}}, "interaction"),
    ({"role": "distributor"}, "cooperation"),
])
def test_stage_ladder(fields, stage):
    assert status(mem(**fields)).stage.key == stage


@pytest.mark.parametrize("last, level", [
    (None, "new"), ("2026-11-01", "active"), ("2026-08-26", "at_risk"),
    ("2026-05-28", "lost")])
def test_churn(last, level):
    orders = [order("O1", last, 59, sku="BOTTLE-240")] if last else []
    assert status(mem(orders=orders)).churn.level == level


def test_rfm_scores_and_segment():
    orders = [order(f"O{i}", f"2026-{m:02d}-10", 700) for i, m in enumerate(range(3, 11))]
    r = status(mem(orders=orders)).rfm
    assert (r.recency_days, r.frequency, r.monetary) == (45, 8, 5600)
    assert (r.r, r.f, r.m, r.segment) == (4, 5, 5, "important_value")


@pytest.mark.parametrize("referrals, amount, role, eligible, is_ambassador", [
    (3, 3000, "member", True, False), (3, 800, "member", False, False),
    (2, 9000, "member", False, False), (0, 0, "ambassador", True, True)])
def test_ambassador_rule(referrals, amount, role, eligible, is_ambassador):
    a = status(mem(orders=[order("O1", "2026-06-01", amount)], role=role,
                   referrals=[f"R{i}" for i in range(referrals)])).ambassador
    assert (a.eligible, a.is_ambassador, a.referrals) == (eligible, is_ambassador, referrals)


def test_ambassador_gets_programme_benefits():
    s = status(mem(role="ambassador"))
    assert [b for b, _ in s.benefits] == ["birthday_gift", "early_access", "consultant"]


def test_recommendations_follow_segments_and_trials():
    s = status(mem(segments=["辅食期"],
                   orders=[order("O1", "2026-11-01", 0, sku="PUREE-TRIAL")]))
    recs = [(r.sku, r.reason.key) for r in s.recommendations]
    assert recs[0] == ("PUREE-12", "rec.trial")
    assert ("RICE-CEREAL", "rec.for") in recs
    assert all(sku != "BELLY-CREAM" for sku, _ in recs)  # pregnancy cream: wrong segment


def test_evaluate_is_deterministic_and_ignores_file_order():
    orders = [order("O1", "2026-01-01", 500), order("O2", "2026-03-01", 900)]
    a = status(mem(orders=orders))
    b = status(mem(orders=list(reversed(orders))))
    assert a == b and a.to_dict() == b.to_dict()


def test_a_product_run_out_before_the_last_order_is_no_churn_signal():
    # The wash set ran out in March; she has ordered since: she simply stopped needing it.
    m = mem(orders=[order("O1", "2025-12-01", 139, sku="WASH-SET"),
                    order("O2", "2026-11-10", 59, sku="BOTTLE-240")])
    assert status(m).churn.level == "active"
    quiet = mem(orders=[order("O1", "2026-10-01", 268, qty=1)])  # ran out 10-13, no order since
    assert status(quiet).churn.level == "at_risk" and status(quiet).churn.reason.key == \
        "churn.lapsed"


@pytest.mark.parametrize("orders, needed_by", [
    ([], None),                                                   # nothing counts yet
    ([order("O1", "2026-03-10", 500)], date(2027, 3, 9)),         # before O1 drops out
    ([order("O0", "2025-12-01", 0, sku="PUREE-TRIAL"), order("O1", "2026-03-10", 500)],
     date(2027, 3, 9)),                                           # a free sample doesn't count
])
def test_needed_by_for_a_rolling_window(orders, needed_by):
    assert status(mem(orders=orders)).tier.needed_by == needed_by
