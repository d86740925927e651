"""Print workers run their tasks on a frame stack that does not churn memory."""
from __future__ import annotations

import resource

from memberportal.runtime.limits import run_limited


def faults_at_the_worst_depth(*_task) -> int:
    """The most minor page faults taken by 2,000 calls made at one stack depth (1 to 400).

    On CPython up to 3.13.12, calls that cross a boundary between two chunks of the frame
    stack map and unmap a chunk each time (python/cpython#142183): at one of these depths that
    is a page fault per call, about 2,000.
    """
    def down(n, then):
        return down(n - 1, then) if n else then()

    def leaf():
        return None

    def calls():
        for _ in range(2000):
            leaf()

    worst = 0
    for depth in range(1, 400):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        down(depth, calls)
        worst = max(worst, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    return worst


def test_print_workers_make_deep_calls_without_churning_the_frame_stack():
    [worst] = run_limited(faults_at_the_worst_depth, [0], ["frame stack"], workers=1)
    assert worst < 100, worst
