"""Starting restore drills: on demand (`/cfy snapshots drill`, `snapbot cfy snapshots drill`) and
on each source manager's drill schedule (an APScheduler cron job `drill:<source>` per source,
re-added at every start; a slot missed while snapbot was down runs at start within the grace
time). One drill job per slot (its idempotency key), one job at a time per scratch manager.

Every refusal happens before anything is sent to a manager: a source without `drill:`, a
target that is not a configured manager marked `scratch: true`, no archived copy to drill.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from bot.archive_store import ArchiveStore, StoredArchive
from bot.audit import AuditLog
from bot.clock import Clock, iso
from bot.config.settings import ManagerConfig, Settings
from bot.crontab import crontab_trigger
from bot.errors import ArchiveError, SnapbotError, StepFailed
from bot.invocation import Invocation, Reply
from bot.jobs.drill.machine import DRILL, KIND
from bot.jobs.drill.payload import DrillParams, params_of
from bot.jobs.runner import JobRunner
from bot.messages import jobs as jm
from bot.scheduler import zone
from bot.store import Job, Store

log = logging.getLogger(__name__)


def drill_job_id(source: str) -> str:
    return f"drill:{source}"


def drill_trigger(cron: str, tz: str) -> CronTrigger:
    return crontab_trigger(cron, zone(tz))


def next_drill(cron: str, tz: str, now: datetime) -> datetime:
    fire: datetime | None = drill_trigger(cron, tz).get_next_fire_time(None, now)
    assert fire is not None  # a crontab always fires again
    return fire.astimezone(UTC)


def latest_drill_slot(cron: str, tz: str, now: datetime) -> datetime | None:
    """The last slot at or before `now` within 32 days (a weekly cron has one)."""
    trigger = drill_trigger(cron, tz)
    prev: datetime | None = None
    fire = trigger.get_next_fire_time(None, now - timedelta(days=32))
    while fire is not None and fire <= now:
        prev = fire
        fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
    return prev.astimezone(UTC) if prev is not None else None


def allowed_age(cron: str, tz: str, now: datetime) -> float:
    """Seconds a source's last passing drill may be old: the longest gap between its next
    drills (a weekly drill: 7 days) plus a day for the drill itself and a retry."""
    fires = [next_drill(cron, tz, now)]
    for _ in range(8):
        fires.append(next_drill(cron, tz, fires[-1] + timedelta(seconds=1)))
    gap = max((b - a).total_seconds() for a, b in itertools.pairwise(fires))
    return gap + 86400.0


class DrillService:
    """Validates and starts drills, and runs their schedule."""

    def __init__(self, settings: Settings, store: Store, clock: Clock, runner: JobRunner,
                 archives: ArchiveStore,
                 on_problem: Callable[[str], Awaitable[None]] | None = None,
                 audit: AuditLog | None = None) -> None:
        self.settings = settings
        self.audit = audit
        self.store = store
        self.clock = clock
        self.runner = runner
        self.archives = archives
        self._on_problem = on_problem
        self._scheduler: AsyncIOScheduler | None = None
        #: extra periodic checks the scheduler runs (the staleness watch): (id, seconds, call)
        self.periodic: list[tuple[str, float, Callable[[], Awaitable[Any]]]] = []

    def allowed_ages(self) -> list[tuple[str, float]]:
        """(source, allowed age of its last passing drill) for /metrics."""
        tz, now = self.settings.schedule.timezone, self.clock.now()
        return [(m.name, allowed_age(m.drill.cron, tz, now)) for m in self.sources
                if m.drill is not None]

    @property
    def sources(self) -> list[ManagerConfig]:
        return [m for m in self.settings.managers if m.drill is not None]

    # -- refusals (before any request) -----------------------------------------------------
    def target_of(self, source: str) -> ManagerConfig:
        """The scratch manager `source` drills onto; StepFailed naming why not."""
        src = self.settings.manager(source)
        if src.drill is None:
            configured = ", ".join(m.name for m in self.sources) or "none"
            raise StepFailed(f"manager {src.name!r} has no drill configured (`drill: {{target: "
                             f"SCRATCH}}` in its managers entry; drilled managers: {configured})")
        try:
            target = self.settings.manager(src.drill.target)
        except SnapbotError:
            raise StepFailed(f"the drill target of {src.name!r}, {src.drill.target!r}, is not a "
                             "configured manager; nothing was sent") from None
        if target.name == src.name or not target.scratch:
            raise StepFailed(f"not drilling onto {target.name!r}: it is not marked `scratch: "
                             "true`, and a drill overwrites its target; nothing was sent")
        return target

    async def newest_archive(self, source: str) -> StoredArchive:
        """The newest archived copy of `source` with a recorded checksum (the drill verifies it
        again before using it)."""
        try:
            copies = sorted(await self.archives.list(source), key=lambda a: a.modified, reverse=True)
        except ArchiveError as exc:
            raise StepFailed(f"cannot list the archived copies of {source!r}: {exc.user_message}") from None
        for copy in copies:
            try:
                sha = await self.archives.checksum(source, copy.snapshot_id)
            except ArchiveError:
                continue
            return StoredArchive(copy.manager, copy.snapshot_id, copy.size, copy.modified,
                                 copy.location, sha)
        raise StepFailed(f"no verified archived copy of {source!r} to drill (the daily job "
                         "archives one; `/cfy snapshots download ID --manager "
                         f"{source}` does too)")

    # -- starting --------------------------------------------------------------------------
    async def start(self, source: str, *, trigger: str, requester: str, channel: str,
                    idem_key: str | None) -> Job:
        if idem_key and (existing := self.store.find_by_idem_key(idem_key)) is not None:
            return existing
        target = self.target_of(source)
        self.runner.ensure_free(target.name)
        archive = await self.newest_archive(source)
        now = self.clock.now()
        params = DrillParams(source=source, snapshot_id=archive.snapshot_id, sha256=archive.sha256,
                             size=archive.size, archived_at=archive.modified,
                             age_s=round(max(0.0, (now - archive.modified).total_seconds()), 3),
                             trigger=trigger).stored()
        job, created = self.store.create_job_once(
            KIND, target.name, DRILL.initial, params=params, requester=requester,
            channel=channel, idem_key=idem_key, actor=requester,
            detail=f"drill of {source}'s {archive.snapshot_id} onto {target.name} ({trigger})")
        if created:
            self.runner.start(job.id)
        return job

    async def run_now(self, manager: str | None, inv: Invocation) -> Reply:
        """`/cfy snapshots drill [--manager M]`: M's drill now (default: the first manager with
        a drill configured)."""
        try:
            source = manager or (self.sources[0].name if self.sources else self.settings.manager(None).name)
            job = await self.start(source, trigger="manual", requester=inv.user,
                                   channel=inv.job_channel(self.settings.slack.channel),
                                   idem_key=inv.idem_key)
        except SnapbotError as exc:
            return Reply(jm.text_message(f":x: {exc.user_message}"), ephemeral=True, refused=True)
        p = params_of(job)
        return Reply(jm.text_message(
            f"Restore drill of *{p.source}* onto scratch *{job.manager}* started as job "
            f"`{job.id}` (`{p.snapshot_id}`)"), ephemeral=False)

    # -- the schedule ----------------------------------------------------------------------
    async def fire(self, source: str) -> Job | None:
        """What the cron job calls: the drill of the slot due now (once per slot)."""
        drill = self.settings.manager(source).drill
        if drill is None:
            return None
        slot = latest_drill_slot(drill.cron, self.settings.schedule.timezone, self.clock.now())
        if slot is None:
            return None
        return await self._start_slot(source, slot, trigger="schedule")

    async def _start_slot(self, source: str, slot: datetime, *, trigger: str) -> Job | None:
        """A scheduled drill (audited as the schedule's), or a notice why it did not start."""
        inv = Invocation(user="snapbot", channel=self.settings.slack.channel, source="schedule")
        what = f"snapshots drill --manager {source}"
        try:
            job = await self.start(source, trigger=trigger, requester="snapbot",
                                   channel=self.settings.slack.channel,
                                   idem_key=f"drill:{source}:{iso(slot)}")
            if self.audit is not None:
                self.audit.record_for(inv, what, "ok", f"job {job.id} ({trigger})")
            return job
        except SnapbotError as exc:
            if self.audit is not None:
                self.audit.record_for(inv, what, "failed", exc.user_message)
            log.warning("scheduled drill of %s not started: %s", source, exc.user_message)
            if self._on_problem is not None:
                await self._on_problem(f":x: the scheduled restore drill of *{source}* did not "
                                       f"start: {exc.user_message}")
            return None

    async def catch_up(self) -> list[Job]:
        """At start: a slot that passed while snapbot was down runs now if within the grace."""
        now = self.clock.now()
        out = []
        grace = timedelta(seconds=self.settings.schedule.misfire_grace_seconds)
        for src in self.sources:
            assert src.drill is not None
            slot = latest_drill_slot(src.drill.cron, self.settings.schedule.timezone, now)
            if slot is None or now - slot > grace:
                continue
            if self.store.find_by_idem_key(f"drill:{src.name}:{iso(slot)}") is None:
                job = await self._start_slot(src.name, slot, trigger="catch-up")
                if job is not None:
                    out.append(job)
        return out

    def add_jobs(self, scheduler: AsyncIOScheduler) -> None:
        tz = self.settings.schedule.timezone
        for src in self.sources:
            assert src.drill is not None
            scheduler.add_job(self.fire, drill_trigger(src.drill.cron, tz), args=[src.name],
                              id=drill_job_id(src.name), name=f"restore drill of {src.name}",
                              replace_existing=True, coalesce=True, max_instances=1,
                              misfire_grace_time=self.settings.schedule.misfire_grace_seconds)
        for job_id, seconds, call in self.periodic:
            scheduler.add_job(call, "interval", seconds=seconds, id=job_id, replace_existing=True,
                              coalesce=True, max_instances=1)

    @property
    def apscheduler(self) -> AsyncIOScheduler | None:
        return self._scheduler

    async def start_schedule(self) -> list[Job]:
        if self._scheduler is None:
            scheduler = AsyncIOScheduler(event_loop=asyncio.get_running_loop(),
                                         timezone=zone(self.settings.schedule.timezone))
            self.add_jobs(scheduler)
            scheduler.start()
            self._scheduler = scheduler
        return await self.catch_up()

    async def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None

    # -- reading ---------------------------------------------------------------------------
    def last_drill(self, manager: str) -> Job | None:
        """The newest finished drill of `manager` as a source (or onto it, a scratch one)."""
        for job in self.store.list_jobs(kind=KIND, limit=200):
            if job.finished and manager in (params_of(job).source, job.manager) \
                    and job.state != "cancelled":
                return job
        return None

    def next_drill(self, manager: str) -> datetime | None:
        drill = self.settings.manager(manager).drill
        if drill is None:
            return None
        return next_drill(drill.cron, self.settings.schedule.timezone, self.clock.now())
