"""The last build's tiers ({member id: tier id, as_of}) in .memberportal/last-build.json."""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from memberportal.errors import InputError, Where
from memberportal.layout import SNAPSHOT_FILE, STATE_DIR


@dataclass(frozen=True)
class Snapshot:
    as_of: date
    tiers: dict[str, str] = field(default_factory=dict)  # member id -> tier id


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
    """Record every member's tier ({member id: tier id}) as of the build; written atomically."""
    data = {"as_of": as_of.isoformat(), "tiers": dict(sorted(tiers.items()))}
    path = snapshot_path(root)
    fd, tmp = tempfile.mkstemp(dir=state_dir(root), prefix=".last-build-", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(json.dumps(data, ensure_ascii=False))  # indent= would take the slow encoder
        f.write("\n")
    os.replace(tmp, path)
    return path


def load_snapshot(root: Path) -> Snapshot | None:
    """The last saved snapshot, or None when no build saved one yet."""
    path = snapshot_path(root)
    shown = f"{STATE_DIR}/{SNAPSHOT_FILE}"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise InputError(f"cannot read the last build's snapshot ({e}); delete the file and "
                         "save a new one with `memberportal report --save-snapshot`",
                         Where(shown)) from None
    try:
        tiers = data["tiers"]
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in tiers.items()):
            raise TypeError("tiers must map member ids to tier ids")
        return Snapshot(date.fromisoformat(data["as_of"]), dict(tiers))
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise InputError(f"the last build's snapshot is malformed ({e}); delete it and save "
                         "a new one with `memberportal report --save-snapshot`",
                         Where(shown)) from None
