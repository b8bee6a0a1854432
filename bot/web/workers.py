"""A bounded pool of worker threads for blocking answer work (embedding, Chroma, LLM calls).

`anyio.to_thread.run_sync(..., abandon_on_cancel=True)` frees its slot when the caller gives up,
while the thread runs on: a hung store or model then grows threads without bound. Here the threads
are a fixed pool; a caller that gives up gets its answer `TimeoutError`, but the work keeps its
slot until it really ends, and when every slot and the short queue are taken new work is refused
at once (`WorkersBusy`) instead of starting yet another thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")
DEFAULT_WORKERS = 16
DEFAULT_BACKLOG = 64


class WorkersBusy(RuntimeError):
    """Every worker is busy (or hung) and the queue is full."""


class Workers:
    """At most `size` threads; at most `size + backlog` pieces of work in flight."""

    def __init__(self, size: int = DEFAULT_WORKERS, backlog: int | None = None) -> None:
        self.size = size
        self.limit = size + (DEFAULT_BACKLOG if backlog is None else backlog)
        self._pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="casebot-answer")
        self._lock = threading.Lock()
        self._in_flight = 0

    @property
    def in_flight(self) -> int:
        """Work submitted and not yet finished (including work whose caller gave up)."""
        return self._in_flight

    def _done(self, _future: Future[Any]) -> None:
        with self._lock:
            self._in_flight -= 1

    async def run(self, timeout: float, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` in a worker thread; TimeoutError after `timeout` s, WorkersBusy when full."""
        with self._lock:
            if self._in_flight >= self.limit:
                raise WorkersBusy(f"all {self.size} answer workers are busy")
            self._in_flight += 1
        try:
            future = self._pool.submit(fn, *args)
        except BaseException:
            with self._lock:
                self._in_flight -= 1
            raise
        future.add_done_callback(self._done)
        try:
            # shield: a timeout must not cancel the asyncio wrapper's view of a running thread.
            return await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), timeout)
        except TimeoutError:
            future.cancel()  # only succeeds for work still queued: running work keeps its slot
            raise

    def shutdown(self) -> None:
        """Stop accepting work; running work is not waited for."""
        self._pool.shutdown(wait=False, cancel_futures=True)
