"""When a member's next order is due: her own rhythm, her products' cycle, or the day rule."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from statistics import median

from memberportal.core.models import Member, Program
from memberportal.core.rules import paid_orders, supply

MIN_GAPS = 2          # intervals between orders before a member's own rhythm is trusted
MIN_TOLERANCE = 7     # days late that are never a flag
SIGNALS = ("model", "rhythm", "product", "days")


@dataclass(frozen=True)
class Rhythm:
    signal: str                   # rhythm: her own interval | product: a consumable's cycle |
                                  # days: the program's churn days (too little history)
    last_order: date | None
    interval_days: int | None     # her usual interval, or how long the product lasts
    expected: date | None         # her next order expected on (None: signal days)
    overdue_days: int             # days past `expected` (negative: not yet due)
    flagged: bool                 # late beyond the tolerance (days: past warn_days)

    @property
    def tolerance(self) -> int:
        """Days late that are still normal: half her interval, at least a week."""
        return max(MIN_TOLERANCE, (self.interval_days or 0) // 2)


def rhythm(member: Member, program: Program, as_of: date) -> Rhythm:
    """The member's expected next order and whether she is overdue, from the strongest signal
    her history allows: her own median interval (three or more order days), else the first
    consumable of her orders to run out, else the program's churn days."""
    orders = paid_orders(member, as_of)
    if not orders:
        return Rhythm("days", None, None, None, 0, False)
    days = sorted({o.date for o in orders})
    last = days[-1]
    if len(days) > MIN_GAPS:
        interval = round(median((b - a).days for a, b in zip(days, days[1:])))
        return _due("rhythm", last, interval, as_of)
    runs_out = [run_out for _, run_out in supply(program, orders).values() if run_out > last]
    if runs_out:
        return _due("product", last, (min(runs_out) - last).days, as_of)
    quiet = (as_of - last).days
    return Rhythm("days", last, None, None, quiet - program.churn.warn_days,
                  quiet >= program.churn.warn_days)


def _due(signal: str, last: date, interval: int, as_of: date) -> Rhythm:
    expected = last + timedelta(days=interval)
    overdue = (as_of - expected).days
    r = Rhythm(signal, last, interval, expected, overdue, False)
    return Rhythm(signal, last, interval, expected, overdue, overdue > r.tolerance)
