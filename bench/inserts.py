"""Parcel-insert throughput: a big batch against the naive way (one document per insert).

    .venv/bin/python bench/inserts.py [--parcels 10000] [--members N] [--workers 2]
                                      [--chunk C] [--naive 20] [--naive-cold 5]
                                      [--naive-in-process 20] [--naive-system 3]
                                      [--profile] [--no-press] [--keep DIR]

1. Makes a synthetic brand with bench/make_brand.py (members with real order histories;
   without that script: the example brand's members, repeated) and a parcels file of
   --parcels rows: the brand's recent orders first, then every member in a shuffled order,
   again and again (order ids are unique; statuses are computed once per member).
2. Renders the whole batch with `inserts.build_inserts` exactly as `memberportal inserts`
   does (parcels file read, statuses, Chinese text, a QR code per insert and a second one
   on first-order inserts, stamped: shapes laid out once, fields drawn on them; joining,
   atomic write) and prints inserts/s, PDF size and pages.
   Then renders the same batch again in the press print profile (`--profile press`: CMYK,
   PDF/X-4, boxes and marks, the check read back) and prints its inserts/s and its share of
   the office rate (target: at least half).
3. In the same run renders the first --naive parcels the naive way: one WeasyPrint
   document per insert, laid out whole (a one-row batch on one worker, one PDF each,
   stamping off: what every insert cost before stamping.py), and prints the ratio
   of the two per-insert rates; then --naive-cold parcels the same way with nothing reused
   between them (fonts, templates, WeasyPrint's font configuration set up for each, as when
   the command runs once per parcel), and that ratio too.
4. Then --naive-in-process parcels one WeasyPrint document each, laid out whole, in this
   process: the batch's template, contexts, renderer and bundled fonts, nothing else (no
   worker process, no joining): what WeasyPrint itself takes for one insert in a document
   of its own. The first two naive ways also pay for what a command pays per call (a worker
   process, joining, writing).
5. Then --naive-system parcels the way a naive implementation would do it: one WeasyPrint
   document per insert with the font stack naming the system's Noto Sans/Serif CJK SC
   (Debian fonts-noto-cjk) instead of our bundled subsets. Same template, same context, same
   renderer: only the @font-face rules are dropped and the family names replaced. The run
   checks that its PDF embeds the system font (pdffonts) and shows the same text as the
   batch's page. WeasyPrint subsets the whole CJK collection for every PDF: with HarfBuzz's
   subsetter (libharfbuzz-subset0, in the Makefile's SYSTEM_PACKAGES) that took ~0.3 s per
   PDF here; with WeasyPrint's fontTools fallback (no libharfbuzz-subset) ~12 s (measured
   2026-11-24, WeasyPrint 70)).
The RESULT line names the naive way each ratio is measured against.
--profile adds a cProfile of one chunk rendered in this process (a worker's time).
Timings on a shared machine are noisy: compare ratios measured in one run.
"""
from __future__ import annotations

import argparse
import cProfile
import csv
import os
import pstats
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import date
from inspect import signature
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import machine  # noqa: E402
from tqdm import tqdm  # noqa: E402

from memberportal.inputs.project import load  # noqa
from memberportal.print import contexts, inserts, joiner, workers  # noqa
from memberportal.runtime.progress import paused_gc  # noqa

AS_OF = date(2026, 11, 24)


def make_brand(folder: Path, members: int) -> str:
    """A project in `folder`; returns how it was made."""
    try:
        sys.path.insert(0, str(REPO / "bench"))
        import make_brand
    except ImportError:
        make_brand = None
    if make_brand is not None:
        counts = make_brand.make(members, folder)
        return (f"bench/make_brand.py: {counts['members']:,} members, {counts['orders']:,} "
                f"orders, {counts['parcels']:,} recent parcels")
    folder.mkdir(parents=True)
    for name in ("members", "content", "templates"):
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, folder / name)
    shutil.copy(REPO / "mkdocs.yml", folder / "mkdocs.yml")
    return "the example brand's members (bench/make_brand.py not found), repeated"


def write_parcels(project, path: Path, n: int) -> None:
    """`n` parcels: the brand's own recent orders first, then members round-robin."""
    rows: list[tuple[str, str]] = []
    own = project.root / "parcels.csv"
    if own.is_file():
        with open(own, encoding="utf-8") as f:
            rows = [(r["order_id"], r["member_id"]) for r in csv.DictReader(f)][:n]
    ids = [m.id for m in project.members]
    random.Random(5).shuffle(ids)
    i = 0
    while len(rows) < n:
        rows.append((f"BENCH{i:07d}", ids[i % len(ids)]))
        i += 1
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(contexts.PARCEL_COLUMNS)
        w.writerows(rows)


class Phases:
    """Wall time spent in named functions during the batch (wrapped where they are looked up,
    not changed)."""

    def __init__(self, functions):
        self.took: dict[str, float] = {}
        for module, name in functions:
            self.wrap_method(module, name, name)

    def wrap_method(self, cls, method, name):
        self.took[name] = 0.0
        setattr(cls, method, self._timed(name, getattr(cls, method)))

    def _timed(self, name, fn):
        def run(*args, **kwargs):
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.took[name] += time.perf_counter() - t
        return run


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the worker pool)."""
    import resource
    me, kids = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def pages(pdf: Path) -> int:
    out = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True).stdout
    return next(int(line.split()[1]) for line in out.splitlines() if line.startswith("Pages:"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parcels", type=int, default=10_000)
    ap.add_argument("--members", type=int, help="members in the synthetic brand "
                    "(default: as many as parcels, at most 10,000)")
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--chunk", type=int, default=None,
                    help="parcels a worker takes at a time (default: memberportal's)")
    ap.add_argument("--naive", type=int, default=20, help="parcels rendered the naive way")
    ap.add_argument("--naive-cold", type=int, default=5,
                    help="parcels rendered the naive way with nothing reused between them")
    ap.add_argument("--naive-in-process", type=int, default=20,
                    help="parcels rendered one WeasyPrint document each in this process with "
                    "the bundled fonts (renderer reused; 0 skips)")
    ap.add_argument("--naive-system", type=int, default=3,
                    help="parcels rendered one document each with the system Noto Sans CJK SC "
                    "font named instead of the bundled subsets (seconds each; 0 skips)")
    ap.add_argument("--profile", action="store_true", help="cProfile one chunk in-process")
    ap.add_argument("--no-press", dest="press", action="store_false",
                    help="skip the batch in the press print profile (PDF/X-4, CMYK)")
    ap.add_argument("--keep", type=Path, help="keep the brand and PDFs in this folder")
    args = ap.parse_args()
    members = args.members or min(args.parcels, 10_000)

    tmp = None
    if args.keep:
        work = args.keep.resolve()
        shutil.rmtree(work / "brand", ignore_errors=True)
        work.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="bench-inserts-")
        work = Path(tmp.name)
    try:
        run(args, members, work)
    finally:
        if tmp:
            tmp.cleanup()


def run(args, members: int, work: Path) -> None:
    import weasyprint
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} "
          f"(shared machines make timings noisy), {machine.describe()}; "
          f"WeasyPrint {weasyprint.__version__}", flush=True)
    t = time.perf_counter()
    how = make_brand(work / "brand", members)
    project = load(work / "brand")
    print(f"brand: {how}; made and loaded in {time.perf_counter() - t:.1f} s (not counted)")
    secret = os.urandom(32).hex().encode()
    job = contexts.make_job(project, AS_OF, "zh", secret)
    csv_path = work / "brand" / "bench-parcels.csv"
    write_parcels(project, csv_path, args.parcels)

    # --- the batch, as `memberportal inserts` renders it --------------------------------------
    out = work / "inserts.pdf"
    print(f"batch: {args.parcels:,} parcels, {args.workers} workers, chunks of "
          f"{args.chunk or f'up to {inserts.CHUNK:,} (the default)'}")
    phases = Phases(((contexts, "read_parcels"), (inserts, "insert_contexts"),
                     (inserts, "write_atomic")))
    phases.wrap_method(joiner.Joiner, "add", "joining (during rendering)")
    phases.wrap_method(joiner.Joiner, "finish", "joining (at the end)")
    bar = tqdm(total=args.parcels, unit="insert", smoothing=0.1, mininterval=1, disable=None)
    cpu0 = cpu_seconds()
    t0 = time.perf_counter()
    parcels = contexts.read_parcels(csv_path, project)
    # (a version of build_inserts without `progress` shows no bar but is timed the same)
    hook = {"progress": bar.update} if "progress" in signature(inserts.build_inserts).parameters \
        else {}
    result = inserts.build_inserts(job, project, parcels, out, workers=args.workers,
                                  chunk=args.chunk, **hook)
    took = time.perf_counter() - t0
    cpu = cpu_seconds() - cpu0
    bar.close()
    rate = args.parcels / took
    n_pages = pages(out)
    size = result["bytes"]
    print(f"  {took:.1f} s, {rate:.1f} inserts/s; PDF {size / 1e6:.1f} MB "
          f"({size / args.parcels / 1e3:.1f} kB per insert), {n_pages:,} pages"
          + ("" if n_pages == args.parcels else f"  ** expected {args.parcels:,} pages **"))
    print(f"  CPU: {cpu:.1f} s in all processes, {cpu / args.parcels * 1000:.1f} ms per insert "
          f"(on {args.workers} idle cores that is at most "
          f"{args.workers * args.parcels / cpu:.0f} inserts/s; "
          "the wall figure above is the real one)")
    print("  main process (wall): " + ", ".join(f"{k} {v:.1f} s" for k, v in phases.took.items())
          + f"; the rest of the {took:.1f} s is waiting for the workers")
    import resource
    me, kids = (resource.getrusage(w).ru_maxrss for w in (resource.RUSAGE_SELF,
                                                          resource.RUSAGE_CHILDREN))
    print(f"  peak RSS (getrusage high-water): this process {me / 1024:.0f} MB, largest worker "
          f"{kids / 1024:.0f} MB")

    # --- the same batch in the press profile: converted to CMYK, boxes, marks, checked -------
    press_said = "press profile not run"
    if args.press and "profile" in signature(inserts.build_inserts).parameters:
        from memberportal.print import press
        phases = Phases(((press, "to_press"), (press, "check")))
        t0 = time.perf_counter()
        result = inserts.build_inserts(job, project, parcels, work / "inserts-press.pdf",
                                       workers=args.workers, chunk=args.chunk, profile="press")
        press_took = time.perf_counter() - t0
        press_rate = args.parcels / press_took
        print(f"press profile: {press_took:.1f} s, {press_rate:.1f} inserts/s "
              f"({press_rate / rate:.2f} of the office rate); PDF {result['bytes'] / 1e6:.1f} MB; "
              + ", ".join(f"{k} {v:.1f} s" for k, v in phases.took.items()))
        press_said = (f"press profile {press_rate:.1f} inserts/s, {press_rate / rate:.2f} of "
                      "office (target >= 0.5)")

    # --- the naive ways: one WeasyPrint document (and PDF) per insert -------------------------
    samples = (  # (parcels, name, how, the ratio's wording, run)
        (args.naive, "naive", "one document each (one-row batches, one worker, bundled subset "
         "fonts, fonts and templates loaded once)",
         "one document per insert with our bundled subset fonts, warm",
         lambda some: naive(job, project, some, work / "naive", cold=False)),
        (args.naive_cold, "naive, cold", "each as if `memberportal inserts` ran once per parcel "
         "(bundled subset fonts; fonts, templates, WeasyPrint set up every time; Python start "
         "not counted)", "the same, cold",
         lambda some: naive(job, project, some, work / "naive-cold", cold=True)),
        (args.naive_in_process, "naive, in-process", "one WeasyPrint document each in this "
         "process, laid out whole, bundled subset fonts (renderer, fonts and templates reused; "
         "no worker process, no joining)",
         "one WeasyPrint document per insert in this process with our fonts, warm",
         bare(job, project, work, out, system=False)),
        (args.naive_system, "naive, system font", "one WeasyPrint document each, the same "
         "template and context with the font stack naming the system's Noto Sans/Serif CJK SC "
         "instead of our bundled subsets (renderer reused)",
         "one document per insert naming the system font Noto Sans CJK SC",
         bare(job, project, work, out, system=True)),
    )
    per = took / args.parcels
    ratios = []
    # numbered as in the batch (n of N, each order's place), so each page can match its own
    numbered = contexts.number_parcels(project, parcels, job.as_of)
    for count, name, how, against, sample in samples:
        if count:
            each, checked = sample(numbered[:count])
            print(f"{name}: {count} inserts, {how}: {each * 1000:.0f} ms per insert")
            if checked:
                print(checked)
            ratios.append(f"{each / per:.0f}x {against}")
    print(f"RESULT: {rate:.1f} inserts/s for {args.parcels:,} parcels (target >= 120); "
          + ("; ".join(ratios) + " (target >= 500x the naive way)" if ratios else "no naive sample")
          + f"; {press_said}; load average now {os.getloadavg()[0]:.2f}, {machine.describe()}")

    if args.profile:
        profile(job, project, parcels[:args.chunk or inserts.CHUNK])


def naive(job, project, parcels, folder: Path, cold: bool) -> tuple[float, None]:
    """Seconds per insert, rendering each parcel as its own one-row batch on one worker,
    laid out whole by WeasyPrint (no stamping: one WeasyPrint document per insert)."""
    job = replace(job, stamp=False)
    if not cold:   # set up once, untimed: the batch set up its workers, not this process
        inserts.build_inserts(job, project, parcels[:1], folder / "warm-up.pdf", workers=1)
    bar = tqdm(total=len(parcels), unit="insert", mininterval=1, disable=None)
    t0 = time.perf_counter()
    for p in parcels:
        if cold:
            workers._worker.clear()      # a new process would have none of it
            workers._qr.cache_clear()
        inserts.build_inserts(job, project, [p], folder / f"{p.order_id}.pdf", workers=1)
        bar.update(1)
    took = time.perf_counter() - t0
    bar.close()
    return took / len(parcels), None


SYSTEM_FAMILIES = {'"Print Sans"': '"Noto Sans CJK SC"', '"Print Serif"': '"Noto Serif CJK SC"',
                   '"Print Fallback"': '"Noto Sans CJK SC"'}


def system_font_html(html: str) -> str:
    """The insert's HTML with its font stack naming the system's Noto CJK SC fonts: the bundled
    fonts' @font-face rules dropped, every family name replaced; nothing else changed."""
    out, rules = re.subn(r"@font-face\s*\{[^}]*\}\s*", "", html)
    for ours, system in SYSTEM_FAMILIES.items():
        out = out.replace(ours, system)
    if not rules or any(ours in out for ours in SYSTEM_FAMILIES):
        raise SystemExit("naive, system font: the template's font stack was not replaced "
                         f"({rules} @font-face rules dropped)")
    return out


def bare(job, project, work: Path, batch_pdf: Path, system: bool):
    """in_process() for some parcels, laid out whole (stamping off)."""
    folder = work / ("naive-system" if system else "naive-in-process")
    return lambda some: in_process(replace(job, stamp=False), project, some, folder, batch_pdf,
                                   system)


def in_process(job, project, parcels, folder: Path, batch_pdf: Path, system: bool,
               ) -> tuple[float, str]:
    """Seconds per insert (and what was checked), one WeasyPrint document and PDF each in this
    process, laid out whole: our bundled fonts, or (`system`) the font stack naming the system
    font.

    The batch's own template, contexts and renderer (fonts configuration reused, which only
    favours this way; no worker process, no joining); afterwards (untimed) each PDF must embed
    the fonts named (Noto CJK and no bundled font, or only bundled ones) and show the same text
    as the parcel's page in the batch.
    """
    from memberportal.layout import write_atomic
    from memberportal.print.weasy import layered_pdf
    from memberportal.render.templates import render
    what = "naive, system font" if system else "naive, in-process"
    renderer, env, _ = workers.tools(job)
    workers.worker_setup()          # rendering here as a worker would
    brand, sheet = contexts.brand_context(project, job.lang), inserts.Sheet().css()
    base = workers.template_dir(env, "print/insert.html")
    bar = tqdm(total=len(parcels), unit="insert", mininterval=1, disable=None)
    paths = []
    t0 = time.perf_counter()
    for p in parcels:
        html = render(env, "print/insert.html", brand=brand, page=sheet,
                      inserts=inserts.insert_contexts(job, project, [p]))
        doc = renderer.document(system_font_html(html) if system else html, base,
                                f"insert for {p.order_id}")
        paths.append(write_atomic(folder / f"{p.order_id}.pdf",
                                  layered_pdf(doc, sheet["marks"])))
        bar.update(1)
    took = time.perf_counter() - t0
    bar.close()
    for page, path in enumerate(paths, 1):
        fonts = embedded_fonts(path)
        system_font = any("NotoSansCJK" in f.replace("-", "") for f in fonts)
        if system_font != system or system == any("Print-" in f for f in fonts):
            raise SystemExit(f"{what}: {path.name} embeds {fonts}")
        if words(pdftotext(path)) != words(pdftotext(batch_pdf, page)):
            raise SystemExit(f"{what}: {path.name} does not show the text of page {page} of "
                             "the batch")
    return took / len(parcels), (f"  checked: each PDF embeds {', '.join(embedded_fonts(paths[0]))}"
                                 " and shows the same text as its page in the batch")


def embedded_fonts(pdf: Path) -> list[str]:
    """Names of the embedded fonts (pdffonts), subset tags dropped."""
    out = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True,
                         check=True).stdout.splitlines()[2:]
    return sorted({cells[0].split("+")[-1] for cells in map(str.split, out)
                   if len(cells) > 5 and cells[-5] == "yes"})     # ... emb sub uni object ID


def pdftotext(pdf: Path, page: int | None = None) -> str:
    pages = ["-f", str(page), "-l", str(page)] if page else []
    return subprocess.run(["pdftotext", *pages, str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout


def words(text: str) -> str:
    return re.sub(r"\s+", "", text)


def profile(job, project, parcels) -> None:
    """Where one worker's time goes: one chunk rendered in this process, after a warm-up."""
    workers.worker_setup()          # rendering here as a worker would
    chunk = inserts.insert_contexts(job, project, parcels)
    brand, sheet = contexts.brand_context(project, job.lang), inserts.Sheet().css()
    inserts._insert_chunk(job, brand, sheet, chunk[:2])
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    with paused_gc():               # as on a worker (inserts._run_chunk)
        inserts._insert_chunk(job, brand, sheet, chunk)
    prof.disable()
    took = time.perf_counter() - t0
    print(f"\nprofile: one chunk of {len(chunk)} in one process: {took:.2f} s "
          f"({len(chunk) / took:.1f} inserts/s under cProfile)")
    stats = pstats.Stats(prof)
    stats.sort_stats("cumulative").print_stats(25)
    stats.sort_stats("tottime").print_stats(20)


if __name__ == "__main__":
    main()
