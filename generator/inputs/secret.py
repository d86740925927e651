"""The brand's secret (.memberportal/secret or $MEMBERPORTAL_SECRET) and page rotations."""
from __future__ import annotations

import hmac
import json
import os
import secrets
import stat
import time
from pathlib import Path

from memberportal.errors import InputError, worded
from memberportal.inputs.safe_yaml import read_yaml
from memberportal.layout import (
    CACHE_DIR,
    MANIFEST_FILE,
    OUTPUT_DIR,
    ROTATIONS_FILE,
    SECRET_FILE,
    STATE_DIR,
    write_atomic,
)

SECRET_ENV = "MEMBERPORTAL_SECRET"
MIN_LENGTH = 32
MIN_DISTINCT = 10      # random hex of 32 characters has ~14; "aaaa…" or "abab…" has 1 or 2
MANIFEST = f"{OUTPUT_DIR}/{MANIFEST_FILE}"
HOW = ("error.secret_how", {})   # the catalogue's "make one with `memberportal secret init`"


def _restore() -> tuple[str, dict]:
    return ("error.secret_restore", {"file": f"{STATE_DIR}/{SECRET_FILE}",
                                     "rotations": f"{STATE_DIR}/{ROTATIONS_FILE}"})


def _checked(value: str, where: str) -> bytes:
    """The secret as bytes, if it is printable ASCII, long and varied enough."""
    if not value.isascii() or not value.isprintable():
        raise InputError(**worded("error.secret_ascii", HOW), field=where)
    if len(value) < MIN_LENGTH:
        raise InputError(**worded("error.secret_short", HOW, n=MIN_LENGTH), field=where)
    if len(set(value)) < MIN_DISTINCT or value in (value + value)[1:-1]:
        raise InputError(**worded("error.secret_weak", HOW, n=len(set(value)),
                                  min=MIN_DISTINCT), field=where)
    return value.encode("ascii")


def _read_file(path: Path) -> str | None:
    """The secret file's text, None if there is none; a link or a special file is refused."""
    shown = f"{STATE_DIR}/{SECRET_FILE}"
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(st.st_mode):
        raise InputError(**worded("error.secret_link", to=os.readlink(path)), field=shown)
    if not stat.S_ISREG(st.st_mode):
        raise InputError(**worded("error.secret_special"), field=shown)
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as f:
        data = f.read(4097)
    try:
        return data.decode("ascii").strip()
    except UnicodeDecodeError:
        raise InputError(**worded("error.secret_ascii", HOW), field=shown) from None


def previous_build(root: Path) -> str | None:
    """What shows that pages were built with some secret before, if anything does."""
    if (root / MANIFEST).exists():
        return MANIFEST
    cache = root / CACHE_DIR
    if cache.is_dir() and any(cache.glob("index-*.pickle")):
        return f"the build index in {CACHE_DIR}"
    return None


def load_secret(root: Path, create: bool = False) -> bytes:
    """The brand's secret: $MEMBERPORTAL_SECRET, else .memberportal/secret.

    With `create`, a missing secret is made, but only for a brand that was never built: once
    pages exist a new secret would silently change every page address and printed QR code.
    """
    path = root / STATE_DIR / SECRET_FILE
    stored = _read_file(path)
    env = os.environ.get(SECRET_ENV)
    if env:
        value = _checked(env, f"${SECRET_ENV}")
        if stored is not None and stored != env:
            raise InputError(**worded("error.secret_differs", env=SECRET_ENV,
                                      file=f"{STATE_DIR}/{SECRET_FILE}"))
        return value
    if stored is not None:
        return _checked(stored, f"{STATE_DIR}/{SECRET_FILE}")
    if not create:
        raise InputError(**worded("error.no_secret", env=SECRET_ENV,
                                  file=f"{STATE_DIR}/{SECRET_FILE}"))
    built = previous_build(root)
    if built:
        raise InputError(**worded("error.no_secret_built", _restore(), built=built),
                         field=f"{STATE_DIR}/{SECRET_FILE}")
    return _write_new(path)


def _write_new(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not (path.parent / ".gitignore").exists():
        (path.parent / ".gitignore").write_text("*\n")
    value = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
        f.flush()
        os.fsync(f.fileno())
    return value.encode()


def init_secret(root: Path) -> Path:
    """`memberportal secret init`: a new secret for a brand that has none."""
    path = root / STATE_DIR / SECRET_FILE
    if os.environ.get(SECRET_ENV):
        raise InputError(**worded("error.secret_env_init", env=SECRET_ENV,
                                  file=f"{STATE_DIR}/{SECRET_FILE}"))
    if _read_file(path) is not None:
        raise InputError(**worded("error.secret_exists", file=f"{STATE_DIR}/{SECRET_FILE}"))
    _write_new(path)
    return path


def rotate_all(root: Path) -> tuple[Path, Path | None]:
    """`memberportal secret rotate-all`: a new secret (every page address and code changes);
    the old one is kept beside it as secret.old-<time>. Returns (new, old)."""
    if os.environ.get(SECRET_ENV):
        raise InputError(**worded("error.secret_env_rotate", env=SECRET_ENV))
    path = root / STATE_DIR / SECRET_FILE
    old = None
    if _read_file(path) is not None:
        old = path.with_name(f"{SECRET_FILE}.old-{time.strftime('%Y%m%d-%H%M%S')}")
        os.link(path, old)
        path.unlink()
    value = _write_new(path)
    manifest = root / MANIFEST
    data = _read_json(manifest)
    if data:  # the next build recognises the new secret as meant
        data["secret"] = secret_check(value)
        write_atomic(manifest, json.dumps(data, sort_keys=True, separators=(",", ":")).encode(),
                     private=True)
    return path, old


def secret_check(secret: bytes) -> str:
    """What the manifest records of the secret: tells it apart, reveals nothing of it."""
    return hmac.new(secret, b"memberportal site manifest", "sha256").hexdigest()[:32]


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def check_against_manifest(secret: bytes, generations: dict[str, int], manifest: dict,
                           members: set[str] | None) -> None:
    """The secret and rotations are those the live site was built with (or later ones):
    another secret would kill every printed address, rotations lost or older would bring
    revoked ones back. `members`: those that still exist (None: check the secret only)."""
    check = manifest.get("secret")
    if isinstance(check, str) and not hmac.compare_digest(check, secret_check(secret)):
        raise InputError(**worded("error.secret_not_live", _restore(), manifest=MANIFEST),
                         field=f"{STATE_DIR}/{SECRET_FILE}")
    built = manifest.get("generations")
    if members is None or not isinstance(built, dict):
        return
    behind = sorted(m for m, g in built.items()
                    if m in members and isinstance(g, int) and generations.get(m, 0) < g)
    if behind:
        shown = [("error.rotations_member",
                  {"member": m, "built": built[m], "now": generations.get(m, 0)})
                 for m in behind[:10]]
        parts = [p for i, one in enumerate(shown) for p in ([("error.list_sep", {})] if i
                                                             else []) + [one]]
        parts += [("error.list_more", {})] if len(behind) > 10 else []
        raise InputError(**worded("error.rotations_behind", *parts,
                                  ("error.rotations_restore", {}),
                                  file=f"{STATE_DIR}/{ROTATIONS_FILE}"),
                         field=f"{STATE_DIR}/{ROTATIONS_FILE}")


def check_rotations(root: Path, secret: bytes, generations: dict[str, int],
                    members: set[str]) -> None:
    """check_against_manifest with the live site's manifest (for commands that print)."""
    check_against_manifest(secret, generations, _read_json(root / MANIFEST), members)


def load_generations(root: Path) -> dict[str, int]:
    """Each rotated member's page generation from .memberportal/rotations.yml (default 0)."""
    path = root / STATE_DIR / ROTATIONS_FILE
    if not path.is_file():
        return {}
    doc = read_yaml(path, f"{STATE_DIR}/{ROTATIONS_FILE}")
    data = doc.data or {}
    bad = not isinstance(data, dict) or any(
        not isinstance(v, int) or isinstance(v, bool) or v < 0 for v in data.values())
    if bad:
        raise InputError(**worded("error.rotations_map"), where=doc.where(),
                         field=ROTATIONS_FILE)
    return {str(k): v for k, v in data.items()}


def rotate(root: Path, member_id: str) -> int:
    """Give a member a new page token (the old URL stops working at the next build)."""
    generations = load_generations(root)
    generations[member_id] = generations.get(member_id, 0) + 1
    folder = root / STATE_DIR
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / ".gitignore").exists():
        (folder / ".gitignore").write_text("*\n")
    lines = ["# Page generations of members whose personal-page URL was rotated",
             "# (memberportal rotate MEMBER_ID). Back this file up together with `secret`:",
             "# with both, every page URL and QR code can be recomputed."]
    lines += [f"{k}: {v}" for k, v in sorted(generations.items())]
    write_atomic(folder / ROTATIONS_FILE, ("\n".join(lines) + "\n").encode("utf-8"),
                 private=True)
    return generations[member_id]
