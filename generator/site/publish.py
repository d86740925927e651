"""Publishing a staged site: atomic or journaled in-place swap, crash recovery, the build lock."""
from __future__ import annotations

import contextlib
import ctypes
import fcntl
import json
import os
import shutil
import threading
from pathlib import Path

from memberportal.errors import BuildError
from memberportal.layout import MANIFEST_FILE, PRIVATE_DIR, SITE_DIR
from memberportal.runtime.progress import progress_bar

STAGING_PREFIX = ".staging-"

OLD_PREFIX = ".site-old-"

LOCK_FILE = ".build.lock"

PORTAL_STATE = "portal-state.json"     # the live portal's inputs hash and its shell

JOURNAL = "swap.json"                  # in a staging folder: a swap to finish after a crash

REMOVERS = 4                           # threads deleting the previous site after a swap


def remove_staging(staging: Path, show_progress: bool) -> None:
    """Delete the staging folder. After a full exchange it holds the old site: 100,000 pages
    took 40 s to delete on the development machine, so they go one by one under a bar."""
    pages = staging / SITE_DIR / PRIVATE_DIR
    try:
        with os.scandir(pages) as entries:
            names = [e.name for e in entries if e.is_dir(follow_symlinks=False)]
    except OSError:
        names = []
    if names:
        # Threads: each deletion mostly waits for the disk, and the waits overlap (bench:
        # 1.4x with four on the development machine; the kernel's locks stop more helping).
        stop, done = threading.Event(), [0] * REMOVERS

        def remove(k: int) -> None:
            for name in names[k::REMOVERS]:
                if stop.is_set():
                    return
                folder = f"{pages}/{name}"
                try:  # a page folder holds index.html only; anything else: rmtree
                    os.unlink(f"{folder}/index.html")
                    os.rmdir(folder)
                except OSError:
                    shutil.rmtree(folder, ignore_errors=True)
                done[k] += 1

        threads = [threading.Thread(target=remove, args=(k,), daemon=True)
                   for k in range(REMOVERS)]
        with progress_bar(show_progress, total=len(names), desc="removing the previous site",
                          unit="page", miniters=1000) as bar:
            try:
                for t in threads:
                    t.start()
                for t in threads:
                    while t.is_alive():
                        t.join(0.2)
                        bar.update(sum(done) - bar.n)
            finally:  # a signal: the threads end after their current page
                stop.set()
                for t in threads:
                    t.join()
    shutil.rmtree(staging, ignore_errors=True)


def read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def link_portal(live: Path, site: Path) -> None:
    """The reused portal into the staged site, as hard links (everything but m/)."""
    for entry in live.iterdir():
        if entry.name == PRIVATE_DIR:
            continue
        if entry.is_dir():
            shutil.copytree(entry, site / entry.name, copy_function=os.link)
        else:
            os.link(entry, site / entry.name)

_RENAME_EXCHANGE = 2

_AT_FDCWD = -100


def exchange(a: Path, b: Path) -> None:
    """Swap two folders atomically (Linux renameat2); elsewhere two quick renames."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b),
                          _RENAME_EXCHANGE) == 0:
            return
    except (AttributeError, OSError):
        pass
    parked = b.parent / f"{OLD_PREFIX}{os.getpid()}"
    os.rename(b, parked)
    os.rename(a, b)
    os.rename(parked, a)


def recover(out: Path) -> list[str]:
    """Undo a crash: bring back a site parked mid-swap, remove staging leftovers."""
    done = []
    live = out / SITE_DIR
    parked = sorted(out.glob(OLD_PREFIX + "*"), key=lambda p: p.stat().st_mtime)
    if not live.exists() and parked:
        os.rename(parked.pop(), live)
        done.append(f"restored {live}")
    for leftover in parked + list(out.glob(STAGING_PREFIX + "*")):
        plan = read_json(leftover / JOURNAL)
        if plan and live.is_dir():
            apply_journal(out, leftover, plan)
            done.append(f"finished the swap of {leftover.name}")
        shutil.rmtree(leftover, ignore_errors=True)
        done.append(f"removed {leftover.name}")
    return done


def apply_journal(out: Path, staging: Path, plan: dict, show_progress: bool = False) -> None:
    """The in-place swap; every step can run again, so a cut-off swap is finished later."""
    live, site = out / SITE_DIR, staging / SITE_DIR
    pages, staged = live / PRIVATE_DIR, site / PRIVATE_DIR
    # 16,000 pages took 5.5 s on the development machine, with signals held meanwhile
    for token in progress_bar(show_progress, plan["write"], desc="putting pages live",
                              unit="page", miniters=1000):
        page = staged / token / "index.html"
        if page.exists():
            (pages / token).mkdir(exist_ok=True)
            os.replace(page, pages / token / "index.html")
    if (staged / "index.html").exists():
        os.replace(staged / "index.html", pages / "index.html")
    gone = staging / "removed"
    for token in plan["remove"]:
        if (pages / token).exists():
            gone.mkdir(exist_ok=True)
            os.rename(pages / token, gone / token)
    if plan["portal"]:
        if site.exists() and site.stat().st_ino == plan["site"]:  # not exchanged yet
            shutil.rmtree(staged, ignore_errors=True)     # emptied above
            exchange(site, live)   # the new portal is live, the pages are in staging...
        if not pages.exists() and (site / PRIVATE_DIR).is_dir():
            os.rename(site / PRIVATE_DIR, pages)      # ...and back (microseconds later)
    finish(out, staging)


def finish(out: Path, staging: Path) -> None:
    for name in (PORTAL_STATE, MANIFEST_FILE):
        if (staging / name).exists():
            os.replace(staging / name, out / name)
    with contextlib.suppress(FileNotFoundError):
        (staging / JOURNAL).unlink()


@contextlib.contextmanager
def lock(out: Path):
    with open(out / LOCK_FILE, "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BuildError(f"another build is writing {out}; wait for it to finish") from None
        yield
