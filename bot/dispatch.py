"""The dispatcher: runs a parsed command for someone and says what to tell them.

Quick reads are answered directly, to the caller only. Long work becomes a job in the store, run
in the background by the JobRunner, which posts and updates the job's card in the channel. Slack
handlers and the terminal both call `Dispatcher.execute`, so the rules (per-manager lock,
idempotency, approval gating, who may cancel) live here once.
"""
from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

from bot import cluster_guard
from bot.access import AccessPolicy, Role, required_role
from bot.approvals import ApprovalService
from bot.archive_store import ArchiveStore
from bot.audit import AuditLog
from bot.clock import Clock
from bot.cloudify.client import CloudifyClient
from bot.commands import model as m
from bot.commands.registry import ALWAYS, COMMANDS, spec_for
from bot.config.settings import Settings
from bot.errors import ArchiveError, CloudifyError, NotAuthorized, NotFound, SnapbotError, UsageError
from bot.invocation import Invocation, Reply
from bot.jobs.cancel import cancel_blockers, cancel_job
from bot.jobs.machine import SIMPLE
from bot.jobs.runner import JobRunner
from bot.logs import field
from bot.messages import blocks as kit
from bot.messages import common
from bot.messages import jobs as jm
from bot.messages import posture as posture_messages
from bot.messages.errors import error_message, error_text
from bot.messages.help import help_message
from bot.messages.manager import maintenance_status, snapshot_status
from bot.messages.text import archive_name
from bot.ports import Daily, Drills, Posture, Restores
from bot.reads import Reads
from bot.store import Job, Store
from bot.urls import display_url

log = logging.getLogger(__name__)

#: Runs one command for one invocation.
Handler = Callable[[Any, Invocation], Awaitable[Reply]]


def error_reply(exc: SnapbotError) -> Reply:
    return Reply(error_message(exc), ephemeral=True, refused=True)


def generate_snapshot_id(now: datetime) -> str:
    return now.strftime("snap-%Y%m%d-%H%M%S")


class Dispatcher:
    def __init__(self, settings: Settings, store: Store, runner: JobRunner,
                 clients: Mapping[str, CloudifyClient], clock: Clock, approvals: ApprovalService,
                 restores: Restores, daily: Daily, archives: ArchiveStore, audit: AuditLog,
                 access: AccessPolicy, *, drills: Drills | None = None,
                 posture: Posture | None = None) -> None:
        self.settings = settings
        self.store = store
        self.runner = runner
        self.clients = clients
        self.clock = clock
        self.approvals = approvals
        self.restores = restores
        self.daily = daily
        self.archives = archives
        self.audit = audit
        self.access = access
        self.drills = drills
        self.posture = posture
        self.reads = Reads(settings, clients, archives)
        # Commands answered (or started) by a method of their own; every other command that
        # creates a job (its spec names a job kind) is a simple job started by `_long`.
        own: dict[type[m.Command], Handler] = {
            m.Help: self._help,
            m.SnapshotsList: self._snapshots_list,
            m.SnapshotsStatus: self._snapshots_status,
            m.SnapshotsDownload: self._download,
            m.SnapshotsDelete: self._delete,
            m.SnapshotsUpload: self._upload,
            m.SnapshotsRestore: self._restore,
            m.SnapshotsSchedule: self._schedule,
            m.SnapshotsScheduleRunNow: self._run_now,
            m.SnapshotsDrill: self._drill,
            m.Status: self._status,
            m.MaintenanceStatus: self._maintenance_status,
            m.ClusterStatus: self._cluster_status,
            m.JobsList: self._jobs_list,
            m.JobsShow: self._jobs_show,
            m.JobsCancel: self._jobs_cancel,
            m.Audit: self._audit_log,
        }
        self._handlers: dict[type[m.Command], Handler] = {
            s.cls: own.get(s.cls, self._long) for s in COMMANDS if s.cls in own or s.job_kind}

    async def execute(self, cmd: m.Command, inv: Invocation) -> Reply:
        """Run `cmd` for `inv`. Never raises: errors become an ephemeral reply written for the
        caller; unexpected ones are logged with their traceback and answered generically."""
        try:
            return await self.run(cmd, inv)
        except SnapbotError as exc:
            log.warning("%s by %s refused: %s", cmd.name, field(inv.user), field(error_text(exc), 500))
            return error_reply(exc)
        except Exception:
            log.exception("command %s failed", cmd.name)
            return Reply(error_message(RuntimeError()), ephemeral=True)

    async def run(self, cmd: m.Command, inv: Invocation) -> Reply:
        """Like `execute`, but SnapbotErrors propagate (the terminal's exit codes). The caller is
        identified, then authorized (bot.access); every run is in the audit log with its outcome."""
        return await self.audit.recorded(cmd, self.access.identify(inv), self._run)

    def record(self, inv: Invocation, what: str, outcome: str, detail: str = "") -> None:
        """An audit entry for what `inv` did outside `run` (ok, refused or failed); never raises."""
        self.audit.record_for(inv, what, outcome, detail)

    async def _run(self, cmd: m.Command, inv: Invocation) -> Reply:
        handler = self._handlers.get(type(cmd))
        if handler is None:
            raise UsageError(f"`{cmd.name}` is not supported")
        await self.authorize(cmd, inv)
        return await handler(cmd, inv)

    async def _split_brain_guard(self, cmd: m.Command, inv: Invocation) -> None:
        """bot.cluster_guard, once the command's own input checks passed (bad input sends nothing)."""
        manager = self._manager(cmd)
        await cluster_guard.guard(cmd, self._client(manager), manager, approver=self.access.is_approver(inv.user),
                                  runbook_base_url=self.settings.runbook_base_url)

    def needs_approval(self, cmd: m.Command) -> bool:
        return spec_for(cmd).approval == ALWAYS or cmd.name in self.settings.approvals.gated

    async def authorize(self, cmd: m.Command, inv: Invocation) -> None:
        """Raise NotAuthorized unless `inv` (identified) may run `cmd`: the channel, the role the
        command needs, and a Slack identity for what needs approval (bot.access)."""
        spec = spec_for(cmd)
        await self.approvals.refresh_groups()
        need = required_role(cmd.name, changes_manager=spec.changes_manager,
                             starts_job=spec.job_kind is not None)
        self.access.authorize(cmd.name, need, inv, gated=self.needs_approval(cmd))

    # -- helpers ----------------------------------------------------------------------------
    def _manager(self, cmd: Any) -> str:
        return self.settings.manager(getattr(cmd, "manager", None)).name

    def _client(self, manager: str) -> Any:
        return self.clients[manager]

    def _channel(self, inv: Invocation) -> str:
        """Job cards always go to a configured channel."""
        return self.access.card_channel(inv.channel)

    def _manager_names(self) -> list[str]:
        return [mc.name for mc in self.settings.managers]

    # -- quick reads ------------------------------------------------------------------------
    async def _help(self, cmd: m.Help, inv: Invocation) -> Reply:
        message = help_message(cmd.topic, self._manager_names())
        notes = [self.access.channels_note()]
        if self.access.read_only:
            notes.insert(0, ":lock: snapbot is *read-only*: no operators are configured "
                            "(access.operators / SNAPBOT_OPERATORS), so only approvers may change "
                            "a manager.")
        if self.access.role(inv) >= Role.VIEWER:  # who approves is told to readers only
            notes.append(f"Approvers: {self.approvals.approver_names() or 'none configured'}.")
        blocks = message["blocks"][:common.MAX_BLOCKS - 1]
        return Reply({**message, "blocks": [*blocks, kit.context(" ".join(notes))]},
                     ephemeral=True)

    async def _snapshots_list(self, cmd: m.SnapshotsList, inv: Invocation) -> Reply:
        return Reply(await self.reads.snapshots_list(self._manager(cmd)), ephemeral=True)

    async def _snapshots_status(self, cmd: m.SnapshotsStatus, inv: Invocation) -> Reply:
        manager = self._manager(cmd)
        status = await self._client(manager).snapshot_status()
        jobs = self.store.list_jobs(unfinished=True, manager=manager, limit=100)
        return Reply(snapshot_status(manager, status, jobs), ephemeral=True)

    async def _maintenance_status(self, cmd: m.MaintenanceStatus, inv: Invocation) -> Reply:
        manager = self._manager(cmd)
        state = await self._client(manager).maintenance()
        return Reply(maintenance_status(manager, state), ephemeral=True)

    async def _cluster_status(self, cmd: m.ClusterStatus, inv: Invocation) -> Reply:
        return Reply(await self.reads.cluster_status(self._manager(cmd)), ephemeral=True)

    async def _jobs_list(self, cmd: m.JobsList, inv: Invocation) -> Reply:
        return Reply(jm.jobs_list(self.store.list_jobs(limit=20)), ephemeral=True)

    async def _jobs_show(self, cmd: m.JobsShow, inv: Invocation) -> Reply:
        store = self.store
        job = store.get_job(cmd.job_id)
        return Reply(jm.job_detail(job, store.transitions(job.id), store.approvals(job.id)),
                     ephemeral=True)

    async def _jobs_cancel(self, cmd: m.JobsCancel, inv: Invocation) -> Reply:
        job = self.store.get_job(cmd.job_id)
        self.check_may_cancel(job, inv.user)
        job, outcomes, undone = await cancel_job(self.runner, self._client(job.manager), job, inv.user)
        return Reply(jm.job_cancelled(job, outcomes, undone), ephemeral=False)

    async def cancel_blockers(self, job: Job, inv: Invocation) -> Reply:
        """An approver cancels the executions a job's card names as what it waits for."""
        self.access.require_approver(inv, "cancel other people's executions")
        return Reply(jm.blockers_cancelled(job, await cancel_blockers(self._client(job.manager), job)),
                     ephemeral=False)

    async def _audit_log(self, cmd: m.Audit, inv: Invocation) -> Reply:
        return self.audit.answer(cmd, self.clock.now())

    def check_may_cancel(self, job: Job, user: str) -> None:
        """The requester or an approver may cancel a job; nobody else."""
        if user == job.requester or self.access.is_approver(user):
            return
        raise NotAuthorized(f"only the requester or an approver may cancel job {job.id}")

    # -- delegated --------------------------------------------------------------------------
    async def _restore(self, cmd: m.SnapshotsRestore, inv: Invocation) -> Reply:
        self._manager(cmd)
        return await self.restores.request(cmd, inv)

    async def _schedule(self, cmd: m.SnapshotsSchedule, inv: Invocation) -> Reply:
        return await self.daily.describe(self._manager(cmd))

    async def _run_now(self, cmd: m.SnapshotsScheduleRunNow, inv: Invocation) -> Reply:
        await self._split_brain_guard(cmd, inv)
        return await self.daily.run_now(self._manager(cmd), inv)

    async def _drill(self, cmd: m.SnapshotsDrill, inv: Invocation) -> Reply:
        if self.drills is None:
            raise UsageError("restore drills are not available here")
        return await self.drills.run_now(cmd.manager, inv)

    async def _status(self, cmd: m.Status, inv: Invocation) -> Reply:
        if self.posture is None:
            raise UsageError("the posture is not available here")
        return Reply(posture_messages.status_message(await self.posture.managers(cmd.manager)))

    # -- long work --------------------------------------------------------------------------
    async def _download(self, cmd: m.SnapshotsDownload, inv: Invocation) -> Reply:
        manager = self._manager(cmd)
        store = self.archives
        if await store.stat(manager, cmd.snapshot_id) is not None:
            try:
                info = await store.verify(manager, cmd.snapshot_id)
            except ArchiveError as exc:
                log.warning("archived copy %s fails verification (%s); downloading again",
                            store.location(manager, cmd.snapshot_id), exc.user_message)
            else:
                return Reply(jm.text_message(
                    f":white_check_mark: `{cmd.snapshot_id}` from `{manager}` is already archived "
                    f"and verified: `{archive_name(info.path)}` ({kit.human_size(info.size)}, sha256 "
                    f"`{info.sha256}`). Nothing to download."), ephemeral=True)
        await self.require_snapshot(manager, cmd.snapshot_id, inv)
        return await self._long(cmd, inv)

    async def _delete(self, cmd: m.SnapshotsDelete, inv: Invocation) -> Reply:
        await self.require_snapshot(self._manager(cmd), cmd.snapshot_id, inv)
        return await self._long(cmd, inv)

    async def require_snapshot(self, manager: str, snapshot_id: str, inv: Invocation) -> None:
        """A mistyped id gets a private answer before any job (no card, no failure card). Only
        the manager saying "not found" refuses: when it cannot be asked, the job starts and
        says what happened on its card. A request already taken (a Slack retry) is left to
        `_long`, which answers for its job."""
        if inv.idem_key and self.store.find_by_idem_key(inv.idem_key) is not None:
            return
        self.runner.ensure_free(manager)  # a busy manager is said first, as for every job
        try:
            await self._client(manager).get_snapshot(snapshot_id)
        except NotFound:
            raise SnapbotError(f"manager `{manager}` has no snapshot `{snapshot_id}`; nothing was "
                               "done. `/cfy snapshots list` shows the ones it has.") from None
        except CloudifyError:
            return

    async def resolve_archive(self, cmd: m.SnapshotsUpload, manager: str) -> str:
        """Which manager's archived copy `--from-archive [M]` means: M's copy of the id, or (M
        omitted) the target manager's copy, else the newest copy of that id under any manager."""
        if cmd.from_archive:
            # M may be a manager that is no longer configured (a lost one): its archive stays.
            return cmd.from_archive
        store = self.archives
        if await store.stat(manager, cmd.snapshot_id) is not None:
            return manager
        for copy in await store.list():
            if copy.snapshot_id == cmd.snapshot_id:
                return copy.manager
        return manager

    async def _upload(self, cmd: m.SnapshotsUpload, inv: Invocation) -> Reply:
        manager = self._manager(cmd)
        extra: dict[str, Any] = {}
        volatile: dict[str, Any] = {}
        if cmd.url:
            if cmd.from_archive is not None:
                raise UsageError("give either --from-archive or --url, not both")
            # The URL may be presigned (its query string is a credential): SQLite keeps only
            # what can be shown; the URL itself stays in this process's memory.
            extra = {"url": display_url(cmd.url)}
            volatile = {"url": cmd.url}
        else:
            # Verified before anything is sent: a tampered or truncated copy is refused here.
            source = await self.resolve_archive(cmd, manager)
            info = await self.archives.verify(source, cmd.snapshot_id)
            extra = {"archive_path": info.path, "archive_manager": source, "sha256": info.sha256,
                     "size": info.size}
        await self.refuse_existing(manager, cmd.snapshot_id)
        return await self._long(cmd, inv, extra=extra, volatile=volatile)

    async def refuse_existing(self, manager: str, snapshot_id: str) -> None:
        """The manager silently replaces the archive of an existing snapshot on upload: refuse
        instead, so a copy never overwrites a different snapshot of the same name."""
        try:
            snap = await self._client(manager).get_snapshot(snapshot_id)
        except NotFound:
            return
        raise SnapbotError(f"snapshot `{snapshot_id}` already exists on `{manager}` ({snap.status}); "
                           "delete it first, or restore that one")

    def job_params(self, cmd: m.Command, manager: str) -> dict[str, Any]:
        if isinstance(cmd, m.SnapshotsCreate) and not cmd.snapshot_id:
            cmd = dataclasses.replace(cmd, snapshot_id=generate_snapshot_id(self.clock.now()))
        return {k: v for k, v in vars(cmd).items() if k != "manager"}

    async def _long(self, cmd: m.Command, inv: Invocation, *, extra: dict[str, Any] | None = None,
                    volatile: dict[str, Any] | None = None) -> Reply:
        """Create the job (exactly once per request), respecting the per-manager lock and the
        approval gate, and start it."""
        manager = self._manager(cmd)
        kind = spec_for(cmd).job_kind
        if kind is None:  # the handler map sends only commands with a job kind here
            raise SnapbotError(f"`{cmd.name}` does not run as a job")
        store, runner = self.store, self.runner
        if inv.idem_key:
            existing = store.find_by_idem_key(inv.idem_key)
            if existing is not None:
                return Reply(jm.job_duplicate(existing), ephemeral=True)
        await self._split_brain_guard(cmd, inv)
        gated = cmd.name in self.settings.approvals.gated
        runner.ensure_free(manager)
        params = {**self.job_params(cmd, manager), **(extra or {})}
        job, created = store.create_job_once(
            kind, manager, SIMPLE.awaiting if gated else SIMPLE.initial, params=params,
            requester=inv.user, channel=self._channel(inv), idem_key=inv.idem_key, actor=inv.user,
            detail=f"requested from {inv.source}")
        if not created:
            return Reply(jm.job_duplicate(job), ephemeral=True)
        if volatile:
            runner.keep_in_memory(job.id, volatile)
        if gated:
            await self.approvals.open(job)
            return Reply(jm.job_awaiting_approval(job), ephemeral=False)
        runner.start(job.id)
        return Reply(jm.job_started(job), ephemeral=False)
