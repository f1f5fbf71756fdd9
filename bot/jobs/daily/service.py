"""Daily snapshots kept off the manager: scheduling, catching up missed slots, runs on
demand and `/cfy snapshots schedule`.

The `daily_runs` primary key (manager, slot) is the lock: the row is inserted in the same
transaction that creates the job, before anything happens on the manager, so two bot instances
sharing a database never run the same slot twice.
"""
from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Protocol

import sqlite_utils

from bot.clock import Clock, iso, parse_time
from bot.config.settings import ManagerConfig, Settings
from bot.errors import JobConflict, SnapbotError
from bot.invocation import Invocation, Reply
from bot.jobs.daily.machine import DAILY, GATE, KIND
from bot.jobs.daily.payload import DailyParams, params_of
from bot.jobs.daily.report import DailyReporter, local_time
from bot.jobs.daily.retention import snapshot_id_for
from bot.jobs.runner import JobRunner
from bot.messages import daily as msg
from bot.messages.daily import ScheduleView
from bot.scheduler import DailyScheduler, is_due, latest_slot, next_slot
from bot.store import Job, Store
from bot.urls import display_url

log = logging.getLogger(__name__)


class Approvals(Protocol):
    """What a gated run-now needs of the approval service."""

    async def open(self, job: Job) -> Job: ...


class DailyService:
    """Schedules the daily job, catches up missed slots, runs the job on demand and answers
    `/cfy snapshots schedule`."""

    def __init__(self, settings: Settings, store: Store, clock: Clock, runner: JobRunner,
                 approvals: Approvals, reporter: DailyReporter) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.runner = runner
        self.approvals = approvals
        self.reporter = reporter
        self.scheduler = DailyScheduler(self.settings.schedule,
                                        [m.name for m in self.scheduled], clock,
                                        fire=self.fire, on_problem=self._problem)

    @staticmethod
    def schedule_schema_v4(db: sqlite_utils.Database) -> None:
        """Migration 4 (registered in bot.schema; never changes): since when snapbot has
        scheduled each manager's daily run on its cron and zone (`scheduling_since`): a slot
        before that is not one snapbot missed (`catch_up`)."""
        db.table("daily_schedule").create({"manager": str, "cron": str, "timezone": str, "since": str},
                                          pk="manager", if_not_exists=True)

    @property
    def scheduled(self) -> list[ManagerConfig]:
        """The managers the daily job snapshots on its own: not the scratch ones (restore
        drills overwrite those; `schedule run-now` still runs there)."""
        return [m for m in self.settings.managers if not m.scratch]

    @property
    def channel(self) -> str:
        return self.settings.slack.channel

    # lifecycle
    async def start(self) -> None:
        if not self.settings.schedule.enabled:
            log.info("daily snapshots are disabled by config")
            return
        self.scheduler.start()
        await self.catch_up()
        self.note_scheduling()

    async def stop(self) -> None:
        self.scheduler.stop()

    # scheduling
    async def fire(self, manager: str) -> Job | None:
        """What the cron job calls: run the slot due now (a coalesced or late firing runs the
        slot it belongs to; a slot already claimed is left alone)."""
        now = self.clock.now()
        slot = latest_slot(self.settings.schedule, now)
        if slot is None:
            return None
        return await self.start_slot(manager, slot, trigger="schedule")

    def scheduling_since(self, manager: str) -> datetime | None:
        """Since when snapbot has scheduled `manager`'s daily run on the configured cron and
        zone (None: never, or on another schedule)."""
        sch = self.settings.schedule
        row = self.store.db.execute(
            "select since from daily_schedule where manager = ? and cron = ? and timezone = ?",
            [manager, sch.cron, sch.timezone]).fetchone()
        return parse_time(row[0]) if row else None

    def note_scheduling(self, *, at: datetime | None = None) -> None:
        """Record that the schedule is in force from now (or `at`) on, for each manager that
        had no record of it (or a record of another cron or zone)."""
        sch, now = self.settings.schedule, at or self.clock.now()
        with self.store.transaction():
            for m in self.scheduled:
                if self.scheduling_since(m.name) is None:
                    self.store.db.execute(
                        "insert into daily_schedule (manager, cron, timezone, since) values (?, ?, ?, ?)"
                        " on conflict(manager) do update set cron = excluded.cron,"
                        " timezone = excluded.timezone, since = excluded.since",
                        [m.name, sch.cron, sch.timezone, iso(now)])

    async def catch_up(self) -> dict[str, str]:
        """At start: for each manager, the latest slot before now with no run row, if it fell
        due while snapbot was already scheduling it (on this cron and zone), is run now when it
        is within the misfire grace time, else recorded and reported as missed. A slot from
        before snapbot scheduled it (a first start, a new cron) was not missed."""
        now = self.clock.now()
        out: dict[str, str] = {}
        for m in self.scheduled:
            slot = latest_slot(self.settings.schedule, now)
            if slot is None or self.store.daily_run(m.name, slot) is not None:
                continue
            since = self.scheduling_since(m.name)
            if since is None or since > slot:
                log.info("daily snapshots of %s: not scheduled yet at %s, next run %s", m.name,
                         iso(slot), next_slot(self.settings.schedule, now))
                continue
            if is_due(self.settings.schedule, slot, now):
                job = await self.start_slot(m.name, slot, trigger="catch-up")
                out[m.name] = f"started {job.id}" if job else "taken"
            else:
                await self.record_missed(m.name, slot)
                out[m.name] = "missed"
        return out

    async def record_missed(self, manager: str, slot: datetime, reason: str = "") -> bool:
        tz = self.settings.schedule.timezone
        if not self.store.claim_daily_run(manager, slot, status="missed", ended_at=self.clock.now(),
                                snapshot_id=snapshot_id_for(manager, slot, tz),
                                detail={"reason": reason or "not run within the grace time"}):
            return False
        await self.reporter.post(msg.missed_report(manager, local_time(slot, tz), reason))
        return True

    async def start_slot(self, manager: str, slot: datetime, *, trigger: str, requester: str = "",
                         channel: str = "", idem_key: str | None = None,
                         gated: bool = False) -> Job | None:
        """Claim (manager, slot) and create the job in one transaction, then start it (or,
        when `gated`, open the approval request). Returns None if the slot was already claimed
        (by this or another instance)."""
        store = self.store
        tz = self.settings.schedule.timezone
        sid = snapshot_id_for(manager, slot, tz)
        params = DailyParams(slot=slot, snapshot_id=sid, trigger=trigger).stored()
        try:
            with store.transaction():
                if not self.store.claim_daily_run(manager, slot, status="queued", snapshot_id=sid):
                    return None
                job = store.create_job(KIND, manager, DAILY.awaiting if gated else DAILY.initial,
                                       params=params,
                                       requester=requester or "snapbot",
                                       channel=channel or self.channel, idem_key=idem_key,
                                       actor=requester or "scheduler",
                                       detail=f"daily snapshot ({trigger})")
                self.store.update_daily_run(manager, slot, job_id=job.id)
        except JobConflict:
            return None
        if gated:
            await self.approvals.open(job)
        else:
            self.runner.start(job.id)
        return job

    async def resume_unfinished(self, manager: str) -> list[Job]:
        """Finish daily runs of `manager` an earlier process left half-done (the terminal entry
        point does not resume every job the way `snapbot run` does)."""
        out = []
        for job in self.store.list_jobs(unfinished=True, manager=manager, kind=KIND):
            if job.state in DAILY.waiting:
                continue
            self.runner.start(job.id)
            out.append(await self.runner.wait(job.id))
        return out

    async def run_once(self, manager: str | None) -> Job:
        """Run the daily job for `manager` now and wait for it (terminal, tests)."""
        name = self.settings.manager(manager).name
        await self.resume_unfinished(name)
        job = await self._start_manual(name, trigger="manual")
        return await self.runner.wait(job.id)

    async def _start_manual(self, manager: str, *, trigger: str, requester: str = "",
                            channel: str = "", idem_key: str | None = None,
                            gated: bool = False) -> Job:
        if idem_key:
            existing = self.store.find_by_idem_key(idem_key)
            if existing is not None:
                return existing
        self.runner.ensure_free(manager)
        now = self.clock.now().replace(microsecond=0)
        for _ in range(3):
            job = await self.start_slot(manager, now, trigger=trigger, requester=requester,
                                        channel=channel, idem_key=idem_key, gated=gated)
            if job is not None:
                return job
            if idem_key and (existing := self.store.find_by_idem_key(idem_key)):
                return existing
            now += timedelta(seconds=1)
        raise JobConflict(f"a daily run of {manager} was started just now; try again in a moment")

    async def run_now(self, manager: str | None, inv: Invocation) -> Reply:
        """`/cfy snapshots schedule run-now`: start the daily job now (the dispatcher has
        already applied approval gating)."""
        return await self._manual_reply(manager, inv, trigger="manual")

    async def retry(self, manager: str | None, inv: Invocation) -> Reply:
        """The Retry now button of a failed or missed report."""
        return await self._manual_reply(manager, inv, trigger="retry")

    async def _manual_reply(self, manager: str | None, inv: Invocation, *, trigger: str) -> Reply:
        try:
            name = self.settings.manager(manager).name
            gated = GATE in self.settings.approvals.gated
            job = await self._start_manual(name, trigger=trigger, requester=inv.user,
                                           channel=self.channel or inv.channel, idem_key=inv.idem_key,
                                           gated=gated)
        except SnapbotError as exc:
            return Reply(msg.notice(f":x: {exc.user_message}"), ephemeral=True, refused=True)
        if job.state == "awaiting_approval":
            return Reply(msg.notice(f"Daily snapshot of *{name}* (`{params_of(job).snapshot_id}`) "
                                    f"is waiting for approval as job `{job.id}`"), ephemeral=False)
        return Reply(msg.notice(f"Daily snapshot of *{name}* started as job `{job.id}` "
                                f"(`{params_of(job).snapshot_id}`)"), ephemeral=False)

    async def describe(self, manager: str | None) -> Reply:
        """`/cfy snapshots schedule`: cron, zone, next run, last runs."""
        try:
            name = self.settings.manager(manager).name
        except SnapbotError as exc:
            return Reply(msg.notice(f":x: {exc.user_message}"), refused=True)
        return Reply(msg.schedule_message(self.view(name)))

    def reconcile(self, manager: str) -> None:
        """Rows whose job ended without the driver running to the end (a gated run rejected or
        expired, a job cancelled before it started) take the job's final state."""
        for row in self.store.daily_runs(manager, limit=50):
            if row.status not in ("queued", "running") or not row.job_id:
                continue
            try:
                job = self.store.get_job(row.job_id)
            except SnapbotError:
                continue
            if job.finished and job.state in ("rejected", "expired", "cancelled"):
                self.store.update_daily_run(manager, row.slot, status=job.state, ended_at=job.updated_at)

    def view(self, manager: str) -> ScheduleView:
        self.reconcile(manager)
        sch, ret = self.settings.schedule, self.settings.retention
        nxt = next_slot(sch, self.clock.now())
        return ScheduleView(manager=manager, enabled=sch.enabled, cron=sch.cron, timezone=sch.timezone,
                            next_run=nxt, next_run_local=local_time(nxt, sch.timezone),
                            keep_on_manager=ret.keep_on_manager, keep_archived=ret.keep_archived,
                            # never the server's path: the archive root's <manager>/ (or the
                            # object storage URL, which names no server path)
                            archive_dir=(f"{display_url(self.settings.archive_url)}/{manager}"
                                         if self.settings.archive_url else f"{manager}/"),
                            last_runs=tuple(self.store.daily_runs(manager, limit=5)))

    async def _problem(self, manager: str, text: str, missed_slot: datetime | None = None) -> None:
        if missed_slot is not None:
            # APScheduler saw the slot pass beyond the grace time (the process was stalled)
            slot = missed_slot.astimezone(UTC)
            if self.store.daily_run(manager, slot) is None:
                await self.record_missed(manager, slot, "the bot was stalled past the grace time")
            return
        await self.reporter.post(msg.scheduler_problem(manager, text))
