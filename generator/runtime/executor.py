"""Where render batches run: this machine's cores (`local`) or a Dask cluster (`dask://HOST:PORT`).

A batch job is `fn(shared, chunk) -> result`: `shared` goes to each worker once, chunks are
small plain data. The build uses local workers to read, evaluate and write member files
(`batches.do_files`: they need the project folder and the secret); what goes to a cluster is
only rendering (`pages.render_batch`: templates and shell once, then page contexts; pages come
back and this machine writes them), so a cluster needs no shared filesystem and the brand's
secret never leaves this machine (contexts carry tokens and codes already derived from it).
"""
from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any

from memberportal.errors import BuildError
from memberportal.runtime.limits import die_with_parent

LOCAL = "local"
DASK_SCHEME = "dask://"
CONNECT_TIMEOUT = "10s"

_shared: dict[str, Any] = {}


def _install(parent: int, shared: Any) -> None:
    die_with_parent(parent)
    _shared["value"] = shared


def _call(fn: Callable, chunk: Any) -> Any:
    return fn(_shared["value"], chunk)


class Local:
    """Processes on this machine (spawned: they share nothing with the build's memory)."""

    def __init__(self, workers: int | None = None):
        self.workers = max(1, workers or min(2, os.cpu_count() or 1))
        self.name = f"local ({self.workers} process{'es' if self.workers > 1 else ''})"
        self._pool: ProcessPoolExecutor | None = None
        self._shared: Any = None

    def map(self, fn: Callable, shared: Any, chunks: Iterable) -> Iterator[tuple[int, Any]]:
        """(index, result) for each chunk, as they finish; at most 2 chunks queued per worker."""
        chunks = iter(chunks)
        first = next(chunks, None)
        if first is None:
            return
        second = next(chunks, None)
        if self.workers == 1 or second is None:  # not worth starting processes
            yield 0, fn(shared, first)
            if second is not None:
                yield 1, fn(shared, second)
                for i, chunk in enumerate(chunks, 2):
                    yield i, fn(shared, chunk)
            return
        if self._pool is None or self._shared is not shared:
            self.close()
            ctx = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_install,
                                             initargs=(os.getpid(), shared))
            self._shared = shared
        pool = self._pool
        yield from _bounded(lambda c: pool.submit(_call, fn, c), _chain(first, second, chunks),
                            2 * self.workers, lambda f: f.result(),
                            lambda fs: wait(fs, return_when=FIRST_COMPLETED)[0])

    def close(self) -> None:
        """Stop the worker processes (kept between map() calls with the same `shared`)."""
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = self._shared = None


class Dask:
    """Worker processes of a Dask distributed cluster; needs `dask[distributed]` here and there.

    Start workers with one thread each (`dask worker HOST:PORT --nworkers N --nthreads 1`):
    rendering is pure Python, so threads in one process would wait on each other.
    """

    def __init__(self, address: str):
        try:
            from distributed import Client
        except ImportError:
            raise BuildError("--executor dask:// needs Dask: pip install 'dask[distributed]'"
                             ) from None
        self.address = address
        try:
            self.client = Client(address, timeout=CONNECT_TIMEOUT)
        except OSError as e:
            raise BuildError(f"cannot reach the Dask scheduler at {address}: {e}") from None
        threads = self.client.nthreads()
        self.workers = max(1, sum(threads.values()))
        self.name = f"dask {address} ({len(threads)} workers, {self.workers} threads)"

    def map(self, fn: Callable, shared: Any, chunks: Iterable) -> Iterator[tuple[int, Any]]:
        from distributed import wait as dask_wait
        [ref] = self.client.scatter([shared], broadcast=True, hash=False)
        try:
            yield from _bounded(lambda c: self.client.submit(fn, ref, c, pure=False),
                                chunks, 2 * self.workers + 2, lambda f: f.result(),
                                lambda fs: dask_wait(fs, return_when="FIRST_COMPLETED").done)
        finally:
            self.client.cancel([ref])

    def close(self) -> None:
        self.client.close()


def _chain(*items_then_rest):
    *items, rest = items_then_rest
    yield from items
    yield from rest


def _bounded(submit, chunks: Iterable, limit: int, result, wait_some) -> Iterator[tuple[int, Any]]:
    """Submit chunks lazily, never more than `limit` unfinished: the input is streamed."""
    pending: dict[Any, int] = {}
    chunks = iter(chunks)
    index = 0
    while True:
        while len(pending) < limit:
            chunk = next(chunks, None)
            if chunk is None:
                break
            pending[submit(chunk)] = index
            index += 1
        if not pending:
            return
        for future in wait_some(list(pending)):
            yield pending.pop(future), result(future)


def make_executor(spec: str | None, workers: int | None = None) -> Local | Dask:
    """`local` (default) or `dask://HOST:PORT` (a running Dask scheduler)."""
    if not spec or spec == LOCAL:
        return Local(workers)
    if spec.startswith(DASK_SCHEME):
        address = spec[len(DASK_SCHEME):].strip("/")
        if not address:
            raise BuildError("--executor dask:// needs the scheduler's HOST:PORT")
        return Dask("tcp://" + address if "://" not in address else address)
    raise BuildError(f"unknown executor {spec!r}: use 'local' or 'dask://HOST:PORT'")
