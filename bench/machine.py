"""This shared machine: how fast it is right now (a fixed workload, timed), and clean-up that
does not slow the timings down (set_aside)."""
from __future__ import annotations

import time
from pathlib import Path


def yardstick(rounds: int = 5) -> float:
    """Milliseconds of CPU for a fixed mix of dict, string and integer work, the kind a build
    does (fastest of `rounds`). Printed by the bench scripts at their start and end, so runs
    made while the shared machine was slower or faster can be compared."""
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        counts: dict[str, int] = {}
        for i in range(150_000):
            key = f"M{i % 4999:06d}"
            counts[key] = counts.get(key, 0) + (i * 7919) % 13
        words = sorted(counts, key=counts.__getitem__)
        " ".join(words).encode().decode().split()
        best = min(best, time.process_time() - start)
    return best * 1000


def set_aside(path: Path, trash: Path) -> None:
    """Move `path` (if it exists) into `trash` on the same filesystem, for the caller to delete
    after its timings. On ext4 without a journal (the development machine's disk) files made
    in the minutes after a large deletion cost several times the system time: see
    bench/build.py."""
    if path.exists():
        trash.mkdir(parents=True, exist_ok=True)
        path.rename(trash / f"{path.name}-{time.time_ns()}")


def describe() -> str:
    return f"yardstick {yardstick():.0f} ms (bench/machine.py; lower is a faster machine)"


if __name__ == "__main__":
    print(describe())
