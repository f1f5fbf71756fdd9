"""Transfer progress: bytes, percent and rate of an archive on its way, published at most every
`every` seconds without slowing the stream.

A `TransferMeter` counts the chunks flowing through `count` (one addition and one clock read
per chunk) and, when `every` seconds have passed on its clock since the last publish, hands a
`TransferView` to `publish` in a task of its own: the stream never waits for the database or
Slack, and at most one publish is in flight (a slow one makes the next wait, never pile up).
`finish` waits for the last one. Jobs publish to their card and the terminal
(`bot.jobs.transfer.job_meter`).
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bot.messages.blocks import human_size

log = logging.getLogger(__name__)

#: seconds between two publishes of a transfer's progress
EVERY = 10.0


@dataclass(frozen=True)
class TransferView:
    """Where a transfer stands: `what` ("downloading", "uploading"), bytes so far, the total
    when known, seconds since it began and the mean rate (bytes per second)."""

    what: str
    done: int
    total: int | None
    elapsed: float
    rate: float

    @property
    def percent(self) -> float | None:
        return 100.0 * self.done / self.total if self.total else None

    def as_dict(self) -> dict[str, Any]:
        return {"what": self.what, "done": self.done, "total": self.total,
                "elapsed": round(self.elapsed, 1), "rate": round(self.rate)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TransferView:
        total = data.get("total")
        return cls(what=str(data.get("what") or "transferring"), done=int(data.get("done") or 0),
                   total=int(total) if total else None, elapsed=float(data.get("elapsed") or 0),
                   rate=float(data.get("rate") or 0))


Publish = Callable[[TransferView], Awaitable[None]]


class TransferMeter:
    """Counts a stream's bytes and publishes where it stands (see the module doc)."""

    def __init__(self, what: str, total: int | None, publish: Publish, *,
                 clock: Callable[[], float] = time.monotonic, every: float = EVERY) -> None:
        self.what = what
        self.total = total if total and total > 0 else None
        self.publish = publish
        self.clock = clock
        self.every = every
        self.done = 0
        self.published = 0
        self._start = clock()
        self._last = self._start
        self._task: asyncio.Task[None] | None = None

    def view(self, now: float | None = None) -> TransferView:
        elapsed = max((self.clock() if now is None else now) - self._start, 0.0)
        return TransferView(self.what, self.done, self.total, elapsed,
                            self.done / elapsed if elapsed > 0 else 0.0)

    async def count(self, chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
        """The same chunks, counted."""
        async for chunk in chunks:
            self.done += len(chunk)
            now = self.clock()
            if now - self._last >= self.every and (self._task is None or self._task.done()):
                self._last = now
                self._task = asyncio.create_task(self._publish(self.view(now)),
                                                 name=f"progress:{self.what}")
            yield chunk

    async def _publish(self, view: TransferView) -> None:
        try:
            await self.publish(view)
            self.published += 1
        except asyncio.CancelledError:
            raise
        except Exception:  # progress is a courtesy: never the transfer's failure
            log.warning("could not show the %s progress", self.what, exc_info=True)

    async def finish(self) -> None:
        """Wait for a publish still in flight."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            await task


def progress_line(view: TransferView) -> str:
    """`downloading: 412.0 MB of 1.0 GB (40%) at 85.3 MB/s`: for the card and the terminal."""
    done = human_size(view.done)
    of = f" of {human_size(view.total)} ({view.percent:.0f}%)" if view.total else ""
    rate = f" at {human_size(int(view.rate))}/s" if view.rate else ""
    return f"{view.what}: {done}{of}{rate}"


__all__ = ["EVERY", "TransferMeter", "TransferView", "progress_line"]
