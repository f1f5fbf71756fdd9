"""Helpers for the daily snapshot tests: settings for a simulator, services on a FakeClock."""
from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot import archive, bootstrap
from bot.config.settings import (
    AccessConfig,
    ManagerConfig,
    RetentionConfig,
    RunbookConfig,
    ScheduleConfig,
    Settings,
    SlackConfig,
)
from tests.archive_support import list_archived
from tests.fakes import FakeClock, RecordingNotifier

CHANNEL = "C_OPS"
#: 2026-01-10 03:00 Europe/Paris is 02:00 UTC (winter)
SLOT = datetime(2026, 1, 10, 2, 0, tzinfo=UTC)


def daily_settings(sim_url: str, tmp_path: Path, *, keep_on_manager: int = 2, keep_archived: int = 2,
                   archive_dir: str | None = None, **schedule: Any) -> Settings:
    return Settings(
        managers=(ManagerConfig(name="default", url=sim_url, username="admin", password="admin"),),
        slack=SlackConfig(channel=CHANNEL), access=AccessConfig(operators=frozenset({"U1"})),
        schedule=ScheduleConfig(**{"cron": "0 3 * * *", "timezone": "Europe/Paris",
                                   "misfire_grace_seconds": 3600, **schedule}),
        retention=RetentionConfig(keep_on_manager=keep_on_manager, keep_archived=keep_archived),
        runbook=RunbookConfig(poll_interval_seconds=0.02, poll_max_interval_seconds=0.1,
                              snapshot_timeout_seconds=3600),
        db_path=str(tmp_path / "snapbot.db"),
        archive_dir=archive_dir or str(tmp_path / "archives"))


@asynccontextmanager
async def daily_services(settings: Settings, clock: FakeClock | None = None,
                         notifier: Any = None) -> AsyncIterator[Any]:
    services = await bootstrap.build_services(settings, notifier=notifier or RecordingNotifier(),
                                              clock=clock or FakeClock(SLOT))
    try:
        yield services
    finally:
        await bootstrap.stop(services)


def archive_files(archive_dir: str | Path, manager: str = "default") -> list[str]:
    d = Path(archive_dir) / manager
    return sorted(p.name for p in d.iterdir()) if d.is_dir() else []


def verified_archives(archive_dir: str | Path, manager: str = "default") -> list[str]:
    out = []
    for path in list_archived(archive_dir, manager):
        archive.verify_archived(path)
        out.append(path.name[:-4])
    return sorted(out)


async def wait_jobs(services: Any) -> None:
    for job in services.store.list_jobs(kind="daily", limit=100):
        await services.runner.wait(job.id, timeout=30)


def with_schedule(settings: Settings, **changes: Any) -> Settings:
    return dataclasses.replace(settings, schedule=dataclasses.replace(settings.schedule, **changes))
