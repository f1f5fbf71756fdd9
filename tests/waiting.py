"""The one way tests wait: `until(predicate)` polls a sync or async predicate until it returns
something truthy and returns that value; after `timeout` seconds it fails naming what it waited
for. The timeout only bounds a broken test: it asserts nothing about time."""
from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

Predicate = Callable[[], Any] | Callable[[], Awaitable[Any]]


async def until(predicate: Predicate, *, timeout: float = 15.0, interval: float = 0.02,
                what: str = "") -> Any:
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
        await asyncio.sleep(interval)
