"""Pure rules: from a member, the program and a date to a Status (tier and why, points, offers)."""
from __future__ import annotations

import calendar
from bisect import bisect_left, bisect_right
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from decimal import ROUND_FLOOR, Decimal
from functools import lru_cache
from typing import Any

from memberportal.core.models import Benefit, Member, Order, Program, Tier
from memberportal.errors import InputError, Where

ONE_DAY = timedelta(days=1)
STOCK_HORIZON = date(3000, 1, 1)  # stock never runs out later than this
STAGES = ("satisfaction", "memory", "retention", "participation", "interaction", "cooperation")
PARTICIPATION_DAYS = 180  # an activity this recent makes a member a participant
RECENT_RUN_OUT_DAYS = 14  # a product that ran out this recently is still worth a reminder
OFFER_SOON_DAYS = 30      # an offer ending within this many days is shown as ending soon
REFERRAL_ACTIVITY = "referral"  # points for a referred friend's order: each is one referral


@dataclass(frozen=True)
class Msg:
    """A sentence to be worded in the reader's language by messages.say()."""

    key: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TierStatus:
    tier: Tier
    amount: Decimal               # spend or points that count in the window on as_of
    basis: str
    window_start: date | None     # None for lifetime
    reason: Msg
    qualified: Tier               # what the window alone gives, before grace and override
    next_tier: Tier | None
    needed: Decimal | None        # still to spend (or earn) for next_tier
    needed_by: date | None        # `needed` holds through this day (then the window moves on)
    grace_until: date | None      # set while the tier is held only by grace
    keep_until: date | None       # with no further purchase the tier lasts through this day
    override_until: date | None
    keep_needed: Decimal | None = None     # in grace: more to spend (or earn) today to
                                           # qualify for the tier again
    keep_needed_by: Decimal | None = None  # the same on grace_until, the last day it helps
    keep: Msg | None = None       # in grace: what keeps the tier, by when (every channel says it)


@dataclass(frozen=True)
class RewardStatus:
    id: str
    name: str
    points: int
    min_tier: str | None          # the tier's name
    limit: int | None
    used: int                     # times this member redeemed it
    state: str                    # available | short | tier | used_up
    short: int                    # points still missing (state short)


@dataclass(frozen=True)
class PointsEntry:
    date: date
    points: int                   # + earned, - redeemed or expired
    what: Msg
    kind: str = "earned"          # earned | redeemed | expired
    expires: date | None = None   # earned: the day this batch expires


@dataclass(frozen=True)
class Expiring:
    date: date                    # the points are gone from this day on
    points: int


@dataclass(frozen=True)
class PointsStatus:
    balance: int
    earned: int
    redeemed: int
    expired: int
    expiring: tuple[Expiring, ...]          # within warn_days, soonest first
    history: tuple[PointsEntry, ...]        # oldest first
    lots: tuple[Expiring, ...] = ()         # every remaining batch by expiry, soonest first

    @property
    def expiring_total(self) -> int:
        return sum(e.points for e in self.expiring)


@dataclass(frozen=True)
class OfferStatus:
    id: str
    name: str
    description: str
    discount_percent: int
    valid_from: date
    valid_until: date
    state: str                    # active | expired | redeemed
    days_left: int = 0            # active: days after as_of it can still be used
    ending_soon: bool = False     # active and ends within OFFER_SOON_DAYS

    @property
    def active(self) -> bool:
        return self.state == "active"


@dataclass(frozen=True)
class Reminder:
    sku: str
    name: str
    last_order: date
    run_out: date
    remind_on: date
    due: bool


@dataclass(frozen=True)
class BirthdayGift:
    who: str                      # member | child
    child_name: str | None
    date: date
    age: int
    days_until: int
    gift: str


@dataclass(frozen=True)
class Recommendation:
    sku: str
    name: str
    reason: Msg


@dataclass(frozen=True)
class Rfm:
    recency_days: int | None
    frequency: int
    monetary: Decimal
    r: int
    f: int
    m: int
    segment: str                  # one of the eight classic RFM classes


@dataclass(frozen=True)
class Churn:
    level: str                    # new | active | at_risk | lost
    reason: Msg
    lapsed: tuple[str, ...] = ()  # skus of consumables that ran out with no order since


@dataclass(frozen=True)
class Stage:
    key: str                      # one of STAGES
    reason: Msg


@dataclass(frozen=True)
class AmbassadorStatus:
    is_ambassador: bool
    eligible: bool
    referrals: int
    reason: Msg


@dataclass(frozen=True)
class Status:
    """Everything every artifact shows about one member on one day."""

    member_id: str
    as_of: date
    tier: TierStatus
    points: PointsStatus
    benefits: tuple[tuple[str, Benefit], ...]
    offers: tuple[OfferStatus, ...]
    reminders: tuple[Reminder, ...]
    birthdays: tuple[BirthdayGift, ...]
    recommendations: tuple[Recommendation, ...]
    stage: Stage
    rfm: Rfm
    churn: Churn
    ambassador: AmbassadorStatus | None
    orders: int                   # paid orders up to as_of
    first_order: date | None
    last_order: date | None
    spend_12m: Decimal
    rewards: tuple[RewardStatus, ...] = ()

    def to_dict(self) -> dict:
        """Plain data, stable for hashing (the build manifest) and for templates."""
        return asdict(self)


# --- dates ---------------------------------------------------------------------------------


@lru_cache(maxsize=1 << 16)  # the same few thousand days recur across members
def add_months(d: date, months: int) -> date:
    """The same day `months` later; the 31st (or 29 February) falls back to the month's end."""
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def anniversary(d: date, year: int) -> date:
    """`d` in `year`; 29 February is kept on 28 February in common years."""
    if d.month == 2 and d.day == 29 and not calendar.isleap(year):
        return date(year, 2, 28)
    return d.replace(year=year)


def next_anniversary(d: date, as_of: date) -> date:
    this_year = anniversary(d, as_of.year)
    return this_year if this_year >= as_of else anniversary(d, as_of.year + 1)


# --- tiers ---------------------------------------------------------------------------------


def window_start(program: Program, day: date) -> date | None:
    """The first day that counts toward the tier on `day` (None: everything counts)."""
    window = program.qualification.window
    if window == "rolling_12_months":
        return window_start_12m(day)
    if window == "calendar_year":
        return date(day.year, 1, 1)
    return None


class _Ledger:
    """Dated amounts with prefix sums, so the window total on any day is two bisections."""

    def __init__(self) -> None:
        self.dates: list[date] = []
        self.sums: list[Decimal] = [Decimal(0)]

    def add(self, day: date, amount: Decimal) -> None:
        # Callers add in date order; the prefix sums rely on it.
        self.dates.append(day)
        self.sums.append(self.sums[-1] + amount)

    def total(self, start: date | None, end: date) -> Decimal:
        hi = bisect_right(self.dates, end)
        lo = 0 if start is None else bisect_left(self.dates, start)
        return self.sums[hi] - self.sums[lo] if hi > lo else Decimal(0)


def tier_for(program: Program, amount: Decimal) -> Tier:
    best = program.tiers[0]
    for t in program.tiers:
        if amount >= t.threshold:
            best = t
    return best


def _rank(program: Program, tier: Tier) -> int:
    return program.ranks[tier.id]


class _Qualifier:
    """Which tier a ledger of spend (or points) gives on a day, with and without grace."""

    def __init__(self, program: Program, ledger: _Ledger):
        self.program, self.ledger = program, ledger
        self._qualified: dict[date, int] = {}  # valid while the ledger does not grow past day

    def amount(self, day: date) -> Decimal:
        return self.ledger.total(window_start(self.program, day), day)

    def qualified(self, day: date) -> int:
        if self.ledger.dates and self.ledger.dates[-1] > day and day in self._qualified:
            return self._qualified[day]
        rank = _rank(self.program, tier_for(self.program, self.amount(day)))
        self._qualified[day] = rank
        return rank

    def held(self, day: date) -> int:
        """The best tier qualified for on any day of the grace period ending on `day`."""
        grace = self.program.grace_months
        if not grace:
            return self.qualified(day)
        start = add_months(day, -grace)
        # Between two ledger dates the window total can only fall, so the best is reached
        # on the first day of the period or on a ledger date inside it.
        lo, hi = bisect_left(self.ledger.dates, start), bisect_right(self.ledger.dates, day)
        return max([self.qualified(start), self.qualified(day)]
                   + [self.qualified(d) for d in self.ledger.dates[lo:hi]])

    def last_qualified(self, rank: int, day: date) -> date:
        """The last day up to `day` on which the window alone gave `rank` or better."""
        d = day
        while self.qualified(d) < rank:
            d -= ONE_DAY
        return d

    def grace_end(self, last_day: date) -> date:
        """The last day a tier last qualified for on `last_day` is still held by grace."""
        g = self.program.grace_months
        end = add_months(last_day, g)
        while add_months(end + ONE_DAY, -g) <= last_day:
            end += ONE_DAY
        return end

    def falls_below(self, rank: int, as_of: date) -> date | None:
        """The first day after as_of (with no new purchase) on which `rank` no longer qualifies."""
        window = self.program.qualification.window
        if window == "lifetime":
            return None
        if window == "calendar_year":
            return date(as_of.year + 1, 1, 1) if rank > 0 else None
        candidates = sorted({add_months(d, 12) for d in self.ledger.dates if d <= as_of})
        for d in candidates:
            if d > as_of and self.qualified(d) < rank:
                return d
        return None


def _needed_by(qualifier: _Qualifier, as_of: date) -> date | None:
    """The last day on which `needed` more is enough: the year's end for a calendar year; for
    a rolling window the day before its oldest entry drops out (after that, more is needed)."""
    window = qualifier.program.qualification.window
    if window == "calendar_year":
        return date(as_of.year, 12, 31)
    if window == "lifetime":
        return None
    dates, sums = qualifier.ledger.dates, qualifier.ledger.sums
    first = bisect_left(dates, window_start(qualifier.program, as_of))
    while first < len(dates) and dates[first] <= as_of and sums[first + 1] == sums[first]:
        first += 1  # a free sample leaving the window changes nothing
    if first >= len(dates) or dates[first] > as_of:
        return None  # nothing counts yet: any 12 months will do
    return add_months(dates[first], 12) - ONE_DAY


def _money_ledger(orders: list[Order]) -> _Ledger:
    ledger = _Ledger()
    for o in orders:
        ledger.add(o.date, o.total)
    return ledger


# --- points --------------------------------------------------------------------------------


def _floor(x: Decimal) -> int:
    return int(x.to_integral_value(rounding=ROUND_FLOOR))


def _earnings(member: Member, program: Program, orders: list[Order], as_of: date,
              ) -> tuple[list[tuple[date, int, Msg]], _Ledger]:
    """Every point earned up to as_of with why, and the ledger the tier is computed from."""
    spend = _money_ledger(orders)
    points_ledger = _Ledger()
    basis = program.qualification.basis
    qualifier = _Qualifier(program, spend if basis == "spend" else points_ledger)
    per_unit = program.points.per_currency_unit
    events: list[tuple[date, int, Any]] = [(o.date, 0, o) for o in orders]
    events += [(a.date, 1, a) for a in member.activities if a.date <= as_of]
    events.sort(key=lambda e: (e[0], e[1]))
    daily: Counter = Counter()
    monthly: Counter = Counter()
    earned: list[tuple[date, int, Msg]] = []
    for day, kind, item in events:
        if kind == 0:
            # The multiplier is that of the tier held before the order's day.
            tier = program.tiers[qualifier.held(day - ONE_DAY)]
            total = item.total
            pts = _floor(total * per_unit * tier.points_multiplier)
            what = Msg("points.order", {"order": item.id, "amount": total,
                                        "multiplier": tier.points_multiplier, "tier": tier.name})
        else:
            rule = program.activities[item.type]
            daily[(item.type, day)] += 1
            monthly[(item.type, day.year, day.month)] += 1
            over = ((rule.daily_limit and daily[(item.type, day)] > rule.daily_limit) or
                    (rule.monthly_limit and
                     monthly[(item.type, day.year, day.month)] > rule.monthly_limit))
            pts = 0 if over else rule.points
            what = Msg("points.over_limit" if over else "points.activity",
                       {"activity": rule.name})
        if pts or kind == 1:
            earned.append((day, pts, what))
        if pts and basis == "points":
            points_ledger.add(day, Decimal(pts))
    return earned, (spend if basis == "spend" else points_ledger)


def points_status(member: Member, program: Program, earned: list[tuple[date, int, Msg]],
                  as_of: date, where: Where | None = None) -> PointsStatus:
    """FIFO lots: redemptions use the oldest points first; lots expire whole-month after."""
    months = program.points.expire_after_months
    lots: list[list] = []  # [expires_on or None, remaining], oldest first
    history: list[PointsEntry] = []
    totals = Counter()
    head = 0  # lots before this one are used up or expired
    balance = 0

    def expire(until: date) -> None:
        # Lots are earned in date order, so they expire in list order: only the head moves.
        nonlocal head, balance
        while head < len(lots):
            expires_on, remaining = lots[head]
            if remaining:
                if expires_on is None or expires_on > until:
                    return
                history.append(PointsEntry(expires_on, -remaining, Msg("points.expired"),
                                           "expired"))
                totals["expired"] += remaining
                balance -= remaining
                lots[head][1] = 0
            head += 1

    redemptions = sorted((r for r in member.redemptions if r.date <= as_of),
                         key=lambda r: r.date)
    events = [(d, 0, p, w) for d, p, w in earned] + [(r.date, 1, r, None) for r in redemptions]
    events.sort(key=lambda e: (e[0], e[1]))
    for day, kind, item, what in events:
        expire(day)
        if kind == 0:
            expires_on = add_months(day, months) if months else None
            lots.append([expires_on, item])
            totals["earned"] += item
            balance += item
            history.append(PointsEntry(day, item, what, "earned", expires_on))
            continue
        if item.points > balance:
            index = next(i for i, r in enumerate(member.redemptions) if r is item)
            raise InputError(f"redeems {item.points} points on {day} but the balance that day "
                             f"is {balance}", where, field="redemptions", member=member.id,
                             path=("redemptions", index))
        need = item.points
        for lot in lots[head:]:
            take = min(lot[1], need)
            lot[1] -= take
            need -= take
            if not need:
                break
        balance -= item.points
        totals["redeemed"] += item.points
        history.append(PointsEntry(day, -item.points, Msg("points.redeemed",
                                                          {"gift": item.gift}), "redeemed"))
    expire(as_of)
    horizon = as_of + timedelta(days=program.points.warn_days)
    soon: Counter = Counter()
    by_expiry: Counter = Counter()
    for expires_on, remaining in lots:
        if remaining and expires_on is not None:
            by_expiry[expires_on] += remaining
            if expires_on <= horizon:
                soon[expires_on] += remaining
    history.sort(key=lambda e: e.date)
    return PointsStatus(balance=balance, earned=totals["earned"],
                        redeemed=totals["redeemed"], expired=totals["expired"],
                        expiring=tuple(Expiring(d, p) for d, p in sorted(soon.items())),
                        history=tuple(history),
                        lots=tuple(Expiring(d, p) for d, p in sorted(by_expiry.items())))


# --- the rest of the status ----------------------------------------------------------------


def _tier_status(member: Member, program: Program, qualifier: _Qualifier, as_of: date,
                 ) -> TierStatus:
    basis = program.qualification.basis
    amount = qualifier.amount(as_of)
    q_rank = qualifier.qualified(as_of)
    rank = qualifier.held(as_of)
    start = window_start(program, as_of)
    params = {"amount": amount, "basis": basis, "window": program.qualification.window,
              "start": start, "as_of": as_of}
    grace_until = keep_needed = keep_needed_by = None
    if rank > q_rank:
        last = qualifier.last_qualified(rank, as_of)
        grace_until = qualifier.grace_end(last)
        # With no purchase the window only loses entries: what is missing grows from today's
        # amount to the one on the grace period's last day.
        keep_needed = max(program.tiers[rank].threshold - amount, Decimal(0))
        keep_needed_by = max(program.tiers[rank].threshold - qualifier.amount(grace_until),
                             Decimal(0))
        reason = Msg("tier.grace", {**params, "tier": program.tiers[rank].name,
                                    "fell_below": last + ONE_DAY, "until": grace_until})
    else:
        reason = Msg("tier.qualified", {**params, "tier": program.tiers[rank].name,
                                        "threshold": program.tiers[rank].threshold})
    override_until = None
    ov = member.tier_override
    if ov and ov.until >= as_of:
        rank = _rank(program, program.tier(ov.tier))
        override_until = ov.until
        reason = Msg("tier.override", {"tier": program.tiers[rank].name, "until": ov.until,
                                       "why": ov.reason, "computed": reason})
    tier = program.tiers[rank]
    nxt = program.tiers[rank + 1] if rank + 1 < len(program.tiers) else None
    needed = max(nxt.threshold - amount, Decimal(0)) if nxt else None
    needed_by = _needed_by(qualifier, as_of) if nxt else None
    if override_until:
        keep_until = override_until
    elif grace_until:
        keep_until = grace_until
    else:
        falls = qualifier.falls_below(rank, as_of) if rank else None
        keep_until = qualifier.grace_end(falls - ONE_DAY) if falls else None
    keep = None
    if grace_until and not override_until:
        keep = keep_tier(tier, basis, keep_needed_by, grace_until)
    return TierStatus(tier=tier, amount=amount, basis=basis, window_start=start, reason=reason,
                      qualified=program.tiers[q_rank], next_tier=nxt, needed=needed,
                      needed_by=needed_by, grace_until=grace_until, keep_until=keep_until,
                      override_until=override_until,
                      keep_needed=None if override_until else keep_needed,
                      keep_needed_by=None if override_until else keep_needed_by, keep=keep)


def keep_tier(tier: Tier, basis: str, amount: Decimal, until: date) -> Msg:
    """The one nudge that keeps a tier: spend (or earn) `amount` by `until`. Enough on any
    day up to `until`: the page, the insert and the staff report all say this."""
    return Msg("tier.keep_points" if basis == "points" else "tier.keep",
               {"amount": amount, "basis": basis, "tier": tier.name, "until": until})


def history_key(order: Order) -> tuple[date, str]:
    """The one order of a member's history: by date, orders of one day by order id (ids grow
    with time on every platform; the records' order is only the order of the imports)."""
    return order.date, order.id


def paid_orders(member: Member, as_of: date | None = None) -> list[Order]:
    """Her paid (not refunded) orders up to as_of (all without it), in history order."""
    return sorted((o for o in member.orders if not o.refunded
                   and (as_of is None or o.date <= as_of)), key=history_key)


@dataclass(frozen=True)
class OrderPlace:
    """Where one parcel's order stands in its member's history."""

    number: int                   # its place among her paid orders (1: her first)
    first: bool                   # it is her first paid order
    recorded: bool = True         # in her records; else counted as her next order
    refunded: bool = False


def order_places(member: Member, order_ids: list[str], as_of: date) -> list[OrderPlace]:
    """The place of each of `order_ids` (this member's parcels, in pick-list order) in her
    history: paid orders in history order (history_key), refunds not counted. An order not
    in her records is her next one: after her paid orders up to as_of and after the
    unrecorded orders before it in the list."""
    paid = paid_orders(member)
    place = {o.id: n for n, o in enumerate(paid, 1)}
    every = {o.id: o for o in member.orders}
    before = sum(1 for o in paid if o.date <= as_of)
    out, unrecorded = [], 0
    for oid in order_ids:
        if oid in place:
            out.append(OrderPlace(place[oid], place[oid] == 1))
        elif oid in every:  # refunded: the place it would have had, never a first order
            o = every[oid]
            n = sum(1 for p in paid if history_key(p) < history_key(o))
            out.append(OrderPlace(n + 1, False, True, True))
        else:
            unrecorded += 1
            out.append(OrderPlace(before + unrecorded, before + unrecorded == 1, False))
    return out


def first_order_offer(program: Program, member: Member, first: date, as_of: date,
                      redeemed: frozenset[str] = frozenset()) -> tuple[OfferStatus, ...]:
    """The retention offer of a member whose first paid order is on `first`."""
    offer = program.retention_offer
    if offer is None:
        return ()
    until = first + timedelta(days=offer.valid_days)
    state = ("redeemed" if member.id in redeemed else
             "active" if as_of <= until else "expired")
    left = (until - as_of).days if state == "active" else 0
    return (OfferStatus(offer.id, offer.name, offer.description, offer.discount_percent,
                        first, until, state, left,
                        state == "active" and left <= OFFER_SOON_DAYS),)


def _offers(program: Program, orders: list[Order], member: Member, as_of: date,
            redeemed: frozenset[str]) -> tuple[OfferStatus, ...]:
    if not orders:
        return ()
    return first_order_offer(program, member, orders[0].date, as_of, redeemed)


def supply(program: Program, orders: list[Order]) -> dict[str, tuple[date, date]]:
    """For every product with `lasts_days`: (last order, the day stock runs out); stock
    carries over from one order to the next."""
    supply: dict[str, tuple[date, date]] = {}
    for o in orders:
        for item in o.items:
            product = program.product(item.sku)
            if not product or not product.lasts_days:
                continue
            _, run_out = supply.get(item.sku, (o.date, o.date))
            start = max(run_out, o.date)
            # years of stock are as good as forever, and date arithmetic ends at 9999
            run_out = start + timedelta(days=min(item.qty * product.lasts_days,
                                                 (STOCK_HORIZON - start).days))
            supply[item.sku] = (o.date, run_out)
    return supply


def _reminders(program: Program, supply: dict[str, tuple[date, date]], as_of: date,
               ) -> tuple[Reminder, ...]:
    out = []
    for sku, (last, run_out) in supply.items():
        if run_out < as_of - timedelta(days=RECENT_RUN_OUT_DAYS):
            continue  # long gone: a churn signal, not a reminder
        product = program.product(sku)
        remind_on = run_out - timedelta(days=product.remind_days_before)
        out.append(Reminder(sku, product.name, last, run_out, remind_on, remind_on <= as_of))
    return tuple(sorted(out, key=lambda r: (r.remind_on, r.sku)))


def _birthdays(program: Program, member: Member, tier: Tier, as_of: date,
               ) -> tuple[BirthdayGift, ...]:
    out = []
    rank = _rank(program, tier)

    def allowed(rule) -> bool:
        return rule is not None and (rule.min_tier is None or
                                     rank >= _rank(program, program.tier(rule.min_tier)))

    rule = program.birthday_gifts.member
    if member.birthday and allowed(rule):
        nxt = next_anniversary(member.birthday, as_of)
        days = (nxt - as_of).days
        if days <= rule.days_before:
            out.append(BirthdayGift("member", None, nxt, nxt.year - member.birthday.year, days,
                                    rule.gift))
    rule = program.birthday_gifts.child
    if allowed(rule):
        for child in member.children:
            if child.birthday > as_of:
                continue  # not born yet: a due date, not a birthday
            nxt = next_anniversary(child.birthday, as_of)
            age, days = nxt.year - child.birthday.year, (nxt - as_of).days
            if age >= 1 and days <= rule.days_before and (rule.max_age is None or
                                                          age <= rule.max_age):
                out.append(BirthdayGift("child", child.name, nxt, age, days, rule.gift))
    return tuple(sorted(out, key=lambda b: b.date))


def _score(value, bounds, lower_is_better: bool) -> int:
    for i, b in enumerate(bounds):
        if (value <= b) if lower_is_better else (value >= b):
            return 5 - i
    return 1


RFM_SEGMENTS = {  # (R high, F high, M high) -> the classic eight classes
    (1, 1, 1): "important_value", (0, 1, 1): "important_keep", (1, 0, 1): "important_develop",
    (0, 0, 1): "important_retain", (1, 1, 0): "general_value", (0, 1, 0): "general_keep",
    (1, 0, 0): "general_develop", (0, 0, 0): "general_retain"}


def _rfm(program: Program, orders: list[Order], as_of: date) -> Rfm:
    start = window_start_12m(as_of)
    recent = [o for o in orders if o.date >= start]
    recency = (as_of - orders[-1].date).days if orders else None
    monetary = sum((o.total for o in recent), Decimal(0))
    rule = program.rfm
    r = _score(recency, rule.recency_days, True) if recency is not None else 1
    f = _score(len(recent), rule.frequency, False)
    m = _score(monetary, rule.monetary, False)
    return Rfm(recency, len(recent), monetary, r, f, m,
               RFM_SEGMENTS[(int(r >= 3), int(f >= 3), int(m >= 3))])


def window_start_12m(as_of: date) -> date:
    return add_months(as_of, -12) + ONE_DAY


def _churn(program: Program, orders: list[Order], as_of: date, lapsed: list[str]) -> Churn:
    if not orders:
        return Churn("new", Msg("churn.no_order"))
    days = (as_of - orders[-1].date).days
    skus = tuple(lapsed)
    if days >= program.churn.lost_days:
        return Churn("lost", Msg("churn.lost", {"days": days}), skus)
    if days >= program.churn.warn_days:
        return Churn("at_risk", Msg("churn.quiet", {"days": days}), skus)
    if lapsed:
        names = sorted(program.product(s).name for s in lapsed)
        return Churn("at_risk", Msg("churn.lapsed", {"products": "、".join(names)}), skus)
    return Churn("active", Msg("churn.active", {"days": days}))


def _lapsed(program: Program, supply: dict[str, tuple[date, date]], orders: list[Order],
            as_of: date) -> list[str]:
    """Skus of consumables that ran out a while ago with no order of any kind since."""
    last_order = orders[-1].date if orders else None
    cutoff = as_of - timedelta(days=RECENT_RUN_OUT_DAYS)
    return sorted((s for s, (_, run_out) in supply.items()
                   if run_out < cutoff and last_order < run_out),
                  key=lambda s: program.product(s).name)


def _stage(member: Member, orders: list[Order], as_of: date) -> Stage:
    recent = [a for a in member.activities
              if as_of - timedelta(days=PARTICIPATION_DAYS) <= a.date <= as_of]
    if member.role != "member":
        return Stage("cooperation", Msg("stage.cooperation", {"role": member.role}))
    if member.consultant and member.profile and len(orders) >= 2:
        return Stage("interaction", Msg("stage.interaction", {"consultant": member.consultant}))
    if recent:
        return Stage("participation", Msg("stage.participation", {"count": len(recent)}))
    if len(orders) >= 2:
        return Stage("retention", Msg("stage.retention", {"orders": len(orders)}))
    if len(orders) == 1:
        return Stage("memory", Msg("stage.memory", {"date": orders[0].date}))
    return Stage("satisfaction", Msg("stage.satisfaction"))


def _ambassador(program: Program, member: Member, tier: Tier, referrals: int | None,
                as_of: date) -> AmbassadorStatus | None:
    rule = program.ambassador
    if rule is None:
        return None
    n = len(set(member.referrals)) if referrals is None else referrals
    # Staff record a referral as the friends list, as the points it earned, or both: each
    # referral activity is a friend's order, so the larger of the two counts.
    n = max(n, sum(1 for a in member.activities
                   if a.type == REFERRAL_ACTIVITY and a.date <= as_of))
    tier_ok = rule.min_tier is None or (_rank(program, tier) >=
                                        _rank(program, program.tier(rule.min_tier)))
    if member.role != "member":
        return AmbassadorStatus(True, True, n, Msg("ambassador.role", {"role": member.role}))
    eligible = n >= rule.min_referrals and tier_ok
    if eligible:
        key = "ambassador.eligible"
    elif n >= rule.min_referrals:
        key = "ambassador.needs_tier"
    else:
        key = "ambassador.needs_referrals"
    return AmbassadorStatus(False, eligible, n, Msg(key, {
        "referrals": n, "min_referrals": rule.min_referrals,
        "min_tier": program.tier(rule.min_tier).name if rule.min_tier else None,
        "name": rule.name}))


def _recommendations(program: Program, member: Member, orders: list[Order], as_of: date,
                     limit: int = 4) -> tuple[Recommendation, ...]:
    bought = {i.sku for o in orders for i in o.items}
    recent = {i.sku for o in orders if (as_of - o.date).days <= 90 for i in o.items}
    segments = set(member.segments)
    tried = {t.trial_of: t for sku in bought if (t := program.product(sku)) and t.trial_of}
    scored: list[tuple[int, int, Recommendation]] = []
    for n, p in enumerate(program.products):
        if not p.price or p.sku in recent:
            continue
        trial = tried.get(p.sku)
        match = segments & set(p.segments)
        if trial and p.sku not in bought:
            scored.append((0, n, Recommendation(p.sku, p.name, Msg("rec.trial",
                                                                   {"trial": trial.name}))))
        elif match and p.new:
            scored.append((1, n, Recommendation(p.sku, p.name, Msg("rec.new_for",
                                                                   {"segment": min(match)}))))
        elif match and p.sku not in bought:
            scored.append((2, n, Recommendation(p.sku, p.name, Msg("rec.for",
                                                                   {"segment": min(match)}))))
        elif p.new and p.sku not in bought and not (p.segments and segments):
            scored.append((3, n, Recommendation(p.sku, p.name, Msg("rec.new"))))
    return tuple(r for _, _, r in sorted(scored, key=lambda s: s[:2])[:limit])


def to_keep(member: Member, program: Program, status: Status) -> Decimal | None:
    """What the member must still spend (or earn, on a points basis) by status.tier.keep_until
    to keep her tier past it; None when nothing is at stake (the lowest tier, a staff
    override, a window that never drops). Bought on any day up to keep_until, it is enough:
    the orders that count then are all still counted on every earlier day."""
    t = status.tier
    if t.keep_until is None or t.override_until or not program.ranks[t.tier.id]:
        return None
    orders = paid_orders(member, status.as_of)
    _, ledger = _earnings(member, program, orders, status.as_of)
    counted = ledger.total(window_start(program, t.keep_until), t.keep_until)
    return max(t.tier.threshold - counted, Decimal(0))


def evaluate(member: Member, program: Program, as_of: date,
             redeemed: frozenset[str] = frozenset(), where: Where | None = None,
             referrals: int | None = None) -> Status:
    """The member's status on `as_of`. Pure: the same inputs always give the same Status.

    `redeemed` holds the ids of members whose retention offer was redeemed (the ledger);
    `where` is the member's file and line, used in errors about inconsistent records;
    `referrals` is how many of the member's referrals count (placed a paid order by as_of;
    the project knows the other members), default all of them.
    """
    orders = paid_orders(member, as_of)
    earned, ledger = _earnings(member, program, orders, as_of)
    qualifier = _Qualifier(program, ledger)
    tier = _tier_status(member, program, qualifier, as_of)
    points = points_status(member, program, earned, as_of, where)
    ambassador = _ambassador(program, member, tier.tier, referrals, as_of)
    benefit_ids = list(tier.tier.benefits)
    if ambassador and ambassador.is_ambassador:
        benefit_ids += [b for b in program.ambassador.benefits if b not in benefit_ids]
    stock = supply(program, orders)
    lapsed = _lapsed(program, stock, orders, as_of)
    return Status(
        member_id=member.id, as_of=as_of, tier=tier, points=points,
        benefits=tuple((b, program.benefits[b]) for b in benefit_ids),
        offers=_offers(program, orders, member, as_of, redeemed),
        reminders=_reminders(program, stock, as_of),
        birthdays=_birthdays(program, member, tier.tier, as_of),
        recommendations=_recommendations(program, member, orders, as_of),
        stage=_stage(member, orders, as_of),
        rfm=_rfm(program, orders, as_of),
        churn=_churn(program, orders, as_of, lapsed),
        ambassador=ambassador,
        orders=len(orders),
        first_order=orders[0].date if orders else None,
        last_order=orders[-1].date if orders else None,
        spend_12m=sum((o.total for o in orders if o.date >= window_start_12m(as_of)),
                      Decimal(0)),
        rewards=_rewards(program, member, tier.tier, points.balance, as_of),
    )


def _rewards(program: Program, member: Member, tier: Tier, balance: int, as_of: date,
             ) -> tuple[RewardStatus, ...]:
    """The catalogue as this member can use it today: what the balance affords, what is
    short by how much, what needs a higher tier, what was used up."""
    used = Counter(r.reward for r in member.redemptions if r.reward and r.date <= as_of)
    rank = _rank(program, tier)
    out = []
    for r in program.rewards:
        n = used[r.id]
        short = max(r.points - balance, 0)
        if r.limit is not None and n >= r.limit:
            state = "used_up"
        elif r.min_tier and rank < _rank(program, program.tier(r.min_tier)):
            state = "tier"
        else:
            state = "short" if short else "available"
        out.append(RewardStatus(r.id, r.name, r.points,
                                program.tier(r.min_tier).name if r.min_tier else None,
                                r.limit, n, state, short))
    return tuple(out)
