"""CPU per personal page, serially: parse, rules, page_for, render_batch (QR apart), write.

    .venv/bin/python bench/pages_cpu.py PROJECT [--limit N] [--profile] [--batch 100]

PROJECT is a brand (bench/make_brand.py N makes one). The portal shell is built once by
MkDocs into a temporary folder (not timed). Prints milliseconds per member for each step;
the QR encoder's share of render_batch is measured on its own and shown apart, so the rest
of rendering can be judged whatever QR encoder is in use. Asserts nothing.
"""
from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import generator.templates as templates  # noqa: E402
from generator.build import code_version  # noqa: E402
from generator.pages import page_for, page_job, render_batch  # noqa: E402
from generator.portal import build_portal, language  # noqa: E402
from generator.project import load  # noqa: E402
from generator.tokens import load_secret  # noqa: E402

AS_OF = date(2026, 11, 24)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("project", type=Path)
    parser.add_argument("--limit", type=int, default=3000, help="members to render")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3,
                        help="render the members this many times; the fastest run counts")
    parser.add_argument("--profile", action="store_true", help="cProfile page_for + render")
    parser.add_argument("--save", type=Path, help="keep the first run's pages in this folder")
    parser.add_argument("--no-qr", action="store_true",
                        help="a fixed SVG instead of the QR encoder (to profile the rest)")
    args = parser.parse_args()
    root = args.project.resolve()

    qr_time = [0.0]
    real_qr = templates.qr_svg

    fixed = real_qr("https://example.com/")

    def timed_qr(*a, **kw):
        start = time.perf_counter()
        try:
            return fixed if args.no_qr else real_qr(*a, **kw)
        finally:
            qr_time[0] += time.perf_counter() - start

    templates.qr_svg = timed_qr

    t0 = time.perf_counter()
    project = load(root)
    members = project.members[:args.limit]
    t1 = time.perf_counter()
    statuses = {m.id: project.status(m, AS_OF) for m in members}
    t2 = time.perf_counter()
    n = len(members)
    lang = language(root)
    program = project.program
    secret = load_secret(root, create=True)
    with tempfile.TemporaryDirectory() as tmp:
        env = templates.environment([root / "templates"], lang, program.currency_symbol)
        portal = build_portal(project, env, Path(tmp) / "site")
        job = page_job(portal.shell, [root / "templates"], lang, program.currency_symbol,
                       code_version())
        render_batch(job, [])  # the worker's environment, made once
        profiler = cProfile.Profile() if args.profile else None
        best = None
        for run in range(args.repeat):
            out = args.save if args.save and not run else Path(tmp) / f"pages-{run}"
            out.mkdir(parents=True)
            qr_time[0] = 0.0
            times = _run(members, statuses, program, secret, portal.site_url, lang, job, out,
                         args.batch, profiler)
            times["qr"] = qr_time[0]
            if best is None or times["page"] + times["render"] < best["page"] + best["render"]:
                best = times
    t_page, t_render, t_write, size = best["page"], best["render"], best["write"], best["size"]
    qr_time[0] = best["qr"]

    def ms(seconds: float) -> str:
        return f"{seconds * 1000 / n:6.3f} ms"

    print(f"{n} members (of {len(project.members)} loaded), serial, one process, "
          f"fastest of {args.repeat} runs")
    print(f"  parse (whole project) {(t1 - t0) * 1000 / len(project.members):6.3f} ms")
    print(f"  rules                 {ms(t2 - t1)}")
    print(f"  page_for              {ms(t_page)}")
    print(f"  render_batch          {ms(t_render)}  (QR {ms(qr_time[0]).strip()}; "
          f"without QR {ms(t_render - qr_time[0]).strip()})")
    print(f"  write                 {ms(t_write)}")
    print(f"  page_for + render without QR: {ms(t_page + t_render - qr_time[0]).strip()}")
    print(f"  page size             {size / n / 1000:.1f} kB")
    if profiler:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(30)


def _run(members, statuses, program, secret, site_url, lang, job, out, batch, profiler):
    t_page = t_render = t_write = 0.0
    size = 0
    for i in range(0, len(members), batch):
        chunk = members[i:i + batch]
        if profiler:
            profiler.enable()
        a = time.perf_counter()
        made = [page_for(m, statuses[m.id], program, secret, 0, site_url, lang, job.key)
                for m in chunk]
        b = time.perf_counter()
        results = render_batch(job, [(p.member_id, p.context) for p in made])
        c = time.perf_counter()
        if profiler:
            profiler.disable()
        for page, (_, data, error) in zip(made, results):
            if error:
                sys.exit(f"{page.member_id}: {error}")
            target = out / page.token
            target.mkdir()
            (target / "index.html").write_bytes(data)
            size += len(data)
        d = time.perf_counter()
        t_page, t_render, t_write = t_page + b - a, t_render + c - b, t_write + d - c
    return {"page": t_page, "render": t_render, "write": t_write, "size": size}


if __name__ == "__main__":
    main()
