"""Secrets and page tokens: unguessable personal-page URLs derived with HMAC."""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from .errors import InputError

SECRET_ENV = "MEMBERPORTAL_SECRET"
STATE_DIR = ".memberportal"      # git-ignored: the secret lives here when not in the env
SECRET_FILE = "secret"
TOKEN_BYTES = 16                 # 128 bits


def load_secret(root: Path, create: bool = False) -> bytes:
    """The brand's secret: $MEMBERPORTAL_SECRET, else .memberportal/secret (made on first build)."""
    env = os.environ.get(SECRET_ENV)
    if env:
        if len(env) < 32:
            raise InputError(f"{SECRET_ENV} is too short: use at least 32 characters "
                             "(e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`)")
        return env.encode()
    path = root / STATE_DIR / SECRET_FILE
    if path.is_file():
        value = path.read_text(encoding="ascii").strip()
        if len(value) < 32:
            raise InputError("the secret is too short (at least 32 characters)", None,
                             field=str(path))
        return value.encode()
    if not create:
        raise InputError(f"no secret: set {SECRET_ENV} or run `memberportal build` once to "
                         f"create {STATE_DIR}/{SECRET_FILE}")
    path.parent.mkdir(parents=True, exist_ok=True)
    (path.parent / ".gitignore").write_text("*\n")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32) + "\n")
    return path.read_text(encoding="ascii").strip().encode()


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
