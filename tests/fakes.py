"""Test doubles of the domain's collaborators: a clock tests move by hand, a clock running
faster than real time, a notifier that records every call."""
from __future__ import annotations

import asyncio
import itertools
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.notifier import Message, MessageRef, plain_text


class FakeClock:
    """A clock tests move by hand. `sleep` advances time instead of waiting (and yields once)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)

    def set(self, when: datetime) -> None:
        self._now = when

    async def sleep(self, seconds: float) -> None:
        self.advance(seconds)
        await asyncio.sleep(0)


class ScaledClock:
    """Real time run `speed` times faster: `sleep(s)` takes s / speed real seconds, and `now()`
    moves `speed` seconds per real second (a 60-second Slack outage in a couple of seconds)."""

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self._start = datetime.now(UTC)
        self._t0 = time.monotonic()

    def now(self) -> datetime:
        return self._start + timedelta(seconds=(time.monotonic() - self._t0) * self.speed)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.speed)


class RecordingNotifier:
    """Keeps every call, for tests of the domain without Slack."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any, Message]] = []
        self._ts = itertools.count(1)

    local = False

    async def post(self, channel: str, message: Message, *, thread_ts: str | None = None,
                   key: str | None = None) -> MessageRef:
        ref = MessageRef(channel, f"{next(self._ts)}.000")
        self.calls.append(("post" if thread_ts is None else "reply", (channel, thread_ts, ref.ts), message))
        return ref

    async def find_posted(self, channel: str, key: str, *, thread_ts: str | None = None,
                          oldest: float = 0.0) -> str | None:
        return None

    async def update(self, ref: MessageRef, message: Message) -> None:
        self.calls.append(("update", (ref.channel, ref.ts), message))

    async def ephemeral(self, channel: str, user: str, message: Message) -> None:
        self.calls.append(("ephemeral", (channel, user), message))

    def texts(self, kind: str | None = None) -> list[str]:
        return [plain_text(m) for k, _, m in self.calls if kind is None or k == kind]
