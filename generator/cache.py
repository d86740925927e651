"""The parsed-member cache (.memberportal/cache): validated members of unchanged files."""
from __future__ import annotations

import hashlib
import os
import pickle
import zlib
from pathlib import Path
from typing import Callable, TypeVar

from . import __version__

CACHE_DIR = ".memberportal/cache"
BUCKET_BYTES = 512 * 1024      # about 500 member files or 500 members of a list file
T = TypeVar("T")
_CODE = ("loading.py", "models.py", "project.py")


def _key(program_file: Path) -> str:
    """What every cached result depends on besides its own file: code and program."""
    h = hashlib.blake2b(__version__.encode(), digest_size=16)
    for name in _CODE:
        h.update((Path(__file__).parent / name).read_bytes())
    h.update(program_file.read_bytes() if program_file.is_file() else b"")
    return h.hexdigest()


def cached(root: Path, files: list[tuple[Path, str]], program_file: Path,
           read: Callable[[Path, str], T], keep: Callable[[T], bool]) -> list[T]:
    """read(path, shown) for every file, in order, reusing results of files whose size and
    modification time are unchanged. The cache is written only when `keep` approves of
    every result."""
    stats = [path.stat() for path, _ in files]
    total = sum(s.st_size for s in stats)
    count = max(1, min(1024, total // BUCKET_BYTES))
    folder = root / CACHE_DIR
    key = _key(program_file)
    buckets: dict[int, list[int]] = {}
    for i, (_, shown) in enumerate(files):
        buckets.setdefault(zlib.crc32(shown.encode()) % count, []).append(i)
    results: list = [None] * len(files)
    stamps = [(s.st_mtime_ns, s.st_size) for s in stats]
    stored: dict[int, dict] = {}
    missing: list[int] = []
    for b, indexes in buckets.items():
        entries = _read_bucket(folder / f"members-{count}-{b}.pickle", key)
        stored[b] = entries
        for i in indexes:
            hit = entries.get(files[i][1])
            if hit is not None and hit[0] == stamps[i]:
                results[i] = hit[1]
            else:
                missing.append(i)
    for i in missing:
        results[i] = read(*files[i])
    if not all(keep(r) for r in results):
        return results  # a project with errors writes nothing, not even its cache
    touched = set(missing)
    changed = {b for b, indexes in buckets.items()
               if touched.intersection(indexes) or len(stored[b]) != len(indexes)}
    for b in changed:
        entries = {files[i][1]: (stamps[i], results[i]) for i in buckets[b]}
        _write_bucket(folder / f"members-{count}-{b}.pickle", key, entries)
    return results


def _read_bucket(path: Path, key: str) -> dict:
    try:
        with open(path, "rb") as f:
            data = pickle.load(f)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError,
            ValueError, TypeError):
        return {}
    return data["files"] if isinstance(data, dict) and data.get("key") == key else {}


def _write_bucket(path: Path, key: str, entries: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        pickle.dump({"key": key, "files": entries}, f, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, path)
