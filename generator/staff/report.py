"""The staff report (output/staff/report.html): KPIs, call list, tier changes, funnel, churn."""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Callable

from memberportal.core.models import Member, Program, Tier
from memberportal.core.rhythm import Rhythm, rhythm
from memberportal.core.rules import (
    STAGES,
    Msg,
    Reminder,
    Status,
    add_months,
    anniversary,
    keep_tier,
    paid_orders,
    to_keep,
)
from memberportal.errors import BuildError, MemberPortalError, ValidationFailed
from memberportal.inputs.project import Project
from memberportal.inputs.snapshot import Snapshot
from memberportal.layout import write_atomic
from memberportal.render.templates import environment, render
from memberportal.runtime.progress import paused_gc
from memberportal.staff.analytics import Fitted

TEMPLATE = "staff/report.html"
REPORT_PATH = Path("output") / "staff" / "report.html"
SITE_DIR = Path("output") / "site"


@dataclass(frozen=True)
class Call:
    """One call to a member about every product that runs out soon (or just did)."""

    member: Member
    status: Status
    reminders: tuple[Reminder, ...]   # due by the week's end, soonest first
    call_on: date                     # the first reminder day
    days_late: int                    # > 0: that day has passed


@dataclass(frozen=True)
class TierChange:
    member: Member
    status: Status
    before: Tier | None       # None: the tier id of the last build no longer exists
    before_id: str
    after: Tier
    up: bool


@dataclass(frozen=True)
class AboutToDrop:
    """A member in grace, or whose tier ends within DROP_WARN_DAYS unless she buys: what keeps
    it, by when."""

    member: Member
    status: Status
    keep_until: date
    amount: Decimal           # spend (or points) by keep_until that keeps the tier
    why: Msg
    offer: Msg | None


@dataclass(frozen=True)
class WinBack:
    """A lost member, ranked by what she was worth (a light record: there are many)."""

    member: Member
    tier: Tier
    value: Decimal            # every paid order, ever
    orders: int
    last_order: date
    why: Msg
    offer: Msg | None


@dataclass(frozen=True)
class AtRisk:
    """A member not lost yet whose next order is late, by the signal her history allows."""

    member: Member
    status: Status
    rhythm: Rhythm
    signal: str               # model | rhythm | product | days (see core.rhythm)
    p_alive: float | None     # model: the probability she is still a customer
    why: Msg
    value: float | None = None  # model: the expected spend of her next order


@dataclass(frozen=True)
class Prospect:
    """A member close to becoming an ambassador."""

    member: Member
    status: Status
    eligible: bool            # False: one referral short
    offer: Msg


@dataclass(frozen=True)
class Birthday:
    member: Member
    status: Status
    child_name: str | None
    who: str                  # member | child
    date: date
    age: int
    gift: str | None          # None: no gift for this tier or age
    past: bool


@dataclass(frozen=True)
class Bar:
    key: str
    label: str
    count: int
    share: float              # of all members, 0..1
    color: str
    reached: int = 0          # funnel: members at this stage or a later one
    note: Decimal | None = None  # tiers: the threshold


@dataclass(frozen=True)
class Month:
    first: date
    new: Decimal              # revenue from members' first orders
    returning: Decimal        # revenue from every later order

    @property
    def total(self) -> Decimal:
        return self.new + self.returning

    @property
    def last(self) -> date:
        return add_months(self.first, 1) - timedelta(days=1)


DROP_WARN_DAYS = 60  # a tier that ends this soon without a purchase is worth a call


def favourite(member: Member, program: Program, as_of: date):
    """The priced product the member spent most on (ties: the most recent), or None."""
    spent: dict[str, tuple[Decimal, date]] = {}
    for o in member.orders:
        if o.refunded or o.date > as_of:
            continue
        for item in o.items:
            product = program.product(item.sku)
            if product and product.price:
                total, _ = spent.get(item.sku, (Decimal(0), o.date))
                spent[item.sku] = (total + item.total, o.date)
    if not spent:
        return None
    sku = max(spent, key=lambda k: (spent[k], k))
    return program.product(sku)


def product_offer(member: Member, program: Program, as_of: date,
                  amount: Decimal | None = None) -> Msg | None:
    """Her favourite product, enough of it to reach `amount` when one is given."""
    product = favourite(member, program, as_of)
    if product is None:
        return None
    qty = max(1, -(-amount // product.price)) if amount else 1
    return Msg("staff.offer.product", {"product": product.name, "qty": int(qty),
                                       "amount": product.price * qty})


def week_end(as_of: date) -> date:
    """The Sunday of as_of's week: calls due up to then are this week's."""
    return as_of + timedelta(days=6 - as_of.weekday())


def gather(project: Project, as_of: date, snapshot: Snapshot | None,
           progress: Callable[[int], None] | None = None,
           model: Fitted | None = None) -> dict:
    """Everything the report shows, as plain values for the template.

    `model`: the analytics extra's churn model; members it covers (a repeat order) are
    flagged by it, the others by their own rhythm or the day rule.

    One pass over the members' statuses: counted as they come, and kept only for the members
    a list shows (calls, tier changes, birthdays, at risk): 100,000 statuses take 0.65 GB."""
    program = project.program
    rank = {t.id: i for i, t in enumerate(program.tiers)}
    end = week_end(as_of)
    month_start = as_of.replace(day=1)
    tier_counts: Counter = Counter()
    stage_counts: Counter = Counter()
    churn_counts: Counter = Counter()
    member_tiers: dict[str, str] = {}     # what --save-snapshot records
    joined = buyers = repeat = 0
    calls: list[Call] = []
    dropping: list[AboutToDrop] = []
    win_back: list[WinBack] = []
    prospects: list[Prospect] = []
    at_risk: list[AtRisk] = []
    shown: list[tuple[Member, Status]] = []
    errors: list[MemberPortalError] = []
    with paused_gc(freeze=True):  # what is kept stays: see Project.statuses
        for m, s in zip(project.members, project.each_status(as_of, progress)):
            if isinstance(s, MemberPortalError):
                errors.append(s)
                continue
            tier = s.tier.tier.id
            tier_counts[tier] += 1
            stage_counts[s.stage.key] += 1
            churn_counts[s.churn.level] += 1
            member_tiers[m.id] = tier
            joined += m.joined >= month_start
            buyers += s.orders >= 1
            repeat += s.orders >= 2
            due = tuple(r for r in s.reminders if r.remind_on <= end)  # sorted by remind_on
            if due:
                calls.append(Call(m, s, due, due[0].remind_on, (as_of - due[0].remind_on).days))
            if s.tier.keep is not None:     # in grace, however long it still lasts
                dropping.append(_about_to_drop(m, s, s.tier.keep_needed_by, program, as_of))
            elif s.tier.keep_until and s.tier.keep_until <= as_of + timedelta(DROP_WARN_DAYS):
                amount = to_keep(m, program, s)
                if amount is not None:
                    dropping.append(_about_to_drop(m, s, amount, program, as_of))
            if s.churn.level == "lost":
                win_back.append(_win_back(m, s, program, as_of))
            elif s.orders:
                late = _late(m, s, program, as_of, model)
                if late:
                    at_risk.append(late)
            a = s.ambassador
            if a and not a.is_ambassador and (a.eligible or (
                    a.referrals == program.ambassador.min_referrals - 1 and
                    a.reason.key == "ambassador.needs_referrals" and _tier_ok(program, s))):
                key = "staff.offer.invite" if a.eligible else "staff.offer.one_more"
                prospects.append(Prospect(m, s, a.eligible,
                                          Msg(key, {"name": program.ambassador.name})))
            if due or _born_in(m, as_of.month) or \
                    (snapshot is not None and snapshot.tiers.get(m.id) != tier):
                shown.append((m, s))
    if errors:
        raise ValidationFailed(errors)
    total = len(member_tiers) or 1
    tiers = [Bar(t.id, t.name, tier_counts[t.id], tier_counts[t.id] / total, t.color,
                 note=t.threshold) for t in program.tiers]
    stages, reached = [], 0
    for key in reversed(STAGES):
        reached += stage_counts[key]
        stages.append(Bar(key, key, stage_counts[key], stage_counts[key] / total,
                          program.brand.color, reached))
    stages.reverse()

    months, month_to_date = revenue(project.members, as_of)
    all_rev = sum((mo.total for mo in months), Decimal(0))
    new_rev = sum((mo.new for mo in months), Decimal(0))

    calls.sort(key=lambda c: (c.call_on, c.member.id))
    changes = _tier_changes(shown, set(member_tiers), program, snapshot, rank)
    at_risk.sort(key=lambda a: (-a.status.spend_12m, a.rhythm.last_order, a.member.id))
    return {
        "brand": program.brand, "program": program, "as_of": as_of, "week_end": end,
        "snapshot": snapshot,
        "kpi": {
            "members": len(member_tiers),
            "joined_this_month": joined,
            "buyers": buyers,
            "active": churn_counts["active"],
            "revenue_12m": all_rev,
            "revenue_month_to_date": month_to_date,
            "returning_share": (all_rev - new_rev) / all_rev if all_rev else None,
            "repurchase_rate": repeat / buyers if buyers else None,
            "calls": len(calls), "calls_late": sum(1 for c in calls if c.days_late > 0),
            "at_risk": len(at_risk), "lost": churn_counts["lost"],
            "tier_changes": len(changes["changed"]),
            "about_to_drop": len(dropping), "win_back": len(win_back),
            "ambassadors_to_be": len(prospects),
        },
        "tiers": tiers, "stages": stages, "months": months,
        "revenue_from": months[0].first, "revenue_to": months[-1].last,
        "revenue_max": nice_ceiling(max((mo.total for mo in months), default=Decimal(0))),
        "new_revenue_12m": new_rev, "returning_revenue_12m": all_rev - new_rev,
        "calls": calls, "changes": changes,
        "birthdays": _birthdays(shown, program, as_of, rank),
        "at_risk": at_risk,
        "about_to_drop": sorted(dropping, key=lambda d: (d.keep_until, -rank[d.status.tier.tier.id],
                                                         d.amount, d.member.id)),
        "win_back": sorted(win_back, key=lambda w: (-w.value, w.last_order, w.member.id)),
        "ambassadors_to_be": sorted(prospects, key=lambda p: (not p.eligible,
                                                              -p.status.ambassador.referrals,
                                                              p.member.id)),
        "shown_max": SHOWN_MAX, "drop_days": DROP_WARN_DAYS,
        "member_tiers": member_tiers,
    }


SHOWN_MAX = 30  # the HTML shows the first of a long list; JSON and CSV hold all of it


def _about_to_drop(m: Member, s: Status, amount: Decimal, program: Program,
                   as_of: date) -> AboutToDrop:
    t = s.tier
    why = t.keep or keep_tier(t.tier, t.basis, amount, t.keep_until)
    offer = product_offer(m, program, as_of, amount if t.basis == "spend" else None)
    return AboutToDrop(m, s, t.keep_until, amount, why, offer)


def _win_back(m: Member, s: Status, program: Program, as_of: date) -> WinBack:
    paid = [o for o in m.orders if not o.refunded and o.date <= as_of]
    value = sum((o.total for o in paid), Decimal(0))
    why = Msg("staff.winback.why", {"days": (as_of - s.last_order).days, "orders": len(paid),
                                    "amount": value})
    offer = next((Msg("staff.offer.retention", {"offer": o.name, "until": o.valid_until})
                  for o in s.offers if o.active), None) or product_offer(m, program, as_of) \
        or next((Msg("staff.offer.recommend", {"product": r.name})
                 for r in s.recommendations), None)
    return WinBack(m, s.tier.tier, value, len(paid), s.last_order, why, offer)


P_ALIVE_AT_RISK = 0.5  # the model: below this, more likely gone than still a customer


def _late(m: Member, s: Status, program: Program, as_of: date,
          model: Fitted | None) -> AtRisk | None:
    r = rhythm(m, program, as_of)
    if model is not None and m.id in model.p_alive:
        p = model.p_alive[m.id]
        why = Msg("staff.late.model", {"percent": round(p * 100),
                                       "days": (as_of - r.last_order).days})
        return AtRisk(m, s, r, "model", p, why, model.value.get(m.id)) \
            if p < P_ALIVE_AT_RISK else None
    if not r.flagged:
        return None
    if r.signal == "days":
        why = Msg("churn.quiet", {"days": (as_of - r.last_order).days})
    else:
        why = Msg(f"staff.late.{r.signal}", {"interval": r.interval_days,
                                             "expected": r.expected, "days": r.overdue_days})
    return AtRisk(m, s, r, r.signal, None, why)


def _tier_ok(program: Program, s: Status) -> bool:
    need = program.ambassador.min_tier
    return need is None or program.ranks[s.tier.tier.id] >= program.ranks[need]


def _born_in(member: Member, month: int) -> bool:
    """The member or a child has a birthday in `month` (29 February falls in February)."""
    return (member.birthday is not None and member.birthday.month == month) or \
        any(c.birthday.month == month for c in member.children)


def nice_ceiling(value: Decimal) -> Decimal:
    """The smallest 1, 2, 2.5 or 5 × 10^k at or above `value`: a chart axis's top."""
    if value <= 0:
        return Decimal(0)
    scale = Decimal(10) ** (len(str(int(value))) - 1)
    for step in (1, 2, Decimal("2.5"), 5, 10):
        if value <= step * scale:
            return step * scale
    return 10 * scale


def revenue_months(as_of: date) -> list[date]:
    """The first days of the 12 complete months up to as_of: its own month counts only when
    as_of is that month's last day. The KPI, the chart and the JSON all cover these."""
    this = as_of.replace(day=1)
    last = this if (as_of + timedelta(days=1)).day == 1 else add_months(this, -1)
    return [add_months(last, i - 11) for i in range(12)]


def revenue(members: list[Member], as_of: date) -> tuple[list[Month], Decimal]:
    """Paid revenue in each of the 12 months (split into members' first orders and every later
    one) and the revenue of the month so far after them (as_of's own, unless complete)."""
    firsts = revenue_months(as_of)
    start, end = firsts[0], firsts[-1]
    new: Counter = Counter()
    returning: Counter = Counter()
    after = Decimal(0)
    for m in members:
        paid = paid_orders(m, as_of)
        for i, o in enumerate(paid):
            key = o.date.replace(day=1)
            if key > end:
                after += o.total
            elif key >= start:
                (returning if i else new)[key] += o.total
    return [Month(f, Decimal(new[f]), Decimal(returning[f])) for f in firsts], after


def _tier_changes(pairs, current: set[str], program, snapshot: Snapshot | None,
                  rank: dict[str, int]) -> dict:
    """Against the snapshot: `pairs` holds at least every member whose tier differs from it
    (or who is not in it); `current` is every member's id."""
    if snapshot is None:
        return {"changed": [], "new": [], "gone": 0}
    by_id = {t.id: t for t in program.tiers}
    changed, new = [], []
    for m, s in pairs:
        before = snapshot.tiers.get(m.id)
        if before is None:
            new.append((m, s))
        elif before != s.tier.tier.id:
            up = rank.get(before, -1) < rank[s.tier.tier.id]
            changed.append(TierChange(m, s, by_id.get(before), before, s.tier.tier, up))
    changed.sort(key=lambda c: (not c.up, -rank[c.after.id], c.member.id))
    return {"changed": changed, "new": new,
            "gone": sum(1 for mid in snapshot.tiers if mid not in current)}


def _birthdays(pairs, program, as_of: date, rank: dict[str, int]) -> list[Birthday]:
    """Member and child birthdays in as_of's month, with the gift the program gives."""
    out = []

    def gift(rule, tier_id: str, age: int | None) -> str | None:
        if rule is None or (rule.min_tier and rank[tier_id] < rank[rule.min_tier]):
            return None
        if age is not None and rule.max_age is not None and age > rule.max_age:
            return None
        return rule.gift

    for m, s in pairs:
        born = [("member", None, m.birthday)] if m.birthday else []
        born += [("child", c.name, c.birthday) for c in m.children if c.birthday <= as_of]
        for who, name, birthday in born:
            day = anniversary(birthday, as_of.year)
            age = day.year - birthday.year
            if day.month != as_of.month or (who == "child" and age < 1):
                continue
            rule = getattr(program.birthday_gifts, who)
            out.append(Birthday(m, s, name, who, day, age,
                                gift(rule, s.tier.tier.id, age if who == "child" else None),
                                day < as_of))
    return sorted(out, key=lambda b: (b.date, b.member.id, b.who))


def output_path(root: Path) -> Path:
    """output/staff/report.html, refused when it would land inside the published site."""
    target = (root / REPORT_PATH)
    site = (root / SITE_DIR).resolve()
    resolved = target.parent.resolve() / target.name
    if resolved == site or site in resolved.parents:
        raise BuildError(f"{REPORT_PATH} resolves to {resolved}, inside the published site "
                         f"({SITE_DIR}); the staff report holds contact data and must stay "
                         "out of it", kind="staff report")
    return target


FORMATS = ("html", "json", "csv")


def write_report(project: Project, as_of: date, lang: str, snapshot: Snapshot | None,
                 progress: Callable[[int], None] | None = None,
                 formats: tuple[str, ...] = ("html",),
                 model: Fitted | None = None) -> tuple[list[Path], dict]:
    """Gather once, then write each format from the same data: html (the report), json (every
    figure and list), csv (the lists staff work through). Returns the paths and the data.
    `progress(n)`: n more members' statuses made."""
    from memberportal.staff.exports import csv_files, report_json
    data = gather(project, as_of, snapshot, progress, model)
    html_target = output_path(project.root)
    written = []
    if "html" in formats:
        env = environment([project.root / "templates"], lang, project.program.currency_symbol,
                          address=project.program.brand.address)
        html = render(env, TEMPLATE, **data).encode()
        written.append(write_atomic(html_target, html, private=True))
    if "json" in formats:
        text = json.dumps(report_json(data, lang), ensure_ascii=False, indent=1)
        written.append(write_atomic(html_target.with_name("report.json"),
                                    (text + "\n").encode(), private=True))
    if "csv" in formats:
        for name, body in csv_files(data, lang).items():
            written.append(write_atomic(html_target.with_name(name), body.encode("utf-8-sig"),
                                        private=True))
    return written, data
