"""The daily schedule: one APScheduler cron job per manager, and slot arithmetic on an injected clock.

Job *definitions* come from config (`settings.schedule`) and are re-added on every start with
explicit ids and `replace_existing=True`, so nothing lives in an APScheduler job store. Run *state*
lives in SQLite (`daily_runs`), written by `bot.jobs.daily`.

A "slot" is one scheduled fire time (an aware UTC datetime). Tests ask "which slot is due at
time T" with `latest_slot` / `next_slot` instead of waiting for 03:00.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from bot.clock import Clock
from bot.config.settings import ScheduleConfig
from bot.crontab import crontab_trigger
from bot.errors import ConfigError

log = logging.getLogger(__name__)

#: How far back `latest_slot` looks, widening step by step (a minutely cron stops at the first).
_LOOKBACKS = (timedelta(hours=1), timedelta(days=1), timedelta(days=8), timedelta(days=32),
              timedelta(days=367))


def job_id(manager: str) -> str:
    return f"daily:{manager}"


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError("schedule.timezone", f"unknown time zone {name!r}") from None


def make_trigger(schedule: ScheduleConfig) -> CronTrigger:
    """The cron trigger of `schedule` (5-field crontab, evaluated in the configured zone)."""
    tz = zone(schedule.timezone)
    try:
        return crontab_trigger(schedule.cron, tz)
    except ValueError as exc:
        raise ConfigError("schedule.cron", f"{schedule.cron!r} is not a 5-field cron expression ({exc})") from None


def next_slot(schedule: ScheduleConfig, now: datetime) -> datetime:
    """The first slot at or after `now`, in UTC."""
    fire = make_trigger(schedule).get_next_fire_time(None, now)
    assert isinstance(fire, datetime)  # a crontab always fires again
    return fire.astimezone(UTC)


def latest_slot(schedule: ScheduleConfig, now: datetime) -> datetime | None:
    """The last slot at or before `now`, in UTC (None if none within a year)."""
    trigger = make_trigger(schedule)
    for back in _LOOKBACKS:
        prev: datetime | None = None
        fire = trigger.get_next_fire_time(None, now - back)
        while fire is not None and fire <= now:
            prev = fire
            fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
        if prev is not None:
            return prev.astimezone(UTC)
    return None


def slot_label(slot: datetime, tz_name: str) -> str:
    """`YYYYMMDD-HHMM` of the slot in the configured zone (the snapshot id's date part)."""
    return slot.astimezone(zone(tz_name)).strftime("%Y%m%d-%H%M")


def is_due(schedule: ScheduleConfig, slot: datetime, now: datetime) -> bool:
    """A slot may still run at `now` if it is not older than the misfire grace time."""
    return now - slot <= timedelta(seconds=schedule.misfire_grace_seconds)


class DailyScheduler:
    """Per manager, a cron job `daily:<manager>` that calls `fire(manager)`.

    `fire` works out the slot from the injected clock, so a late (within grace) or coalesced
    firing runs the slot it belongs to. Errors and misfires APScheduler sees go to `on_problem`
    (the daily service posts them to the channel; a missed slot is passed as a datetime).
    """

    def __init__(self, schedule: ScheduleConfig, managers: list[str], clock: Clock,
                 fire: Callable[[str], Awaitable[Any]],
                 on_problem: Callable[[str, str, datetime | None], Awaitable[None]]) -> None:
        self.schedule = schedule
        self.managers = list(managers)
        self.clock = clock
        self._fire = fire
        self._on_problem = on_problem
        self._scheduler: AsyncIOScheduler | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def apscheduler(self) -> AsyncIOScheduler | None:
        return self._scheduler

    def add_jobs(self, scheduler: AsyncIOScheduler) -> None:
        trigger = make_trigger(self.schedule)
        for manager in self.managers:
            scheduler.add_job(self._fire, trigger, args=[manager], id=job_id(manager),
                              name=f"daily snapshot of {manager}", replace_existing=True,
                              coalesce=True, max_instances=1,
                              misfire_grace_time=self.schedule.misfire_grace_seconds)

    def start(self) -> AsyncIOScheduler:
        """Create and start the AsyncIOScheduler on the running loop (idempotent)."""
        if self._scheduler is not None:
            return self._scheduler
        self._loop = asyncio.get_running_loop()
        scheduler = AsyncIOScheduler(event_loop=self._loop,
                                     timezone=zone(self.schedule.timezone))
        scheduler.add_listener(self._listener, EVENT_JOB_ERROR | EVENT_JOB_MISSED)
        self.add_jobs(scheduler)
        scheduler.start()
        self._scheduler = scheduler
        return scheduler

    def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None

    def _listener(self, event: JobExecutionEvent) -> None:
        manager = event.job_id.split(":", 1)[1] if ":" in event.job_id else event.job_id
        when = event.scheduled_run_time
        missed: datetime | None = None
        if event.code == EVENT_JOB_MISSED:
            text = f"the daily snapshot of {manager} due at {when:%Y-%m-%d %H:%M %Z} was missed"
            missed = when
        else:
            log.error("daily job %s raised", event.job_id, exc_info=event.exception)
            text = (f"the daily snapshot job of {manager} crashed: "
                    f"{type(event.exception).__name__}")
        loop = self._loop or asyncio.get_event_loop()
        loop.call_soon_threadsafe(self._spawn, manager, text, missed)

    def _spawn(self, manager: str, text: str, missed: datetime | None) -> None:
        task = asyncio.get_running_loop().create_task(self._report(manager, text, missed))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _report(self, manager: str, text: str, missed: datetime | None) -> None:
        try:
            await self._on_problem(manager, text, missed)
        except Exception:
            log.exception("could not report a scheduler problem")
