"""The daily job's driver: create `daily-<manager>-<YYYYMMDD-HHMM>` → wait until it is `created`
→ download it to the archive (verified, atomic) → retention → record the run and post the
report. Each step checks what an interrupted run already did, so a restart resumes it."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from bot.archive_store import ArchiveStore
from bot.archive_store.transfer import download_to_store
from bot.audit import AuditLog
from bot.cloudify.client import CloudifyClient
from bot.cloudify.models import USABLE_SNAPSHOT_STATUSES, ArchiveInfo
from bot.config.settings import Settings
from bot.dbbackup import backup_database
from bot.errors import (
    ArchiveError,
    Conflict,
    ExistingRunningExecution,
    ManagerUnavailable,
    NotFound,
    ServerError,
    SnapbotError,
    StepFailed,
)
from bot.jobs.daily.machine import DAILY, KIND
from bot.jobs.daily.payload import params_of, result_of
from bot.jobs.daily.report import DailyReporter
from bot.jobs.daily.retention import (
    ManagerCopy,
    manager_deletion_candidates,
    plan_retention,
    scan_archive,
    snapshot_prefix,
    time_from_id,
)
from bot.jobs.poll import poll
from bot.jobs.runner import JobContext, JobDriver
from bot.jobs.transfer import end_progress, job_meter
from bot.messages import daily as msg
from bot.messages.text import archive_name
from bot.store import Job, Store, Transition

log = logging.getLogger(__name__)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ManagerUnavailable):
        return exc.manager_message  # "cannot reach the manager (ConnectError)", not the raw call
    if isinstance(exc, SnapbotError):
        return exc.user_message
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror or type(exc).__name__}{where}"
    return f"unexpected error: {type(exc).__name__}"


class DailyDriver(JobDriver):
    kind = KIND
    machine = DAILY

    def __init__(self, clients: Mapping[str, CloudifyClient], settings: Settings, store: Store,
                 reporter: DailyReporter, archives: ArchiveStore, audit: AuditLog) -> None:
        self.clients = clients
        self.settings = settings
        self.store = store
        self.reporter = reporter
        self.archives = archives
        self.audit = audit

    def render(self, job: Job, transitions: list[Transition]) -> dict[str, Any]:
        return msg.daily_card(job, transitions)

    async def run(self, ctx: JobContext) -> None:
        job = ctx.job
        params = params_of(job)
        slot, sid = params.slot, params.snapshot_id
        client = self.clients[job.manager]
        step = job.state
        try:
            if job.state == "queued":
                busy = ctx.runner.busy_on(job.manager, exclude=job.id)
                if busy:
                    raise StepFailed(f"manager {job.manager} is busy with job {busy[0].id} "
                                     f"({busy[0].kind}, {busy[0].state})")
                self.store.update_daily_run(job.manager, slot, status="running", started_at=ctx.clock.now())
                await ctx.move("creating", f"creating snapshot {sid}")
            step = ctx.job.state
            if ctx.job.state == "creating":
                await self._create(ctx, client, sid)
                await ctx.move("downloading", f"snapshot {sid} created; downloading")
            step = ctx.job.state
            if ctx.job.state == "downloading":
                info = await self._download(ctx, client, sid)
                ctx.merge_result(archive_path=info.path, size=info.size, sha256=info.sha256)
                await ctx.move("retention", f"archived {archive_name(info.path)}")
            step = ctx.job.state
            if ctx.job.state == "retention":
                await self._retention(ctx, client, sid)
                await ctx.move("reporting", "retention applied")
            step = ctx.job.state
            if ctx.job.state == "reporting":
                self._prune_audit(ctx)
                await self._sweep_archives(ctx)
                await self._backup_database(ctx)
                await self.reporter.finish(ctx.job, ok=True)
                await ctx.move("done", "daily snapshot archived")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if isinstance(exc, StepFailed):
                log.warning("daily job %s failed at %s: %s", job.id, step, exc)
            else:
                log.exception("daily job %s failed at %s", job.id, step)
            error = _describe(exc)
            left = await self._left_behind(ctx, client, sid, step)
            ctx.merge_result(failed_step=step, left_behind=left)
            # record and report first, then the terminal state: whoever waits for the job to
            # finish finds the run recorded and the report posted
            await self.reporter.finish(ctx.refresh(), ok=False, failed_step=step, error=error, left_behind=left)
            if not DAILY.is_terminal(ctx.refresh().state):
                await ctx.move("failed", f"{step}: {error}", error=error)

    async def _create(self, ctx: JobContext, client: CloudifyClient, sid: str) -> None:
        rb = self.settings.runbook
        try:
            await client.get_snapshot(sid)  # resumed: it may exist already
        except NotFound:
            await self._start_create(ctx, client, sid)
        last: list[str] = []

        async def created() -> bool:
            snap = await client.get_snapshot(sid)
            last[:] = [snap.status]
            if snap.status == "failed":
                raise StepFailed(f"the manager failed to create {sid}: {snap.error or 'no reason given'}")
            return snap.status in USABLE_SNAPSHOT_STATUSES

        async def timed_out() -> SnapbotError:
            return StepFailed(f"snapshot {sid} was not created within "
                              f"{int(rb.snapshot_timeout_seconds)}s (status {last[0] if last else '?'})")

        await poll(ctx, created, pacing=rb, timeout=rb.snapshot_timeout_seconds,
                   what=f"snapshot {sid} to be created", on_timeout=timed_out)

    async def _start_create(self, ctx: JobContext, client: CloudifyClient, sid: str) -> None:
        """Ask the manager to create `sid`. While other executions run (a colleague's install, a
        scheduled workflow) the manager refuses a snapshot (400 existing_running_execution_error):
        say so once and ask again until they end, for up to `runbook.queue_timeout_seconds`.
        Nothing is queued on the manager, so a run that gives up leaves nothing behind."""
        rb = self.settings.runbook
        refused: list[str] = []

        async def started() -> bool:
            try:
                await client.create_snapshot(sid)
            except ExistingRunningExecution as exc:
                if not refused:
                    log.info("daily job %s: manager %s is running other executions; retrying the "
                             "snapshot until they end", ctx.job.id, ctx.job.manager)
                    await ctx.say(f"the manager is running other executions ({exc.manager_message}); "
                                  f"snapbot asks again until they end, for up to "
                                  f"{int(rb.queue_timeout_seconds)}s")
                refused[:] = [exc.manager_message]
                return False
            except Conflict:
                return True  # an earlier attempt's answer was lost, not its snapshot
            except (ManagerUnavailable, ServerError) as exc:
                # only a busy manager is asked again; a create that fails otherwise fails the run
                raise StepFailed(_describe(exc)) from exc
            return True

        async def gave_up() -> SnapbotError:
            return StepFailed(f"snapshot {sid} was not started: the manager kept running other executions "
                              f"for {int(rb.queue_timeout_seconds)}s (runbook.queue_timeout_seconds): "
                              f"{refused[0] if refused else 'busy'}")

        await poll(ctx, started, pacing=rb, timeout=rb.queue_timeout_seconds,
                   what=f"the manager's running executions to end before snapshot {sid}", on_timeout=gave_up)

    async def _download(self, ctx: JobContext, client: CloudifyClient, sid: str) -> ArchiveInfo:
        store = self.archives
        manager = ctx.job.manager
        if await store.stat(manager, sid) is not None:  # resumed after publishing: keep it if it checks out
            try:
                return await store.verify(manager, sid)
            except ArchiveError:
                pass
        await store.discard_partials(manager, sid)
        try:
            return await download_to_store(client, store, manager, sid,
                                           meter=job_meter(ctx, "downloading"))
        finally:
            end_progress(ctx)

    async def _retention(self, ctx: JobContext, client: CloudifyClient, sid: str) -> None:
        manager = ctx.job.manager
        ret = self.settings.retention
        tz = self.settings.schedule.timezone
        prefix = snapshot_prefix(manager)
        snaps = await client.list_snapshots()
        on_manager = [ManagerCopy(s.id, s.status, time_from_id(s.id, manager, tz) or s.created_at,
                                  s.id.startswith(prefix)) for s in snaps]
        check = manager_deletion_candidates(on_manager, ret.keep_on_manager, ret.delete_foreign)
        store = self.archives
        archived = await scan_archive(store, manager, tz, check | {sid})
        plan = plan_retention(on_manager, archived, keep_on_manager=ret.keep_on_manager,
                              keep_archived=ret.keep_archived, delete_foreign=ret.delete_foreign,
                              protect=[sid])
        removed_m, removed_a, errors = [], [], []
        for snap_id in plan.delete_on_manager:
            try:
                await client.delete_snapshot(snap_id)
                removed_m.append(snap_id)
            except NotFound:
                removed_m.append(snap_id)
            except Exception as exc:
                log.warning("retention: could not delete %s on %s: %s", snap_id, manager, exc)
                errors.append(f"could not delete `{snap_id}` on the manager: {_describe(exc)}")
        for snap_id in plan.delete_archives:
            try:
                await store.delete(manager, snap_id)
                removed_a.append(snap_id)
            except (ArchiveError, OSError) as exc:
                errors.append(f"could not delete archive `{snap_id}.zip`: {_describe(exc)}")
        ctx.merge_result(removed_on_manager=removed_m, removed_archives=removed_a,
                         kept_notes=list(plan.kept), retention_errors=errors)

    def _prune_audit(self, ctx: JobContext) -> None:
        """The audit log keeps `retention.keep_audit_days` of entries. A failure is named in the
        report; the snapshot run still succeeded."""
        try:
            pruned = self.audit.prune(self.settings.retention.keep_audit_days)
        except Exception as exc:
            _housekeeping_failed(ctx, "prune the audit log", exc)
            return
        if pruned:
            log.info("audit log: %d entries older than %d days removed", pruned,
                     self.settings.retention.keep_audit_days)
        ctx.merge_result(audit_pruned=pruned)

    async def _sweep_archives(self, ctx: JobContext) -> None:
        """What interrupted writes left in the archive store (temporary keys, half-published
        copies) that no unfinished job will finish. A failure is named in the report."""
        try:
            unfinished = {j.id: j.created_at or ctx.clock.now()
                          for j in self.store.list_jobs(unfinished=True, limit=10_000)}
            removed = await self.archives.sweep(unfinished)
        except Exception as exc:
            _housekeeping_failed(ctx, "clear leftovers of interrupted writes from the archive", exc)
            return
        if removed:
            ctx.merge_result(archive_leftovers_removed=len(removed))

    async def _backup_database(self, ctx: JobContext) -> None:
        """snapbot's own database into the archive store, once a day (bot.dbbackup). A failure
        is named in the report; the snapshot run still succeeded."""
        if self.settings.db_path == ":memory:":
            return
        try:
            blob = await backup_database(self.settings.db_path, self.archives, ctx.clock.now(),
                                         keep=self.settings.retention.keep_archived)
        except Exception as exc:
            _housekeeping_failed(ctx, "back up snapbot's database", exc)
            return
        ctx.merge_result(db_backup=blob.location)

    async def _left_behind(self, ctx: JobContext, client: CloudifyClient, sid: str, step: str) -> list[str]:
        """What a failed run leaves on the manager and on disk, for the report."""
        out: list[str] = []
        if step == "queued":
            return out
        unknown = False
        try:
            snap = await client.get_snapshot(sid)
        except NotFound:
            snap = None
        except Exception:
            out.append(f"could not check whether `{sid}` exists on the manager")
            snap, unknown = None, True
        dest = archive_name(self.archives.location(ctx.job.manager, sid))  # never the server path
        try:
            archived = await self.archives.stat(ctx.job.manager, sid) is not None
        except ArchiveError:
            archived = False
        if snap is not None:
            if snap.status in USABLE_SNAPSHOT_STATUSES and not archived:
                out.append(f"snapshot `{sid}` created on the manager but not archived")
            elif snap.status in USABLE_SNAPSHOT_STATUSES:
                out.append(f"snapshot `{sid}` is on the manager and archived at `{dest}`")
            else:
                out.append(f"snapshot `{sid}` is on the manager in status {snap.status}")
        elif step == "creating" and not unknown:  # unchecked: claiming nothing would be a guess
            out.append("nothing was created on the manager")
        if not archived and step in ("creating", "downloading"):
            out.append("no archive file was written (no partial file left)")
        return out


def _housekeeping_failed(ctx: JobContext, what: str, exc: Exception) -> None:
    """A housekeeping step after the snapshot failed: logged and named in the report (among
    the retention errors); the snapshot run still succeeded."""
    log.warning("could not %s", what, exc_info=exc)
    errors = list(result_of(ctx.job).retention_errors)
    errors.append(f"could not {what}: {_describe(exc)}")
    ctx.merge_result(retention_errors=errors)
