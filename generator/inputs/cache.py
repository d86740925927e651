"""The cache in .memberportal/cache: validated members of unchanged files, the build's index."""
from __future__ import annotations

import hashlib
import os
import pickle
import zlib
from pathlib import Path
from typing import Callable, TypeVar

from memberportal import code_fingerprint
from memberportal.layout import CACHE_DIR

BUCKET_BYTES = 512 * 1024      # about 500 member files or 500 members of a list file
T = TypeVar("T")


def _key(program_file: Path) -> str:
    """What every cached result depends on besides its own file: code and program."""
    h = hashlib.blake2b(code_fingerprint().encode(), digest_size=16)
    h.update(program_file.read_bytes() if program_file.is_file() else b"")
    return h.hexdigest()


def cached(root: Path, files: list[tuple[Path, str]], program_file: Path,
           read: Callable[[Path, str], T], keep: Callable[[T], bool],
           progress: Callable[[int], None] | None = None) -> list[T]:
    """read(path, shown) for every file, in order, reusing results of files whose size,
    modification time and inode change time are unchanged. The cache is written only when
    `keep` approves of every result. `progress(n)` is told of files done: taken from the
    cache or read."""
    stats = [path.stat() for path, _ in files]
    total = sum(s.st_size for s in stats)
    count = max(1, min(1024, total // BUCKET_BYTES))
    folder = root / CACHE_DIR
    key = _key(program_file)
    buckets: dict[int, list[int]] = {}
    for i, (_, shown) in enumerate(files):
        buckets.setdefault(zlib.crc32(shown.encode()) % count, []).append(i)
    results: list = [None] * len(files)
    stamps = [(s.st_mtime_ns, s.st_size, s.st_ctime_ns) for s in stats]  # as member_stamps
    stored: dict[int, dict] = {}
    missing: list[int] = []
    for b, indexes in buckets.items():
        entries = _read_bucket(folder / f"members-{count}-{b}.pickle", key)
        stored[b] = entries
        hits = 0
        for i in indexes:
            hit = entries.get(files[i][1])
            if hit is not None and hit[0] == stamps[i]:
                results[i] = hit[1]
                hits += 1
            else:
                missing.append(i)
        if progress:
            progress(hits)
    for i in missing:
        results[i] = read(*files[i])
        if progress:
            progress(1)
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
    tmp.unlink(missing_ok=True)
    # members' phone numbers and names: readable by the owner only
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
        pickle.dump({"key": key, "files": entries}, f, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, path)


# --- the build's index: each member file's facts and pages, for the next build ---------------

INDEX_BUCKETS = 64     # a one-member rebuild rewrites 1/64 of the index


def _index_bucket(shown: str) -> int:
    return zlib.crc32(shown.encode()) % INDEX_BUCKETS


def load_index(root: Path, key: str) -> dict[str, tuple[tuple[int, int, int], list]]:
    """{file as shown: (its (mtime, size) when read, its members' records)} of the last build
    made with the same `key` (program, day, templates, code, secret); else empty."""
    index: dict = {}
    for b in range(INDEX_BUCKETS):
        index.update(_read_bucket(root / CACHE_DIR / f"index-{b}.pickle", key))
    return index


def save_index(root: Path, key: str, files: dict[str, tuple[tuple[int, int, int], list]],
               changed: set[str]) -> None:
    """Write the buckets holding a file of `changed` (new, read again or gone)."""
    touched = {_index_bucket(shown) for shown in changed}
    buckets: dict[int, dict] = {b: {} for b in touched}
    for shown, entry in files.items():
        b = _index_bucket(shown)
        if b in buckets:
            buckets[b][shown] = entry
    for b, entries in buckets.items():
        _write_bucket(root / CACHE_DIR / f"index-{b}.pickle", key, entries)
