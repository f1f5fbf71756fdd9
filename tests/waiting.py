"""The one way tests wait: `until(predicate)` polls a sync or async predicate until it returns
something truthy and returns that value; after `timeout` seconds it fails naming what it waited
for. The timeout only bounds a broken test: it asserts nothing about time.

`advancing=[sim.clock, ...]` (simulators on `SimulatorOptions(clock="manual")`) lets the manager's
time pass while waiting: each poll that finds the predicate still false moves every such clock to
its next timer (the end of a workflow's phase, of an outage, ...), so the manager's work goes on
one step at a time at no pace of its own, whatever the machine's load. Without it a manual clock
stands still: the manager stays where it is while the test waits on the bot."""
from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from devtools.simulator import SimulatorOptions
from devtools.simulator.clock import ManualClock

#: a manager whose time stands still: a create or a restore stays in its phase until a wait
#: advances it (in place of "slow enough that it does not end during the test")
HELD = SimulatorOptions(clock="manual")

Predicate = Callable[[], Any] | Callable[[], Awaitable[Any]]
#: the real-time breath after a step of a manual clock: enough for woken workflows and the bot's
#: next poll over loopback to run, short enough that a driven test is no slower than a fast one
STEP_PAUSE = 0.003


async def until(predicate: Predicate, *, timeout: float = 15.0, interval: float = 0.02,
                what: str = "", advancing: Iterable[Any] = ()) -> Any:
    clocks = manual_clocks(advancing)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if loop.time() > deadline:
            name = what or getattr(predicate, "__name__", repr(predicate))
            raise AssertionError(f"timed out after {timeout}s waiting for {name} (last value: {value!r})")
        stepped = [clock.advance_to_next() for clock in clocks]
        await asyncio.sleep(STEP_PAUSE if any(stepped) else interval)


def manual_clocks(items: Iterable[Any]) -> list[ManualClock]:
    """The manual clocks among `items` (clocks, or simulators by their `.clock`)."""
    found = []
    for item in items:
        clock = getattr(item, "clock", item)
        if isinstance(clock, ManualClock):
            found.append(clock)
    return found
