"""The build in named stages (gather → assets → compute → portal → pages → swap), manifest, swap.

Everything is written into a staging folder next to output/site; the swap stage exchanges it
with the live site in one step, so a build that fails or crashes leaves the previous site as
it was. Later artifacts (print, staff report) add their own stages to STAGES.
"""
from __future__ import annotations

import calendar
import contextlib
import ctypes
import fcntl
import hashlib
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Callable

from . import __version__
from .assets import check_assets
from .errors import BuildError, MemberPortalError, ValidationFailed
from .pages import MemberPage, fingerprint, page_for, render_index, render_page
from .portal import PRIVATE_DIR, Portal, build_portal, language
from .project import Project, load
from .rules import Status
from .templates import environment
from .tokens import load_generations, load_secret
from .snapshot import save_snapshot

OUTPUT_DIR = "output"
SITE_DIR = "site"
MANIFEST_FILE = "site-manifest.json"   # next to site/, never inside it: it lists every token
STAGING_PREFIX = ".staging-"
OLD_PREFIX = ".site-old-"
LOCK_FILE = ".build.lock"
MANIFEST_VERSION = 1


@dataclass
class Build:
    """What the stages share. Each stage reads what earlier ones filled in."""

    root: Path
    as_of: date
    strict: bool = False
    show_progress: bool = True
    out: Path = field(init=False)
    staging: Path | None = field(default=None, init=False)
    # gather
    project: Project | None = None
    secret: bytes = b""
    generations: dict[str, int] = field(default_factory=dict)
    lang: str = "zh"
    # compute
    statuses: dict[str, Status] = field(default_factory=dict)
    # portal
    portal: Portal | None = None
    # pages
    pages: list[MemberPage] = field(default_factory=list)
    rendered: int = 0
    rendered_members: list[str] = field(default_factory=list)
    reused: int = 0
    removed: int = 0
    manifest: dict = field(default_factory=dict)
    # every stage
    failures: list[MemberPortalError] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def __post_init__(self):
        self.out = self.root / OUTPUT_DIR

    @property
    def site(self) -> Path:
        """The site being built (inside the staging folder)."""
        return self.staging / SITE_DIR

    @property
    def live(self) -> Path:
        return self.out / SITE_DIR

    def search_path(self) -> list[Path]:
        return [self.root / "templates"]


Stage = Callable[[Build], None]


# --- stages --------------------------------------------------------------------------------


def gather(b: Build) -> None:
    """Read and validate every input, the secret and the page generations."""
    b.project = load(b.root)
    b.secret = load_secret(b.root, create=True)
    b.generations = load_generations(b.root)
    unknown = sorted(set(b.generations) - {m.id for m in b.project.members})
    if unknown:  # a deleted member: harmless, but worth knowing
        print(f"note: .memberportal/rotations.yml names members that no longer exist: "
              f"{', '.join(unknown)}", file=sys.stderr)
    b.lang = language(b.root)


def assets(b: Build) -> None:
    """Every image under templates/ and content/ is an allowed format, whole and not huge."""
    check_assets(b.root)


def compute(b: Build) -> None:
    """Every member's status as of the build day; contradictory records stop the build."""
    statuses, errors = b.project.statuses(b.as_of)
    if errors:
        raise ValidationFailed(errors)
    b.statuses = {s.member_id: s for s in statuses}


def portal(b: Build) -> None:
    """The brand portal by MkDocs into the staging site (MkDocs empties its folder first)."""
    env = environment(b.search_path(), b.lang, b.project.program.currency_symbol)
    b.portal = build_portal(b.project, env, b.site, strict=b.strict)
    for w in b.portal.warnings:
        print(f"mkdocs: {w}", file=sys.stderr)


def pages(b: Build) -> None:
    """One personal page per member; pages whose inputs did not change are carried over."""
    from tqdm import tqdm

    program = b.project.program
    env = environment(b.search_path(), b.lang, program.currency_symbol)
    shell = b.portal.shell
    common = fingerprint(shell, b.search_path() + [_builtin_templates()], b.lang, code_version())
    old = _read_manifest(b.out / MANIFEST_FILE)
    entries: dict[str, dict] = {}
    private = b.site / PRIVATE_DIR
    private.mkdir(parents=True, exist_ok=True)
    (private / "index.html").write_text(render_index(env, shell, program), encoding="utf-8")
    members = b.project.members
    for member in tqdm(members, desc="personal pages", unit="page", file=sys.stderr,
                       disable=not b.show_progress or None, leave=False):
        page = None
        try:
            page = page_for(member, b.statuses[member.id], program, b.secret,
                            b.generations.get(member.id, 0), b.portal.site_url, b.lang, common)
            target = b.site / page.path
            target.parent.mkdir()
            before = old.get(page.token)
            if before and before["inputs"] == page.digest and _carry(b.live / page.path,
                                                                    target, before["output"]):
                b.reused += 1
                digest = before["output"]
            else:
                html = render_page(env, shell, page).encode()
                target.write_bytes(html)
                digest = hashlib.sha256(html).hexdigest()
                b.rendered += 1
                b.rendered_members.append(member.id)
            entries[page.token] = {"member": member.id, "inputs": page.digest, "output": digest}
            b.pages.append(page)
        except (Interrupted, OSError):
            raise  # a signal or a full disk stops the build; no page is to blame
        except Exception as e:  # one broken page must not stop the others
            kept = page is not None and _keep_previous(b, page, old)
            error = e if isinstance(e, MemberPortalError) else BuildError(
                f"{type(e).__name__}: {e}")
            error.kind = "personal page" + (f" ({error.kind})" if error.kind else "")
            error.member = member.id
            error.message += " (the previous page is kept)" if kept else ""
            b.failures.append(error)
            if kept:
                entries[page.token] = {"member": member.id, "inputs": "failed",
                                       "output": old[page.token]["output"]}
    b.removed = len(set(old) - set(entries))
    b.manifest = {"version": MANIFEST_VERSION, "as_of": b.as_of.isoformat(), "pages": entries}


def swap(b: Build) -> None:
    """Put the staged site live in one step, then record what it was made from."""
    tmp = b.staging / MANIFEST_FILE
    tmp.write_text(json.dumps(b.manifest, indent=1, sort_keys=True), encoding="utf-8")
    if b.live.exists():
        _exchange(b.site, b.live)  # the old site is now in staging and goes with it
    else:
        os.rename(b.site, b.live)
    os.replace(tmp, b.out / MANIFEST_FILE)


def snapshot(b: Build) -> None:
    """Remember every member's tier, so the staff report shows who changed since this build."""
    save_snapshot(b.root, b.as_of, b.statuses.values())


STAGES: list[tuple[str, Stage]] = [("gather", gather), ("assets", assets),
                                   ("compute", compute), ("portal", portal), ("pages", pages),
                                   ("swap", swap), ("snapshot", snapshot)]


def run(root: Path, as_of: date, stages: list[tuple[str, Stage]] | None = None,
        strict: bool = False, show_progress: bool = True,
        on_stage: Callable[[str], None] | None = None) -> Build:
    """Run the stages; the live site changes only in the swap stage, and only if all ran."""
    b = Build(root.resolve(), as_of, strict=strict, show_progress=show_progress)
    try:
        b.out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise _os_error(e, "start", False, b.out) from None
    with _lock(b.out), _signals_stop_the_build(), _build_date(as_of):
        recover(b.out)
        swapped = False
        try:
            b.staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=b.out))
            for name, stage in stages or STAGES:
                if on_stage:
                    on_stage(name)
                start = time.perf_counter()
                with _signals_held(name == "swap"):
                    stage(b)
                swapped = swapped or name == "swap"
                b.timings[name] = time.perf_counter() - start
        except OSError as e:  # a full disk, a read-only folder: a message, not a traceback
            raise _os_error(e, name if b.staging else "start", swapped, b.out) from None
        except Interrupted as e:
            if swapped:
                e.message = e.message.split(":")[0] + " after the new site went live"
            raise
        finally:
            if b.staging:
                shutil.rmtree(b.staging, ignore_errors=True)
    return b


# --- faults: signals, full disks, the build date ---------------------------------------------


class Interrupted(BuildError):
    """SIGTERM or SIGINT during a build: the staging folder is removed, the live site stays."""


def _os_error(e: OSError, stage: str, swapped: bool, out: Path) -> BuildError:
    where = f": {e.filename}" if e.filename else f" while writing {out}"
    state = ("the new site is live" if swapped else
             "nothing changed: output/site is still the previous build")
    return BuildError(f"{e.strerror or e}{where} ({stage} stage); {state}", kind="build")


@contextlib.contextmanager
def _signals_stop_the_build():
    """SIGTERM and SIGINT raise Interrupted, so the staging folder is cleaned up on the way out.

    Only the first signal raises: a second one during the clean-up is ignored. (SIGKILL cannot
    be caught: its leftovers are removed by recover() at the start of the next build.)
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # `serve` builds in a thread; only the main thread may handle signals
        return
    received: list[int] = []

    def stop(signum, frame):
        if received:
            return
        received.append(signum)
        raise Interrupted(f"interrupted by {signal.Signals(signum).name}: the unfinished build "
                          "was removed; output/site is still the previous build")

    before = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)


@contextlib.contextmanager
def _signals_held(hold: bool):
    """Hold SIGTERM/SIGINT during the swap: the site and its manifest change together."""
    if not hold or threading.current_thread() is not threading.main_thread():
        yield
        return
    signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, signals)


@contextlib.contextmanager
def _build_date(as_of: date):
    """MkDocs dates the site (sitemap lastmod) by SOURCE_DATE_EPOCH, else by the clock: pin it to
    the build's as-of day unless the caller set it, so the same input gives the same bytes."""
    if os.environ.get("SOURCE_DATE_EPOCH"):
        yield
        return
    os.environ["SOURCE_DATE_EPOCH"] = str(int(calendar.timegm(as_of.timetuple())))
    try:
        yield
    finally:
        os.environ.pop("SOURCE_DATE_EPOCH", None)


# --- manifest, carrying pages over ---------------------------------------------------------


def code_version() -> str:
    """The package version and a hash of its source: new code re-renders every page."""
    h = hashlib.sha256(__version__.encode())
    for path in sorted(Path(__file__).parent.glob("*.py")):
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def _builtin_templates() -> Path:
    from .templates import BUILTIN_TEMPLATES
    return BUILTIN_TEMPLATES


def _read_manifest(path: Path) -> dict[str, dict]:
    """The last build's pages by token; anything unreadable means 'render everything'."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("version") == MANIFEST_VERSION and isinstance(data.get("pages"), dict):
            return data["pages"]
    except (OSError, ValueError, AttributeError):
        pass
    return {}


def _carry(previous: Path, target: Path, digest: str) -> bool:
    """Reuse the live page if it is exactly what the manifest says was written."""
    try:
        data = previous.read_bytes()
    except OSError:
        return False
    if hashlib.sha256(data).hexdigest() != digest:
        return False
    try:
        os.link(previous, target)
    except OSError:
        target.write_bytes(data)
    return True


def _keep_previous(b: Build, page: MemberPage, old: dict[str, dict]) -> bool:
    before = old.get(page.token)
    target = b.site / page.path
    target.parent.mkdir(exist_ok=True)
    if before and _carry(b.live / page.path, target, before["output"]):
        return True
    shutil.rmtree(target.parent, ignore_errors=True)
    return False


# --- the swap and crash recovery -----------------------------------------------------------


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> None:
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
        shutil.rmtree(leftover, ignore_errors=True)
        done.append(f"removed {leftover.name}")
    return done


@contextlib.contextmanager
def _lock(out: Path):
    with open(out / LOCK_FILE, "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BuildError(f"another build is writing {out}; wait for it to finish") from None
        yield
