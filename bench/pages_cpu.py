"""CPU per member on one build worker, serially, by step: read, evaluate, page, render, write.

    .venv/bin/python bench/pages_cpu.py PROJECT [--limit N] [--repeat R] [--profile]

PROJECT is a brand (bench/make_brand.py N makes one). The portal shell is built once by
MkDocs (not timed). The first N member files go through the build worker's own code
(`memberportal.site.batches.do_files`, 100 files a batch) R times; each step is also run on its own
so its share is shown: read + validate, + rules, + page context and hash, + render, + write
(into a folder under PROJECT/output, the filesystem a build writes to). The fastest run
counts. `--profile` prints a cProfile of one whole run. Asserts nothing.
"""
from __future__ import annotations

import argparse
import cProfile
import pstats
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from memberportal.site import batches  # noqa
from memberportal.site.batches import Item, Shared, do_files  # noqa
from memberportal import code_fingerprint as code_version  # noqa
from memberportal.site.pages import page_job, render_batch  # noqa
from memberportal.layout import PRIVATE_DIR  # noqa
from memberportal.site.portal import build_portal  # noqa
from memberportal.inputs.config import language  # noqa
from memberportal.inputs.project import load_program, member_stamps, read_members  # noqa
from memberportal.render.templates import environment  # noqa
from memberportal.inputs.secret import load_secret  # noqa
from machine import set_aside  # noqa: E402

AS_OF = date(2026, 11, 24)
BATCH = 100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("project", type=Path)
    parser.add_argument("--limit", type=int, default=3000, help="member files")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    root = args.project.resolve()
    program, errors = load_program(root)
    if errors:
        sys.exit(f"{errors[0]}")
    lang = language(root)
    files = member_stamps(root)[:args.limit]
    items = [Item(shown, stamp, {}, None) for shown, stamp in files]  # counts known: all render
    scratch = root / "output" / "bench-pages-cpu"
    with tempfile.TemporaryDirectory() as tmp:
        env = environment([root / "templates"], lang, program.currency_symbol)
        portal = build_portal(root, program, env, Path(tmp) / "site")
        job = page_job(portal.shell, [root / "templates"], lang, program.currency_symbol,
                       code_version())
    render_batch(job, [])  # the worker's environment, made once
    shared = Shared(root, program, AS_OF, load_secret(root, create=True), {}, frozenset(),
                    portal.site_url, lang, {}, scratch / "live", None, job)
    members = sum(len(read_members(root / s, s, program).members) for s, _ in files)

    def batched(fn):
        for i in range(0, len(items), BATCH):
            fn(items[i:i + BATCH])

    steps = {}

    trash = root / "output" / "bench-pages-cpu-trash"

    def fresh() -> None:  # the last run's pages are deleted at the end, not before this run
        set_aside(scratch, trash)
        (scratch / "site").mkdir(parents=True)

    def step(name, run):
        best = None
        for _ in range(args.repeat):
            fresh()
            start = time.perf_counter()
            run()
            took = time.perf_counter() - start
            best = took if best is None else min(best, took)
        steps[name] = best

    step("read + validate", lambda: batched(
        lambda chunk: [read_members(root / i.shown, i.shown, program) for i in chunk]))
    site = replace(shared, site=scratch / "site")
    real_page_for, real_write = batches.page_for, batches.write_page
    try:  # the worker's own path, cut after each step
        batches.page_for = _stop
        step("+ rules", lambda: batched(lambda chunk: do_files(shared, chunk)))
        batches.page_for = real_page_for
        step("+ page context, hash", lambda: batched(lambda chunk: do_files(shared, chunk)))
        batches.write_page = lambda *a: {}
        step("+ render", lambda: batched(lambda chunk: do_files(site, chunk)))
    finally:
        batches.page_for, batches.write_page = real_page_for, real_write
    step("+ write (whole worker)", lambda: batched(lambda chunk: do_files(site, chunk)))

    n = max(1, members)
    print(f"{members:,} members in {len(files):,} files, one process, serial, "
          f"fastest of {args.repeat}")
    last = 0.0
    for name, took in steps.items():
        print(f"  {name:<24} {took * 1000 / n:6.3f} ms a member  (this step "
              f"{(took - last) * 1000 / n:6.3f} ms)")
        last = took
    pages = list((scratch / "site").glob("*/index.html"))
    size = sum(p.stat().st_size for p in pages)
    print(f"  page size {size / max(1, len(pages)) / 1000:.1f} kB; "
          f"at this rate 100,000 members on 2 cores: {last * 100_000 / n / 2:.0f} s")
    if args.profile:
        profiler = cProfile.Profile()
        fresh()
        profiler.enable()
        batched(lambda chunk: do_files(site, chunk))
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(35)
    shutil.rmtree(scratch, ignore_errors=True)
    shutil.rmtree(trash, ignore_errors=True)


def _stop(*args, **kwargs):
    raise ValueError("stopped after the rules")  # do_files reports it and goes on


if __name__ == "__main__":
    main()
