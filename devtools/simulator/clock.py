"""The simulator's time: the one module of devtools/simulator that reads the system clock or sleeps
(tests/test_layers.py holds it to that).

Two clocks share one interface (`SimClock`):

- `ScaledClock` (the default; the demo and `snapbot simulator`): real time, with every simulated
  duration divided by the speed knob (`SimulatorOptions.speed`, changeable at run time). The
  manager's wall clock (`now()`) runs at real pace; `/_sim/clock` shifts it.
- `ManualClock` (`SimulatorOptions(clock="manual")`): time stands still until someone moves it,
  in process (`sim.clock.advance(s)`, `sim.clock.advance_to_next()`) or through
  `POST /_sim/clock`. Workflows, outages and lingering statuses then change only when a test
  says so: nothing depends on how fast the machine is.

Durations given to `sleep`/`deadline` are simulated seconds. `pause` is not simulated time: it is
the short real-time step of the simulator's own polling loops (the ticker, a queued execution
waiting for its turn), which must keep turning whichever clock runs.
"""
from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

CLOCKS = ("scaled", "manual")


class SimClock(Protocol):
    def now(self) -> datetime:
        """The manager's wall clock (UTC)."""
        ...

    def advance(self, seconds: float) -> None:
        """`POST /_sim/clock {"advance": s}`: move the manager's clock forward."""
        ...

    def reset(self) -> None:
        """Undo every `advance` of the wall clock (`/_sim/reset`)."""
        ...

    def deadline(self, seconds: float) -> float:
        """The point `seconds` simulated seconds from now, for `passed`/`left`/`sleep_until`."""
        ...

    def left(self, deadline: float) -> float:
        """How far `deadline` is (> 0 while it has not passed)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Let `seconds` simulated seconds pass."""
        ...

    async def sleep_until(self, deadline: float) -> None:
        ...

    async def pause(self, real_seconds: float) -> None:
        """A real-time step of a polling loop (not simulated time)."""
        ...


async def _pause(real_seconds: float) -> None:
    await asyncio.sleep(real_seconds)


class ScaledClock:
    """Real time; simulated durations take `seconds / speed()` real seconds."""

    def __init__(self, speed: Callable[[], float]) -> None:
        self._speed = speed
        self.offset = 0.0

    def _real(self, seconds: float) -> float:
        return max(0.0, seconds) / max(self._speed(), 1e-9)

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.offset)

    def advance(self, seconds: float) -> None:
        self.offset += seconds

    def reset(self) -> None:
        self.offset = 0.0

    def deadline(self, seconds: float) -> float:
        return time.monotonic() + self._real(seconds)

    def left(self, deadline: float) -> float:
        return deadline - time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(self._real(seconds))

    async def sleep_until(self, deadline: float) -> None:
        # a timer, not a busy wait
        await asyncio.sleep(max(0.0, self.left(deadline)))

    async def pause(self, real_seconds: float) -> None:
        await _pause(real_seconds)


class ManualClock:
    """Time moves only by `advance`/`advance_to_next`. Every sleeper and every deadline handed out
    is a timer: `next_due()` is the nearest one still ahead, so a test can step from one thing
    the manager does to the next without knowing its durations."""

    def __init__(self, start: datetime | None = None) -> None:
        self._start = start or datetime.now(UTC).replace(microsecond=0)
        self._elapsed = 0.0  # simulated seconds since start
        self._seq = itertools.count()
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._marks: list[float] = []  # deadlines handed out (outage ends, lingering statuses)

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self._elapsed)

    @property
    def elapsed(self) -> float:
        return self._elapsed

    def advance(self, seconds: float) -> None:
        """Let `seconds` pass: every timer that falls due is woken, in order."""
        self._elapsed += max(0.0, seconds)
        while self._sleepers and self._sleepers[0][0] <= self._elapsed:
            _, _, fut = heapq.heappop(self._sleepers)
            if not fut.done():
                fut.set_result(None)
        while self._marks and self._marks[0] <= self._elapsed:
            heapq.heappop(self._marks)

    def next_due(self) -> float | None:
        """Simulated seconds to the nearest pending timer; None when nothing waits on time."""
        while self._sleepers and self._sleepers[0][2].done():  # a cancelled sleeper
            heapq.heappop(self._sleepers)
        while self._marks and self._marks[0] <= self._elapsed:
            heapq.heappop(self._marks)
        due = [t for t in (self._sleepers[0][0] if self._sleepers else None,
                           self._marks[0] if self._marks else None) if t is not None]
        return max(0.0, min(due) - self._elapsed) if due else None

    def advance_to_next(self) -> bool:
        """Move to the nearest pending timer and wake it; False when nothing waits on time."""
        step = self.next_due()
        if step is None:
            return False
        self.advance(step)
        return True

    def reset(self) -> None:
        pass  # the manual clock has no shift apart from time itself

    def deadline(self, seconds: float) -> float:
        point = self._elapsed + max(0.0, seconds)
        if point > self._elapsed:
            heapq.heappush(self._marks, point)
        return point

    def left(self, deadline: float) -> float:
        return deadline - self._elapsed

    async def sleep(self, seconds: float) -> None:
        await self.sleep_until(self._elapsed + max(0.0, seconds))

    async def sleep_until(self, deadline: float) -> None:
        if deadline <= self._elapsed:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (deadline, next(self._seq), fut))
        await fut

    async def pause(self, real_seconds: float) -> None:
        await _pause(real_seconds)


def make_clock(kind: str, speed: Callable[[], float]) -> ScaledClock | ManualClock:
    """The clock `SimulatorOptions.clock` names."""
    if kind == "manual":
        return ManualClock()
    if kind == "scaled":
        return ScaledClock(speed)
    raise ValueError(f"unknown simulator clock {kind!r} (one of {', '.join(CLOCKS)})")


__all__ = ["CLOCKS", "ManualClock", "ScaledClock", "SimClock", "make_clock"]
