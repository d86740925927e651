"""A churn signal that follows the member: her own interval, her products' cycle, the day rule."""
from __future__ import annotations

from datetime import date, timedelta

from helpers import member, order, program

from memberportal.core.models import Member, Program
from memberportal.core.rhythm import rhythm

PROGRAM = Program.model_validate(program())
START = date(2026, 1, 5)


def her(orders) -> Member:
    return Member.model_validate(member("M1", orders=orders))


def on(days_after, sku="BOTTLE-240", **extra):
    return order(f"O{days_after}-{sku}", (START + timedelta(days=days_after)).isoformat(), 89,
                 sku=sku, **extra)


def test_her_own_interval_sets_when_she_is_late():
    m = her([on(0), on(30), on(60), on(90), on(120)])          # every 30 days, no consumable
    last = START + timedelta(days=120)
    r = rhythm(m, PROGRAM, last + timedelta(days=45))
    assert (r.signal, r.interval_days, r.expected) == ("rhythm", 30, last + timedelta(days=30))
    assert (r.overdue_days, r.tolerance, r.flagged) == (15, 15, False)
    assert rhythm(m, PROGRAM, last + timedelta(days=46)).flagged
    # the day rule (90 days) would say nothing for another six weeks
    assert (last + timedelta(days=46) - last).days < PROGRAM.churn.warn_days


def test_the_median_interval_and_same_day_orders_once():
    m = her([on(0), on(20), on(20, sku="NURSING-BRA"), on(60), on(160)])
    r = rhythm(m, PROGRAM, START + timedelta(days=170))
    assert r.signal == "rhythm" and r.interval_days == 40            # gaps 20, 40, 100


def test_a_slow_buyer_is_not_flagged_by_the_day_rule():
    m = her([on(0), on(150), on(300)])                               # every 150 days
    r = rhythm(m, PROGRAM, START + timedelta(days=300 + 120))
    assert r.signal == "rhythm" and not r.flagged                    # 120 days: normal for her


def test_with_little_history_the_product_cycle():
    # two orders: too few intervals; three cans of formula last 36 days, wipes 30 days
    m = her([on(0, sku="BOTTLE-240"), on(10, sku="MILK-3-800", qty=3),
             on(10, sku="WIPES-80x6")])
    r = rhythm(m, PROGRAM, START + timedelta(days=60))
    assert (r.signal, r.interval_days, r.expected) == ("product", 30,
                                                       START + timedelta(days=40))
    assert r.overdue_days == 20 and r.flagged


def test_thin_history_falls_back_to_the_day_rule():
    m = her([on(0)])                                                   # one bottle, no cycle
    warn = PROGRAM.churn.warn_days
    r = rhythm(m, PROGRAM, START + timedelta(days=warn - 1))
    assert (r.signal, r.expected, r.flagged) == ("days", None, False)
    assert rhythm(m, PROGRAM, START + timedelta(days=warn)).flagged
    assert rhythm(her([]), PROGRAM, START).signal == "days"


def test_refunds_and_later_orders_do_not_count():
    m = her([on(0), on(30), on(60), on(75, refunded=True), on(200)])
    r = rhythm(m, PROGRAM, START + timedelta(days=100))
    assert (r.signal, r.last_order, r.interval_days) == ("rhythm", START + timedelta(days=60), 30)
