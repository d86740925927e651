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
from .executor import make_executor
from .pages import batch_error, page_for, page_job, render_batch, render_index
from .portal import CONFIG_FILE, CONTENT_DIR, PRIVATE_DIR, Portal, Shell, build_portal, language, \
    read_config
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
PORTAL_STATE = "portal-state.json"     # the live portal's inputs hash and its shell
JOURNAL = "swap.json"                  # in a staging folder: a swap to finish after a crash
MANIFEST_VERSION = 2
CHUNK = 250                            # personal pages per batch sent to a worker


@dataclass
class Build:
    """What the stages share. Each stage reads what earlier ones filled in."""

    root: Path
    as_of: date
    strict: bool = False
    show_progress: bool = True
    executor: str | None = None        # local (default) or dask://HOST:PORT
    workers: int | None = None
    chunk: int = CHUNK
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
    portal_reused: bool = False
    portal_state: dict = field(default_factory=dict)
    # pages
    pages: int = 0
    written: list[str] = field(default_factory=list)   # tokens whose page is in staging
    removed_tokens: list[str] = field(default_factory=list)
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
    """The brand portal by MkDocs into the staging site, unless none of its inputs changed."""
    key = portal_key(b)
    saved = _read_json(b.out / PORTAL_STATE)
    if saved.get("key") == key and (b.live / "index.html").is_file() and \
            (b.live / PRIVATE_DIR).is_dir():
        b.portal = Portal(Shell(saved["head"], saved["tail"]), saved["site_url"], b.lang, ())
        b.portal_reused = True
        return
    env = environment(b.search_path(), b.lang, b.project.program.currency_symbol)
    b.portal = build_portal(b.project, env, b.site, strict=b.strict)
    b.portal_state = {"key": key, "head": b.portal.shell.head, "tail": b.portal.shell.tail,
                      "site_url": b.portal.site_url}
    for w in b.portal.warnings:
        print(f"mkdocs: {w}", file=sys.stderr)


def portal_key(b: Build) -> str:
    """Everything MkDocs reads: mkdocs.yml and what it names, content/, tiers.yml, the portal
    templates, the code and MkDocs/Material versions."""
    from importlib.metadata import PackageNotFoundError, version
    h = hashlib.sha256()
    versions = []
    for package in ("mkdocs", "mkdocs-material"):
        try:
            versions.append(version(package))
        except PackageNotFoundError:
            versions.append("-")
    h.update(json.dumps([code_version(), versions, b.lang, b.strict]).encode())
    config = read_config(b.root)
    theme = config.get("theme") if isinstance(config.get("theme"), dict) else {}
    named = [theme.get("custom_dir")] + list(config.get("hooks") or [])
    paths = [b.root / CONFIG_FILE, b.root / "members" / "tiers.yml", b.root / CONTENT_DIR,
             b.root / "templates" / "portal", _builtin_templates() / "portal"]
    paths += [b.root / n for n in named if isinstance(n, str)]
    for path in paths:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for f in files:
            h.update(f"\0{f}\0".encode())
            with contextlib.suppress(OSError):
                h.update(f.read_bytes())
    return h.hexdigest()


def pages(b: Build) -> None:
    """One personal page per member, rendered in batches by the executor's workers.

    A page whose inputs did not change stays where it is in the live site (checked by size and
    modification time against the manifest); the rendered ones are written into staging.
    """
    from tqdm import tqdm

    program = b.project.program
    job = page_job(b.portal.shell, b.search_path(), b.lang, program.currency_symbol,
                   code_version())
    old = _read_manifest(b.out / MANIFEST_FILE)
    entries: dict[str, dict] = {}
    private = b.site / PRIVATE_DIR
    private.mkdir(parents=True, exist_ok=True)
    env = environment(b.search_path(), b.lang, program.currency_symbol)
    (private / "index.html").write_text(render_index(env, b.portal.shell, program),
                                        encoding="utf-8")
    live = b.live / PRIVATE_DIR
    made: dict[str, object] = {}
    bar = tqdm(total=len(b.project.members), desc="personal pages", unit="page",
               file=sys.stderr, disable=not b.show_progress or None, leave=False,
               smoothing=0.05)

    def fail(member_id: str, error: BaseException, token: str | None) -> None:
        error = error if isinstance(error, MemberPortalError) else BuildError(
            f"{type(error).__name__}: {error}")
        before = old.get(token) if token else None
        kept = bool(before) and _unchanged(live / token / "index.html", before)
        error.kind = "personal page" + (f" ({error.kind})" if error.kind else "")
        error.member = member_id
        error.message += " (the previous page is kept)" if kept else ""
        b.failures.append(error)
        if kept:
            entries[token] = {**before, "inputs": "failed"}

    def batches():
        batch = []
        for member in b.project.members:
            try:
                page = page_for(member, b.statuses[member.id], program, b.secret,
                                b.generations.get(member.id, 0), b.portal.site_url, b.lang,
                                job.key)
            except (Interrupted, OSError):
                raise  # a signal or a full disk stops the build; no page is to blame
            except Exception as e:  # one broken page must not stop the others
                fail(member.id, e, None)
                bar.update()
                continue
            made[member.id] = page
            before = old.get(page.token)
            if before and before["inputs"] == page.digest and \
                    _unchanged(live / page.token / "index.html", before):
                entries[page.token] = before
                b.reused += 1
                bar.update()
                continue
            batch.append((member.id, page.context))
            if len(batch) >= b.chunk:
                yield batch
                batch = []
        if batch:
            yield batch

    executor = make_executor(b.executor, b.workers)
    try:
        for _, results in executor.map(render_batch, job, batches()):
            for member_id, data, error in results:
                page = made.pop(member_id)
                if error:
                    fail(member_id, batch_error(error), page.token)
                else:
                    target = b.site / page.path
                    target.parent.mkdir()
                    target.write_bytes(data)
                    st = target.stat()
                    entries[page.token] = {"member": member_id, "inputs": page.digest,
                                           "output": hashlib.sha256(data).hexdigest(),
                                           "size": st.st_size, "mtime": st.st_mtime_ns}
                    b.written.append(page.token)
                    b.rendered += 1
                    b.rendered_members.append(member_id)
                bar.update()
    finally:
        executor.close()
        bar.close()
    b.pages = len(entries)
    b.removed_tokens = sorted(set(old) - set(entries))
    b.removed = len(b.removed_tokens)
    b.manifest = {"version": MANIFEST_VERSION, "as_of": b.as_of.isoformat(), "pages": entries}


def swap(b: Build) -> None:
    """Put the staged site live, then record what it was made from.

    When no page could be carried over (first or full build), the staged site replaces the
    live one in one atomic exchange. Otherwise the unchanged pages stay where they are (moving
    100,000 of them would cost more than rendering a few): the written pages are renamed into
    place one by one, removed ones leave, and a changed portal is exchanged around them; a
    journal in the staging folder lets the next build finish a swap that was cut off.
    """
    (b.staging / MANIFEST_FILE).write_text(json.dumps(b.manifest, indent=0, sort_keys=True),
                                           encoding="utf-8")
    if b.portal_state:
        (b.staging / PORTAL_STATE).write_text(json.dumps(b.portal_state), encoding="utf-8")
    live_pages = b.live / PRIVATE_DIR
    if not live_pages.is_dir() or (b.reused == 0 and len(b.written) == b.pages):
        if b.portal_reused:
            _link_portal(b.live, b.site)
        if b.live.exists():
            _exchange(b.site, b.live)  # the old site is now in staging and goes with it
        else:
            os.rename(b.site, b.live)
        _finish(b.out, b.staging)
        return
    plan = {"write": b.written, "remove": b.removed_tokens, "portal": not b.portal_reused,
            "site": b.site.stat().st_ino}
    journal = b.staging / JOURNAL
    with open(journal, "w", encoding="utf-8") as f:
        json.dump(plan, f)
        f.flush()
        os.fsync(f.fileno())
    _apply(b.out, b.staging, plan)


def snapshot(b: Build) -> None:
    """Remember every member's tier, so the staff report shows who changed since this build."""
    save_snapshot(b.root, b.as_of, b.statuses.values())


STAGES: list[tuple[str, Stage]] = [("gather", gather), ("assets", assets),
                                   ("compute", compute), ("portal", portal), ("pages", pages),
                                   ("swap", swap), ("snapshot", snapshot)]


def run(root: Path, as_of: date, stages: list[tuple[str, Stage]] | None = None,
        strict: bool = False, show_progress: bool = True,
        on_stage: Callable[[str], None] | None = None, executor: str | None = None,
        workers: int | None = None, chunk: int = CHUNK) -> Build:
    """Run the stages; the live site changes only in the swap stage, and only if all ran."""
    b = Build(root.resolve(), as_of, strict=strict, show_progress=show_progress,
              executor=executor, workers=workers, chunk=chunk)
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
            # With a journal, the swap was cut off midway: the next build finishes it.
            if b.staging and not (b.staging / JOURNAL).exists():
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


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _read_manifest(path: Path) -> dict[str, dict]:
    """The last build's pages by token; anything unreadable means 'render everything'."""
    data = _read_json(path)
    if data.get("version") == MANIFEST_VERSION and isinstance(data.get("pages"), dict):
        return data["pages"]
    return {}


def _unchanged(page: Path, entry: dict) -> bool:
    """The live page is still the file the manifest recorded (same size and mtime)."""
    try:
        st = page.stat()
    except OSError:
        return False
    return st.st_size == entry.get("size") and st.st_mtime_ns == entry.get("mtime")


def _link_portal(live: Path, site: Path) -> None:
    """The reused portal into the staged site, as hard links (everything but m/)."""
    for entry in live.iterdir():
        if entry.name == PRIVATE_DIR:
            continue
        if entry.is_dir():
            shutil.copytree(entry, site / entry.name, copy_function=os.link)
        else:
            os.link(entry, site / entry.name)


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
        plan = _read_json(leftover / JOURNAL)
        if plan and live.is_dir():
            _apply(out, leftover, plan)
            done.append(f"finished the swap of {leftover.name}")
        shutil.rmtree(leftover, ignore_errors=True)
        done.append(f"removed {leftover.name}")
    return done


def _apply(out: Path, staging: Path, plan: dict) -> None:
    """The in-place swap; every step can run again, so a cut-off swap is finished later."""
    live, site = out / SITE_DIR, staging / SITE_DIR
    pages, staged = live / PRIVATE_DIR, site / PRIVATE_DIR
    for token in plan["write"]:
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
            _exchange(site, live)   # the new portal is live, the pages are in staging...
        if not pages.exists() and (site / PRIVATE_DIR).is_dir():
            os.rename(site / PRIVATE_DIR, pages)      # ...and back (microseconds later)
    _finish(out, staging)


def _finish(out: Path, staging: Path) -> None:
    for name in (PORTAL_STATE, MANIFEST_FILE):
        if (staging / name).exists():
            os.replace(staging / name, out / name)
    with contextlib.suppress(FileNotFoundError):
        (staging / JOURNAL).unlink()


@contextlib.contextmanager
def _lock(out: Path):
    with open(out / LOCK_FILE, "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BuildError(f"another build is writing {out}; wait for it to finish") from None
        yield
