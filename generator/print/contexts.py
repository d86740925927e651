"""What printed pieces show: the print job, brand, member and offer contexts, the parcels file."""
from __future__ import annotations

import csv
import html
import io
import re
import unicodedata
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

from memberportal.core import tokens
from memberportal.core.codes import code_anchor, make_code
from memberportal.core.rules import OrderPlace, Status, first_order_offer, order_places
from memberportal.errors import InputError, MemberPortalError, ValidationFailed, Where, worded
from memberportal.inputs.assets import check_assets
from memberportal.inputs.config import site_url
from memberportal.inputs.project import Project
from memberportal.inputs.safe_yaml import decode, parse_yaml
from memberportal.inputs.secret import check_rotations, load_generations
from memberportal.layout import BUILTIN_TEMPLATES, rel
from memberportal.render.colors import WHITE, text_on
from memberportal.render.messages import discount, say, word
from memberportal.render.templates import print_name, quote_program

PARCEL_COLUMNS = ("order_id", "member_id")


# --- settings and the personal-page URL ------------------------------------------------------


@dataclass
class Job:
    """What every print artifact needs; plain data so worker processes can receive it."""

    root: Path
    as_of: date
    lang: str
    symbol: str
    site_url: str                     # portal.site_url(root): the same address as the pages
    secret: bytes
    generations: dict[str, int] = field(default_factory=dict)
    stamp: bool = True                # inserts: fields drawn on shapes laid out once
    address: str = "您"               # the program's form of address (brand.address)

    def search_path(self) -> list[Path]:
        return [self.root / "templates", BUILTIN_TEMPLATES]

    def allowed(self) -> list[Path]:
        return [self.root / "templates", self.root / "content", BUILTIN_TEMPLATES]


def member_url(job: Job, member_id: str) -> str:
    return tokens.member_url(job.site_url, job.secret, member_id,
                            job.generations.get(member_id, 0))


def make_job(project: Project, as_of: date, lang: str, secret: bytes) -> Job:
    check_assets(project.root)  # the templates may load any image under templates/, content/
    generations = load_generations(project.root)
    check_rotations(project.root, secret, generations, {m.id for m in project.members})
    return Job(project.root, as_of, lang, project.program.currency_symbol,
               site_url(project.root), secret, generations,
               address=project.program.brand.address)


# --- what the templates see ------------------------------------------------------------------


def brand_context(project: Project, lang: str | None = None) -> dict[str, Any]:
    """The brand as printed pieces show it; with `lang`, the insert tips of content/ too."""
    b = project.program.brand
    return {"name": b.name, "slogan": b.slogan, "shop": b.shop, "service": b.service,
            "tips": insert_tips(project, lang) if lang else [],
            "gains": tier_gains(project, lang) if lang else {},
            "color": b.color, "tint": mix(b.color, 0.09), "soft": mix(b.color, 0.22),
            # ways to earn points, most points first: what an insert with room left tells
            "earn": [{"name": a.name, "points": a.points} for a in sorted(
                project.program.activities.values(), key=lambda a: -a.points) if a.points]}


GAINS_SHOWN = 3   # an insert's row holds about three


def tier_gains(project: Project, lang: str) -> dict[str, str]:
    """What each tier adds to the one below it (a better discount, a higher points
    multiplier, benefits it did not have), by tier name: what the insert says the next tier
    brings, beside the panel's amount still to spend."""
    program, out = project.program, {}
    for below, tier in zip(program.tiers, program.tiers[1:]):
        gains = []
        if tier.discount > below.discount:
            gains.append(discount(tier.discount, lang))
        if tier.points_multiplier > below.points_multiplier:
            gains.append(word("portal.tiers.multiplier", lang).format(
                value=f"{tier.points_multiplier.normalize():f}"))
        gains += [program.benefits[b].name for b in tier.benefits
                  if b not in below.benefits and b in program.benefits]
        if gains:
            out[tier.name] = word("explain.list_sep", lang).join(gains[:GAINS_SHOWN])
    return out


TIP_MAX = 80  # characters: a tip is a line or two on an A6 insert


def insert_tips(project: Project, lang: str) -> list[dict[str, Any]]:
    """The brand's tips for inserts that have room left: the `insert:` line of the front
    matter of pages in content/ (in path order), its quotes of the program filled in as on
    the portal. Each has its text and its width in em (to count the lines it takes)."""
    content = project.root / "content"
    if not content.is_dir():
        return []
    tips, errors = [], []
    for path in sorted(content.rglob("*.md")):
        shown = rel(path, project.root)
        text = decode(path.read_bytes(), shown)
        head = re.match(r"\A---\n(.*?\n)---\n", text, flags=re.S)
        if not head or not re.search(r"^insert\s*:", head.group(1), flags=re.M):
            continue
        doc = parse_yaml("\n" + quote_program(head.group(1), project.program, lang, shown),
                         shown)
        tip = doc.data.get("insert") if isinstance(doc.data, dict) else None
        if not isinstance(tip, str) or not tip.strip() or "\n" in tip.strip() or \
                len(tip.strip()) > TIP_MAX:
            errors.append(InputError(**worded("parcels.tip", n=TIP_MAX),
                                     where=doc.where(("insert",)), field="insert"))
            continue
        tip = html.unescape(tip.strip())  # quoted values come escaped for Markdown
        tips.append({"text": tip, "em": sum(1 if unicodedata.east_asian_width(c) in "WF"
                                            else 0.55 for c in tip)})
    if errors:
        raise ValidationFailed(errors)
    return tips


def mix(color: str, amount: float) -> str:
    """`color` laid over white at `amount` opacity, as #rrggbb (a tint for panels)."""
    rgb = [int(color[i:i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(255 - (255 - c) * amount):02x}" for c in rgb)


def offer_context(job: Job, project: Project, member_id: str, status: Status,
                  place: OrderPlace | None = None) -> dict[str, Any] | None:
    offers = status.offers
    if place is not None and place.first and not place.recorded and not offers:
        # her first order is not imported yet: the offer starts with it, today
        offers = first_order_offer(project.program, project.member(member_id), job.as_of,
                                   job.as_of, project.redeemed)
    offer = next((o for o in offers if o.active), None)
    if offer is None:
        return None
    code = make_code(job.secret, member_id, offer.id, offer.valid_until)
    # the coupon's QR code opens her page at this offer, which shows the code for 客服
    return {"id": offer.id, "name": offer.name, "description": offer.description,
            "percent": offer.discount_percent, "until": offer.valid_until,
            "discount": discount(offer.discount_percent, job.lang), "code": code,
            "qr": f"{member_url(job, member_id)}#{code_anchor(offer.id)}"}


def member_context(job: Job, project: Project, member_id: str, status: Status,
                   place: OrderPlace | None = None, piece: str = "insert") -> dict[str, Any]:
    """Everything about one member that a printed `piece` (insert, card) may show: her name
    as the brand's print-name policy says for that piece.

    With `place` (a parcel's order), `orders` and `first_order` are that order's place in
    her history, not her order count on as_of."""
    member = project.member(member_id)
    t = status.tier
    progress = None
    if t.next_tier is not None and t.next_tier.threshold > 0:
        progress = float(min(t.amount / t.next_tier.threshold, 1))
    lang = job.lang
    return {
        "id": member.id,
        "name": print_name(member.name, member.title,
                           getattr(project.program.brand.print_names, piece)),
        "since": member.joined,
        "orders": place.number if place else status.orders,
        "first_order": place.first if place else status.orders == 1,
        "tier": {"name": t.tier.name, "color": t.tier.color, "ink": text_on(t.tier.color),
                 "light": text_on(t.tier.color) != WHITE, "discount": t.tier.discount,
                 "amount": t.amount, "basis": t.basis,
                 "next": t.next_tier.name if t.next_tier else None,
                 "needed": t.needed, "progress": progress, "keep_until": t.keep_until,
                 "grace_until": t.grace_until,
                 "keep": say(t.keep, lang, job.symbol, job.address) if t.keep else None},
        "points": {"balance": status.points.balance,
                   "expiring": status.points.expiring_total,
                   "expiring_on": status.points.expiring[0].date if status.points.expiring
                   else None},
        "benefits": [{"name": b.name, "description": b.description} for _, b in status.benefits],
        "offer": offer_context(job, project, member_id, status, place),
        "reminders": [{"name": r.name, "run_out": r.run_out, "remind_on": r.remind_on,
                       "due": r.due} for r in status.reminders][:2],
        "birthday": next(({"who": b.who, "child": b.child_name, "date": b.date, "age": b.age,
                           "days": b.days_until, "gift": b.gift} for b in status.birthdays),
                         None),
        "recommendations": [{"name": r.name, "reason": say(r.reason, lang, job.symbol, job.address)}
                            for r in status.recommendations][:3],
        "ambassador": None if status.ambassador is None else {
            "is": status.ambassador.is_ambassador, "eligible": status.ambassador.eligible,
            "referrals": status.ambassador.referrals,
            "min_referrals": project.program.ambassador.min_referrals,
            "name": project.program.ambassador.name},
        "url": member_url(job, member.id),
    }


# --- the parcels file ------------------------------------------------------------------------


@dataclass(frozen=True)
class Parcel:
    line: int
    order_id: str
    member_id: str
    extra: tuple[tuple[str, str], ...] = ()
    seq: int = 0                      # its place in the job, 1..of (number_parcels)
    of: int = 0
    place: OrderPlace | None = None   # its order's place in the member's history


def number_parcels(project: Project, parcels: list[Parcel], as_of: date) -> list[Parcel]:
    """The parcels with their sequence in the job and their order's place in the history."""
    mine: dict[str, list[int]] = {}
    for i, p in enumerate(parcels):
        mine.setdefault(p.member_id, []).append(i)
    places: list[OrderPlace | None] = [None] * len(parcels)
    for member_id, idx in mine.items():
        got = order_places(project.member(member_id), [parcels[i].order_id for i in idx], as_of)
        for i, place in zip(idx, got):
            places[i] = place
    return [replace(p, seq=n, of=len(parcels), place=place)
            for n, (p, place) in enumerate(zip(parcels, places), 1)]


def read_parcels(path: Path, project: Project) -> list[Parcel]:
    """The parcels in packing order; every bad row is reported (file and line), then abort."""
    shown = rel(path, project.root)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise InputError(**worded("error.cannot_read", why=e.strerror),
                         where=Where(shown)) from None
    text = decode(raw, shown)
    reader = csv.reader(io.StringIO(text))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise InputError(**worded("parcels.empty", columns=", ".join(PARCEL_COLUMNS)),
                         where=Where(shown, 1)) from None
    except csv.Error as e:
        raise InputError(**worded("parcels.malformed", why=str(e)),
                         where=Where(shown, 1)) from None
    if "order_id" not in header:  # member_id may be left out: the records know the buyer
        raise InputError(**worded("parcels.no_order_column", header=", ".join(header)),
                         where=Where(shown, 1))
    known = {m.id for m in project.members}
    owner = {o.id: m.id for m in project.members for o in m.orders}
    errors: list[MemberPortalError] = []
    parcels: list[Parcel] = []
    seen: dict[str, int] = {}
    try:
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                errors.append(InputError(**worded("parcels.fields", n=len(row),
                                                  header=len(header)), where=Where(shown, line)))
                continue
            values = dict(zip(header, (c.strip() for c in row)))
            order, member = values["order_id"], values.get("member_id")
            if not order:
                errors.append(InputError(**worded("parcels.empty_order"), where=Where(shown, line),
                                         field="order_id"))
                continue
            if order in seen:
                errors.append(InputError(**worded("parcels.order_twice", order=order,
                                                  line=seen[order]),
                                         where=Where(shown, line), field="order_id"))
                continue
            seen[order] = line
            if member is None:
                member = owner.get(order)
                if member is None:
                    errors.append(InputError(**worded("parcels.order_unknown", order=order),
                                             where=Where(shown, line), field="order_id"))
                    continue
            elif owner.get(order, member) != member:  # a typo would print another's QR
                errors.append(InputError(**worded("parcels.order_other", order=order,
                                                  owner=owner[order], member=member),
                                         where=Where(shown, line), field="member_id",
                                         member=member or None))
                continue
            if member not in known:
                errors.append(InputError(**worded("parcels.unknown_member", member=member),
                                         where=Where(shown, line), field="member_id",
                                         member=member or None))
                continue
            extra = tuple((k, v) for k, v in values.items() if k not in PARCEL_COLUMNS)
            parcels.append(Parcel(line, order, member, extra))
    except csv.Error as e:
        errors.append(InputError(**worded("parcels.malformed", why=str(e)),
                                 where=Where(shown, reader.line_num)))
    if errors:
        raise ValidationFailed(errors)
    if not parcels:
        raise InputError(**worded("parcels.none"), where=Where(shown, 1))
    return parcels
