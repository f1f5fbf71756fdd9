"""Injectable time. Domain code never calls datetime.now() or asyncio.sleep() directly."""
from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """Aware UTC datetime."""

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


#: sorts before every time snapbot keeps (aware, so comparing it with them is valid)
EARLIEST = datetime.min.replace(tzinfo=UTC)


def iso(dt: datetime) -> str:
    """UTC ISO-8601 with a Z, the way Cloudify writes times."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def required_time(value: str | None) -> datetime:
    """`parse_time` for a time that must be there (a stored `at`, a run's slot)."""
    parsed = parse_time(value)
    if parsed is None:
        raise ValueError("a required time is missing")
    return parsed


def parse_time(value: str | None) -> datetime | None:
    """Parse Cloudify's time strings (with Z, offsets, or naive = UTC)."""
    if not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    dt = datetime.fromisoformat(text)
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
