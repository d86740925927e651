"""Publishing a staged site: atomic or journaled in-place swap, crash recovery, the build lock."""
from __future__ import annotations

import contextlib
import ctypes
import fcntl
import hashlib
import json
import os
import shutil
import threading
import time
from pathlib import Path

from memberportal.errors import BuildError
from memberportal.layout import MANIFEST_FILE, PRIVATE_DIR, SITE_DIR, write_atomic
from memberportal.runtime.progress import progress_bar

STAGING_PREFIX = ".staging-"

OLD_PREFIX = ".site-old-"

LOCK_FILE = ".build.lock"

PORTAL_STATE = "portal-state.json"     # the live portal's inputs hash and its shell

JOURNAL = "swap.json"                  # in a staging folder: a swap to finish after a crash

TEST_SWAP_PAUSE = "MEMBERPORTAL_TEST_SWAP_PAUSE"   # a test hook, read in _test_pause only

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


def generation(manifest: Path) -> dict:
    """Which build a manifest records: its day and a short digest of it (None: no build)."""
    try:
        data = manifest.read_bytes()
    except OSError:
        return {"as_of": None, "digest": None}
    as_of = read_json(manifest).get("as_of")
    return {"as_of": as_of if isinstance(as_of, str) else None,
            "digest": hashlib.sha256(data).hexdigest()[:12]}


def said(gen: dict) -> str:
    if not gen.get("digest"):
        return "no build"
    return f"the build as of {gen.get('as_of') or '?'} (manifest {gen['digest']})"


def recover(out: Path) -> list[str]:
    """Undo a crash: bring back a site parked mid-swap, finish a swap its journal describes,
    remove staging leftovers. Returns what it did, said as the live state now is."""
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
            between = (f", between {said(plan['old'])} and {said(plan['new'])}"
                       if isinstance(plan.get("old"), dict) and
                       isinstance(plan.get("new"), dict) else "")
            done.append(f"a build was cut off while it put its site live{between}: finished "
                        f"the swap; output/site is now {said(generation(out / MANIFEST_FILE))}")
        shutil.rmtree(leftover, ignore_errors=True)
    return done


def recover_unlocked(out: Path) -> list[str]:
    """recover() for a command that does not build (check, serve): only when no build holds
    the lock (a running build's staging folder is not a leftover)."""
    if not out.is_dir():
        return []
    try:
        with lock(out):
            return recover(out)
    except BuildError:
        return []


def write_journal(out: Path, staging: Path, plan: dict) -> dict:
    """The swap's plan, written whole before the first step, naming both builds."""
    plan = {**plan, "old": generation(out / MANIFEST_FILE),
            "new": generation(staging / MANIFEST_FILE)}
    write_atomic(staging / JOURNAL, json.dumps(plan).encode(), private=True)  # tokens
    return plan


def _test_pause():
    """The test hook MEMBERPORTAL_TEST_SWAP_PAUSE=STEP[:SECONDS]: after step STEP of an
    in-place swap, say so on stderr and sleep (default 2 s), for a test to send a signal."""
    hook = os.environ.get(TEST_SWAP_PAUSE)
    if not hook:
        return lambda step: None
    at, _, seconds = hook.partition(":")

    def pause(step: int) -> None:
        if step == int(at):
            os.write(2, f"swap paused after step {step}\n".encode())
            time.sleep(float(seconds or 2))
    return pause


def apply_journal(out: Path, staging: Path, plan: dict, show_progress: bool = False) -> None:
    """The in-place swap; every step can run again, so a cut-off swap is finished later.

    The order makes every prefix safe: the pages of revoked addresses and removed members go
    first (they must never be live beside new pages), then the written pages one by one (until
    then a page is only stale), then a changed portal, then the manifest."""
    live, site = out / SITE_DIR, staging / SITE_DIR
    pages, staged = live / PRIVATE_DIR, site / PRIVATE_DIR
    pause, step = _test_pause(), 0
    # after the portal exchange, staging holds the previous site: its pages are the live ones
    exchanged = plan["portal"] and not (site.exists() and site.stat().st_ino == plan["site"])
    if not exchanged:
        gone = staging / "removed"
        for token in plan["remove"]:
            if (pages / token).exists():
                gone.mkdir(exist_ok=True)
                os.rename(pages / token, gone / token)
            step += 1
            pause(step)
        # 16,000 pages took 5.5 s on the development machine, with signals held meanwhile
        for token in progress_bar(show_progress, plan["write"], desc="putting pages live",
                                  unit="page", miniters=1000):
            page = staged / token / "index.html"
            if page.exists():
                (pages / token).mkdir(exist_ok=True)
                os.replace(page, pages / token / "index.html")
            step += 1
            pause(step)
        if (staged / "index.html").exists():
            os.replace(staged / "index.html", pages / "index.html")
        if plan["portal"]:
            shutil.rmtree(staged, ignore_errors=True)     # emptied above
            exchange(site, live)   # the new portal is live, the pages are in staging...
            step += 1
            pause(step)
    if plan["portal"] and not pages.exists() and (site / PRIVATE_DIR).is_dir():
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
