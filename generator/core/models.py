"""The validated records: Program (tiers.yml) and Member, as pydantic models."""
from __future__ import annotations

import re
import unicodedata
from datetime import date
from decimal import Decimal
from functools import cached_property
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    field_validator,
    model_validator,
)

from memberportal.errors import Worded

LANGUAGES = ("zh", "en")               # the languages of the message catalogue

Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=40)]
MemberId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$", max_length=40)]
Text = Annotated[str, Field(min_length=1, max_length=500)]
Money = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2)]
Percent = Annotated[Decimal, Field(ge=0, le=100)]
Days = Annotated[int, Field(ge=1, le=3650)]
Color = Annotated[str, Field(pattern=r"^#[0-9a-fA-F]{6}$")]
# the same colour as press inks (cyan, magenta, yellow, black in %), for --profile press
Cmyk = Annotated[list[Percent], Field(min_length=4, max_length=4)]
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(2199, 12, 31)  # any day outside is a typo


def _sane_day(d: date) -> date:
    if not FIRST_DAY <= d <= LAST_DAY:
        raise Worded("error.day_range", first=FIRST_DAY, last=LAST_DAY, day=d)
    return d


Day = Annotated[date, AfterValidator(_sane_day)]

# drawn as nothing though not format characters: Hangul fillers, the blank Braille pattern
BLANKS = frozenset("\u115f\u1160\u3164\uffa0\u2800")
# reorder the text around them: a name with one reads differently than it is
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
                          "\u2066\u2067\u2068\u2069")


def visible_words(text: str) -> list[str]:
    """The text as it shows: NFKC, control and format characters (bidi overrides, zero-width
    ones) dropped, any run of whitespace one break."""
    shown = "".join(" " if c.isspace() else c for c in unicodedata.normalize("NFKC", text)
                    if c.isspace() or (unicodedata.category(c) not in ("Cc", "Cf")
                                       and c not in BLANKS))
    return shown.split()
Count = Annotated[int, Field(ge=1, le=1_000_000)]
Role = Literal["member", "ambassador", "distributor", "experience_officer"]
KeyKind = Literal["customer_id", "buyer", "phone", "email"]
MEMBER_KEYS: tuple[str, ...] = ("customer_id", "buyer", "phone", "email")
_PHONE = re.compile(r"^\+?[0-9][0-9 -]{5,18}[0-9]$")


def is_masked(value: str) -> bool:
    """A value a shop export masked (138****1234, chen***@163.com): never a key."""
    return "*" in value or "＊" in value


class Record(BaseModel):
    """Base of every record: unknown fields are errors, values are checked strictly."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=False)


# --- the program (members/tiers.yml) -------------------------------------------------------


Url = Annotated[str, Field(pattern=r"^https?://[^\s<>\"']+$", max_length=500)]
Address = Literal["您", "你"]
NameStyle = Literal["masked", "honorific", "full"]


class PrintNames(Record):
    """How each printed piece names the member: masked (王*梅), honorific (王女士, from her
    record's title; masked without one) or full (王晓梅), the full name only on pieces that
    travel inside the sealed parcel."""

    insert: NameStyle = "masked"
    notebook: NameStyle = "masked"
    card: NameStyle = "masked"

    @field_validator("card")
    @classmethod
    def _card_is_seen(cls, v: str) -> str:
        if v == "full":
            raise ValueError("a card is shown outside the parcel (to customer service, at a "
                             "counter): use masked or honorific; full names are for the insert "
                             "and the notebook, which travel inside the sealed parcel")
        return v


class Brand(Record):
    name: Text
    slogan: str = ""
    shop: str = ""
    service: str = ""
    color: Color = "#2f7d6d"
    cmyk: Cmyk | None = None
    # a product's page in the shop when it has no url of its own: {sku} is replaced
    shop_url: Annotated[str, Field(pattern=r"^https?://[^\s<>\"']*\{sku\}[^\s<>\"']*$",
                                   max_length=500)] | None = None
    address: Address = "您"        # how every page and print addresses the member
    print_names: PrintNames = PrintNames()


class PointsRules(Record):
    per_currency_unit: Annotated[Decimal, Field(ge=0, le=1000)] = Decimal(1)
    expire_after_months: Annotated[int, Field(ge=1, le=240)] | None = None
    warn_days: Days = 60


class Qualification(Record):
    basis: Literal["spend", "points"] = "spend"
    window: Literal["rolling_12_months", "calendar_year", "lifetime"] = "rolling_12_months"


class Benefit(Record):
    name: Text
    description: str = ""


class Tier(Record):
    id: Slug
    name: Text
    threshold: Money
    discount: Percent = Decimal(0)
    points_multiplier: Annotated[Decimal, Field(ge=0, le=100)] = Decimal(1)
    benefits: list[str] = []
    color: Color = "#7a8c85"
    cmyk: Cmyk | None = None


class BirthdayGift(Record):
    gift: Text
    days_before: Annotated[int, Field(ge=0, le=366)] = 30
    min_tier: str | None = None
    max_age: Annotated[int, Field(ge=0, le=120)] | None = None


class BirthdayGifts(Record):
    member: BirthdayGift | None = None
    child: BirthdayGift | None = None


class RetentionOffer(Record):
    id: Slug
    name: Text
    description: str = ""
    discount_percent: Annotated[int, Field(ge=1, le=100)]
    items: Annotated[int, Field(ge=1, le=1000)] = 1
    valid_days: Days = 365
    per_member: int = 1

    @field_validator("per_member")
    @classmethod
    def _once_per_member(cls, v: int) -> int:
        # one code per member, and the ledger records one redemption per member
        if v != 1:
            raise Worded("error.one_redemption")
        return v


class Product(Record):
    sku: Annotated[str, Field(min_length=1, max_length=60)]
    name: Text
    price: Money | None = None
    lasts_days: Days | None = None
    remind_days_before: Annotated[int, Field(ge=0, le=365)] = 7
    segments: list[str] = []
    new: StrictBool = False
    trial_of: str | None = None
    url: Url | None = None


class ActivityRule(Record):
    name: Text
    points: Annotated[int, Field(ge=0, le=1_000_000)]
    daily_limit: Count | None = None
    monthly_limit: Count | None = None


class Reward(Record):
    id: Slug
    name: Text
    points: Annotated[int, Field(ge=1, le=100_000_000)]
    min_tier: str | None = None
    limit: Annotated[int, Field(ge=1)] | None = None     # per member


class AmbassadorRule(Record):
    name: Text = "品牌大使"
    min_referrals: Count = 3
    min_tier: str | None = None
    benefits: list[str] = []
    # the address a member shares, {code} being their referral code (default: the portal's
    # join page with ?ref=CODE, which shows the code to quote at checkout)
    share_url: Annotated[str, Field(pattern=r"^https?://[^\s<>\"']*\{code\}[^\s<>\"']*$",
                                    max_length=500)] | None = None


class ChurnRule(Record):
    warn_days: Days = 90
    lost_days: Days = 180

    @model_validator(mode="after")
    def _ordered(self):
        if self.lost_days <= self.warn_days:
            raise Worded("error.lost_after_warn")
        return self


def _descending(name: str):
    def check(cls, v):
        if len(v) != 4 or any(a < b for a, b in zip(v, v[1:])):
            raise Worded("error.bounds_down", name=name)
        return v
    return check


def _ascending4(cls, v):
    if len(v) != 4 or any(a >= b for a, b in zip(v, v[1:])):
        raise Worded("error.bounds_up")
    return v


class RfmRule(Record):
    recency_days: list[Annotated[int, Field(ge=0, le=36500)]] = [30, 60, 120, 240]
    frequency: list[Count] = [8, 5, 3, 2]
    monetary: list[Money] = [Decimal(5000), Decimal(2000),
                                                        Decimal(1000), Decimal(300)]
    _r = field_validator("recency_days")(_ascending4)
    _f = field_validator("frequency")(_descending("frequency"))
    _m = field_validator("monetary")(_descending("monetary"))


class MemberKeys(Record):
    """How a buyer is recognised across exports: any of these keys finds the member."""

    keys: Annotated[list[KeyKind], Field(min_length=1)] = ["phone"]

    @field_validator("keys")
    @classmethod
    def _once(cls, v):
        if len(set(v)) != len(v):
            raise Worded("error.key_once")
        return v


class Program(Record):
    brand: Brand
    members: MemberKeys = MemberKeys()
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "CNY"
    currency_symbol: str = "¥"
    points: PointsRules = PointsRules()
    qualification: Qualification = Qualification()
    grace_months: Annotated[int, Field(ge=0, le=60)] = 0
    benefits: dict[Slug, Benefit] = {}
    tiers: Annotated[list[Tier], Field(min_length=1)]
    birthday_gifts: BirthdayGifts = BirthdayGifts()
    retention_offer: RetentionOffer | None = None
    products: list[Product] = []
    activities: dict[Slug, ActivityRule] = {}
    ambassador: AmbassadorRule | None = None
    rewards: list[Reward] = []
    churn: ChurnRule = ChurnRule()
    rfm: RfmRule = RfmRule()

    def tier(self, tier_id: str) -> Tier:
        return self.tiers[self.ranks[tier_id]]

    def product(self, sku: str) -> Product | None:
        return self._products.get(sku)

    def product_url(self, sku: str) -> str | None:
        """Where the shop sells `sku`: its own url, else the brand's shop_url pattern."""
        product = self.product(sku)
        if product and product.url:
            return product.url
        return self.brand.shop_url.replace("{sku}", sku) if self.brand.shop_url else None

    # cached_property lives in the instance __dict__: far cheaper to read than a PrivateAttr.
    @cached_property
    def _products(self) -> dict[str, Product]:
        return {p.sku: p for p in self.products}

    @cached_property
    def ranks(self) -> dict[str, int]:
        """Tier id -> its place from the bottom (0)."""
        return {t.id: i for i, t in reversed(list(enumerate(self.tiers)))}  # first one wins

    def references(self) -> list[tuple[tuple, Worded]]:
        """Cross-references that must resolve: (path, message) for each broken one."""
        bad: list[tuple[tuple, Worded]] = []
        tier_ids = [t.id for t in self.tiers]
        seen: set[str] = set()
        for i, t in enumerate(self.tiers):
            if t.id in seen:
                bad.append((("tiers", i, "id"), Worded("error.tier_twice", id=t.id)))
            seen.add(t.id)
            for j, b in enumerate(t.benefits):
                if b not in self.benefits:
                    bad.append((("tiers", i, "benefits", j), Worded("error.unknown_benefit", name=b,
                                                         known=", ".join(self.benefits) or "-")))
            if i == 0 and t.threshold != 0:
                bad.append((("tiers", 0, "threshold"), Worded("error.first_threshold")))
            if i and t.threshold <= self.tiers[i - 1].threshold:
                bad.append((("tiers", i, "threshold"), Worded("error.thresholds_increase")))
        def tier_ref(path, value):
            if value is not None and value not in tier_ids:
                bad.append((path, Worded("error.unknown_tier", name=value,
                                           known=", ".join(tier_ids))))
        for who in ("member", "child"):
            gift = getattr(self.birthday_gifts, who)
            if gift:
                tier_ref(("birthday_gifts", who, "min_tier"), gift.min_tier)
        if self.ambassador:
            tier_ref(("ambassador", "min_tier"), self.ambassador.min_tier)
            for j, b in enumerate(self.ambassador.benefits):
                if b not in self.benefits:
                    bad.append((("ambassador", "benefits", j),
                                Worded("error.unknown_benefit", name=b,
                                       known=", ".join(self.benefits) or "-")))
        skus: set[str] = set()
        for i, p in enumerate(self.products):
            if p.sku in skus:
                bad.append((("products", i, "sku"), Worded("error.sku_twice", sku=p.sku)))
            skus.add(p.sku)
        reward_ids: set[str] = set()
        for i, r in enumerate(self.rewards):
            if r.id in reward_ids:
                bad.append((("rewards", i, "id"), Worded("error.reward_twice", id=r.id)))
            reward_ids.add(r.id)
            tier_ref(("rewards", i, "min_tier"), r.min_tier)
        for i, p in enumerate(self.products):
            if p.trial_of and p.trial_of not in skus:
                bad.append((("products", i, "trial_of"),
                            Worded("error.unknown_sku", sku=p.trial_of)))
        return bad


# --- members (members/**/*.yml) -------------------------------------------------------------


class Child(Record):
    name: str | None = None
    birthday: Day


class Item(Record):
    sku: Annotated[str, Field(min_length=1, max_length=60)]
    name: str | None = None
    qty: Annotated[int, Field(ge=1, le=10_000)] = 1
    price: Money  # unit price actually paid

    @property
    def total(self) -> Decimal:
        return self.price * self.qty


class Order(Record):
    id: Annotated[str, Field(min_length=1, max_length=60)]
    date: Day
    channel: str | None = None
    note: str | None = None
    items: Annotated[list[Item], Field(min_length=1)]
    refunded: StrictBool = False

    @property
    def total(self) -> Decimal:
        return Decimal(0) if self.refunded else sum((i.total for i in self.items), Decimal(0))


class PointActivity(Record):
    type: Slug
    date: Day
    note: str | None = None


class Redemption(Record):
    date: Day
    points: Annotated[int, Field(ge=1, le=1_000_000_000)]
    gift: Text
    reward: Slug | None = None      # the catalogue's reward id, when it was one


class Consent(Record):
    marketing: StrictBool = False


class TierOverride(Record):
    tier: str
    until: Day
    reason: Text


class Member(Record):
    id: MemberId
    name: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    title: Annotated[str, Field(min_length=1, max_length=10)] | None = None  # 女士, 先生, Ms
    phone: str | None = None
    customer_id: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    buyer: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    email: Annotated[str, Field(min_length=3, max_length=200, pattern=r"^[^@\s]+@[^@\s]+$")] \
        | None = None
    joined: Day
    birthday: Day | None = None
    children: list[Child] = []
    segments: list[str] = []
    region: str | None = None
    profile: dict[str, str | Annotated[int, Field(ge=-10**12, le=10**12)] |
                  Annotated[float, Field(allow_inf_nan=False, ge=-1e12, le=1e12)] | Day] = {}
    consultant: str | None = None
    role: Role = "member"
    consent: Consent = Consent()
    tier_override: TierOverride | None = None
    orders: list[Order] = []
    activities: list[PointActivity] = []
    redemptions: list[Redemption] = []
    referrals: list[MemberId] = []

    @field_validator("name", "title")
    @classmethod
    def _name_shows_as_it_is(cls, v: str | None) -> str | None:
        if v is None:  # no name: greeted neutrally
            return v
        if not visible_words(v):
            raise Worded("error.name_invisible")
        bad = [c for c in v if c in BIDI_CONTROLS or
               (unicodedata.category(c) == "Cc" and c not in " \t\n")]
        if bad:
            raise Worded("error.name_control", code=f"U+{ord(bad[0]):04X}")
        return v

    @field_validator("phone", mode="before")
    @classmethod
    def _phone_is_text(cls, v):
        if v is None:
            return v
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            raise Worded("error.phone_unquoted", phone=v)
        if isinstance(v, str) and is_masked(v):
            raise Worded("error.phone_masked", phone=v.strip())
        if not isinstance(v, str) or not _PHONE.match(v.strip()):
            raise Worded("error.phone_digits")
        return v

    def check_references(self, program: Program) -> list[tuple[tuple, Worded]]:
        bad: list[tuple[tuple, Worded]] = []
        for i, a in enumerate(self.activities):
            if a.type not in program.activities:
                bad.append((("activities", i, "type"), Worded("error.unknown_activity", name=a.type,
                                   known=", ".join(program.activities) or "-")))
        rewards = {r.id for r in program.rewards}
        for i, r in enumerate(self.redemptions):
            if r.reward is not None and r.reward not in rewards:
                bad.append((("redemptions", i, "reward"),
                            Worded("error.unknown_reward", name=r.reward,
                                   known=", ".join(sorted(rewards)) or "-")))
        if self.tier_override and self.tier_override.tier not in [t.id for t in program.tiers]:
            bad.append((("tier_override", "tier"),
                        Worded("error.unknown_tier", name=self.tier_override.tier,
                               known=", ".join(t.id for t in program.tiers))))
        ids: set[str] = set()
        for i, o in enumerate(self.orders):
            if o.id in ids:
                bad.append((("orders", i, "id"), Worded("error.order_twice", id=o.id)))
            ids.add(o.id)
        for c_i, c in enumerate(self.children):
            if self.birthday and c.birthday < self.birthday:
                bad.append((("children", c_i, "birthday"), Worded("error.child_before")))
        return bad
