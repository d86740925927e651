"""The brand's secret (.memberportal/secret or $MEMBERPORTAL_SECRET) and page rotations."""
from __future__ import annotations

import os
import secrets
from pathlib import Path

from memberportal.errors import InputError
from memberportal.inputs.safe_yaml import read_yaml
from memberportal.layout import ROTATIONS_FILE, SECRET_FILE, STATE_DIR

SECRET_ENV = "MEMBERPORTAL_SECRET"


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
        raise InputError("rotations must map member ids to whole numbers (generations)",
                         doc.where(), field=ROTATIONS_FILE)
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
    tmp = folder / f".{ROTATIONS_FILE}.tmp"
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, folder / ROTATIONS_FILE)
    return generations[member_id]
