"""The backup posture at a glance, per manager: the newest verified archive (age, size, trend
against the seven before it), the last restore drill (verdict, RTO, age), the next daily run and
next drill, running jobs and pending approvals. `/cfy status` and the App Home tab show it.

Also the staleness watch: a manager whose newest verified archive is older than
`retention.stale_after_hours` gets one message in the channel (with the last failure's reason),
and one more when a fresh copy arrives. The outbox keys make both once-only across restarts:
`stale:<manager>:<newest archive>` and `recovered:<manager>:<that archive>`.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from bot.archive_store import ArchiveStore, StoredArchive
from bot.clock import Clock
from bot.config.settings import Settings
from bot.delivery import OutboxSender
from bot.errors import ArchiveError, SnapbotError
from bot.jobs.drill import payload as drill_payload
from bot.jobs.drill.service import DrillService
from bot.jobs.runner import JobRunner
from bot.messages import posture as messages
from bot.messages.posture import ArchiveFigure, DrillFigure, ManagerPosture
from bot.outbox import Outbox
from bot.scheduler import next_slot
from bot.store import Job, Store

log = logging.getLogger(__name__)

TREND_RUNS = 7


def trend(sizes: Sequence[int]) -> tuple[float | None, int]:
    """The newest size (first) against the mean of up to seven before it: percent, and how many."""
    before = list(sizes[1:1 + TREND_RUNS])
    if not sizes or not before:
        return None, 0
    mean = sum(before) / len(before)
    if mean <= 0:
        return None, len(before)
    return round((sizes[0] - mean) / mean * 100.0, 1), len(before)


class Posture:
    """Reads the posture from the store and the archive store, and watches staleness."""

    def __init__(self, settings: Settings, store: Store, clock: Clock, runner: JobRunner,
                 archives: ArchiveStore, drills: DrillService, outbox: Outbox,
                 sender: OutboxSender | None) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.runner = runner
        self.archives = archives
        self.drills = drills
        self.outbox = outbox
        self.sender = sender

    @property
    def stale_after(self) -> timedelta:
        return timedelta(hours=self.settings.retention.stale_after_hours)

    async def verified(self, manager: str) -> list[StoredArchive]:
        """The manager's archived copies with a recorded checksum, newest first."""
        try:
            copies = sorted(await self.archives.list(manager), key=lambda a: a.modified,
                            reverse=True)
        except ArchiveError:
            log.exception("cannot list the archives of %s", manager)
            return []
        out = []
        for copy in copies[:TREND_RUNS + 1]:
            try:
                await self.archives.checksum(manager, copy.snapshot_id)
            except ArchiveError:
                continue
            out.append(copy)
        return out

    async def manager(self, name: str) -> ManagerPosture:
        now = self.clock.now()
        cfg = self.settings.manager(name)
        copies = await self.verified(name)
        newest = None
        if copies:
            pct, n = trend([c.size for c in copies])
            newest = ArchiveFigure(copies[0].snapshot_id, copies[0].size, copies[0].modified,
                                   (now - copies[0].modified).total_seconds(), pct, n)
        sched = self.settings.schedule
        unfinished = self.store.list_jobs(unfinished=True, manager=name, limit=200)
        pending: list[Job] = []
        running: list[Job] = []
        for job in unfinished:
            try:
                machine = self.runner.driver(job.kind).machine
            except SnapbotError:
                continue
            (pending if job.state in machine.waiting else running).append(job)
        return ManagerPosture(
            name=name, scratch=cfg.scratch, newest=newest,
            stale=newest is not None and now - newest.archived_at > self.stale_after,
            last_drill=self._last_drill(name, now),
            next_daily=next_slot(sched, now) if sched.enabled and not cfg.scratch else None,
            next_drill=self.drills.next_drill(name), running=tuple(running),
            pending=tuple(pending))

    def _last_drill(self, name: str, now: datetime) -> DrillFigure | None:
        job = self.drills.last_drill(name)
        if job is None:
            return None
        return DrillFigure(job_id=job.id, verdict="pass" if job.state == "done" else "fail",
                           source=drill_payload.params_of(job).source, target=job.manager,
                           rto_s=drill_payload.result_of(job).rto_s,
                           age_s=(now - (job.updated_at or now)).total_seconds(),
                           error=job.error)

    async def managers(self, only: str | None = None) -> list[ManagerPosture]:
        names = [self.settings.manager(only).name] if only else [m.name for m in self.settings.managers]
        return [await self.manager(n) for n in names]

    # -- the App Home tab ---------------------------------------------------------------------
    async def publish_home(self, user: str, *, approver: bool, viewer: bool = True,
                           note: str = "") -> None:
        """Queue `user`'s Home view and deliver it: the posture for a viewer (approval buttons
        only for an approver; `note`: what their last click there did), else why not."""
        if viewer or approver:
            view = messages.home_view(await self.managers(), approver=approver, note=note)
        else:
            view = messages.home_not_a_viewer()
        self.outbox.home(user, view)
        if self.sender is not None:
            await self.sender.kick(f"home:{user}")

    async def refresh_homes(self, is_approver: Callable[[str], bool],
                            is_viewer: Callable[[str], bool]) -> list[str]:
        """Publish the Home view again for everyone who opened it."""
        users = self.outbox.home_users()
        for user in users:
            await self.publish_home(user, approver=is_approver(user), viewer=is_viewer(user))
        return users

    # -- staleness -------------------------------------------------------------------------
    def last_failure(self, manager: str) -> str:
        """Why the manager's last daily run that did not succeed failed (or was missed)."""
        for run in self.store.daily_runs(manager, limit=30):
            if run.status in ("failed", "missed"):
                why = run.detail.get("error") or run.detail.get("reason") or run.status
                step = run.detail.get("step")
                return f"{run.status} at {run.slot:%Y-%m-%d %H:%M}Z" + \
                    (f" ({step})" if step else "") + f": {why}"
        return ""

    async def check_staleness(self) -> list[str]:
        """Post what changed since the last check (once each); returns the keys queued."""
        queued: list[str] = []
        channel = self.settings.slack.channel
        if not channel:
            return queued
        now = self.clock.now()
        for cfg in self.settings.managers:
            if cfg.scratch:
                continue  # a scratch manager's archives are not the team's copies
            copies = await self.verified(cfg.name)
            newest = copies[0] if copies else None
            if newest is None and not self.store.daily_runs(cfg.name, limit=1):
                continue  # nothing archived yet and no run tried: a new setup, not a stale one
            age = (now - newest.modified) if newest else None
            if age is None or age > self.stale_after:
                key = f"stale:{cfg.name}:{newest.snapshot_id if newest else '-'}"
                message = messages.stale_alert(cfg.name, newest.snapshot_id if newest else None,
                                               age.total_seconds() if age else None,
                                               self.settings.retention.stale_after_hours,
                                               self.last_failure(cfg.name))
            else:
                last = self.outbox.latest_key(f"stale:{cfg.name}:")
                if last is None or newest is None:
                    continue
                key = "recovered:" + last.removeprefix("stale:")
                message = messages.stale_recovered(cfg.name, newest.snapshot_id, age.total_seconds())
            if self.outbox.post(channel, message, key=key) is not None:
                queued.append(key)
                log.info("staleness of %s: %s", cfg.name, key)
        if queued and self.sender is not None:
            await self.sender.kick(f"channel:{channel}")
        return queued
