"""The one way snapbot's background loops start and stop (approvals expiry, the outbox sender,
the manager probe)."""
from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any


def ensure_running(task: asyncio.Task[None] | None, loop: Callable[[], Coroutine[Any, Any, None]],
                   name: str) -> asyncio.Task[None]:
    """`task` if it is still running, else a new task running `loop()`."""
    if task is not None and not task.done():
        return task
    return asyncio.create_task(loop(), name=name)


async def cancel_and_wait(task: asyncio.Task[None] | None) -> None:
    """Cancel `task` and wait until it has stopped; how it ended is its own business (it logs)."""
    if task is None:
        return
    task.cancel()
    try:
        await task
    except (asyncio.CancelledError, Exception):
        pass
