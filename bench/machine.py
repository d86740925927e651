"""How fast this shared machine is right now: a fixed pure-Python workload, timed."""
from __future__ import annotations

import time


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


def describe() -> str:
    return f"yardstick {yardstick():.0f} ms (bench/machine.py; lower is a faster machine)"


if __name__ == "__main__":
    print(describe())
