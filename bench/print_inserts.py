"""Inserts per second for a batch of parcels (default 300 on 2 workers), with a profile.

    .venv/bin/python bench/print_inserts.py [--parcels 300] [--workers 2] [--chunk 100] [--profile]

Builds a throwaway project from the example brand (members/), a parcels file cycling over
its members, renders the batch and prints the figures; --profile adds a cProfile of one
chunk rendered in this process (where a worker's time goes).
"""
from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from generator import prints  # noqa: E402
from generator.project import load  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--parcels", type=int, default=300)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--chunk", type=int, default=prints.CHUNK)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        shutil.copytree(REPO / "members", root / "members")
        project = load(root)
        secret = os.urandom(32).hex().encode()
        job = prints.make_job(project, date(2026, 11, 24), "zh", secret)
        ids = [m.id for m in project.members]
        parcels = [prints.Parcel(i + 2, f"BENCH{i:06d}", ids[i % len(ids)])
                   for i in range(args.parcels)]
        out = root / "inserts.pdf"
        t0 = time.perf_counter()
        result = prints.build_inserts(job, project, parcels, out, workers=args.workers,
                                      chunk=args.chunk)
        took = time.perf_counter() - t0
        print(f"{args.parcels} inserts, {args.workers} workers, chunks of {args.chunk}: "
              f"{took:.1f} s, {args.parcels / took:.1f} inserts/s, "
              f"{result['bytes'] / 1e6:.2f} MB ({result['bytes'] / args.parcels / 1e3:.1f} kB "
              "per insert)")
        if args.profile:
            contexts = prints.insert_contexts(job, project, parcels[:args.chunk])
            brand, sheet = prints.brand_context(project), prints.Sheet().css()
            prints._insert_chunk(job, brand, sheet, contexts[:2])  # warm: fonts, templates
            prof = cProfile.Profile()
            t0 = time.perf_counter()
            prof.enable()
            prints._insert_chunk(job, brand, sheet, contexts)
            prof.disable()
            took = time.perf_counter() - t0
            print(f"one chunk of {len(contexts)} in one process: {took:.2f} s "
                  f"({len(contexts) / took:.1f} inserts/s)")
            pstats.Stats(prof).sort_stats("cumulative").print_stats(30)


if __name__ == "__main__":
    main()
