"""The restore runbook: one literal state machine, the request (validation + approval card) and the
driver that walks the vendor guide's steps, resumable from whatever state SQLite last recorded.

Each state names the step being done *in* it: `ctx.move(state)` is persisted first, then the
step's side effect runs. If the process dies, `run()` is called again in that state and every step
checks the manager before acting (an existing safety snapshot is not created twice, maintenance
mode already on is not activated twice, a restore already posted is followed, never re-posted).

Reading executions and events while maintenance mode is on: the report is computed in
`reporting`, *before* deactivation, with the `X-BYPASS-MAINTENANCE` header, so nothing new can run
between the restore and the report. Managers that refuse the bypass (503 maintenance_mode_active)
get their report read right after deactivation instead.
"""
from __future__ import annotations

import json
import logging
import re
import zipfile
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Awaitable, Callable

from bot.archive import archive_path, find_archived, verify_archived, write_sidecar
from bot.clock import iso, parse_time
from bot.cloudify.models import Execution, Version
from bot.commands.model import AgentsInstall, MaintenanceDeactivate, PluginsUpdate, SnapshotsRestore
from bot.errors import (ArchiveError, CloudifyError, Conflict, InvalidTransition, JobConflict,
                        MaintenanceActive, ManagerUnavailable, NotFound, ServerError, SnapbotError,
                        UsageError)
from bot.invocation import Invocation, Reply
from bot.jobs.machine import StateMachine, table
from bot.jobs.runner import JobContext
from bot.messages import restore as messages
from bot.messages.common import error_text
from bot.store import Job, Transition

log = logging.getLogger(__name__)

KIND = "restore"

#: The restore runbook. `preflight -> maintenance_activating` is the path taken when the safety
#: snapshot is disabled (settings.runbook.safety_snapshot = false); a pending request can be
#: cancelled, a running restore can only end done or failed.
RESTORE = StateMachine(
    name="restore",
    initial="requested",
    waiting=frozenset({"requested"}),
    table=table(
        requested=("approved", "rejected", "expired", "cancelled"),
        approved=("preflight", "cancelled", "failed"),
        preflight=("safety_snapshot", "maintenance_activating", "failed"),
        safety_snapshot=("maintenance_activating", "failed"),
        maintenance_activating=("maintenance_active", "failed"),
        maintenance_active=("restoring", "failed"),
        restoring=("restored", "failed"),
        restored=("reporting", "failed"),
        reporting=("maintenance_deactivating", "failed"),
        maintenance_deactivating=("done", "failed"),
        done=(),
        failed=(),
        rejected=(),
        expired=(),
        cancelled=(),
    ),
)

#: The runbook's steps in order (the card's checklist).
STEPS = ("preflight", "safety_snapshot", "maintenance_activating", "maintenance_active",
         "restoring", "restored", "reporting", "maintenance_deactivating")

OVERDUE_RE = re.compile(r"Execution (?P<id>\S+) scheduled for (?P<at>\S+) is overdue\.\s*Marking as FAILED")


class RunbookError(SnapbotError):
    """A runbook step could not complete; the message says why, for the channel."""


class RestoreTimeout(RunbookError):
    pass


# -- the overdue report ---------------------------------------------------------------------------

@dataclass(frozen=True)
class ReportedExecution:
    id: str
    deployment_id: str
    workflow_id: str
    scheduled_for: str  # ISO, or "" when unknown
    source: str = ""  # "log", "state" or "log+state"

    def as_dict(self) -> dict[str, str]:
        return {"id": self.id, "deployment_id": self.deployment_id, "workflow_id": self.workflow_id,
                "scheduled_for": self.scheduled_for, "source": self.source}


def overdue_report(restore_started: datetime, log_lines: list[str], failed: list[Execution],
                   scheduled: list[Execution],
                   lookup: dict[str, Execution] | None = None) -> dict[str, list[dict[str, str]]]:
    """Executions the restore marked FAILED because overdue (from its log lines and from
    executions that went failed with scheduled_for before and ended_at after the restore began),
    and those re-queued (still `scheduled`, due after the restore began)."""
    lookup = dict(lookup or {})
    for e in [*failed, *scheduled]:
        lookup.setdefault(e.id, e)
    found: dict[str, ReportedExecution] = {}
    for line in log_lines:
        m = OVERDUE_RE.search(line)
        if not m:
            continue
        e = lookup.get(m["id"])
        found[m["id"]] = ReportedExecution(m["id"], (e.deployment_id or "") if e else "",
                                           e.workflow_id if e else "", m["at"], "log")
    for e in failed:
        if e.status != "failed" or e.scheduled_for is None:
            continue
        if e.scheduled_for < restore_started and (e.ended_at is None or e.ended_at >= restore_started):
            prior = found.get(e.id)
            found[e.id] = ReportedExecution(e.id, e.deployment_id or "", e.workflow_id,
                                            iso(e.scheduled_for), "log+state" if prior else "state")
    requeued = [ReportedExecution(e.id, e.deployment_id or "", e.workflow_id, iso(e.scheduled_for), "state")
                for e in scheduled
                if e.status == "scheduled" and e.scheduled_for is not None and e.id not in found]
    return {"overdue": [r.as_dict() for r in sorted(found.values(), key=lambda r: (r.scheduled_for, r.id))],
            "requeued": [r.as_dict() for r in sorted(requeued, key=lambda r: (r.scheduled_for, r.id))]}


def snapshot_version_of(path: str | Path) -> str | None:
    """`snapshot_version` from an archive's metadata.json, or None."""
    try:
        with zipfile.ZipFile(path) as zf:
            meta = json.loads(zf.read("metadata.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None
    version = meta.get("snapshot_version") if isinstance(meta, dict) else None
    return str(version) if version else None


def is_upgrade(snapshot_version: str | None, manager_version: str | None) -> bool:
    if not snapshot_version or not manager_version:
        return False
    return Version(snapshot_version).tuple < Version(manager_version).tuple


# -- the service ------------------------------------------------------------------------------

class RestoreService:
    """Validates restore requests, opens them for approval, and offers the follow-up actions
    (retry, deactivate maintenance, rollback, post-upgrade steps) the card's buttons call."""

    def __init__(self, services: Any) -> None:
        self.services = services

    @property
    def settings(self) -> Any:
        return self.services.settings

    def _channel(self, inv: Invocation) -> str:
        return inv.job_channel(self.settings.slack.channel)

    async def request(self, cmd: SnapshotsRestore, inv: Invocation, *, extra: dict[str, Any] | None = None) -> Reply:
        """Check everything the restore needs before anything changes, then post the request
        card for approval. The same `inv.idem_key` twice is one request."""
        store = self.services.store
        if inv.idem_key:
            existing = store.find_by_idem_key(inv.idem_key)
            if existing is not None:
                return Reply(messages.already_requested(existing))
        try:
            manager = self.settings.manager(cmd.manager)
        except UsageError as exc:
            return Reply(messages.refusal(exc.user_message), refused=True)
        client = self.services.clients[manager.name]
        try:
            facts = await self._validate(cmd, manager.name, client)
        except SnapbotError as exc:
            return Reply(messages.refusal(exc.user_message), refused=True)
        now = self.services.clock.now()
        ttl = self.settings.approvals.ttl_seconds
        params = {
            "snapshot_id": cmd.snapshot_id, "tenant_name": cmd.tenant_name, "force": cmd.force,
            "restore_certificates": cmd.restore_certificates, "no_reboot": cmd.no_reboot,
            "safety_snapshot": bool(self.settings.runbook.safety_snapshot),
            "expires_at": iso(now + timedelta(seconds=ttl)),
            "required_approvals": max(1, int(self.settings.approvals.required)),
            **facts, **(extra or {}),
        }
        try:
            job = store.create_job(KIND, manager.name, RESTORE.initial, params=params,
                                   requester=inv.user, channel=self._channel(inv),
                                   idem_key=inv.idem_key, actor=inv.user,
                                   detail=f"restore of {cmd.snapshot_id} on {manager.name} requested by <@{inv.user}>")
        except JobConflict as exc:
            existing = getattr(exc, "job", None)
            if existing:
                return Reply(messages.already_requested(existing))
            return Reply(messages.refusal(str(exc)), refused=True)
        # The card is queued with the request (the outbox posts it as soon as Slack answers).
        job = await self.services.approvals.open(job)
        return Reply(messages.request_ack(job))

    async def _validate(self, cmd: SnapshotsRestore, manager: str, client: Any) -> dict[str, Any]:
        if cmd.no_reboot and not cmd.restore_certificates:
            raise RunbookError("--no-reboot only applies together with --restore-certificates "
                               "(the manager refuses it alone); nothing was changed")
        try:
            version = await client.version()
        except ManagerUnavailable as exc:
            raise RunbookError(f"cannot reach manager {manager!r} ({exc.manager_message}); nothing was changed") from None
        try:
            snap = await client.get_snapshot(cmd.snapshot_id)
        except NotFound:
            raise RunbookError(f"snapshot {cmd.snapshot_id!r} does not exist on manager {manager!r}."
                               f"{self._upload_hint(cmd.snapshot_id, manager)}") from None
        if not snap.usable:
            raise RunbookError(f"snapshot {cmd.snapshot_id!r} is {snap.status or 'not ready'}"
                               f"{': ' + snap.error if snap.error else ''}; only created or uploaded snapshots can be restored")
        if await client.snapshot_status() == "running":
            raise RunbookError(f"a restore is already running on manager {manager!r}")
        busy = self.services.runner.busy_on(manager)
        if busy:
            raise JobConflict(f"manager {manager!r} is busy with job {busy[0].id} ({busy[0].kind}, {busy[0].state})")
        deployments: int | None
        blueprints: int | None
        try:
            deployments = len(await client.list_deployments())
            blueprints = len(await client.list_blueprints())
        except MaintenanceActive:
            deployments = blueprints = None  # in maintenance mode the manager will not say; --force decides
        if deployments and not cmd.force:
            raise RunbookError(f"the manager {manager!r} has {deployments} deployment"
                               f"{'s' if deployments != 1 else ''}; add --force to overwrite them (nothing was changed)")
        if blueprints and not cmd.force:  # the manager refuses a restore over any blueprint too
            raise RunbookError(f"the manager {manager!r} has no deployments but {blueprints} blueprint"
                               f"{'s' if blueprints != 1 else ''}; add --force to overwrite them (nothing was changed)")
        facts: dict[str, Any] = {
            "manager_version": version.version, "deployments": deployments,
            "snapshot_created_at": iso(snap.created_at) if snap.created_at else "",
            "snapshot_status": snap.status,
        }
        archived = self._archived_copy(cmd.snapshot_id, manager)
        if archived is not None:
            facts["snapshot_size"] = archived.stat().st_size
            facts["snapshot_version"] = snapshot_version_of(archived)
            facts["archive_path"] = str(archived)
        return facts

    def _upload_hint(self, snapshot_id: str, manager: str) -> str:
        """How to get an archived copy of the id onto the manager: the manager's own copy, else
        another manager's (after a disaster, the lost manager's archive is the one that has it)."""
        copies = find_archived(self.settings.archive_dir, snapshot_id, prefer=manager)
        if not copies:
            return ""
        source = copies[0].parent.name
        where = "An archived copy exists" if source == manager else f"An archived copy from `{source}` exists"
        return (f" {where}: upload it first with "
                f"`/cfy snapshots upload {snapshot_id} --from-archive {source} --manager {manager}`.")

    def _archived_copy(self, snapshot_id: str, manager: str) -> Path | None:
        """The archived copy the snapshot on `manager` came from, for its version and size: the
        manager's own copy, else the one the latest finished snapbot upload of that id to the
        manager pushed (e.g. `--from-archive prod` onto `dr`)."""
        own = archive_path(self.settings.archive_dir, manager, snapshot_id)
        if own.is_file():
            return own
        for job in self.services.store.list_jobs(kind="snapshot_upload", manager=manager, limit=100):
            if job.state == "done" and job.params.get("snapshot_id") == snapshot_id:
                # the newest upload decides (one from a --url has no archived copy to read)
                path = Path(job.params.get("archive_path") or "")
                return path if job.params.get("archive_path") and path.is_file() else None
        return None

    # -- follow-up actions (buttons on the card) ---------------------------------------------

    async def retry(self, job_id: str, inv: Invocation) -> Reply:
        """A new restore job that starts approved and carries over the steps that succeeded
        before the failed one (the clicker must be an approver who is not the requester)."""
        store = self.services.store
        old = store.get_job(job_id)
        if old.state != "failed":
            return Reply(messages.refusal(f"job {old.id} is {old.state}; only a failed restore can be retried"))
        self.services.approvals.can_approve(inv.user, old)
        step = old.result.get("failed_step") or "preflight"
        carried: dict[str, Any] = {}
        order = list(STEPS)
        idx = order.index(step) if step in order else 0
        if idx > order.index("safety_snapshot"):
            carried.update({k: v for k, v in old.result.items() if k.startswith("safety_")})
        if idx > order.index("restoring"):
            carried.update({k: v for k, v in old.result.items() if k.startswith("restore_")})
        idem = f"restore_retry:{old.id}"
        existing = store.find_by_idem_key(idem)
        if existing is not None:
            return Reply(messages.already_requested(existing))
        params = {**old.params, "retry_of": old.id, "retry_from": step}
        try:
            job = store.create_job(KIND, old.manager, "approved", params=params,
                                   requester=old.requester, channel=old.channel or self._channel(inv),
                                   idem_key=idem, actor=inv.user,
                                   detail=f"retry of {old.id} from {step}, approved by <@{inv.user}>")
        except JobConflict as exc:
            existing = getattr(exc, "job", None)
            return Reply(messages.already_requested(existing) if existing else messages.refusal(str(exc)))
        if carried:
            job = store.merge_result(job.id, **carried)
        self.services.runner.start(job.id)
        return Reply(messages.info(f"retrying restore {old.id} from {messages.STEP_LABELS.get(step, step)} as job {job.id}"))

    async def deactivate(self, job_id: str, inv: Invocation) -> Reply:
        job = self.services.store.get_job(job_id)
        return await self.services.dispatcher.execute(MaintenanceDeactivate(manager=job.manager),
                                                      replace(inv, idem_key=f"restore_deactivate:{job.id}"))

    async def rollback(self, job_id: str, inv: Invocation) -> Reply:
        """Open a new approval-gated restore of the job's safety snapshot, uploading it from
        the archive first if the manager no longer has it."""
        job = self.services.store.get_job(job_id)
        safety_id = job.result.get("safety_snapshot_id")
        if not safety_id:
            return Reply(messages.refusal(f"job {job.id} took no safety snapshot; nothing to roll back to"))
        client = self.services.clients[job.manager]
        try:
            await client.get_snapshot(safety_id)
        except NotFound:
            path = job.result.get("safety_archive_path") or str(
                archive_path(self.settings.archive_dir, job.manager, safety_id))
            try:
                verify_archived(path)
                await client.upload_snapshot(safety_id, path=path)
            except SnapbotError as exc:
                return Reply(messages.refusal(f"cannot upload the safety snapshot {safety_id}: {exc.user_message}"))
        cmd = SnapshotsRestore(snapshot_id=safety_id, force=True, manager=job.manager)
        return await self.request(cmd, replace(inv, idem_key=f"restore_rollback:{job.id}"),
                                  extra={"rollback_of": job.id})

    async def post_upgrade(self, job_id: str, which: str, inv: Invocation) -> Reply:
        job = self.services.store.get_job(job_id)
        cmd = AgentsInstall(manager=job.manager) if which == "agents" else \
            PluginsUpdate(all_blueprints=True, manager=job.manager)
        return await self.services.dispatcher.execute(cmd, replace(inv, idem_key=f"restore_{which}:{job.id}"))


# -- the driver -------------------------------------------------------------------------------

class RestoreDriver:
    kind = KIND
    machine = RESTORE

    def __init__(self, services: Any) -> None:
        self.services = services

    def render(self, job: Job, transitions: list[Transition]) -> dict[str, Any]:
        return messages.render(job, transitions, now=self.services.clock.now())

    # Each handler does the work of the state the job is in, then moves it on.
    async def run(self, ctx: JobContext) -> None:
        steps: dict[str, Callable[[JobContext], Awaitable[None]]] = {
            "approved": self._approved, "preflight": self._preflight,
            "safety_snapshot": self._safety_snapshot,
            "maintenance_activating": self._maintenance_activating,
            "maintenance_active": self._maintenance_active, "restoring": self._restoring,
            "restored": self._restored, "reporting": self._reporting,
            "maintenance_deactivating": self._maintenance_deactivating,
        }
        while not RESTORE.is_terminal(ctx.job.state):
            step = steps.get(ctx.job.state)
            if step is None:  # `requested`: waits for a person, never driven
                return
            try:
                await step(ctx)
            except SnapbotError as exc:
                await self._fail(ctx, exc)
                return
            except Exception as exc:
                log.exception("restore %s: unexpected error in %s", ctx.job.id, ctx.job.state)
                await self._fail(ctx, exc)
                return

    # -- helpers -----------------------------------------------------------------------------
    def _client(self, ctx: JobContext) -> Any:
        return self.services.clients[ctx.job.manager]

    @property
    def _runbook(self) -> Any:
        return self.services.settings.runbook

    async def _poll(self, ctx: JobContext, probe: Callable[[], Awaitable[bool]], timeout: float,
                    on_timeout: Callable[[], Awaitable[SnapbotError]] | None = None,
                    what: str = "") -> None:
        """Call `probe` until it returns True, sleeping with backoff on the job's clock; the
        manager being unreachable (restarting) is not an error until the overall timeout."""
        clock = ctx.clock
        deadline = clock.now() + timedelta(seconds=timeout)
        interval = self._runbook.poll_interval_seconds
        outage_noted = False
        while True:
            try:
                if await probe():
                    if outage_noted:
                        await ctx.say("the manager answers again")
                    return
            except (ManagerUnavailable, ServerError) as exc:
                if not outage_noted:
                    outage_noted = True
                    await ctx.say(f"manager not answering ({exc.manager_message}); still polling")
            if clock.now() >= deadline:
                if on_timeout is not None:
                    raise await on_timeout()
                raise RestoreTimeout(f"timed out after {int(timeout)} s waiting for {what}")
            await clock.sleep(interval)
            interval = min(interval * 2, self._runbook.poll_max_interval_seconds)

    async def _retrying(self, ctx: JobContext, call: Callable[[], Awaitable[Any]], timeout: float) -> Any:
        box: list[Any] = []

        async def probe() -> bool:
            box.append(await call())
            return True

        await self._poll(ctx, probe, timeout, what="the manager to answer")
        return box[-1]

    async def _fail(self, ctx: JobContext, exc: BaseException) -> None:
        job = ctx.refresh()
        if RESTORE.is_terminal(job.state):
            return
        step = job.state
        message = error_text(exc, manager=job.manager)
        left = await self._manager_state(ctx)
        ctx.merge_result(failed_step=step, manager_state=left,
                         manager_error=getattr(exc, "manager_message", "") or "")
        try:
            await ctx.move("failed", f"{messages.STEP_LABELS.get(step, step)} failed: {message}"
                           + (f" — manager left {left}" if left else ""), error=message)
        except InvalidTransition:
            log.error("restore %s: cannot fail from %s", job.id, step)

    async def _manager_state(self, ctx: JobContext) -> str:
        try:
            m = await self._client(ctx).maintenance()
        except SnapbotError:
            return "in an unknown state (not answering)"
        if m.status == "activated":
            return "still in maintenance mode"
        if m.status == "activating":
            return "still activating maintenance mode"
        return "out of maintenance mode"

    # -- steps -------------------------------------------------------------------------------
    async def _approved(self, ctx: JobContext) -> None:
        await ctx.move("preflight", "checking the manager and the snapshot")

    async def _preflight(self, ctx: JobContext) -> None:
        client = self._client(ctx)
        p = ctx.job.params
        self.services.runner.ensure_free(ctx.job.manager, exclude=ctx.job.id)
        # reachable now, or soon: a manager down for minutes fails the preflight, nothing changed
        version = await self._retrying(ctx, client.version, min(60.0, self._runbook.maintenance_timeout_seconds))
        ctx.merge_result(manager_version=version.version)
        if "restore_execution_id" not in ctx.job.result:  # a retry after the restore skips these
            try:
                snap = await client.get_snapshot(p["snapshot_id"])
            except NotFound:
                raise RunbookError(f"snapshot {p['snapshot_id']!r} is no longer on the manager") from None
            if not snap.usable:
                raise RunbookError(f"snapshot {p['snapshot_id']!r} is {snap.status}; cannot restore it")
            if await client.snapshot_status() == "running":
                raise RunbookError("a restore is already running on the manager")
        if p.get("safety_snapshot", True):
            await ctx.move("safety_snapshot", f"manager {version.version} reachable, snapshot usable; "
                                              f"taking safety snapshot {self.safety_id(ctx.job)}")
        else:
            await ctx.move("maintenance_activating", f"manager {version.version} reachable, snapshot usable "
                                                     "(safety snapshot disabled); activating maintenance mode")

    @staticmethod
    def safety_id(job: Job) -> str:
        return job.result.get("safety_snapshot_id") or f"safety-{job.id}"

    async def _safety_snapshot(self, ctx: JobContext) -> None:
        client = self._client(ctx)
        sid = self.safety_id(ctx.job)
        dest = archive_path(self.services.settings.archive_dir, ctx.job.manager, sid)
        ctx.merge_result(safety_snapshot_id=sid)
        archived = None
        if dest.is_file():
            try:
                archived = verify_archived(dest)
            except ArchiveError:
                archived = None
        if archived is None:
            try:
                snap = await client.get_snapshot(sid)
            except NotFound:
                snap = None
            if snap is None:
                try:
                    await client.create_snapshot(sid)
                except Conflict:
                    pass  # created by the attempt that died before we recorded it
            status: dict[str, str] = {}

            async def created() -> bool:
                s = await client.get_snapshot(sid)
                status["s"], status["e"] = s.status, s.error
                if s.status == "failed":
                    raise RunbookError(f"safety snapshot {sid} failed on the manager: {s.error or 'no error given'}")
                return s.usable

            await self._poll(ctx, created, self._runbook.snapshot_timeout_seconds,
                             what=f"safety snapshot {sid} to be created")
            dest.parent.mkdir(parents=True, exist_ok=True)
            info = await client.download_snapshot(sid, dest)
            write_sidecar(dest, info.sha256)
            archived = verify_archived(dest)
        ctx.merge_result(safety_archive_path=archived.path, safety_sha256=archived.sha256,
                         safety_size=archived.size)
        await ctx.move("maintenance_activating",
                       f"safety snapshot {sid} archived off the manager ({archived.size} bytes, "
                       f"sha256 {archived.sha256[:12]}…); activating maintenance mode")

    async def _maintenance_activating(self, ctx: JobContext) -> None:
        client = self._client(ctx)
        state = await self._retrying(ctx, client.activate_maintenance, self._runbook.maintenance_timeout_seconds)
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
                ctx.merge_result(maintenance_remaining=[_execution_line(r) for r in m.remaining_executions])
                await ctx.runner.report(ctx.job, "")  # the card lists them (throttled update)
                if ids:
                    await ctx.say(f"maintenance mode activating; waiting for {len(ids)} execution"
                                  f"{'s' if len(ids) != 1 else ''}: " +
                                  ", ".join(_execution_line(r) for r in m.remaining_executions))
            return False

        async def stuck() -> SnapbotError:
            m = seen.get("last")
            rem = list(m.remaining_executions) if m else []
            lines = ", ".join(_execution_line(r) for r in rem)
            return RunbookError(f"maintenance mode stuck in activating after "
                                f"{int(self._runbook.maintenance_timeout_seconds)} s "
                                f"({len(rem)} execution{'s' if len(rem) != 1 else ''} still running"
                                f"{': ' + lines if lines else ''})")

        await self._poll(ctx, activated, self._runbook.maintenance_timeout_seconds, on_timeout=stuck)
        ctx.merge_result(maintenance_remaining=[])
        await ctx.move("maintenance_active", "maintenance mode activated; verifying")

    async def _maintenance_active(self, ctx: JobContext) -> None:
        m = await self._retrying(ctx, self._client(ctx).maintenance, self._runbook.maintenance_timeout_seconds)
        if m.status != "activated":
            raise RunbookError(f"maintenance mode is {m.status}, not activated; not restoring")
        p = ctx.job.params
        flags = ", ".join(f for f, on in (("force", p.get("force")),
                                           ("restore-certificates", p.get("restore_certificates")),
                                           ("no-reboot", p.get("no_reboot"))) if on) or "no flags"
        await ctx.move("restoring", f"maintenance mode verified; restoring {p['snapshot_id']} ({flags})")

    async def _restore_executions(self, client: Any) -> list[Execution] | None:
        """The manager's restore executions, or None if it hides executions in maintenance mode
        (no X-BYPASS-MAINTENANCE support)."""
        try:
            return await client.list_executions(workflow_id="restore_snapshot", bypass_maintenance=True)
        except MaintenanceActive:
            return None

    async def _restoring(self, ctx: JobContext) -> None:
        client = self._client(ctx)
        timeout = self._runbook.restore_timeout_seconds
        result = ctx.job.result
        exec_id = result.get("restore_execution_id")
        if exec_id is None and "restore_known_ids" in result:
            # A POST may have reached the manager before the process died: find it first.
            exec_id = await self._find_posted_restore(ctx)
        if exec_id is None:
            listed = await self._retrying(ctx, lambda: self._restore_executions(client), timeout)
            known = None if listed is None else [e.id for e in listed]
            ctx.merge_result(restore_known_ids=known, restore_posted_at=iso(ctx.clock.now()))
            p = ctx.job.params
            try:
                ex = await client.restore_snapshot(p["snapshot_id"], force=bool(p.get("force")),
                                                   restore_certificates=bool(p.get("restore_certificates")),
                                                   no_reboot=bool(p.get("no_reboot")),
                                                   tenant_name=p.get("tenant_name"))
            except (ManagerUnavailable, ServerError):
                # The answer was lost: whether the manager started it is checked, not guessed.
                exec_id = await self._find_posted_restore(ctx)
                if exec_id is None:
                    raise
            else:
                exec_id = ex.id
            ctx.merge_result(restore_execution_id=exec_id)
            await ctx.say(f"restore execution `{exec_id}` started")
        await self._follow_restore(ctx, exec_id, timeout)

    async def _find_posted_restore(self, ctx: JobContext) -> str | None:
        client = self._client(ctx)
        recorded = ctx.job.result.get("restore_known_ids")
        timeout = self._runbook.restore_timeout_seconds
        execs = await self._retrying(ctx, lambda: self._restore_executions(client), timeout)
        if execs is None or recorded is None:
            # Without a view of the executions, posting again could start a second restore.
            raise RunbookError("cannot tell whether the restore already started (the manager hides "
                               "executions in maintenance mode); check `/cfy snapshots status` and the "
                               "manager before retrying")
        known = set(recorded)
        mine = [e for e in execs if e.id not in known
                and (e.parameters.get("snapshot_id") in (None, ctx.job.params["snapshot_id"]))]
        if mine:
            ctx.merge_result(restore_execution_id=mine[0].id)
            return mine[0].id
        if await self._retrying(ctx, client.snapshot_status, timeout) == "running":
            # A restore we cannot see yet is running; wait for it to show up rather than post.
            box: dict[str, str] = {}

            async def visible() -> bool:
                for e in await self._restore_executions(client) or []:
                    if e.id not in known:
                        box["id"] = e.id
                        return True
                return await client.snapshot_status() != "running"

            await self._poll(ctx, visible, timeout, what="the running restore to appear")
            if "id" in box:
                ctx.merge_result(restore_execution_id=box["id"])
                return box["id"]
            raise RunbookError("a restore ran on the manager but its execution cannot be found; "
                               "check the manager before retrying")
        return None

    async def _follow_restore(self, ctx: JobContext, exec_id: str, timeout: float) -> None:
        client = self._client(ctx)
        seen: dict[str, Any] = {}

        async def finished() -> bool:
            status = await client.snapshot_status()
            if status == "running":
                seen["running"] = True
                return False
            try:
                ex = await client.get_execution(exec_id, bypass_maintenance=True)
            except NotFound:
                seen["missing"] = seen.get("missing", 0) + 1
                return seen["missing"] >= 3  # gone with the old database: over, judged below
            except MaintenanceActive:
                seen["no_bypass"] = True
                return True  # the manager will not show executions now; snapshot-status says over
            seen["execution"] = ex
            if ex.created_at and "restore_started_at" not in ctx.job.result:
                ctx.merge_result(restore_started_at=iso(ex.created_at))
            return ex.finished

        await self._poll(ctx, finished, timeout, what=f"restore execution {exec_id} to finish")
        ex: Execution | None = seen.get("execution")
        if ex is not None and ex.status == "failed":
            err = RunbookError(f"the restore execution {exec_id} failed on the manager: {ex.error or 'no error given'}")
            err.manager_message = ex.error  # type: ignore[attr-defined]
            raise err
        if ex is not None and ex.status == "cancelled":
            raise RunbookError(f"the restore execution {exec_id} was cancelled on the manager")
        ctx.merge_result(restore_status=ex.status if ex else "finished (execution not visible)")
        if ex is not None and ex.created_at and "restore_started_at" not in ctx.job.result:
            ctx.merge_result(restore_started_at=iso(ex.created_at))
        await ctx.move("restored", f"restore execution {exec_id} "
                                   f"{ex.status if ex else 'finished'}")

    async def _restored(self, ctx: JobContext) -> None:
        client = self._client(ctx)
        timeout = self._runbook.restore_timeout_seconds
        version = await self._retrying(ctx, client.version, timeout)
        snap_status = await self._retrying(ctx, client.snapshot_status, timeout)
        if snap_status == "running":
            await self._poll(ctx, lambda: _eq(client.snapshot_status(), "not-running"), timeout,
                             what="snapshot-status to settle")
        ctx.merge_result(manager_version_after=version.version)
        await ctx.move("reporting", f"manager {version.version} answers after the restore; "
                                    "collecting overdue and re-queued executions")

    async def _reporting(self, ctx: JobContext) -> None:
        if "report" not in ctx.job.result:
            try:
                report = await self._collect_report(ctx)
            except MaintenanceActive:
                ctx.merge_result(report_after_deactivation=True)
            else:
                await ctx.record_and_say(messages.overdue_report_text(report),
                                         key=f"overdue-report:{ctx.job.id}", report=report)
        p = ctx.job.params
        snap_v = p.get("snapshot_version")
        mgr_v = ctx.job.result.get("manager_version_after") or ctx.job.result.get("manager_version") \
            or p.get("manager_version")
        ctx.merge_result(upgrade=is_upgrade(snap_v, mgr_v))
        await ctx.move("maintenance_deactivating", "report posted; deactivating maintenance mode")

    async def _collect_report(self, ctx: JobContext) -> dict[str, Any]:
        client = self._client(ctx)
        result = ctx.job.result
        exec_id = result.get("restore_execution_id")
        started = parse_time(result.get("restore_started_at")) or parse_time(result.get("restore_posted_at")) \
            or ctx.clock.now()
        timeout = self._runbook.restore_timeout_seconds
        lines: list[str] = []
        if exec_id:
            try:
                events = await self._retrying(ctx, lambda: client.list_events(exec_id, bypass_maintenance=True), timeout)
                lines = [e.message for e in events]
            except NotFound:
                lines = []
        failed = await self._retrying(ctx, lambda: client.list_executions(status="failed", bypass_maintenance=True), timeout)
        scheduled = await self._retrying(ctx, lambda: client.list_executions(status="scheduled", bypass_maintenance=True), timeout)
        lookup: dict[str, Execution] = {}
        for line in lines:
            m = OVERDUE_RE.search(line)
            if m and m["id"] not in {e.id for e in failed}:
                try:
                    lookup[m["id"]] = await client.get_execution(m["id"], bypass_maintenance=True)
                except CloudifyError:
                    pass
        report = overdue_report(started, lines, failed, scheduled, lookup)
        report["restore_started_at"] = iso(started)
        return report

    async def _maintenance_deactivating(self, ctx: JobContext) -> None:
        client = self._client(ctx)
        timeout = self._runbook.maintenance_timeout_seconds
        await self._retrying(ctx, client.deactivate_maintenance, timeout)

        async def off() -> bool:
            m = await client.maintenance()
            if m.status != "deactivated":
                await client.deactivate_maintenance()
            return m.status == "deactivated"

        await self._poll(ctx, off, timeout, what="maintenance mode to deactivate")
        if ctx.job.result.get("report_after_deactivation") and "report" not in ctx.job.result:
            report = await self._collect_report(ctx)
            await ctx.record_and_say(messages.overdue_report_text(report),
                                     key=f"overdue-report:{ctx.job.id}", report=report)
        report = ctx.job.result.get("report") or {}
        await ctx.move("done", f"restore of {ctx.job.params['snapshot_id']} complete: "
                               f"{len(report.get('overdue', []))} overdue execution(s) marked failed, "
                               f"{len(report.get('requeued', []))} re-queued; maintenance mode off")


async def _eq(coro: Awaitable[str], value: str) -> bool:
    return (await coro) == value


def _execution_line(r: dict[str, Any]) -> str:
    eid = str(r.get("id", "?"))
    wf = r.get("workflow_id") or ""
    dep = r.get("deployment_id") or ""
    return f"{eid}" + (f" ({wf}" + (f" on {dep}" if dep else "") + ")" if wf else "")


def install(services: Any) -> RestoreService:
    """Register the restore driver and set `services.restores`."""
    services.runner.register(RestoreDriver(services))
    services.restores = RestoreService(services)
    return services.restores


__all__ = ["RESTORE", "STEPS", "RestoreService", "RestoreDriver", "overdue_report", "install",
           "is_upgrade", "snapshot_version_of"]
