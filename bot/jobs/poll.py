"""The one way a job waits for the manager: call a check until it says done, sleeping with
backoff on the job's clock.

One rule for an unreachable manager, whichever job waits: a manager that does not answer
(connection refused or reset, a gateway 502/503/504, or a 5xx while it restarts) is not an error
until the overall timeout. The job's thread says so once when it stops answering, and again when
it answers.

Pacing: while the manager answers, every check is `poll_interval_seconds` after the last one, so
a state change on the manager reaches the card within one interval (plus the runner's one-second
card throttle); the interval doubles, up to `poll_max_interval_seconds`, only while the manager
does not answer. The job's card is refreshed at least every CARD_EVERY seconds of a long wait, so
its "so far" time stays true.
"""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from bot.clock import Clock
from bot.errors import ManagerUnavailable, ServerError, SnapbotError, WaitTimeout
from bot.messages.blocks import human_duration

T = TypeVar("T")
log = logging.getLogger(__name__)

#: How often (domain seconds) a waiting job posts a "still waiting" line in its thread.
PROGRESS_EVERY = 60.0
#: How often (domain seconds) a waiting job's card is re-rendered (its elapsed time).
CARD_EVERY = 45.0  # + one poll interval (at most the 15 s default max) stays within a minute


class Pacing(Protocol):
    """The runbook's poll intervals: the first one, doubled up to the max between calls."""

    @property
    def poll_interval_seconds(self) -> float: ...

    @property
    def poll_max_interval_seconds(self) -> float: ...


class Waiter(Protocol):
    """What a waiting job needs of its context: the clock and its thread."""

    @property
    def clock(self) -> Clock: ...

    async def say(self, text: str) -> None: ...

    async def touch_card(self) -> None:
        """Re-render the job's card (no thread line)."""


async def poll(ctx: Waiter, check: Callable[[], Awaitable[T | None]], *, pacing: Pacing,
               timeout: float, what: str, progress: Callable[[float], str] | None = None,
               on_timeout: Callable[[], Awaitable[SnapbotError]] | None = None) -> T:
    """Call `check` until it returns something other than None or False, and return that.

    Raises WaitTimeout (or what `on_timeout` builds) after `timeout` domain seconds; errors other
    than an unreachable manager propagate at once. `progress(elapsed)` feeds a thread line every
    PROGRESS_EVERY seconds."""
    clock = ctx.clock
    interval = pacing.poll_interval_seconds
    start = clock.now()
    last_said = 0.0
    last_card = 0.0
    outage = False
    while True:
        try:
            value = await check()
        except (ManagerUnavailable, ServerError) as exc:
            value = None
            if not outage:
                outage = True
                await ctx.say(f"manager not answering ({exc.manager_message}); still polling")
        else:
            interval = pacing.poll_interval_seconds  # it answers: no backoff
            if outage:
                outage = False
                await ctx.say("the manager answers again")
            if value is not None and value is not False:
                return value
        elapsed = (clock.now() - start).total_seconds()
        if elapsed >= timeout:
            if on_timeout is not None:
                raise await on_timeout()
            raise WaitTimeout(f"gave up waiting for {what} after {human_duration(elapsed)}")
        if progress is not None and elapsed - last_said >= PROGRESS_EVERY:
            last_said = elapsed
            await ctx.say(progress(elapsed))
        if elapsed - last_card >= CARD_EVERY:
            last_card = elapsed
            try:
                await ctx.touch_card()
            except Exception:  # cosmetic: the elapsed time; the wait itself goes on
                log.warning("could not refresh the card during a wait", exc_info=True)
        await clock.sleep(interval)
        if outage:
            interval = min(interval * 2, pacing.poll_max_interval_seconds)


async def retrying(ctx: Waiter, call: Callable[[], Awaitable[T]], *, pacing: Pacing,
                   timeout: float) -> T:
    """`call()` once the manager answers (same rule and timeout as `poll`)."""
    box: list[T] = []

    async def answered() -> bool:
        box.append(await call())
        return True

    await poll(ctx, answered, pacing=pacing, timeout=timeout, what="the manager to answer")
    return box[-1]
