"""Load and rules speed for N synthetic members; prints figures, asserts none.

    .venv/bin/python bench/load.py [N] [--layout sharded|batched] [--out DIR]   (default 100000)

Phases, each in a fresh process so its peak memory is its own: make the brand, load with no
cache, statuses, load again from the cache, `memberportal check` and `memberportal report` as
staff run them (warm cache), load after one member file changed.
"""
from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

AS_OF = date(2026, 11, 24)


def measure(root: Path, statuses: bool) -> dict:
    """One load (and the statuses) in this process: wall seconds and peak RSS."""
    from memberportal.inputs.project import load
    start = time.perf_counter()
    project = load(root)
    loaded = time.perf_counter()
    out = {"members": len(project.members), "load": loaded - start}
    if statuses:
        found, errors = project.statuses(AS_OF)
        out["statuses"] = time.perf_counter() - loaded
        out["errors"] = len(errors)
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    out["rss_mb"] = own / 1024
    out["worker_rss_mb"] = workers / 1024
    return out


def measure_command(root: Path, command: str) -> dict:
    """One command of the CLI in this process, its output thrown away: wall seconds, peak RSS."""
    import contextlib
    import io

    from memberportal.cli import cli
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        cli.main(["-C", str(root), "--as-of", AS_OF.isoformat(), command],
                 standalone_mode=False)
    return {"wall": time.perf_counter() - start,
            "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def phase(root: Path, statuses: bool = False, command: str | None = None) -> dict:
    cmd = [sys.executable, __file__, "--measure", str(root)] + (["--statuses"] if statuses else [])
    if command:
        cmd += ["--command", command]
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)


def report(label: str, r: dict) -> None:
    rate = r["members"] / r["load"]
    line = f"{label:<28} load {r['load']:6.2f} s ({rate:>9,.0f} members/s)"
    if "statuses" in r:
        line += f", statuses {r['statuses']:6.2f} s ({r['members'] / r['statuses']:,.0f}/s)"
    line += f", peak RSS {r['rss_mb']:,.0f} MB"
    if r["worker_rss_mb"]:
        line += f" (workers {r['worker_rss_mb']:,.0f} MB each at most)"
    print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", type=int, nargs="?", default=100_000)
    parser.add_argument("--layout", choices=("sharded", "batched"), default="sharded")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--statuses", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--command", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure_command(args.measure, args.command) if args.command else
                         measure(args.measure, args.statuses)))
        return
    sys.path.insert(0, str(REPO / "bench"))
    from make_brand import make
    root = args.out or REPO / "output" / "bench" / f"load-{args.n}-{args.layout}"
    start = time.perf_counter()
    counts = make(args.n, root, args.seed, args.layout)
    took = time.perf_counter() - start
    size = sum(p.stat().st_size for p in (root / "members").rglob("*.yml"))
    print(f"make_brand {args.n:,} members ({args.layout}, {counts['files']:,} files, "
          f"{size / 1e6:.0f} MB, {counts['orders']:,} orders): {took:.1f} s")
    shutil.rmtree(root / ".memberportal", ignore_errors=True)
    report("load, no cache + statuses", phase(root, statuses=True))
    report("load from cache", phase(root))
    for command in ("check", "report"):
        r = phase(root, command=command)
        print(f"memberportal {command:<15} {r['wall']:6.2f} s, peak RSS {r['rss_mb']:,.0f} MB",
              flush=True)
    first = sorted((root / "members").rglob("*.yml"))[0]
    text = first.read_text(encoding="utf-8")
    first.write_text(text.replace("region: ", "region: 上海 ", 1), encoding="utf-8")
    report("load, one file changed", phase(root))


if __name__ == "__main__":
    main()
