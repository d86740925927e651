"""memberportal: member pages, parcel inserts and a brand portal from member YAML records."""
from __future__ import annotations

import functools
import hashlib
from pathlib import Path

__version__ = "0.1.0"


def fingerprint_of(package: Path) -> str:
    """The version and every source file under `package`, found recursively, with its path."""
    h = hashlib.sha256(__version__.encode())
    for path in sorted(package.rglob("*.py")):
        h.update(path.relative_to(package).as_posix().encode() + b"\0")
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


@functools.cache
def code_fingerprint() -> str:
    """This package's fingerprint: any change to its code re-renders every page and drops the
    caches (the build index, the manifest's pages, the member cache)."""
    return fingerprint_of(Path(__file__).resolve().parent)
