"""Secrets and page tokens: unguessable personal-page URLs derived with HMAC."""
from __future__ import annotations

import base64
import hashlib
import hmac

from memberportal.layout import PRIVATE_DIR

TOKEN_BYTES = 16                 # 128 bits


def derive(secret: bytes, purpose: str, *parts: str) -> bytes:
    """HMAC-SHA256 of the parts under one purpose; purposes never share a value."""
    msg = "\x1f".join((purpose, *parts)).encode()
    return hmac.new(secret, msg, hashlib.sha256).digest()


def page_token(secret: bytes, member_id: str, generation: int = 0) -> str:
    """The personal page's path segment: 128 bits, lower-case base32 (26 characters).

    `generation` goes up by one each time a leaked URL is rotated.
    """
    raw = derive(secret, "page", member_id, str(generation))[:TOKEN_BYTES]
    return base64.b32encode(raw).decode().rstrip("=").lower()


CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # no I, L, O, U: nothing to misread


def crockford(raw: bytes, length: int) -> str:
    """The first `length` characters of `raw` in Crockford base32 (5 bits each)."""
    if length * 5 > len(raw) * 8:
        raise ValueError(f"{len(raw)} bytes give fewer than {length} characters")
    bits = int.from_bytes(raw, "big") >> (len(raw) * 8 - length * 5)
    return "".join(CROCKFORD[(bits >> (5 * (length - 1 - i))) & 31] for i in range(length))


def referral_code(secret: bytes, member_id: str, length: int = 8) -> str:
    """A member's referral code: short, unguessable, easy to read aloud (e.g. 7KQ2M9XD)."""
    return crockford(derive(secret, "referral", member_id), length)


def member_url(site_url: str, secret: bytes, member_id: str, generation: int = 0) -> str:
    """The personal page's public address: what QR codes and printed inserts carry."""
    return f"{site_url.rstrip('/')}/{PRIVATE_DIR}/{page_token(secret, member_id, generation)}/"
