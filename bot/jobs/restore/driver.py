"""The restore driver: walks the vendor guide's steps, resumable from whatever state SQLite last
recorded.

Each state names the step being done *in* it: `ctx.move(state)` is persisted first, then the
step's side effect runs. If the process dies, `run()` is called again in that state and every step
checks the manager before acting (an existing safety snapshot is not created twice, maintenance
mode already on is not activated twice, a restore already posted is followed, never re-posted).

Reading executions and events while maintenance mode is on: the report is computed in
`reporting`, *before* deactivation, with the `X-BYPASS-MAINTENANCE` header, so nothing new can run
between the restore and the report. Managers that refuse the bypass (503 maintenance_mode_active)
get their report read right after deactivation instead.

Credentials after the restore: see `bot.jobs.restore.credentials`.
"""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any, TypeVar

from bot.archive_store import ArchiveStore
from bot.archive_store.transfer import download_to_store
from bot.clock import Clock, iso
from bot.cloudify import versions
from bot.cloudify.client import CloudifyClient
from bot.config.settings import RunbookConfig
from bot.errors import (
    ArchiveError,
    CloudifyError,
    Conflict,
    ExistingRunningExecution,
    InvalidTransition,
    MaintenanceActive,
    ManagerUnavailable,
    NotFound,
    ServerError,
    SnapbotError,
    StepFailed,
    Unauthorized,
    WaitTimeout,
)
from bot.jobs import payload as shared
from bot.jobs.poll import poll, retrying
from bot.jobs.restore import credentials, preflight, unwind
from bot.jobs.restore.execution import collect_report, end_refused, find_posted, follow, restore_executions
from bot.jobs.restore.machine import KIND, RESTORE, UNWINDABLE
from bot.jobs.restore.machine import RestoreState as S
from bot.jobs.restore.payload import (
    RestoreOutcome,
    SafetyCopy,
    ScheduledWorkReport,
    manager_version,
    params_of,
    result_of,
)
from bot.jobs.runner import JobContext, JobDriver
from bot.jobs.transfer import end_progress, job_meter
from bot.messages import restore as messages
from bot.messages.errors import error_text
from bot.store import Job, Transition

log = logging.getLogger(__name__)

T = TypeVar("T")


class RestoreDriver(JobDriver):
    kind = KIND
    machine = RESTORE

    def __init__(self, clients: Mapping[str, CloudifyClient], runbook: RunbookConfig,
                 archives: ArchiveStore, clock: Clock, *, runbook_base_url: str | None = None) -> None:
        self.clients = clients
        self.runbook = runbook
        self.archives = archives
        self.clock = clock
        self.runbook_base_url = runbook_base_url
        #: jobs whose credentials failed in this process (no second try with the same secret)
        self._refused: set[str] = set()

    def cancel_state(self, state: str) -> str:
        """Before the restore execution starts, a cancel unwinds first."""
        return S.UNWINDING if state in UNWINDABLE else S.CANCELLED

    def unwind_record(self, actor: str) -> dict[str, Any]:
        return RestoreOutcome(unwind_for="cancelled", cancelled_by=actor).stored()

    def render(self, job: Job, transitions: list[Transition]) -> dict[str, Any]:
        return messages.render(job, transitions, now=self.clock.now(),
                               runbook_base_url=self.runbook_base_url,
                               poll_interval=self.runbook.poll_interval_seconds)

    # Each handler does the work of the state the job is in, then moves it on.
    async def run(self, ctx: JobContext) -> None:
        steps: dict[str, Callable[[JobContext], Awaitable[None]]] = {
            "approved": self._approved, "preflight": self._preflight,
            "safety_snapshot": self._safety_snapshot,
            "maintenance_activating": self._maintenance_activating,
            "maintenance_active": self._maintenance_active, "restoring": self._restoring,
            "restored": self._restored, "reporting": self._reporting,
            "maintenance_deactivating": self._maintenance_deactivating,
            "awaiting_credentials": self._awaiting_credentials, "unwinding": self._unwinding,
        }
        while not RESTORE.is_terminal(ctx.job.state):
            step = steps.get(ctx.job.state)
            if step is None:  # `requested`: waits for a person, never driven
                return
            try:
                await step(ctx)
            except Unauthorized as exc:
                if ctx.job.state not in RESTORE.table.get(S.AWAITING_CREDENTIALS, ()):
                    await self._fail(ctx, exc)
                    return
                await self._credentials_lost(ctx)
            except SnapbotError as exc:
                if not await self._fail(ctx, exc):
                    return
            except Exception as exc:
                log.exception("restore %s: unexpected error in %s", ctx.job.id, ctx.job.state)
                if not await self._fail(ctx, exc):
                    return

    # -- helpers -----------------------------------------------------------------------------
    def _client(self, ctx: JobContext) -> CloudifyClient:
        return self.clients[ctx.job.manager]

    async def _poll(self, ctx: JobContext, probe: Callable[[], Awaitable[bool]], timeout: float,
                    on_timeout: Callable[[], Awaitable[SnapbotError]] | None = None,
                    what: str = "") -> None:
        await poll(ctx, probe, pacing=self.runbook, timeout=timeout, what=what, on_timeout=on_timeout)

    async def _retrying(self, ctx: JobContext, call: Callable[[], Awaitable[T]], timeout: float) -> T:
        return await retrying(ctx, call, pacing=self.runbook, timeout=timeout)

    async def _fail(self, ctx: JobContext, exc: BaseException) -> bool:
        """Fail the job, or (before the restore execution) unwind first: True to drive on."""
        job = ctx.refresh()
        if RESTORE.is_terminal(job.state):
            return False
        step = job.state
        message = error_text(exc, manager=job.manager)
        said = exc.manager_message if isinstance(exc, (CloudifyError, StepFailed)) else ""
        outcome = replace(result_of(job).outcome, failed_step=step, manager_error=said)
        # a restore request the manager refused started nothing: undo as before it
        refused = step == S.RESTORING and isinstance(exc, ExistingRunningExecution)
        if (step in UNWINDABLE and step != S.PREFLIGHT) or refused:
            ctx.merge_result(**replace(outcome, unwind_for="failed", unwind_error=message).stored())
            await ctx.move(S.UNWINDING, f"{RESTORE.label(step)} failed: {message}; undoing what snapbot did",
                           error=message)
            return True
        left = await unwind.manager_state(ctx, self._client(ctx))
        ctx.merge_result(**replace(outcome, manager_state=left).stored())
        try:
            await ctx.move("failed", f"{RESTORE.label(step)} failed: {message}"
                           + (f" — manager left {left}" if left else ""), error=message)
        except InvalidTransition:
            log.error("restore %s: cannot fail from %s", job.id, step)
        return False

    async def _unwinding(self, ctx: JobContext) -> None:
        await unwind.step(ctx, self._client(ctx), self.runbook)

    # -- steps -------------------------------------------------------------------------------
    async def _approved(self, ctx: JobContext) -> None:
        await ctx.move("preflight", "checking the manager and the snapshot")

    async def _preflight(self, ctx: JobContext) -> None:
        client = self._client(ctx)
        p = params_of(ctx.job)
        ctx.runner.ensure_free(ctx.job.manager, exclude=ctx.job.id)
        # reachable now, or soon: a manager down for minutes fails the preflight, nothing changed
        version = await self._retrying(ctx, client.version, min(60.0, self.runbook.maintenance_timeout_seconds))
        ctx.merge_result(**replace(result_of(ctx.job).preflight, manager_version=version.version).stored())
        if result_of(ctx.job).execution.execution_id is None:  # a retry after the restore skips these
            if p.origin.upload_before_restore:  # an approved rollback: push the archived copy
                await preflight.upload_approved(ctx, client, self.archives, self.runbook,
                                                p.origin.upload_before_restore, p.snapshot_id)
            try:
                snap = await client.get_snapshot(p.snapshot_id)
            except NotFound:
                raise StepFailed(f"snapshot {p.snapshot_id!r} is no longer on the manager") from None
            if not snap.usable:
                raise StepFailed(f"snapshot {p.snapshot_id!r} is {snap.status}; cannot restore it")
            if await client.snapshot_status() == "running":
                raise StepFailed("a restore is already running on the manager")
            await preflight.cluster_still_fit(ctx, client, self.runbook_base_url)
            await preflight.at_preflight(ctx, client, self.archives, version)
        if p.request.safety_snapshot:
            await ctx.move("safety_snapshot", f"manager {version.version} reachable, snapshot usable; "
                                              f"taking safety snapshot {self.safety_id(ctx.job)}")
        else:
            await ctx.move("maintenance_activating", f"manager {version.version} reachable, snapshot usable "
                                                     "(safety snapshot disabled); activating maintenance mode")

    @staticmethod
    def safety_id(job: Job) -> str:
        return result_of(job).safety_id(job.id)

    async def _safety_snapshot(self, ctx: JobContext) -> None:
        client = self._client(ctx)
        sid = self.safety_id(ctx.job)
        archives = self.archives
        manager = ctx.job.manager
        ctx.merge_result(**replace(result_of(ctx.job).safety, snapshot_id=sid).stored())
        archived = None
        if await archives.stat(manager, sid) is not None:
            try:
                archived = await archives.verify(manager, sid)
            except ArchiveError:
                archived = None
        if archived is None:
            try:
                snap = await client.get_snapshot(sid)
            except NotFound:
                snap = None
            if snap is None:
                try:
                    # queued behind what runs now: a legacy create with queue=false is refused
                    # (400 existing_running_execution_error) while any execution is active
                    await client.create_snapshot(sid, queue=True)
                except Conflict:
                    pass  # created by the attempt that died before we recorded it
            memo: dict[str, Any] = {}

            async def created() -> bool:
                s = await client.get_snapshot(sid)
                if s.status == "failed":
                    raise StepFailed(f"safety snapshot {sid} failed on the manager: {s.error or 'no error given'}")
                if not s.usable:
                    await unwind.safety_queue_check(ctx, client, self.runbook, sid, memo)
                return s.usable

            await self._poll(ctx, created, self.runbook.snapshot_timeout_seconds,
                             what=f"safety snapshot {sid} to be created")
            await archives.discard_partials(manager, sid)
            try:
                archived = await download_to_store(client, archives, manager, sid,
                                                   meter=job_meter(ctx, "downloading"))
            finally:
                end_progress(ctx)
        ctx.merge_result(**SafetyCopy(snapshot_id=sid, archive_path=archived.path, sha256=archived.sha256,
                                      size=archived.size).stored(), waiting_for=None)
        await ctx.move("maintenance_activating",
                       f"safety snapshot {sid} archived off the manager ({archived.size} bytes, "
                       f"sha256 {archived.sha256[:12]}…); activating maintenance mode")

    async def _maintenance_activating(self, ctx: JobContext) -> None:
        client = self._client(ctx)
        if result_of(ctx.job).maintenance.before is None:  # who turned it on decides the unwind
            before = await self._retrying(ctx, client.maintenance, self.runbook.maintenance_timeout_seconds)
            unwind.record_maintenance_before(ctx, before.status)
        held = unwind.held_by_maintenance(result_of(ctx.job).preflight.manager_version)
        state = await self._retrying(ctx, client.activate_maintenance, self.runbook.maintenance_timeout_seconds)
        seen: dict[str, Any] = {"remaining": None, "state": state}

        async def activated() -> bool:
            m = seen.pop("state", None) or await client.maintenance()
            seen["last"] = m
            if m.status == "activated":
                return True
            if m.status == "deactivated":  # someone turned it off meanwhile: ask again
                await client.activate_maintenance()
                return False
            ids = tuple(sorted(str(r.get("id", "")) for r in m.remaining_executions))
            if ids != seen["remaining"]:
                seen["remaining"] = ids
                lines = [unwind.remaining_line(r, held=held) for r in m.remaining_executions]
                ctx.merge_result(**replace(result_of(ctx.job).maintenance, remaining=tuple(lines)).stored(),
                                 waiting_for=shared.waiting_stored(shared.Waiting(
                                     what="maintenance", executions=tuple(lines), ids=ids,
                                     bound=self.runbook.maintenance_timeout_seconds)))
                await ctx.runner.report(ctx.job, "")  # the card lists them (throttled update)
                if ids:
                    await ctx.say(f"maintenance mode activating; waiting for {len(ids)} execution"
                                  f"{'s' if len(ids) != 1 else ''}: " +
                                  ", ".join(unwind.remaining_line(r, held=held) for r in m.remaining_executions))
            return False

        async def stuck() -> SnapbotError:
            m = seen.get("last")
            rem = list(m.remaining_executions) if m else []
            lines = ", ".join(unwind.execution_line(r) for r in rem)
            return StepFailed(f"maintenance mode stuck in activating after "
                                f"{int(self.runbook.maintenance_timeout_seconds)} s "
                                f"({len(rem)} execution{'s' if len(rem) != 1 else ''} still running"
                                f"{': ' + lines if lines else ''})")

        await self._poll(ctx, activated, self.runbook.maintenance_timeout_seconds, on_timeout=stuck)
        ctx.merge_result(**replace(result_of(ctx.job).maintenance, remaining=()).stored(), waiting_for=None)
        await ctx.move("maintenance_active", "maintenance mode activated; verifying")

    async def _maintenance_active(self, ctx: JobContext) -> None:
        m = await self._retrying(ctx, self._client(ctx).maintenance, self.runbook.maintenance_timeout_seconds)
        if m.status != "activated":
            raise StepFailed(f"maintenance mode is {m.status}, not activated; not restoring")
        asked = params_of(ctx.job).request
        flags = ", ".join(f for f, on in (("force", asked.force),
                                           ("restore-certificates", asked.restore_certificates),
                                           ("no-reboot", asked.no_reboot)) if on) or "no flags"
        await ctx.move("restoring", f"maintenance mode verified; restoring {asked.snapshot_id} ({flags})")

    async def _restoring(self, ctx: JobContext) -> None:
        client = self._client(ctx)
        timeout = self.runbook.restore_timeout_seconds
        recorded = result_of(ctx.job).execution
        exec_id = recorded.execution_id
        if exec_id is None and recorded.posted:
            # A POST may have reached the manager before the process died: find it first.
            exec_id = await find_posted(ctx, client, self.runbook)
        if exec_id is None:
            listed = await self._retrying(ctx, lambda: restore_executions(client), timeout)
            known = None if listed is None else tuple(e.id for e in listed)
            ctx.merge_result(**replace(result_of(ctx.job).execution, posted=True, known_ids=known,
                                       posted_at=iso(ctx.clock.now())).stored())
            p = params_of(ctx.job)
            version = manager_version(p, result_of(ctx.job))
            # 5.x requires recreate_deployments_envs (the 5.1.4 CLI sends True unless
            # --without-deployment-envs); 6.0 on dropped it
            recreate = True if versions.traits(version).restore_needs_recreate_envs else None
            asked = p.request
            try:
                ex = await client.restore_snapshot(asked.snapshot_id, force=asked.force,
                                                   restore_certificates=asked.restore_certificates,
                                                   no_reboot=asked.no_reboot,
                                                   tenant_name=asked.tenant_name,
                                                   recreate_deployments_envs=recreate)
            except (ManagerUnavailable, ServerError):
                # The answer was lost: whether the manager started it is checked, not guessed.
                exec_id = await find_posted(ctx, client, self.runbook)
                if exec_id is None:
                    raise
            except ExistingRunningExecution:
                await end_refused(ctx, client)
                raise
            else:
                exec_id = ex.id
            ctx.merge_result(**replace(result_of(ctx.job).execution, execution_id=exec_id).stored())
            await ctx.say(f"restore execution `{exec_id}` started")
        await follow(ctx, client, self.runbook, exec_id)

    # -- credentials after the restore (bot.jobs.restore.credentials) ----------------------
    async def _credentials_lost(self, ctx: JobContext) -> None:
        self._refused.add(ctx.job.id)
        await credentials.lost(ctx, self.runbook_base_url, self.runbook.poll_interval_seconds)

    async def _awaiting_credentials(self, ctx: JobContext) -> None:
        first = ctx.job.id not in self._refused  # a new process may have a new secret: try once
        self._refused.discard(ctx.job.id)
        await credentials.wait(ctx, self._client(ctx), self.runbook, try_first=first)

    async def _restored(self, ctx: JobContext) -> None:
        client = self._client(ctx)
        timeout = self.runbook.return_timeout_seconds  # the manager's return after the restore
        version = await self._retrying(ctx, client.version, timeout)
        recorded = result_of(ctx.job).execution
        exec_id = recorded.execution_id
        if exec_id and recorded.status_unknown:
            # followed without credentials: now that they work, read how it really ended
            eid = exec_id
            ex = await self._retrying(ctx, lambda: client.get_execution(eid, bypass_maintenance=True),
                                      timeout)
            ctx.merge_result(**replace(recorded, status=ex.status, status_unknown=False,
                                       ended_at=iso(ex.ended_at) if ex.ended_at else None).stored())
            if ex.status == "failed":
                raise StepFailed(f"the restore execution {exec_id} failed on the manager: "
                                 f"{ex.error or 'no error given'}", manager_message=ex.error or "")
        snap_status = await self._retrying(ctx, client.snapshot_status, timeout)
        if snap_status == "running" and not result_of(ctx.job).after.snapshot_status_stuck:
            # bounded: the restore execution has ended; a flag that stays is said, not waited out
            try:
                await self._poll(ctx, lambda: _eq(client.snapshot_status(), "not-running"),
                                 self.runbook.snapshot_status_grace_seconds, what="snapshot-status to settle")
            except WaitTimeout:
                ctx.merge_result(**replace(result_of(ctx.job).after, snapshot_status_stuck=True).stored())
                await ctx.say("the manager's /snapshot-status still says running although the restore "
                              "execution ended; going on (check the manager if it stays so)")
        ctx.merge_result(**replace(result_of(ctx.job).after, manager_version=version.version).stored())
        await ctx.move("reporting", f"manager {version.version} answers after the restore; "
                                    "collecting what it did to scheduled work")

    async def _reporting(self, ctx: JobContext) -> None:
        if result_of(ctx.job).after.report is None:
            try:
                report = await collect_report(ctx, self._client(ctx), self.runbook)
            except MaintenanceActive:
                ctx.merge_result(**replace(result_of(ctx.job).after, report_after_deactivation=True).stored())
            else:
                await self._record_report(ctx, report)
        p, r = params_of(ctx.job), result_of(ctx.job)
        upgrade = versions.is_upgrade(p.facts.snapshot_version, manager_version(p, r, after=True))
        ctx.merge_result(**replace(r.after, upgrade=upgrade).stored())
        await ctx.move("maintenance_deactivating", "report posted; deactivating maintenance mode")

    async def _maintenance_deactivating(self, ctx: JobContext) -> None:
        client = self._client(ctx)
        timeout = self.runbook.maintenance_timeout_seconds
        await self._retrying(ctx, client.deactivate_maintenance, timeout)

        async def off() -> bool:
            m = await client.maintenance()
            if m.status != "deactivated":
                await client.deactivate_maintenance()
            return m.status == "deactivated"

        await self._poll(ctx, off, timeout, what="maintenance mode to deactivate")
        after = result_of(ctx.job).after
        if after.report_after_deactivation and after.report is None:
            await self._record_report(ctx, await collect_report(ctx, self._client(ctx), self.runbook))
        report = result_of(ctx.job).after.report or ScheduledWorkReport()
        await ctx.move("done", f"restore of {params_of(ctx.job).snapshot_id} complete: "
                               f"{messages.report_summary(report).rstrip('.')}; maintenance mode off")

    @staticmethod
    async def _record_report(ctx: JobContext, report: ScheduledWorkReport) -> None:
        """The scheduled-work report, recorded with its thread reply (once, across resumes)."""
        await ctx.record_and_say(messages.overdue_report_text(report), key=f"overdue-report:{ctx.job.id}",
                                 **replace(result_of(ctx.job).after, report=report).stored())


async def _eq(coro: Awaitable[str], value: str) -> bool:
    return (await coro) == value

