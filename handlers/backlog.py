"""Work that follows an ack, run by a few background workers in arrival order.

A listener acks first and hands the rest (the dispatcher call, the `respond`) to the backlog.
Under a burst of commands the acks then never queue behind earlier commands' work on the event
loop: at most `workers` of them run at once, however many were acked, and a worker starts the
next piece of work only when no request is being acked (or after `max_defer` seconds, so work
always progresses under sustained load).
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

Work = Callable[[], Awaitable[None]]


class Backlog:
    def __init__(self, *, workers: int = 1, limit: int = 2000, max_defer: float = 1.0) -> None:
        self.workers = workers
        self.limit = limit
        self.max_defer = max_defer
        self._queue: asyncio.Queue[Work] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._acking = 0
        self._quiet: asyncio.Event | None = None

    # requests being acked (a Bolt middleware calls these around each request)
    def request_started(self) -> None:
        self._acking += 1
        if self._quiet is not None:
            self._quiet.clear()

    def request_acked(self) -> None:
        self._acking = max(0, self._acking - 1)
        if self._acking == 0 and self._quiet is not None:
            self._quiet.set()

    async def _wait_quiet(self) -> None:
        if self._acking == 0:
            return
        if self._quiet is None:
            self._quiet = asyncio.Event()
        try:
            await asyncio.wait_for(self._quiet.wait(), self.max_defer)
        except TimeoutError:
            pass  # sustained load: run it anyway

    def has_room(self) -> bool:
        return self._queue is None or self._queue.qsize() < self.limit

    def submit(self, work: Work) -> bool:
        """Queue `work`; False (nothing queued) when the backlog is full."""
        if self._queue is None:
            self._queue = asyncio.Queue()
            self._tasks = [asyncio.create_task(self._worker(), name=f"backlog-{i}")
                           for i in range(self.workers)]
        if self._queue.qsize() >= self.limit:
            return False
        self._queue.put_nowait(work)
        return True

    async def _worker(self) -> None:
        assert self._queue is not None
        while True:
            work = await self._queue.get()
            try:
                await self._wait_quiet()
                await work()
            except Exception:
                log.exception("background work after an ack failed")
            finally:
                self._queue.task_done()

    async def join(self) -> None:
        """Wait until everything queued so far is done (tests, shutdown)."""
        if self._queue is not None:
            await self._queue.join()

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        self._tasks, self._queue = [], None
