"""The build in named stages (gather → assets → portal → pages → swap → snapshot), manifest, swap.

Everything is written into a staging folder next to output/site; the swap stage exchanges it
with the live site in one step, so a build that fails or crashes leaves the previous site as
it was. Later artifacts (print, staff report) add their own stages to STAGES.
"""
from __future__ import annotations

import calendar
import contextlib
import hashlib
import hmac
import json
import os
import signal
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Callable

from memberportal import code_fingerprint
from memberportal.core.models import Program
from memberportal.errors import (
    BuildError,
    InputError,
    MemberPortalError,
    ValidationFailed,
    worded,
)
from memberportal.inputs.assets import check_assets
from memberportal.inputs.cache import load_index, save_index
from memberportal.inputs.config import brand_errors, language, read_config
from memberportal.inputs.ledger import redeemed_members
from memberportal.inputs.project import (
    check_across,
    load,
    load_program,
    member_stamps,
    referral_counts,
)
from memberportal.inputs.secret import (
    check_against_manifest,
    load_generations,
    load_secret,
    secret_check,
)
from memberportal.inputs.snapshot import Moves, load_snapshot, save_snapshot, tier_moves
from memberportal.layout import (
    BUILTIN_TEMPLATES,
    CONFIG_FILE,
    CONTENT_DIR,
    OUTPUT_DIR,
    PRIVATE_DIR,
    PROGRAM_FILE,
    SITE_DIR,
)
from memberportal.render.templates import environment
from memberportal.runtime.executor import LOCAL, make_executor
from memberportal.runtime.progress import paused_gc, progress_bar
from memberportal.runtime.terminal import echo
from memberportal.site.batches import (
    FileResult,
    Item,
    Outcome,
    Record,
    Shared,
    do_files,
    unchanged,
    write_page,
)
from memberportal.site.pages import batch_error, page_job, render_batch, render_index
from memberportal.site.portal import Portal, Shell, build_portal
from memberportal.site.publish import (
    JOURNAL,
    MANIFEST_FILE,
    PORTAL_STATE,
    STAGING_PREFIX,
    apply_journal,
    exchange,
    finish,
    link_portal,
    lock,
    read_json,
    recover,
    remove_staging,
    write_journal,
)

MANIFEST_VERSION = 2
CHUNK = 100                            # member files per batch sent to a worker


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
    publish: bool = True               # False: a preview (`serve`), the tier snapshot stays
    out: Path = field(init=False)
    staging: Path | None = field(default=None, init=False)
    # gather
    program: Program | None = None
    redeemed: frozenset[str] = frozenset()
    files: list[tuple[str, tuple[int, int, int]]] = field(default_factory=list)  # (shown, stamp)
    secret: bytes = b""
    generations: dict[str, int] = field(default_factory=dict)
    lang: str = "zh"
    # portal
    portal: Portal | None = None
    portal_reused: bool = False
    portal_state: dict = field(default_factory=dict)
    # pages
    index_key: str = ""
    index: dict[str, tuple[tuple[int, int, int], list[Record]]] = field(default_factory=dict)
    index_changed: set[str] = field(default_factory=set)   # files new, read again or gone
    pages: int = 0
    members: int = 0
    read: int = 0                                       # member files read (not from the index)
    written: list[str] = field(default_factory=list)   # tokens whose page is in staging
    removed_tokens: list[str] = field(default_factory=list)
    rendered: int = 0
    rendered_members: list[str] = field(default_factory=list)
    reused: int = 0
    removed: int = 0
    manifest: dict = field(default_factory=dict)
    previous: dict = field(default_factory=dict)   # the live site's manifest, as read
    member_ids: set = field(default_factory=set)
    # every stage
    failures: list[MemberPortalError] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    # snapshot
    moves: Moves | None = None        # against the tiers published before this build

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
    """The program, the redemption ledger, the secret, page generations and the member files
    (names and stamps: the files themselves are read by the workers in the pages stage)."""
    program, errors = load_program(b.root)
    try:
        b.redeemed = redeemed_members(b.root)
    except MemberPortalError as e:
        errors.append(e)
    if errors or program is None:
        load(b.root, cache=False)  # reports these and every member file's errors at once
        raise ValidationFailed(errors)
    brand = brand_errors(b.root, program.brand.name)
    if brand:
        raise ValidationFailed(brand)
    b.program = program
    b.secret = load_secret(b.root, create=True)
    b.generations = load_generations(b.root)
    b.previous = read_json(b.out / MANIFEST_FILE)
    check_against_manifest(b.secret, b.generations, b.previous, members=None)
    b.lang = language(b.root)
    b.files = member_stamps(b.root)


def assets(b: Build) -> None:
    """Every image under templates/ and content/ is an allowed format, whole and not huge."""
    check_assets(b.root)


def portal(b: Build) -> None:
    """The brand portal by MkDocs into the staging site, unless none of its inputs changed."""
    key = portal_key(b)
    saved = read_json(b.out / PORTAL_STATE)
    if saved.get("key") == key and (b.live / "index.html").is_file() and \
            (b.live / PRIVATE_DIR).is_dir():
        b.portal = Portal(Shell(saved["head"], saved["tail"]), saved["site_url"], b.lang, ())
        b.portal_reused = True
        return
    env = environment(b.search_path(), b.lang, b.program.currency_symbol,
                      address=b.program.brand.address, markdown=True)
    b.portal = build_portal(b.root, b.program, env, b.site, strict=b.strict)
    b.portal_state = {"key": key, "head": b.portal.shell.head, "tail": b.portal.shell.tail,
                      "site_url": b.portal.site_url}
    for w in b.portal.warnings:
        echo(f"mkdocs: {w}", err=True)


def portal_key(b: Build) -> str:
    """Everything MkDocs reads: mkdocs.yml and what it names, content/, tiers.yml, the portal
    templates, the code and MkDocs/Material versions, and the build date."""
    from importlib.metadata import PackageNotFoundError, version
    h = hashlib.sha256()
    versions = []
    for package in ("mkdocs", "mkdocs-material"):
        try:
            versions.append(version(package))
        except PackageNotFoundError:
            versions.append("-")
    # the build date: MkDocs writes it into sitemap.xml (lastmod), so a portal made on another
    # day differs from a clean build's
    h.update(json.dumps([code_fingerprint(), versions, b.lang, b.strict,
                         os.environ.get("SOURCE_DATE_EPOCH")]).encode())
    config = read_config(b.root)
    theme = config.get("theme") if isinstance(config.get("theme"), dict) else {}
    named = [theme.get("custom_dir")] + list(config.get("hooks") or [])
    paths = [b.root / CONFIG_FILE, b.root / "members" / "tiers.yml", b.root / CONTENT_DIR,
             b.root / "templates" / "portal", BUILTIN_TEMPLATES / "portal"]
    paths += [b.root / n for n in named if isinstance(n, str)]
    for path in paths:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for f in files:
            h.update(f"\0{f}\0".encode())
            with contextlib.suppress(OSError):
                h.update(f.read_bytes())
    return h.hexdigest()


def pages(b: Build) -> None:
    """Read, validate and evaluate every member and render their personal pages, on workers.

    Two passes over the member files. The first reads every file that changed since the last
    build (all of them the first time): its members are validated and, unless they referred
    friends, evaluated and rendered at once. Then what no single file shows is checked (ids
    and order ids used twice, referrals to nobody) and referral counts are known; a member of
    an unchanged file whose count, rotation and redemption are also unchanged keeps the page
    it has. The second pass reads the files of everyone left. A page whose inputs did not
    change stays where it is in the live site (checked by size and modification time).
    """
    program = b.program
    job = page_job(b.portal.shell, b.search_path(), b.lang, program.currency_symbol,
                   code_fingerprint(), program.brand.address)
    old = _manifest_pages(b.previous)
    b.index_key = _index_key(b, job)
    index = load_index(b.root, b.index_key)
    private = b.site / PRIVATE_DIR
    private.mkdir(parents=True, exist_ok=True)
    env = environment(b.search_path(), b.lang, program.currency_symbol,
                      address=program.brand.address)
    (private / "index.html").write_text(render_index(env, b.portal.shell, program),
                                        encoding="utf-8")
    live = b.live / PRIVATE_DIR
    remote = make_executor(b.executor) if b.executor not in (None, LOCAL) else None
    shared = Shared(b.root, program, b.as_of, b.secret, b.generations, b.redeemed,
                    b.portal.site_url, b.lang,
                    {t: (e["inputs"], e["size"], e["mtime"]) for t, e in old.items()},
                    live, None if remote else private, job)
    records: dict[str, list[Record]] = {}
    first: list[Item] = []
    for shown, stamp in b.files:
        hit = index.get(shown)
        if hit is not None and hit[0] == stamp:
            records[shown] = hit[1]
        else:
            first.append(Item(shown, stamp))
    entries: dict[str, dict] = {}
    done: set[str] = set()          # members whose page is decided
    errors: list[MemberPortalError] = []
    awaiting: dict[str, Outcome] = {}     # rendered elsewhere (Dask)
    failed: set[str] = set()              # rendered elsewhere and failed
    bar = progress_bar(b.show_progress, total=len(first), desc="members", unit="file",
                       smoothing=0.05)

    def fail(member_id: str, error: MemberPortalError, token: str | None) -> None:
        before = old.get(token) if token else None
        kept = bool(before) and unchanged(f"{live}/{token}/index.html", before["size"],
                                          before["mtime"])
        error.kind = "personal page" + (f" ({error.kind})" if error.kind else "")
        error.member = member_id
        if kept:
            error.message += worded("build.page_kept")["message"]
            error.said = error.said and [*error.said, ("build.page_kept", {})]
        b.failures.append(error)
        if kept:
            entries[token] = {**before, "inputs": "failed"}

    def written(o: Outcome, entry: dict) -> None:
        entries[o.token] = entry
        b.written.append(o.token)
        b.rendered += 1
        b.rendered_members.append(o.member)

    def take(result: FileResult, only: frozenset[str] | None) -> None:
        if only is None:
            records[result.shown] = result.records
        else:  # second pass: new records for `only`, the others stay
            new = {r.id: r for r in result.records}
            if set(new) != {r.id for r in records[result.shown]}:
                raise BuildError(**worded("build.changed", file=result.shown), kind="build")
            records[result.shown] = [new[r.id] if r.id in only else r
                                     for r in records[result.shown]]
        b.read += 1
        errors.extend(result.errors)
        for o in result.outcomes:
            done.add(o.member)
            if o.error:
                fail(o.member, o.error, o.token)
            elif o.context is not None:
                awaiting[o.member] = o
            elif o.rendered:
                written(o, o.entry)
            else:
                entries[o.token] = old[o.token]
                b.reused += 1
        bar.update()

    local = make_executor(LOCAL, b.workers)

    def run_pass(items: list[Item]) -> None:
        only = {item.shown: item.only for item in items}
        chunks = (items[i:i + b.chunk] for i in range(0, len(items), b.chunk))
        results = local.map(do_files, shared, chunks)
        if remote is None:
            for _, found in results:
                for result in found:
                    take(result, only[result.shown])
            return

        def contexts():  # the cluster renders while this machine reads the next files
            for _, found in results:
                for result in found:
                    take(result, only[result.shown])
                todo = [(o.member, o.context) for o in awaiting.values()
                        if o.context is not None]
                for o in awaiting.values():
                    o.context = None
                for i in range(0, len(todo), b.chunk):
                    yield todo[i:i + b.chunk]

        for _, rendered in remote.map(render_batch, job, contexts()):
            for member_id, data, error in rendered:
                o = awaiting.pop(member_id)
                if error:
                    failed.add(member_id)
                    fail(member_id, batch_error(error), o.token)
                else:
                    written(o, write_page(private, o, data))

    try:
        run_pass(first)
        facts = [r for shown, _ in b.files if shown in records for r in records[shown]]
        errors.extend(check_across(b.root, facts))
        if errors:
            raise ValidationFailed(errors)
        b.member_ids = {f.id for f in facts}
        check_against_manifest(b.secret, b.generations, b.previous, b.member_ids)
        unknown = sorted(set(b.generations) - b.member_ids)
        if unknown:  # a deleted member: harmless, but worth knowing
            echo(f"note: .memberportal/rotations.yml names members that no longer exist: "
                 f"{', '.join(unknown)}", err=True)
        counts = referral_counts(facts, b.as_of)
        second = []
        for shown, stamp in b.files:
            todo = set()
            for r in records[shown]:
                m = r.id
                if m in done:
                    continue
                before = old.get(r.token) if r.token else None
                if r.digest and before and before["inputs"] == r.digest and \
                        r.referred == counts.get(m, 0) and \
                        r.generation == b.generations.get(m, 0) and \
                        r.redeemed == (m in b.redeemed) and \
                        unchanged(f"{live}/{r.token}/index.html", before["size"],
                                  before["mtime"]):
                    entries[r.token] = before
                    b.reused += 1
                    done.add(m)
                else:
                    todo.add(m)
            if todo:
                second.append(Item(shown, stamp, {m: counts.get(m, 0) for m in todo},
                                   frozenset(todo)))
        bar.total += len(second)
        run_pass(second)
        if errors:
            raise ValidationFailed(errors)
    finally:
        local.close()
        if remote is not None:
            remote.close()
        bar.close()
    b.members = len(facts)
    b.index = {shown: (stamp, [r._replace(digest=None) if r.id in failed else r
                                for r in records[shown]] if failed else records[shown])
               for shown, stamp in b.files}
    b.index_changed = set(index) ^ {shown for shown, _ in b.files} | \
        {item.shown for item in first + second}
    b.pages = len(entries)
    b.removed_tokens = sorted(set(old) - set(entries))
    b.removed = len(b.removed_tokens)
    b.manifest = {"version": MANIFEST_VERSION, "as_of": b.as_of.isoformat(), "pages": entries,
                  "secret": secret_check(b.secret),
                  "generations": {m: g for m, g in sorted(b.generations.items())
                                  if g and m in b.member_ids}}


def _index_key(b: Build, job) -> str:
    """What every member's page depends on besides its own file, referral count, rotation and
    redemption: the day, the program, templates and shell, code, site address and secret."""
    h = hashlib.sha256()
    h.update(json.dumps([b.as_of.isoformat(), job.key, b.portal.site_url, b.lang]).encode())
    h.update((b.root / PROGRAM_FILE).read_bytes())
    h.update(hmac.new(b.secret, b"build index", "sha256").digest())
    return h.hexdigest()


def swap(b: Build) -> None:
    """Put the staged site live, then record what it was made from.

    When no page could be carried over (first or full build), the staged site replaces the
    live one in one atomic exchange. Otherwise the unchanged pages stay where they are (moving
    100,000 of them would cost more than rendering a few): the written pages are renamed into
    place one by one, removed ones leave, and a changed portal is exchanged around them; a
    journal in the staging folder lets the next build finish a swap that was cut off.
    """
    # one line: json's C encoder (indenting takes the pure-Python one, ~8x slower)
    # it lists every token: readable by the owner only
    fd = os.open(b.staging / MANIFEST_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(json.dumps(b.manifest, sort_keys=True, separators=(",", ":")))
    if b.portal_state:
        (b.staging / PORTAL_STATE).write_text(json.dumps(b.portal_state), encoding="utf-8")
    live_pages = b.live / PRIVATE_DIR
    if not live_pages.is_dir() or (b.reused == 0 and len(b.written) == b.pages):
        if b.portal_reused:
            link_portal(b.live, b.site)
        if b.live.exists():
            exchange(b.site, b.live)  # the old site is now in staging and goes with it
        else:
            os.rename(b.site, b.live)
        finish(b.out, b.staging)
        return
    plan = write_journal(b.out, b.staging, {
        "write": b.written, "remove": b.removed_tokens, "portal": not b.portal_reused,
        "site": b.site.stat().st_ino})
    apply_journal(b.out, b.staging, plan, b.show_progress)


def snapshot(b: Build) -> None:
    """Compare every member's tier with the published ones (the staff report shows who
    changed since), record them when this build publishes (never from a preview), and save
    the index of facts and pages the next build starts from."""
    tiers = {r.id: r.tier for _, recs in b.index.values() for r in recs if r.tier}
    try:
        before = load_snapshot(b.root)
    except InputError:
        before = None  # unreadable: publishing below replaces it
    if before is not None:
        b.moves = tier_moves(before, tiers, b.program.ranks)
    if b.publish:
        save_snapshot(b.root, b.as_of, tiers)
    save_index(b.root, b.index_key, b.index, b.index_changed)


STAGES: list[tuple[str, Stage]] = [("gather", gather), ("assets", assets), ("portal", portal),
                                   ("pages", pages), ("swap", swap), ("snapshot", snapshot)]


def run(root: Path, as_of: date, stages: list[tuple[str, Stage]] | None = None,
        strict: bool = False, show_progress: bool = True,
        on_stage: Callable[[str], None] | None = None, executor: str | None = None,
        workers: int | None = None, chunk: int = CHUNK, then_exit: bool = False,
        publish: bool = True) -> Build:
    """Run the stages; the live site changes only in the swap stage, and only if all ran.
    `publish=False` (`serve`'s previews) leaves the published tiers as they are.

    `then_exit`: the process ends after the build (the command line), so the garbage
    collector stays off (see paused_gc)."""
    b = Build(root.resolve(), as_of, strict=strict, show_progress=show_progress,
              executor=executor, workers=workers, chunk=chunk, publish=publish)
    try:
        b.out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise _os_error(e, "start", False, b.out) from None
    # paused_gc: the main process keeps ~100 small objects per member and frees few; the
    # collector walking them all, again and again, cost more than the pages stage's own work
    with lock(b.out), _signals_stop_the_build(), _build_date(as_of), \
            paused_gc(resume=not then_exit):
        for note in recover(b.out):
            echo(note, err=True)
        swapped = False
        try:
            b.staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=b.out))
            for name, stage in stages or STAGES:
                if on_stage:
                    on_stage(name)
                start = time.perf_counter()
                with _signals_held(name == "swap"):
                    stage(b)
                    # a signal held during the swap is raised as the block ends: the new
                    # site is live by then, and the message must say so
                    swapped = swapped or name == "swap"
                b.timings[name] = time.perf_counter() - start
        except OSError as e:  # a full disk, a read-only folder: a message, not a traceback
            midway = bool(b.staging) and (b.staging / JOURNAL).exists()
            raise _os_error(e, name if b.staging else "start", swapped, b.out,
                            midway) from None
        except _Stop as stop:
            stop.swapped = swapped
            raise
        finally:
            # With a journal, the swap was cut off midway: the next build finishes it.
            if b.staging and not (b.staging / JOURNAL).exists():
                start = time.perf_counter()
                try:
                    remove_staging(b.staging, b.show_progress)
                except _Stop as stop:  # what is left goes at the next build (recover)
                    stop.swapped = swapped
                    raise
                b.timings["cleanup"] = time.perf_counter() - start
    return b


# --- faults: signals, full disks, the build date ---------------------------------------------


class Interrupted(BuildError):
    """SIGTERM or SIGINT during a build: the staging folder is removed, the live site stays."""


class _Stop(BaseException):
    """What the signal handler raises: not an Exception, so no `except Exception` on its way
    out (a page that fails must not stop the others) takes it for a page's failure. It
    leaves the build as Interrupted."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.name = signal.Signals(signum).name
        self.swapped = False   # set by run(): the new site went live before the signal


def _os_error(e: OSError, stage: str, swapped: bool, out: Path,
              midway: bool = False) -> BuildError:
    where = (("build.os_file", {"file": e.filename}) if e.filename else
             ("build.os_writing", {"out": out}))
    state = "build.live" if swapped else "build.midway" if midway else "build.unchanged"
    return BuildError(**worded("build.os_error", where, ("build.os_stage", {"stage": stage}),
                               (state, {}), why=str(e.strerror or e)), kind="build")


class _Hold:
    """SIGTERM/SIGINT held during the swap: the handler records them instead of raising."""
    active = False
    pending: int | None = None


@contextlib.contextmanager
def _signals_stop_the_build():
    """SIGTERM and SIGINT stop the build (Interrupted), so the staging folder is cleaned up on
    the way out.

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
        if _Hold.active:
            _Hold.pending = signum
            return
        raise _Stop(signum)

    before = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    except _Stop as s:
        raise Interrupted(f"interrupted by {s.name} after the new site went live" if s.swapped
                          else f"interrupted by {s.name}: the unfinished build was removed; "
                          "output/site is still the previous build") from None
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)


@contextlib.contextmanager
def _signals_held(hold: bool):
    """Hold SIGTERM/SIGINT during the swap: the site and its manifest change together, and a
    signal stops the build only once the new site is live. (Not by blocking the signals:
    pthread_sigmask holds them for this thread only, and the kernel gives a signal sent to the
    process to any thread that does not block it, such as the executor's.)"""
    if not hold or threading.current_thread() is not threading.main_thread():
        yield
        return
    _Hold.active, _Hold.pending = True, None
    try:
        yield
    finally:
        _Hold.active = False
    if _Hold.pending is not None:   # the swap finished: now the signal stops the build
        signum, _Hold.pending = _Hold.pending, None
        raise _Stop(signum)


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


def _manifest_pages(data: dict) -> dict[str, dict]:
    """The last build's pages by token; anything unreadable means 'render everything', an
    entry not as a build writes it (edited by hand, cut off) 'render this page'."""
    pages = data.get("pages")
    if data.get("version") != MANIFEST_VERSION or not isinstance(pages, dict):
        return {}
    return {token: e for token, e in pages.items() if isinstance(e, dict) and
            type(e.get("member")) is str and type(e.get("inputs")) is str and
            type(e.get("size")) is int and type(e.get("mtime")) is int}


