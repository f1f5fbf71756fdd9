"""Recording a finished daily run in `daily_runs` and posting the daily report (with the trend
over recent days), shared by the driver (runs that ran) and the service (missed slots)."""
from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from bot.clock import Clock
from bot.delivery import OutboxSender
from bot.jobs.daily.payload import params_of, result_of
from bot.messages import daily as msg
from bot.messages.daily import DailyOutcome
from bot.notifier import Notifier
from bot.outbox import Outbox
from bot.scheduler import zone
from bot.store import Job, Store

log = logging.getLogger(__name__)

HISTORY_DAYS = 14


def local_time(when: datetime, tz_name: str) -> str:
    return when.astimezone(zone(tz_name)).strftime("%Y-%m-%d %H:%M %Z")


class DailyReporter:
    """Records a finished run and queues its report in the outbox, in one transaction."""

    def __init__(self, store: Store, outbox: Outbox, sender: OutboxSender | None,
                 notifier: Notifier, clock: Clock, *, channel: str, timezone: str) -> None:
        self.store = store
        self.outbox = outbox
        self.sender = sender
        self.notifier = notifier
        self.clock = clock
        self.channel = channel
        self.timezone = timezone

    async def finish(self, job: Job, *, ok: bool, failed_step: str = "", error: str = "",
                     left_behind: Sequence[str] = ()) -> None:
        """Record the run in daily_runs and post the report."""
        now = self.clock.now()
        params, res = params_of(job), result_of(job)
        slot = params.slot
        row = self.store.daily_run(job.manager, slot)
        started = (row.started_at if row and row.started_at else job.created_at) or now
        duration = max((now - started).total_seconds(), 0.0)
        detail: dict[str, Any] = dict(res.housekeeping())
        if not ok:
            detail.update(step=failed_step, error=error, left_behind=list(left_behind))
        record = {"status": "ok" if ok else "failed", "job_id": job.id, "size": res.size,
                  "duration_s": duration, "archive_path": res.archive_path,
                  "sha256": res.sha256, "detail": detail, "ended_at": now}
        history = list(reversed(self.store.daily_runs(job.manager, since=now - timedelta(days=HISTORY_DAYS))))
        outcome = DailyOutcome(
            manager=job.manager, ok=ok, snapshot_id=params.snapshot_id,
            slot_label=local_time(slot, self.timezone), trigger=params.trigger,
            job_id=job.id, size=res.size, duration_s=duration,
            archive_path=res.archive_path, sha256=res.sha256,
            removed_on_manager=res.removed_on_manager, removed_archives=res.removed_archives,
            kept_notes=res.kept_notes, retention_errors=res.retention_errors,
            failed_step=failed_step, error=error, left_behind=tuple(left_behind),
            history=tuple(history))
        # The run's record and its report in one transaction; the key keeps a step resumed
        # after a crash from reporting twice.
        report = msg.daily_report(outcome)
        with self.store.transaction():
            self.store.update_daily_run(job.manager, slot, **record)
            queued = self._enqueue(report, job.channel, key=f"daily-report:{job.id}", job_id=job.id)
        await self._deliver(report, queued, job_id=job.id)

    def _enqueue(self, message: dict[str, Any], channel: str = "", *, key: str | None = None,
                 job_id: str = "") -> str:
        """Queue a message for the channel (in the caller's transaction); returns its lane, or
        "" when there is no channel to post to."""
        channel = channel or self.channel
        if not channel:
            return ""
        self.outbox.post(channel, message, key=key, job_id=job_id)
        return f"job:{job_id}" if job_id else f"channel:{channel}"

    async def _deliver(self, message: dict[str, Any], lane: str, *, job_id: str = "") -> None:
        """Deliver now if Slack answers (else the outbox keeps it); with no channel, a terminal
        still prints the message."""
        if lane:
            if self.sender is not None:
                await self.sender.kick(lane)
        elif self.notifier.local:
            await self.notifier.post("", message)

    async def post(self, message: dict[str, Any], channel: str = "") -> None:
        await self._deliver(message, self._enqueue(message, channel))

    async def post_text(self, text: str) -> None:
        """A plain notice in the channel (a scheduled drill that could not start)."""
        await self.post(msg.notice(text))
