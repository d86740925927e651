"""Rendering under limits: each task runs in a worker process with a memory cap and a time limit.

A template with a huge page or font size makes WeasyPrint lay out thousands of pages: without
limits it takes the machine's memory or runs for hours. Each task here runs in a worker
process whose address space is capped (RLIMIT_AS); the parent kills a worker that runs past
the time limit and starts a fresh one, so one bad task is reported by name and the others go on.
"""
from __future__ import annotations

import ctypes
import multiprocessing
import os
import resource
import signal
import time
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import wait
from typing import Any, Callable

from memberportal.errors import BuildError, MemberPortalError

TIMEOUT_ENV = "MEMBERPORTAL_RENDER_TIMEOUT"     # seconds per task
MEMORY_ENV = "MEMBERPORTAL_RENDER_MEMORY"       # MB of address space per worker
PR_SET_PDEATHSIG = 1                            # linux/prctl.h


@dataclass(frozen=True)
class Limits:
    seconds: float = 600.0
    memory_mb: int = 4096   # address space, not resident memory: libraries map a lot

    @classmethod
    def from_env(cls) -> "Limits":
        try:
            seconds = float(os.environ.get(TIMEOUT_ENV) or cls.seconds)
            memory = int(os.environ.get(MEMORY_ENV) or cls.memory_mb)
        except ValueError:
            raise BuildError(f"{TIMEOUT_ENV} (seconds) and {MEMORY_ENV} (MB) must be numbers"
                             ) from None
        return cls(seconds, memory)


def die_with_parent(parent: int) -> None:
    """In a worker: be killed when the process that started it dies (Linux; elsewhere nothing).

    A build killed with SIGKILL cannot stop its workers, and a worker waiting on a pipe whose
    other end it holds itself (fork inherits it; a spawned pool's queue carries both ends)
    would wait for ever.
    """
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return
    if prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0 and os.getppid() != parent:
        os._exit(1)  # it died before the line above


def roomy(fn: Callable[..., Any], *args: Any) -> Any:
    """fn(*args), its calls kept in one memory chunk of the interpreter's frame stack."""
    return fn(*args)


# CPython up to 3.13.12 keeps a thread's frames in 16 KB chunks and frees a chunk as soon as the
# frame at its start returns: deep code that keeps calling across such a boundary pays an mmap,
# a munmap and page faults every time (python/cpython#142183). WeasyPrint's layout crossed one
# ~160 times per insert (strace; 8% of a worker's CPU was the kernel's). A frame this big gets a
# 1 MB chunk of its own and everything it calls fits in the half it leaves free.
roomy.__code__ = roomy.__code__.replace(co_stacksize=65_000)


def _serve(conn, fn: Callable[[Any], Any], memory_mb: int, parent: int) -> None:
    """A worker: apply the memory cap, then run tasks until told to stop."""
    die_with_parent(parent)
    limit = memory_mb * 1024 * 1024
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard == resource.RLIM_INFINITY or limit < hard:
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        try:
            conn.send(("ok", roomy(fn, task)))
        except MemberPortalError as e:  # a template error, a missing glyph: passed on as it is
            conn.send(("raised", e))
        except MemoryError:
            conn.send(("memory", None))
            os._exit(0)   # the heap may be in a bad state: a new worker takes the next task
        except BaseException as e:  # noqa: BLE001 - reported to the parent by name
            conn.send(("error", f"{type(e).__name__}: {e}"))


@dataclass
class _Worker:
    process: Any
    conn: Any

    def stop(self, kill: bool = False) -> None:
        if kill:
            self.process.kill()
        else:
            try:
                self.conn.send(None)
            except OSError:
                pass
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


def run_limited(fn: Callable[[Any], Any], tasks: list[Any], labels: list[str],
                workers: int = 1, limits: Limits | None = None,
                on_result: Callable[[int, Any], None] | None = None) -> list[Any]:
    """fn(task) for every task on `workers` processes, results in task order.

    A MemberPortalError raised by a task is returned in its place; a task that runs out of
    memory or time, or crashes its worker, gives a BuildError naming its label; the other
    tasks still run. `on_result(index, result)` is called as each result comes back (in the
    order they finish), e.g. to use it while the other tasks run.
    """
    limits = limits or Limits.from_env()
    ctx = multiprocessing.get_context("fork")  # workers inherit loaded modules and fonts
    results: list[Any] = [None] * len(tasks)
    pending = deque(range(len(tasks)))
    idle: list[_Worker] = []
    busy: dict[Any, tuple[_Worker, int, float]] = {}

    def start() -> _Worker:
        parent, child = ctx.Pipe()
        process = ctx.Process(target=_serve, args=(child, fn, limits.memory_mb, os.getpid()),
                              daemon=True)
        process.start()
        child.close()
        return _Worker(process, parent)

    try:
        while pending or busy:
            while pending and len(busy) < max(1, workers):
                worker = idle.pop() if idle else start()
                index = pending.popleft()
                worker.conn.send(tasks[index])
                busy[worker.conn] = (worker, index, time.monotonic() + limits.seconds)
            next_deadline = min(deadline for _, _, deadline in busy.values())
            for conn in wait(list(busy), timeout=max(0.0, next_deadline - time.monotonic())):
                worker, index, _ = busy.pop(conn)
                try:
                    state, value = conn.recv()
                except (EOFError, OSError):
                    worker.process.join()
                    state, value = "died", worker.process.exitcode
                if state in ("ok", "raised"):
                    results[index] = value
                    idle.append(worker)
                else:
                    results[index] = _failure(state, value, labels[index], limits)
                    if state == "error":
                        idle.append(worker)
                    else:
                        worker.stop(kill=True)
                if on_result:
                    on_result(index, results[index])
            now = time.monotonic()
            for conn, (worker, index, deadline) in list(busy.items()):
                if now >= deadline:
                    del busy[conn]
                    worker.stop(kill=True)
                    results[index] = _failure("time", None, labels[index], limits)
                    if on_result:
                        on_result(index, results[index])
    finally:
        for worker in idle:
            worker.stop()
        for worker, _, _ in busy.values():
            worker.stop(kill=True)
    return results


def _failure(state: str, value: Any, label: str, limits: Limits) -> BuildError:
    if state == "time":
        why = (f"stopped after {limits.seconds:g} s (the time limit, {TIMEOUT_ENV}); a huge "
               "page or font size makes thousands of pages")
    elif state == "memory":
        why = (f"ran out of memory (limit {limits.memory_mb} MB, {MEMORY_ENV}); a huge page "
               "or font size makes thousands of pages")
    elif state == "died":
        why = (f"the worker process died (exit code {value}), probably out of memory "
               f"(limit {limits.memory_mb} MB, {MEMORY_ENV})")
    else:
        why = f"failed: {value}"
    return BuildError(f"{label}: {why}", kind="render limit")
