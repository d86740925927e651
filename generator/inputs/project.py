"""A brand project on disk: find it, read every input, validate it all, then fail once."""
from __future__ import annotations

import difflib
import fcntl
import json
import os
import re
import shutil
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property, partial
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, NamedTuple

from pydantic import ValidationError

from memberportal.core.models import Member, Program
from memberportal.core.rules import Status, evaluate
from memberportal.errors import (
    InputError,
    MemberPortalError,
    ValidationFailed,
    Where,
    worded,
)
from memberportal.inputs.cache import cached
from memberportal.inputs.ledger import redeemed_members
from memberportal.inputs.safe_yaml import Document, read_yaml
from memberportal.inputs.validation import validation_errors
from memberportal.layout import PROGRAM_FILE, rel
from memberportal.runtime.progress import paused_gc
from memberportal.runtime.terminal import echo

MEMBER_SUFFIXES = (".yml", ".yaml")


@dataclass
class Project:
    root: Path
    program: Program
    members: list[Member]                 # sorted by id
    where: dict[str, Where] = field(default_factory=dict)  # member id -> file and line
    redeemed: frozenset[str] = frozenset()  # members whose retention offer was redeemed

    @cached_property
    def by_id(self) -> dict[str, Member]:
        """Members by id (a scan per lookup made 10,000 inserts' contexts take 30 s)."""
        return {m.id: m for m in self.members}

    def member(self, member_id: str) -> Member:
        if member_id in self.by_id:
            return self.by_id[member_id]
        close = difflib.get_close_matches(member_id, [m.id for m in self.members], n=3)
        hint = [("error.did_you_mean", {"close": ", ".join(close)})] if close else []
        raise InputError(**worded("error.no_member", *hint, id=member_id))

    def status(self, member: Member, as_of: date) -> Status:
        here = self.where.get(member.id)
        try:
            return evaluate(member, self.program, as_of, self.redeemed, here,
                            self.counted_referrals(member, as_of))
        except InputError as e:
            if e.path and here:
                e.where = locate(self.root, here, e.path)
            raise

    def counted_referrals(self, member: Member, as_of: date) -> int:
        """Referred friends who placed a paid order by as_of: the ones the programme counts."""
        if not member.referrals:
            return 0
        return sum(1 for ref in dict.fromkeys(member.referrals)
                   if counts_as_paid(first_paid(self.by_id[ref]), as_of))

    def statuses(self, as_of: date) -> tuple[list[Status], list[MemberPortalError]]:
        """Every member's status; a member whose records contradict each other is an error."""
        out, errors = [], []
        # all kept: with the collector on, 100,000 statuses took 35 s, 19 s of it collecting
        with paused_gc(freeze=True):
            for status in self.each_status(as_of):
                (errors if isinstance(status, MemberPortalError) else out).append(status)
        return out, errors

    def each_status(self, as_of: date, progress: Callable[[int], None] | None = None,
                    ) -> Iterator[Status | MemberPortalError]:
        """Each member's status (or its error) in member order, for a caller that keeps only
        what it counts: the statuses of 100,000 members take 0.65 GB."""
        for i, m in enumerate(self.members, 1):
            try:
                yield self.status(m, as_of)
            except MemberPortalError as e:
                yield e
            if progress and i % 1000 == 0:
                progress(1000)
        if progress and len(self.members) % 1000:
            progress(len(self.members) % 1000)


def unknown_skus(project: Project) -> list[InputError]:
    """Order lines whose SKU the program does not list, as warnings: a mistyped SKU loses the
    member her replenishment reminder and lets her page recommend what she just bought."""
    known = [p.sku for p in project.program.products]
    if not known:
        return []  # a program without a catalogue: every SKU is the shop's own
    out = []
    for m in project.members:
        for i, o in enumerate(m.orders):
            for j, item in enumerate(o.items):
                if project.program.product(item.sku):
                    continue
                close = difflib.get_close_matches(item.sku, known, n=1, cutoff=0.6)
                hint = [("error.did_you_mean", {"close": close[0]})] if close else []
                here = project.where.get(m.id)
                path = ("orders", i, "items", j, "sku")
                out.append(InputError(**worded("error.sku_not_in_program", *hint, sku=item.sku),
                                      where=locate(project.root, here, path) if here else None,
                                      field=".".join(map(str, path)), member=m.id))
    return out


IMPORT_STAGE = ".import-"   # members/.import-*: an import's staged files, on members/' filesystem
IMPORT_JOURNAL = "swap.json"  # in the stage while files are swapped in: what to put back
IMPORT_LOCK = "lock"          # held (flock) by the import while it runs


def recover_imports(root: Path) -> list[str]:
    """Undo an import that was cut off (kill -9, power cut) while it swapped member files in,
    and remove the staged copies (personal data) any cut-off import left. Returns the names
    of stages rolled back. A stage whose import still runs holds its lock and is left alone."""
    rolled: list[str] = []
    folder = root / "members"
    try:
        entries = [e for e in os.scandir(folder) if e.name.startswith(IMPORT_STAGE)]
    except (FileNotFoundError, NotADirectoryError):
        return rolled
    for e in entries:
        stage = Path(e.path)
        if not e.is_dir(follow_symlinks=False):
            continue
        try:
            fd = os.open(stage / IMPORT_LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        except OSError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # that import is still running
            journal = stage / IMPORT_JOURNAL
            if journal.is_file():
                for target, backup in reversed(json.loads(journal.read_text("utf-8"))):
                    path = root / target
                    if backup:
                        os.replace(stage / backup, path)
                    else:
                        path.unlink(missing_ok=True)
                rolled.append(e.name)
            shutil.rmtree(stage, ignore_errors=True)
        finally:
            os.close(fd)
    for old in (root / ".memberportal").glob("import-*"):  # where earlier versions staged
        shutil.rmtree(old, ignore_errors=True)
    for name in rolled:
        echo(f"note: an import was cut off while it wrote member files; every file it "
             f"changed is back as it was (members/{name} removed)", err=True)
    return rolled


def member_files(root: Path) -> list[Path]:
    return [root / shown for shown, _ in member_stamps(root)]


def member_stamps(root: Path) -> list[tuple[str, tuple[int, int, int]]]:
    """Every member file as (path relative to root, (mtime ns, size, ctime ns)), in path order.

    The inode change time is there because an edit can keep size and modification time
    (cp -p, rsync -t, tar, touch -r), but not the change time, which no one can set back.

    One scandir walk over folder descriptors: each file's stat looks up one name in its
    folder, not the whole path again (100,000 files: 0.36 s instead of 0.45; globbing, then
    stat and resolve per file, took 1.1 s for 10,000).
    """
    recover_imports(root)
    found: list[tuple[str, tuple[int, int, int]]] = []
    seen: set[tuple[int, int]] = set()

    def walk(parent: int | None, name: str, shown: str) -> None:
        # by name at every level: the order of sorted Paths
        try:
            fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=parent)
        except (FileNotFoundError, NotADirectoryError):
            return
        try:
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino) in seen:  # a symlink back up the tree
                return
            seen.add((st.st_dev, st.st_ino))
            with os.scandir(fd) as entries:
                listed = sorted(entries, key=lambda e: e.name)
            for e in listed:
                if e.is_dir():
                    if not e.name.startswith(IMPORT_STAGE):
                        walk(fd, e.name, f"{shown}{e.name}/")
                elif e.name.endswith(MEMBER_SUFFIXES) and e.is_file() and \
                        shown + e.name != PROGRAM_FILE:
                    st = e.stat()
                    found.append((shown + e.name, (st.st_mtime_ns, st.st_size, st.st_ctime_ns)))
        finally:
            os.close(fd)

    walk(None, os.path.join(root, "members"), "members/")
    return found


def load_program(root: Path) -> tuple[Program | None, list[MemberPortalError]]:
    path = root / PROGRAM_FILE
    try:
        doc = read_yaml(path, rel(path, root))
    except InputError as e:
        return None, [e]
    if not isinstance(doc.data, dict):
        return None, [InputError(**worded("error.program_mapping"),
                                 where=doc.where())]
    try:
        program = Program.model_validate(doc.data)
    except ValidationError as e:
        return None, list(validation_errors(e, doc, (), Program, None))
    errors = [InputError(msg.message, doc.where(p), field=".".join(map(str, p)), said=msg.said)
              for p, msg in program.references()]
    return (None if errors else program), errors


def _member_entries(doc: Document) -> Iterable[tuple[tuple, Any]]:
    if isinstance(doc.data, list):
        return [((i,), item) for i, item in enumerate(doc.data)]
    return [((), doc.data)]


def locate(root: Path, member_at: Where, path: tuple) -> Where:
    """The line of `path` inside the member that starts at `member_at` (read again: errors only)."""
    try:
        doc = read_yaml(root / member_at.file, member_at.file)
    except InputError:
        return member_at
    prefix = next((p for p, _ in _member_entries(doc) if doc.line(p) == member_at.line), ())
    return doc.where(prefix + tuple(path))


_ID_LINE = re.compile(r"""^(-[ ]+|[ ]{2})?id:[ ]*(["']?)([^\s"'#]+)\2[ ]*(?:#.*)?$""")
_ENTRY = re.compile(r"^-(?:[ ]|$)")


def member_near(path: Path, line: int) -> str | None:
    """Whose record holds `line` of a member file YAML could not read, when the text says so
    plainly: a one-member file with one `id:` line at the left edge, or in a list file the
    entry around `line` with one `id:` of its own (`- id:` or indented by two). Else None:
    better no member named than the wrong one (read again: errors only)."""
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeError):
        return None
    content = [t for t in lines if t.strip() and not t.startswith(("#", "---", "%"))]
    if content and _ENTRY.match(content[0]):  # a list of members
        starts = [i for i, t in enumerate(lines) if _ENTRY.match(t)]
        before = [i for i in starts if i < line]
        if not before:
            return None
        end = next((i for i in starts if i > before[-1]), len(lines))
        block = lines[before[-1]:end]
        ids = [m[3] for j, t in enumerate(block)
               if (m := _ID_LINE.match(t)) and m[1] and (m[1][0] == "-") == (j == 0)]
    else:
        ids = [m[3] for t in lines if (m := _ID_LINE.match(t)) and not m[1]]
    return ids[0] if len(ids) == 1 else None


@dataclass
class FileMembers:
    """What one member file holds: its valid members (with where each starts) and its errors."""

    members: list[tuple[Member, Where]]
    errors: list[MemberPortalError]


def read_members(path: Path, shown: str, program: Program | None) -> FileMembers:
    """Read and validate one member file; lines beyond the top level are read only on error."""
    out = FileMembers([], [])
    try:
        doc = read_yaml(path, shown, lines=False)
    except InputError as e:
        if e.member is None and e.where and e.where.line:
            e.member = member_near(path, e.where.line)
        out.errors.append(e)
        return out
    if doc.data is None:
        out.errors.append(InputError(**worded("error.empty_member_file"),
                                     where=Where(shown, 1)))
        return out
    for prefix, data in _member_entries(doc):
        if not isinstance(data, dict):
            out.errors.append(InputError(**worded("error.member_mapping"),
                                         where=doc.where(prefix)))
            continue
        member_id = data.get("id") if isinstance(data.get("id"), str) else None
        try:
            member = Member.model_validate(data)
        except ValidationError as e:
            out.errors += validation_errors(e, doc, prefix, Member, member_id)
            continue
        if program is not None:
            out.errors += [InputError(msg.message, doc.where(prefix + p),
                                      field=".".join(map(str, p)), member=member.id,
                                      said=msg.said)
                           for p, msg in member.check_references(program)]
        out.members.append((member, doc.where(prefix)))
    return out


def load_members(root: Path, program: Program | None, files: list[Path] | None = None,
                 cache: bool = True, progress: Callable[[int], None] | None = None,
                 ) -> tuple[list[Member], dict[str, Where], list[MemberPortalError]]:
    members: list[Member] = []
    where: dict[str, Where] = {}
    errors: list[MemberPortalError] = []
    facts: list[Facts] = []
    paths = files if files is not None else member_files(root)
    with paused_gc(freeze=True):  # what is read is kept: see paused_gc
        for found in read_all(root, paths, program, cache, progress):
            errors += found.errors
            for member, here in found.members:
                if member.id not in where:
                    where[member.id] = here
                    members.append(member)
                facts.append(Facts(*facts_of(member, here)))
    errors += check_across(root, facts)
    members.sort(key=lambda m: m.id)
    return members, where, errors


class Facts(NamedTuple):
    """What other members' results depend on in one member's record (kept between builds)."""

    id: str
    file: str
    line: int
    referrals: tuple[str, ...]
    first_paid: date | None             # the first paid order: a referral counts from then
    orders: tuple[str, ...]

    @property
    def where(self) -> Where:
        return Where(self.file, self.line)


def facts_of(member: Member, where: Where) -> tuple:
    """The fields of Facts (they also begin the build's index records)."""
    return (member.id, where.file, where.line, tuple(member.referrals), first_paid(member),
            tuple(o.id for o in member.orders))


def first_paid(member: Member) -> date | None:
    return min((o.date for o in member.orders if not o.refunded), default=None)


def counts_as_paid(first: date | None, as_of: date) -> bool:
    return first is not None and first <= as_of


def check_across(root: Path, facts: list[Facts]) -> list[MemberPortalError]:
    """What no single record shows: ids used twice, referrals to nobody, an order id in two
    members. `facts` (or anything with their fields) in file order: the first is kept."""
    errors: list[MemberPortalError] = []
    first: dict[str, Facts] = {}
    for f in facts:
        if f.id in first:
            errors.append(InputError(**worded("error.id_used", id=f.id, at=str(first[f.id].where)),
                                     where=locate(root, f.where, ("id",)),
                                     field="id", member=f.id))
        else:
            first[f.id] = f
    kept = first.values()
    claimed: dict[str, Facts] = {}  # a friend is one member's referral (listed twice: once)
    for f in kept:
        for i, ref in enumerate(f.referrals):
            if ref not in first or ref == f.id:
                why = (worded("error.referral_self") if ref == f.id
                       else worded("error.referral_unknown", id=ref))
                errors.append(InputError(**why, where=locate(root, f.where, ("referrals", i)),
                                         field=f"referrals.{i}", member=f.id))
            elif claimed.setdefault(ref, f).id != f.id:
                other = claimed[ref]
                errors.append(InputError(
                    **worded("error.referral_claimed", id=ref, other=other.id,
                             at=str(other.where), member=f.id),
                    where=locate(root, f.where, ("referrals", i)), field=f"referrals.{i}",
                    member=f.id))
    seen_orders: dict[str, str] = {}
    for f in kept:
        for i, order in enumerate(f.orders):
            if order in seen_orders and seen_orders[order] != f.id:
                errors.append(InputError(**worded("error.order_elsewhere", id=order,
                                                  member=seen_orders[order]),
                                         where=locate(root, f.where, ("orders", i)),
                                         field="orders.id", member=f.id))
            seen_orders.setdefault(order, f.id)
    return errors


def referral_counts(facts: Iterable[Facts], as_of: date) -> dict[str, int]:
    """Each referring member's count of referred friends with a paid order by as_of."""
    facts = list(facts)
    paid = {f.id for f in facts if counts_as_paid(f.first_paid, as_of)}
    return {f.id: sum(1 for r in set(f.referrals) if r in paid) for f in facts if f.referrals}


def read_all(root: Path, paths: list[Path], program: Program | None,
             cache: bool = True, progress: Callable[[int], None] | None = None,
             ) -> list[FileMembers]:
    """Every file's members; files unchanged since the last clean read come from the cache.
    Without a program the references go unchecked, so nothing is worth caching."""
    files = [(path, rel(path, root)) for path in paths]
    if program is None or not cache:
        out = []
        for path, shown in files:
            out.append(read_members(path, shown, program))
            if progress:
                progress(1)
        return out
    return cached(root, files, root / PROGRAM_FILE, partial(read_members, program=program),
                  keep=lambda found: not found.errors, progress=progress)


def load(root: Path, cache: bool = True, files: list[Path] | None = None,
         progress: Callable[[int], None] | None = None) -> Project:
    """Read and validate the whole project; raise ValidationFailed with every error at once.

    `cache=False` reads every file afresh and leaves no cache behind. `files`: the member
    files (member_files(root), if the caller has them already); `progress(n)`: n more read."""
    program, errors = load_program(root)
    members, where, member_errors = load_members(root, program, files, cache, progress)
    errors += member_errors
    redeemed: frozenset[str] = frozenset()
    try:  # the retention-code ledger (memberportal redeem): whose offer is used up
        redeemed = redeemed_members(root)
    except MemberPortalError as e:
        errors.append(e)
    if errors or program is None:
        raise ValidationFailed(errors)
    return Project(root, program, members, where, redeemed)
