"""The staff report (output/staff/report.html): KPIs, call list, tier changes, funnel, churn."""
from __future__ import annotations

import os
import tempfile
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Callable

from memberportal.core.models import Member, Tier
from memberportal.core.rules import (
    STAGES,
    Reminder,
    Status,
    add_months,
    anniversary,
    window_start_12m,
)
from memberportal.errors import BuildError, MemberPortalError, ValidationFailed
from memberportal.inputs.project import Project
from memberportal.inputs.snapshot import Snapshot
from memberportal.render.templates import environment, render
from memberportal.runtime.progress import paused_gc

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


def week_end(as_of: date) -> date:
    """The Sunday of as_of's week: calls due up to then are this week's."""
    return as_of + timedelta(days=6 - as_of.weekday())


def gather(project: Project, as_of: date, snapshot: Snapshot | None,
           progress: Callable[[int], None] | None = None) -> dict:
    """Everything the report shows, as plain values for the template.

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
            if due or s.churn.level == "at_risk" or _born_in(m, as_of.month) or \
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

    months = _revenue_by_month(project.members, as_of)
    start = window_start_12m(as_of)
    new_rev = sum((_first_order_total(m, start, as_of) for m in project.members), Decimal(0))
    all_rev = sum((o.total for m in project.members for o in m.orders
                   if start <= o.date <= as_of), Decimal(0))

    calls.sort(key=lambda c: (c.call_on, c.member.id))
    changes = _tier_changes(shown, set(member_tiers), program, snapshot, rank)
    at_risk = sorted(((m, s) for m, s in shown if s.churn.level == "at_risk"),
                     key=lambda p: (-p[1].spend_12m, p[1].last_order or as_of, p[0].id))
    return {
        "brand": program.brand, "program": program, "as_of": as_of, "week_end": end,
        "snapshot": snapshot,
        "kpi": {
            "members": len(member_tiers),
            "joined_this_month": joined,
            "buyers": buyers,
            "active": churn_counts["active"],
            "revenue_12m": all_rev,
            "returning_share": (all_rev - new_rev) / all_rev if all_rev else None,
            "repurchase_rate": repeat / buyers if buyers else None,
            "calls": len(calls), "calls_late": sum(1 for c in calls if c.days_late > 0),
            "at_risk": churn_counts["at_risk"], "lost": churn_counts["lost"],
            "tier_changes": len(changes["changed"]),
        },
        "tiers": tiers, "stages": stages, "months": months,
        "revenue_max": nice_ceiling(max((mo.total for mo in months), default=Decimal(0))),
        "new_revenue_12m": new_rev, "returning_revenue_12m": all_rev - new_rev,
        "calls": calls, "changes": changes,
        "birthdays": _birthdays(shown, program, as_of, rank),
        "at_risk": at_risk,
        "member_tiers": member_tiers,
    }


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


def _first_order_total(member: Member, start: date, as_of: date) -> Decimal:
    paid = sorted((o for o in member.orders if not o.refunded and o.date <= as_of),
                  key=lambda o: (o.date, o.id))
    return paid[0].total if paid and start <= paid[0].date else Decimal(0)


def _revenue_by_month(members: list[Member], as_of: date) -> list[Month]:
    firsts = [as_of.replace(day=1)]
    for _ in range(11):
        firsts.append(add_months(firsts[-1], -1))
    firsts.reverse()
    new: Counter = Counter()
    returning: Counter = Counter()
    for m in members:
        paid = sorted((o for o in m.orders if not o.refunded and o.date <= as_of),
                      key=lambda o: (o.date, o.id))
        for i, o in enumerate(paid):
            key = o.date.replace(day=1)
            (returning if i else new)[key] += o.total
    return [Month(f, Decimal(new[f]), Decimal(returning[f])) for f in firsts]


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


def write_report(project: Project, as_of: date, lang: str, snapshot: Snapshot | None,
                 progress: Callable[[int], None] | None = None) -> tuple[Path, dict]:
    """Render the report and write it atomically; returns its path and the gathered data.
    `progress(n)`: n more members' statuses made."""
    data = gather(project, as_of, snapshot, progress)
    env = environment([project.root / "templates"], lang, project.program.currency_symbol,
                      address=project.program.brand.address)
    html = render(env, TEMPLATE, **data)
    target = output_path(project.root)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".report-", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(html)
    os.chmod(tmp, 0o600)  # contact data: readable by the owner only
    os.replace(tmp, target)
    return target, data
