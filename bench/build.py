"""Build timings at scale: full, nothing changed, one member, a threshold, the next day; peak RSS.

    .venv/bin/python bench/build.py [N]          N members (default 100,000)
    .venv/bin/python bench/build.py --small      2,000 members, a quick look
    .venv/bin/python bench/build.py 1000000 --only nothing,member
                                                 the full build, then only these rebuilds
    options: --out DIR (the synthetic brand; default output/bench/build-N), --reuse (keep the
    members of a brand made earlier; mkdocs.yml, content/ and templates/ are copied again),
    --executor local|dask://HOST:PORT, --workers K, --no-progress

Makes the brand with bench/make_brand.py, then times each build in this process (the page
workers are its children) and prints figures; it asserts nothing. Peak memory is the largest
sum of RSS over this process and all its children, sampled every 0.1 s (psutil), and the
getrusage high-water marks (self, largest child) as a cross-check; CPU time is user and
system seconds of this process and its workers (getrusage). Before each build the disk is
synced (not timed), so a build does not pay for the writeback of the one before.

What an earlier run left (the brand, or with --reuse its output/ and build cache) is moved
into a trash folder next to the brand and deleted after the last timing, not before the
first: on ext4 without a journal (this machine's disk) the kernel will not reuse an inode
freed in the last 1-6 minutes, and each new file or folder's inode is found only after
scanning past every such one. Creating 20,000 page folders cost 0.05 ms of system time a
page with no recent deletions and 0.25-0.70 ms a page after deleting 20,000-80,000 (perf:
ext4 find_inode_bit / recently_deleted), so deleting a 100,000-page site just before timed
builds added 10-30 s to them.
"""
from __future__ import annotations

import argparse
import gc
import os
import re
import resource
import sys
import threading
import time
from datetime import date, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from memberportal.site.build import run  # noqa
import machine  # noqa: E402

AS_OF = date(2026, 11, 24)


class PeakRSS:
    """The largest RSS of this process tree while running (sampled)."""

    def __init__(self, interval: float = 0.1):
        self.interval, self.peak, self._stop = interval, 0, threading.Event()
        try:
            import psutil
            self._me = psutil.Process()
        except ImportError:
            self._me = None

    def _total(self) -> int:
        total = 0
        for p in [self._me] + self._me.children(recursive=True):
            try:
                total += p.memory_info().rss
            except Exception:  # a worker that just ended
                pass
        return total

    def _loop(self):
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, self._total())

    def __enter__(self):
        if self._me is not None:
            self.peak = self._total()
            self._thread = threading.Thread(target=self._loop, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._me is not None:
            self._thread.join()


def build(root: Path, label: str, args, as_of: date = AS_OF) -> argparse.Namespace:
    # The previous step's writes (1.6 GB of pages after a full build) are flushed first, not
    # timed: without this the next rebuild shares the disk with their writeback.
    t = time.perf_counter()
    os.sync()
    synced = time.perf_counter() - t
    before = _cpu()
    with PeakRSS() as rss:
        start = time.perf_counter()
        # then_exit as `memberportal build` does: each build is a process of its own there
        b = run(root, as_of, show_progress=args.progress, executor=args.executor,
                workers=args.workers, then_exit=True)
        took = time.perf_counter() - start
    gc.enable()  # and its exit frees what it made: here one collection, not timed
    gc.collect()
    user, system = (after - was for after, was in zip(_cpu(), before))
    stages = ", ".join(f"{k} {v:.1f}" for k, v in b.timings.items())
    peak = f"{rss.peak / 2**20:,.0f} MB" if rss.peak else "n/a (no psutil)"
    print(f"{label:<28} {took:7.1f} s  rendered {b.rendered:>7,}  unchanged {b.reused:>7,}  "
          f"portal {'reused' if b.portal_reused else 'built '}  peak {peak}\n"
          f"{'':<28} stages (s): {stages}\n"
          f"{'':<28} CPU (s): user {user:.1f}, system {system:.1f} (this process and its "
          f"workers; system time is mostly the filesystem); sync before, not timed: "
          f"{synced:.1f} s", flush=True)
    if b.failures:
        print(f"{'':<28} {len(b.failures)} failures, first: {b.failures[0]}")
    # only the figures: holding the Build would keep a whole project alive into the next run
    return argparse.Namespace(rendered=b.rendered, pages=b.pages)


def _cpu() -> tuple[float, float]:
    """User and system CPU seconds of this process and its ended children (the workers)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + kids.ru_utime, me.ru_stime + kids.ru_stime


def change_member(root: Path) -> str:
    """Raise the price of one order line of the first member: their spend and points change."""
    path = sorted((root / "members").rglob("M*.yml"))[0]
    text = path.read_text(encoding="utf-8")
    text, n = re.subn(r"price: (\d+)", lambda m: f"price: {int(m[1]) + 500}", text, count=1)
    assert n == 1, path
    path.write_text(text, encoding="utf-8")
    return path.stem


def change_threshold(root: Path) -> tuple[str, str]:
    """Lower one tier's threshold; returns the label and tiers.yml as it was."""
    path = root / "members" / "tiers.yml"
    was = path.read_text(encoding="utf-8")
    text, n = re.subn(r"threshold: 3000\b", "threshold: 2800", was, count=1)
    assert n == 1, "members/tiers.yml has no 'threshold: 3000'"
    path.write_text(text, encoding="utf-8")
    return "3000 -> 2800", was


REBUILDS = ("nothing", "member", "threshold", "nextday")


def _rebuilds(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in REBUILDS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown rebuild {', '.join(unknown)}: choose from "
                                         f"{', '.join(REBUILDS)}")
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", type=int, nargs="?", default=100_000)
    parser.add_argument("--small", action="store_true", help="2,000 members")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--reuse", action="store_true", help="keep the brand if it exists")
    parser.add_argument("--executor", default="local")
    parser.add_argument("--workers", type=int)
    parser.add_argument("--no-progress", dest="progress", action="store_false")
    parser.add_argument("--only", type=_rebuilds, default=REBUILDS, metavar="A,B",
                        help=f"the rebuilds after the full build: {','.join(REBUILDS)} "
                        "(default: all)")
    args = parser.parse_args()
    n = 2000 if args.small else args.n
    root = args.out or REPO / "output" / "bench" / f"build-{n}"
    import make_brand
    print(f"bench/build.py: {n:,} members, {os.cpu_count()} cores, executor {args.executor}"
          f"{f' ({args.workers} workers)' if args.workers else ''}; {machine.describe()}",
          flush=True)
    trash = root.parent / ".bench-trash"  # deleted after the timings (see the docstring)
    if not (args.reuse and (root / make_brand.MARKER).exists()):
        make_brand.set_aside(root, trash)
        start = time.perf_counter()
        counts = make_brand.make(n, root)
        print(f"{'make_brand':<28} {time.perf_counter() - start:7.1f} s  "
              f"{counts['orders']:,} orders in {counts['files']:,} files", flush=True)
    else:
        make_brand.copy_design(root)  # the members as made, the templates as they are now
    for old in (root / "output", root / ".memberportal" / "cache"):
        machine.set_aside(old, trash)

    full = build(root, "full build", args)
    if "nothing" in args.only:
        build(root, "rebuild, nothing changed", args)
    if "member" in args.only:
        who = change_member(root)
        build(root, f"rebuild, 1 member ({who})", args)
    if "threshold" in args.only:
        what, was = change_threshold(root)
        try:
            b = build(root, f"rebuild, threshold {what}", args)
        finally:  # as it was, for the next --reuse (which sets this output aside anyway)
            (root / "members" / "tiers.yml").write_text(was, encoding="utf-8")
        print(f"threshold change re-rendered {b.rendered:,} of {b.pages:,} pages "
              f"({100 * b.rendered / max(1, b.pages):.1f}%)")
    if "nextday" in args.only:
        # A brand's daily build: every page shows the day and what expires by it: all change.
        build(root, "rebuild, the next day", args, AS_OF + timedelta(days=1))
    pages = root / "output" / "site" / "m"
    size = sum(p.stat().st_size for p in pages.glob("*/index.html"))
    count = max(1, full.rendered)
    print(f"personal pages on disk: {size / 1e6:,.0f} MB ({size / count / 1e3:.1f} kB a page)")
    me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"getrusage high-water: this process {me:,.0f} MB, largest child {kids:,.0f} MB")
    print(f"after the timings: {machine.describe()}", flush=True)
    if trash.exists():
        import shutil
        start = time.perf_counter()
        shutil.rmtree(trash)
        print(f"earlier runs' files deleted after the timings: {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
