"""The published tiers ({member id: tier id, as_of}) in .memberportal/last-build.json."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from memberportal.errors import InputError, Where, worded
from memberportal.layout import SNAPSHOT_FILE, STATE_DIR, write_atomic


@dataclass(frozen=True)
class Snapshot:
    as_of: date
    tiers: dict[str, str] = field(default_factory=dict)  # member id -> tier id


@dataclass(frozen=True)
class Moves:
    """Members whose tier differs from the snapshot's: (member id, tier id then, tier id now),
    the biggest moves first."""

    since: date
    up: list[tuple[str, str, str]]
    down: list[tuple[str, str, str]]


def tier_moves(snapshot: Snapshot, tiers: dict[str, str], ranks: dict[str, int]) -> Moves:
    """Who moves up and down against `snapshot` (members new since then are not moves; a tier
    id that no longer exists counts as below every tier)."""
    up, down = [], []
    for member_id, now in sorted(tiers.items()):
        before = snapshot.tiers.get(member_id)
        if before is None or before == now:
            continue
        step = ranks[now] - ranks.get(before, -1)
        (up if step > 0 else down).append((-abs(step), member_id, before, now))
    return Moves(snapshot.as_of, [m[1:] for m in sorted(up)], [m[1:] for m in sorted(down)])


def snapshot_path(root: Path) -> Path:
    return root / STATE_DIR / SNAPSHOT_FILE


def state_dir(root: Path) -> Path:
    """The git-ignored state folder, made on first use with its own `*` .gitignore."""
    folder = root / STATE_DIR
    folder.mkdir(parents=True, exist_ok=True)
    ignore = folder / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n")
    return folder


def save_snapshot(root: Path, as_of: date, tiers: dict[str, str]) -> Path:
    """Record every member's tier ({member id: tier id}) as published; written atomically.
    Only publishing calls this (`build`, `report --save-snapshot`), never a preview."""
    data = {"as_of": as_of.isoformat(), "tiers": dict(sorted(tiers.items()))}
    state_dir(root)
    # indent= would take the slow encoder
    text = json.dumps(data, ensure_ascii=False) + "\n"
    return write_atomic(snapshot_path(root), text.encode("utf-8"), private=True)


def load_snapshot(root: Path) -> Snapshot | None:
    """The last saved snapshot, or None when no build saved one yet."""
    path = snapshot_path(root)
    shown = f"{STATE_DIR}/{SNAPSHOT_FILE}"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise InputError(**worded("error.snapshot_unreadable", why=str(e)),
                         where=Where(shown)) from None
    try:
        tiers = data["tiers"]
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in tiers.items()):
            raise TypeError("tiers must map member ids to tier ids")
        return Snapshot(date.fromisoformat(data["as_of"]), dict(tiers))
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise InputError(**worded("error.snapshot_malformed", why=str(e)),
                         where=Where(shown)) from None
