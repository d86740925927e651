"""Retention codes verifiable offline: HMAC tag, Crockford base32, mod-37 check symbol."""
from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, timedelta

from memberportal.core.rules import Msg
from memberportal.core.tokens import CROCKFORD, derive
from memberportal.errors import InputError

ALPHABET = CROCKFORD
CHECK_ALPHABET = ALPHABET + "*~$=U"                     # Crockford's mod-37 check symbols
EPOCH = date(2000, 1, 1)
# bits: offer slot 5 | expiry day 15 | member reference 40 | HMAC tag 75  = 135 = 27 symbols
OFFER_BITS, DAY_BITS, REF_BITS, TAG_BITS = 5, 15, 40, 75
SYMBOLS = (OFFER_BITS + DAY_BITS + REF_BITS + TAG_BITS) // 5
GROUP = 4                                               # printed as 7 groups of 4


@dataclass(frozen=True)
class Verdict:
    """What a code turned out to be. state: valid | mistyped | forged | expired | redeemed."""

    state: str
    code: str
    member_ref: str | None = None
    member_id: str | None = None
    offer_slot: int | None = None
    expires: date | None = None
    detail: Msg | None = None     # why, when not valid (messages.say words it)

    @property
    def ok(self) -> bool:
        return self.state == "valid"


def member_ref(secret: bytes, member_id: str) -> int:
    """A 40-bit reference to a member: unlinkable without the secret, constant length."""
    return int.from_bytes(derive(secret, "code.member", member_id)[:5], "big")


def offer_slot(offer_id: str) -> int:
    return hashlib.sha256(offer_id.encode()).digest()[0] % (1 << OFFER_BITS)


def _tag(secret: bytes, slot: int, expires_day: int, ref: int) -> int:
    raw = derive(secret, "code.v1", str(slot), str(expires_day), f"{ref:010x}")
    return int.from_bytes(raw, "big") >> (256 - TAG_BITS)


def check_symbol(body: str) -> str:
    """Crockford's check symbol: the value of the base32 body modulo 37."""
    value = 0
    for ch in body:
        value = value * 32 + ALPHABET.index(ch)
    return CHECK_ALPHABET[value % 37]


def make_code(secret: bytes, member_id: str, offer_id: str, expires: date) -> str:
    """The printed code, grouped: 27 base32 symbols + 1 check symbol."""
    days = (expires - EPOCH).days
    if not 0 <= days < (1 << DAY_BITS):
        raise InputError(f"expiry day {expires} is outside what a code can hold")
    slot, ref = offer_slot(offer_id), member_ref(secret, member_id)
    value = (((slot << DAY_BITS | days) << REF_BITS | ref) << TAG_BITS) | _tag(secret, slot, days,
                                                                                 ref)
    body = "".join(ALPHABET[(value >> (5 * i)) & 31] for i in reversed(range(SYMBOLS)))
    return group(body + check_symbol(body))


def group(code: str) -> str:
    return "-".join(code[i:i + GROUP] for i in range(0, len(code), GROUP))


def normalize(text: str) -> str:
    """Crockford's reading rules: case-insensitive, O→0, I/L→1, hyphens and spaces ignored."""
    out = text.strip().upper().replace("-", "").replace(" ", "")
    return out.translate(str.maketrans({"O": "0", "I": "1", "L": "1"}))


def verify(secret: bytes, text: str, as_of: date, members: dict[int, str] | None = None,
           redeemed: frozenset[str] = frozenset(),
           offers: Collection[int] | None = None) -> Verdict:
    """valid, mistyped (check symbol or shape wrong), forged (tag wrong), expired or redeemed.

    `members` maps member references to ids (from the project) to say whose code it is;
    `offers` are the offer slots the program has now (a code for a withdrawn offer is not
    valid, though we signed it).
    """
    code = normalize(text)
    shown = group(code)
    if len(code) != SYMBOLS + 1 or any(c not in ALPHABET for c in code[:-1]) or \
            code[-1] not in CHECK_ALPHABET:
        return Verdict("mistyped", shown, detail=Msg("verdict.length", {"n": SYMBOLS + 1,
                                                                  "got": len(code)}))
    body = code[:-1]
    if check_symbol(body) != code[-1]:
        return Verdict("mistyped", shown, detail=Msg("verdict.check"))
    value = 0
    for ch in body:
        value = value * 32 + ALPHABET.index(ch)
    tag = value & ((1 << TAG_BITS) - 1)
    value >>= TAG_BITS
    ref = value & ((1 << REF_BITS) - 1)
    value >>= REF_BITS
    days = value & ((1 << DAY_BITS) - 1)
    slot = value >> DAY_BITS
    ref_text = f"{ref:010x}"
    if _tag(secret, slot, days, ref) != tag:
        return Verdict("forged", shown, ref_text, detail=Msg("verdict.signature"))
    expires = EPOCH + timedelta(days=days)
    member_id = (members or {}).get(ref)
    if members is not None and member_id is None:
        return Verdict("forged", shown, ref_text, None, slot, expires,
                       Msg("verdict.no_member"))
    if offers is not None and slot not in offers:
        return Verdict("forged", shown, ref_text, member_id, slot, expires,
                       Msg("verdict.no_offer"))
    if member_id is not None and member_id in redeemed:
        return Verdict("redeemed", shown, ref_text, member_id, slot, expires,
                       Msg("verdict.redeemed"))
    if as_of > expires:
        return Verdict("expired", shown, ref_text, member_id, slot, expires,
                       Msg("verdict.expired", {"on": expires.isoformat()}))
    return Verdict("valid", shown, ref_text, member_id, slot, expires)


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


