"""The look of long work: one progress bar on a terminal, and the cyclic GC paused while loading."""
from __future__ import annotations

import gc
import sys
from contextlib import contextmanager
from typing import Iterable


@contextmanager
def paused_gc(resume: bool = True, freeze: bool = False):
    """Loading allocates millions of objects and frees none; the cyclic collector would walk
    every one of them again and again (measured: half the load time for large files).

    `resume=False` leaves it off afterwards, for a process that ends soon: turned back on, it
    collects once over everything made while it was off (0.2-0.3 s after a 100,000-member
    build), which the exit makes pointless. `freeze=True` puts what is alive then out of the
    collector's sight for good (gc.freeze), for data the process keeps: turned back on, the
    collector walks objects made while it was off once per generation as they age (100,000
    statuses: 12.5 s in three passes over ten million objects)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if freeze:
            gc.freeze()
        if enabled and resume:
            gc.enable()


def progress_bar(show: bool, iterable: Iterable | None = None, **kw):
    """A tqdm progress bar on stderr, drawn only on a terminal (and when `show`), cleared when
    done: the one look of every long step (build stages, reading members, print runs)."""
    from tqdm import tqdm
    return tqdm(iterable, file=sys.stderr, disable=not show or None, leave=False, **kw)
