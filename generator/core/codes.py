"""Retention codes verifiable offline: short, signed, Crockford base32, with a check symbol."""
from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, timedelta

from memberportal.core.rules import Msg
from memberportal.core.tokens import CROCKFORD, derive
from memberportal.errors import InputError

ALPHABET = CROCKFORD
EPOCH = date(2000, 1, 1)
GROUP = 4
# The printed code, 15 symbols + 1 check symbol, read as K7QM-4XRT-9BHD-2WQF:
# offer slot 5 | expiry day 15 | member hint 15 | HMAC tag 40  = 75 bits = 15 symbols.
# The hint is the top of the member's 40-bit reference: it narrows the project's members to
# a handful, and the tag (over the member's id) says which one, if any, the code was made for.
OFFER_BITS, DAY_BITS, HINT_BITS, TAG_BITS = 5, 15, 15, 40
SYMBOLS = (OFFER_BITS + DAY_BITS + HINT_BITS + TAG_BITS) // 5
REF_BITS = 40
# The first codes (until the short form): offer 5 | day 15 | reference 40 | tag 75 = 27
# symbols + Crockford's mod-37 check symbol, which may be one of * ~ $ = U. Still verified.
LEGACY_TAG_BITS = 75
LEGACY_SYMBOLS = (OFFER_BITS + DAY_BITS + REF_BITS + LEGACY_TAG_BITS) // 5
LEGACY_CHECK_ALPHABET = ALPHABET + "*~$=U"


@dataclass(frozen=True)
class Verdict:
    """What a code turned out to be. state: valid | mistyped | forged | expired | redeemed.

    `canonical` is the short form of the code's member, offer and expiry: the same for the
    old long form and the short form of one offer, so the ledger records it once.
    """

    state: str
    code: str
    member_ref: str | None = None
    member_id: str | None = None
    offer_slot: int | None = None
    expires: date | None = None
    detail: Msg | None = None     # why, when not valid (messages.say words it)
    canonical: str | None = None

    @property
    def ok(self) -> bool:
        return self.state == "valid"


def member_ref(secret: bytes, member_id: str) -> int:
    """A 40-bit reference to a member: unlinkable without the secret, constant length."""
    return int.from_bytes(derive(secret, "code.member", member_id)[:5], "big")


def offer_slot(offer_id: str) -> int:
    return hashlib.sha256(offer_id.encode()).digest()[0] % (1 << OFFER_BITS)


def _tag(secret: bytes, slot: int, expires_day: int, member_id: str) -> int:
    raw = derive(secret, "code.v2", str(slot), str(expires_day), member_id)
    return int.from_bytes(raw, "big") >> (256 - TAG_BITS)


def _legacy_tag(secret: bytes, slot: int, expires_day: int, ref: int) -> int:
    raw = derive(secret, "code.v1", str(slot), str(expires_day), f"{ref:010x}")
    return int.from_bytes(raw, "big") >> (256 - LEGACY_TAG_BITS)


def _times_alpha(x: int) -> int:
    """x·α in GF(32) = GF(2)[α]/(α⁵ + α² + 1)."""
    x <<= 1
    return x ^ 0b100101 if x & 32 else x


def check_symbol(body: str) -> str:
    """The check symbol that makes Σ αⁱ·symbolᵢ over GF(32) zero (body, then check).

    Every weight αⁱ differs (α has order 31), so any one wrong symbol and any two swapped
    symbols change the sum: all are caught before the signature is looked at. The symbol
    is one of the 32 code symbols (never * ~ $ =).
    """
    acc = 0
    for ch in body:
        acc = _times_alpha(acc) ^ ALPHABET.index(ch)
    return ALPHABET[_times_alpha(acc)]


def legacy_check_symbol(body: str) -> str:
    """Crockford's check symbol, the old codes' last: the base32 body modulo 37."""
    return LEGACY_CHECK_ALPHABET[_value(body) % 37]


def _value(body: str) -> int:
    value = 0
    for ch in body:
        value = value * 32 + ALPHABET.index(ch)
    return value


def _fields(value: int, *bits: int) -> tuple[int, ...]:
    """The fields of `bits` widths from the lowest bits up, and what is left above them."""
    out = []
    for width in bits:
        out.append(value & ((1 << width) - 1))
        value >>= width
    return (*out, value)


def _symbols(value: int, count: int) -> str:
    return "".join(ALPHABET[(value >> (5 * i)) & 31] for i in reversed(range(count)))


def _short(secret: bytes, member_id: str, slot: int, days: int) -> str:
    hint = member_ref(secret, member_id) >> (REF_BITS - HINT_BITS)
    value = ((slot << DAY_BITS | days) << HINT_BITS | hint) << TAG_BITS
    body = _symbols(value | _tag(secret, slot, days, member_id), SYMBOLS)
    return group(body + check_symbol(body))


def make_code(secret: bytes, member_id: str, offer_id: str, expires: date) -> str:
    """The printed code, grouped in fours: 15 base32 symbols + 1 check symbol."""
    days = (expires - EPOCH).days
    if not 0 <= days < (1 << DAY_BITS):
        raise InputError(f"expiry day {expires} is outside what a code can hold")
    return _short(secret, member_id, offer_slot(offer_id), days)


def code_anchor(offer_id: str) -> str:
    """The id of an offer's coupon on the personal page: what the card's QR code opens."""
    return f"code-{offer_id}"


def group(code: str) -> str:
    return "-".join(code[i:i + GROUP] for i in range(0, len(code), GROUP))


def normalize(text: str) -> str:
    """Crockford's reading rules: case-insensitive, O→0, I/L→1, hyphens and spaces ignored."""
    out = "".join(text.split()).upper().replace("-", "")
    return out.translate(str.maketrans({"O": "0", "I": "1", "L": "1"}))


def verify(secret: bytes, text: str, as_of: date, members: dict[int, str] | None = None,
           redeemed: frozenset[str] = frozenset(),
           offers: Collection[int] | None = None) -> Verdict:
    """valid, mistyped (check symbol or shape wrong), forged (tag wrong), expired or redeemed.

    `members` maps member references to ids (from the project) to say whose code it is; a
    short code can only be checked against them. `offers` are the offer slots the program
    has now (a code for a withdrawn offer is not valid, though we signed it).
    """
    code = normalize(text)
    shown = group(code)
    if len(code) == LEGACY_SYMBOLS + 1:
        found = _read_legacy(secret, code, shown, members)
    elif len(code) == SYMBOLS + 1:
        found = _read_short(secret, code, shown, members)
    else:
        return Verdict("mistyped", shown, detail=Msg("verdict.length", {
            "n": SYMBOLS + 1, "got": len(code)}))
    if isinstance(found, Verdict):
        return found
    ref, member_id, slot, days = found
    ref_text = f"{ref:010x}"
    expires = EPOCH + timedelta(days=days)
    if members is not None and member_id is None:
        return Verdict("forged", shown, ref_text, None, slot, expires,
                       Msg("verdict.no_member"))
    canonical = _short(secret, member_id, slot, days) if member_id is not None else None
    known = (shown, ref_text, member_id, slot, expires)
    if offers is not None and slot not in offers:
        return Verdict("forged", *known, Msg("verdict.no_offer"),
                       canonical)
    if member_id is not None and member_id in redeemed:
        return Verdict("redeemed", *known, Msg("verdict.redeemed"), canonical)
    if as_of > expires:
        return Verdict("expired", *known, Msg("verdict.expired", {"on": expires.isoformat()}),
                       canonical)
    return Verdict("valid", *known, canonical=canonical)


_MISTYPED = Msg("verdict.check")
_FORGED = Msg("verdict.signature")


def _read_short(secret: bytes, code: str, shown: str, members: dict[int, str] | None):
    body = code[:-1]
    if any(c not in ALPHABET for c in code) or check_symbol(body) != code[-1]:
        return Verdict("mistyped", shown, detail=_MISTYPED)
    tag, hint, days, slot = _fields(_value(body), TAG_BITS, HINT_BITS, DAY_BITS)
    if members is None:
        return Verdict("forged", shown, offer_slot=slot, detail=Msg("verdict.no_members"))
    shift = REF_BITS - HINT_BITS
    for ref, member_id in members.items():
        if ref >> shift == hint and _tag(secret, slot, days, member_id) == tag:
            return ref, member_id, slot, days
    return Verdict("forged", shown, offer_slot=slot, detail=_FORGED)


def _read_legacy(secret: bytes, code: str, shown: str, members: dict[int, str] | None):
    body = code[:-1]
    if any(c not in ALPHABET for c in body) or code[-1] not in LEGACY_CHECK_ALPHABET or \
            legacy_check_symbol(body) != code[-1]:
        return Verdict("mistyped", shown, detail=_MISTYPED)
    tag, ref, days, slot = _fields(_value(body), LEGACY_TAG_BITS, REF_BITS, DAY_BITS)
    if _legacy_tag(secret, slot, days, ref) != tag:
        return Verdict("forged", shown, f"{ref:010x}", detail=_FORGED)
    return ref, (members or {}).get(ref), slot, days


def member_refs(secret: bytes, member_ids: list[str]) -> dict[int, str]:
    """Every member's reference; two members sharing one (1 in 10^12 odds per pair) is an error."""
    out: dict[int, str] = {}
    for mid in member_ids:
        ref = member_ref(secret, mid)
        if ref in out:
            raise InputError(f"members {out[ref]} and {mid} share a code reference; "
                             "rotate the secret")
        out[ref] = mid
    return out
