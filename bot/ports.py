"""What the dispatcher needs of the services it hands commands to (each implemented elsewhere:
the restore runbook, the daily job, restore drills, the posture), as protocols, so the
dispatcher depends on none of their modules."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from bot.commands import model as m
from bot.invocation import Invocation, Reply
from bot.messages.posture import ManagerPosture


class Restores(Protocol):
    """The restore runbook's entry (bot.jobs.restore's RestoreService)."""

    async def request(self, cmd: m.SnapshotsRestore, inv: Invocation) -> Reply: ...


class Daily(Protocol):
    """The daily job's commands (bot.jobs.daily's DailyService)."""

    async def describe(self, manager: str) -> Reply: ...

    async def run_now(self, manager: str, inv: Invocation) -> Reply: ...


class Drills(Protocol):
    """Restore drills (bot.jobs.drill's DrillService)."""

    async def run_now(self, manager: str | None, inv: Invocation) -> Reply: ...


class Posture(Protocol):
    """The backup posture (bot.posture's Posture)."""

    async def managers(self, only: str | None = None) -> Sequence[ManagerPosture]: ...
