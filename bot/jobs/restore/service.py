"""Restore requests and the follow-up actions a restore card offers: validation before anything
changes, the approval request, retry from the failed step, maintenance off, rollback to the safety
snapshot and the post-upgrade steps."""
from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

from bot import runbooks
from bot.archive_store import ArchiveStore, StoredArchive
from bot.clock import Clock, iso
from bot.cloudify import versions
from bot.cloudify.client import CloudifyClient
from bot.cloudify.models import Snapshot
from bot.commands.model import SnapshotsRestore, SnapshotsUpload
from bot.commands.registry import kind_of
from bot.config.settings import Settings
from bot.errors import (
    ArchiveError,
    CloudifyError,
    JobConflict,
    MaintenanceActive,
    ManagerUnavailable,
    NotFound,
    SnapbotError,
    StepFailed,
    UsageError,
)
from bot.invocation import Invocation, Reply
from bot.jobs.restore import preflight
from bot.jobs.restore.machine import KIND, RESTORE
from bot.jobs.restore.machine import RestoreState as S
from bot.jobs.runner import JobRunner
from bot.messages import restore as messages
from bot.store import Job, Store

log = logging.getLogger(__name__)


class Approvals(Protocol):
    """What a restore request needs of the approval service."""

    async def open(self, job: Job) -> Job: ...

    def can_approve(self, user: str, job: Job) -> None: ...

    def is_approver(self, user: str) -> bool: ...


class RestoreService:
    """Validates restore requests, opens them for approval, and offers the follow-up actions
    (retry, deactivate maintenance, rollback, post-upgrade steps) the card's buttons call."""

    def __init__(self, settings: Settings, store: Store, clients: Mapping[str, CloudifyClient],
                 clock: Clock, runner: JobRunner, approvals: Approvals, archives: ArchiveStore) -> None:
        self.settings = settings
        self.store = store
        self.clients = clients
        self.clock = clock
        self.runner = runner
        self.approvals = approvals
        self.archives = archives

    def _channel(self, inv: Invocation) -> str:
        return inv.job_channel(self.settings.slack.channel)

    async def request(self, cmd: SnapshotsRestore, inv: Invocation, *, extra: dict[str, Any] | None = None) -> Reply:
        """Check everything the restore needs before anything changes, then post the request
        card for approval. The same `inv.idem_key` twice is one request."""
        store = self.store
        if inv.idem_key:
            existing = store.find_by_idem_key(inv.idem_key)
            if existing is not None:
                return Reply(messages.already_requested(existing))
        try:
            manager = self.settings.manager(cmd.manager)
        except UsageError as exc:
            return Reply(messages.refusal(exc.user_message), refused=True)
        client = self.clients[manager.name]
        try:
            facts = await self._validate(cmd, manager.name, client,
                                         upload_first=bool((extra or {}).get("upload_before_restore")))
            facts.update(await self._cluster_check(cmd, inv, manager.name, client))
            await self._before_any_change(cmd, manager.name, client, facts)
        except SnapbotError as exc:
            return Reply(messages.refusal(exc.user_message), refused=True)
        now = self.clock.now()
        ttl = self.settings.approvals.ttl_seconds
        params = {
            "snapshot_id": cmd.snapshot_id, "tenant_name": cmd.tenant_name, "force": cmd.force,
            "restore_certificates": cmd.restore_certificates, "no_reboot": cmd.no_reboot,
            "safety_snapshot": bool(self.settings.runbook.safety_snapshot),
            "expires_at": iso(now + timedelta(seconds=ttl)),
            "required_approvals": max(1, int(self.settings.approvals.required)),
            **facts, **(extra or {}),
        }
        job, created = store.create_job_once(
            KIND, manager.name, RESTORE.initial, params=params, requester=inv.user,
            channel=self._channel(inv), idem_key=inv.idem_key, actor=inv.user,
            detail=f"restore of {cmd.snapshot_id} on {manager.name} requested by {inv.user}")
        if not created:
            return Reply(messages.already_requested(job))
        # The card is queued with the request (the outbox posts it as soon as Slack answers).
        job = await self.approvals.open(job)
        return Reply(messages.request_ack(job))

    async def _validate(self, cmd: SnapshotsRestore, manager: str, client: CloudifyClient, *,
                        upload_first: bool = False) -> dict[str, Any]:
        """Reads only. `upload_first`: the snapshot is not on the manager; the approved runbook
        uploads its archived copy at its preflight (a rollback)."""
        if cmd.no_reboot and not cmd.restore_certificates:
            raise StepFailed("--no-reboot only applies together with --restore-certificates "
                               "(the manager refuses it alone); nothing was changed")
        try:
            version = await client.version()
        except ManagerUnavailable as exc:
            raise StepFailed(f"cannot reach manager {manager!r} ({exc.manager_message}); nothing was changed") from None
        snap: Snapshot | None = None
        try:
            snap = await client.get_snapshot(cmd.snapshot_id)
        except NotFound:
            if not upload_first:
                raise StepFailed(f"snapshot {cmd.snapshot_id!r} does not exist on manager {manager!r}."
                                 f"{await self._upload_hint(cmd.snapshot_id, manager)}") from None
        if snap is not None and not snap.usable:
            raise StepFailed(f"snapshot {cmd.snapshot_id!r} is {snap.status or 'not ready'}"
                               f"{': ' + snap.error if snap.error else ''}; only created or uploaded snapshots can be restored")
        if await client.snapshot_status() == "running":
            raise StepFailed(f"a restore is already running on manager {manager!r}")
        busy = self.runner.busy_on(manager)
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
            raise StepFailed(f"the manager {manager!r} has {deployments} deployment"
                               f"{'s' if deployments != 1 else ''}; add --force to overwrite them (nothing was changed)")
        if blueprints and not cmd.force:  # the manager refuses a restore over any blueprint too
            raise StepFailed(f"the manager {manager!r} has no deployments but {blueprints} blueprint"
                               f"{'s' if blueprints != 1 else ''}; add --force to overwrite them (nothing was changed)")
        facts: dict[str, Any] = {
            "manager_version": version.version, "deployments": deployments,
            "snapshot_created_at": iso(snap.created_at) if snap and snap.created_at else "",
            "snapshot_status": snap.status if snap else "archived (uploaded once approved)",
        }
        archived = await self._archived_copy(cmd.snapshot_id, manager)
        archived_format = None
        if archived is not None:
            meta = await self.archives.read_member(archived.manager, archived.snapshot_id, "metadata.json")
            facts["snapshot_size"] = archived.size
            facts["snapshot_version"] = versions.version_in_metadata(meta)
            facts["archive_path"] = archived.location
            facts["archive_manager"] = archived.manager
            archived_format = versions.metadata_format(meta)
        recorded = None
        if archived_format is None and versions.NEW in versions.traits(version.version).formats:
            recorded = await self._created_format(client, cmd.snapshot_id)
        facts["restore_format"] = versions.restore_format(version.version, archived_format, recorded)
        cfg = self.settings.manager(manager)
        facts.update(bootstrap_admin=cfg.bootstrap_admin, configured_user=cfg.username,
                     manager_edition=version.edition)
        return facts

    async def _before_any_change(self, cmd: SnapshotsRestore, manager: str, client: CloudifyClient,
                                 facts: dict[str, Any]) -> None:
        """What the manager would refuse or break on later (reads only; the approved runbook
        checks again, downloading a copy to read a new-format snapshot's schedules if needed)."""
        await preflight.before_any_change(
            client, self.archives, manager=facts.get("archive_manager") or manager,
            snapshot_id=cmd.snapshot_id, fmt=facts["restore_format"], version=facts["manager_version"],
            edition=facts.get("manager_edition"), bootstrap_admin=facts["bootstrap_admin"],
            configured_user=facts["configured_user"], allow_multi=bool(facts.get("cluster_override")))

    @staticmethod
    async def _created_format(client: CloudifyClient, snapshot_id: str) -> str | None:
        """The format the manager's own create execution of the snapshot asked for (7.0 records
        `legacy` in its parameters), or None (an uploaded snapshot has no create execution)."""
        try:
            execs = await client.list_executions(workflow_id="create_snapshot")
        except CloudifyError:
            return None
        for ex in execs:
            if ex.parameters.get("snapshot_id") == snapshot_id and "legacy" in ex.parameters:
                return versions.LEGACY if ex.parameters.get("legacy") else versions.NEW
        return None

    async def _cluster_check(self, cmd: SnapshotsRestore, inv: Invocation, manager: str,
                             client: CloudifyClient) -> dict[str, Any]:
        """Refuse a restore during a split brain or with the cluster in Fail, with the runbook,
        unless an approver asked with --ignore-cluster-health (the card then says so)."""
        try:
            health = await client.cluster_health()
        except CloudifyError as exc:
            log.info("cluster health of %s unavailable: %s", manager, exc.user_message)
            return {}
        facts: dict[str, Any] = {"cluster_down": list(health.down)} if health.down else {}
        why = health.blocks_restore
        if not why:
            return facts
        runbook = runbooks.SPLIT_BRAIN if health.split_brain else runbooks.CLUSTER_FAIL
        ref = runbooks.reference(runbook, self.settings.runbook_base_url)
        if not cmd.ignore_cluster_health:
            raise StepFailed(f"not restoring on {manager!r}: {why}. Nothing was changed; {ref}\n"
                             "(an approver can override this with --ignore-cluster-health)")
        if not self.approvals.is_approver(inv.user):
            raise StepFailed(f"not restoring on {manager!r}: {why}. Only an approver may override "
                             "that with --ignore-cluster-health; nothing was changed")
        return {**facts, "cluster_override": {"why": why, "by": inv.user, "runbook": runbook.anchor}}

    async def _upload_hint(self, snapshot_id: str, manager: str) -> str:
        """How to get an archived copy of the id onto the manager: the manager's own copy, else
        another manager's (after a disaster, the lost manager's archive is the one that has it)."""
        try:
            copies = [a for a in await self.archives.list() if a.snapshot_id == snapshot_id]
        except ArchiveError:
            return ""
        copies.sort(key=lambda a: a.manager != manager)  # stable: keeps newest first
        if not copies:
            return ""
        source = copies[0].manager
        where = "An archived copy exists" if source == manager else f"An archived copy from `{source}` exists"
        return (f" {where}: upload it first with "
                f"`/cfy snapshots upload {snapshot_id} --from-archive {source} --manager {manager}`.")

    async def _archived_copy(self, snapshot_id: str, manager: str) -> StoredArchive | None:
        """The archived copy the snapshot on `manager` came from, for its version and size: the
        manager's own copy, else the one the latest finished snapbot upload of that id to the
        manager pushed (e.g. `--from-archive prod` onto `dr`)."""
        try:
            own = await self.archives.stat(manager, snapshot_id)
            if own is not None:
                return own
            for job in self.store.list_jobs(kind=kind_of(SnapshotsUpload), manager=manager, limit=100):
                if job.state == "done" and job.params.get("snapshot_id") == snapshot_id:
                    # the newest upload decides (one from a --url has no archived copy to read)
                    if not job.params.get("archive_path"):
                        return None
                    source = job.params.get("archive_manager") or Path(job.params["archive_path"]).parent.name
                    return await self.archives.stat(source, snapshot_id)
        except ArchiveError:
            return None
        return None

    # -- follow-up actions (buttons on the card) ---------------------------------------------

    async def retry(self, job_id: str, inv: Invocation) -> Reply:
        """A new restore request by the clicker (authorized by the dispatcher as a restore
        request) that carries over the steps that succeeded before the failed one. Like any
        restore it needs fresh N-of-M approval, never from its requester."""
        store = self.store
        old = store.get_job(job_id)
        if old.state != S.FAILED:
            return Reply(messages.refusal(f"job {old.id} is {old.state}; only a failed restore can be retried"), refused=True)
        step = old.result.get("failed_step") or S.PREFLIGHT
        carried: dict[str, Any] = {}
        if RESTORE.after(step, S.SAFETY_SNAPSHOT):
            carried.update({k: v for k, v in old.result.items() if k.startswith("safety_")})
        if RESTORE.after(step, S.RESTORING):
            carried.update({k: v for k, v in old.result.items() if k.startswith("restore_")})
        drop = ("expires_at", "required_approvals", "approved_by")
        params = {**{k: v for k, v in old.params.items() if k not in drop},
                  "retry_of": old.id, "retry_from": step, **self._approval_window()}
        job, created = store.create_job_once(
            KIND, old.manager, RESTORE.initial, params=params, requester=inv.user,
            channel=old.channel or self._channel(inv), idem_key=f"restore_retry:{old.id}",
            actor=inv.user, detail=f"retry of {old.id} from {step} requested by {inv.user}")
        if not created:
            return Reply(messages.already_requested(job))
        if carried:
            job = store.merge_result(job.id, **carried)
        job = await self.approvals.open(job)
        return Reply(messages.info(f"retry of restore {old.id} from {RESTORE.label(step)} "
                                   f"requested as job {job.id}; it starts once approved"))

    def _approval_window(self) -> dict[str, Any]:
        ttl = self.settings.approvals.ttl_seconds
        return {"expires_at": iso(self.clock.now() + timedelta(seconds=ttl)),
                "required_approvals": max(1, int(self.settings.approvals.required))}

    async def rollback(self, job_id: str, inv: Invocation) -> Reply:
        """A new restore request of the job's safety snapshot. Nothing is sent to the manager
        before it is approved: when the manager no longer has the snapshot, the request names
        the verified archived copy, which the approved runbook uploads at its preflight."""
        job = self.store.get_job(job_id)
        safety_id = job.result.get("safety_snapshot_id")
        if not safety_id:
            return Reply(messages.refusal(f"job {job.id} took no safety snapshot; nothing to roll back to"), refused=True)
        extra: dict[str, Any] = {"rollback_of": job.id}
        try:
            await self.clients[job.manager].get_snapshot(safety_id)  # a read
        except NotFound:
            try:
                await self.archives.verify(job.manager, safety_id)
            except SnapbotError as exc:
                return Reply(messages.refusal(f"the safety snapshot {safety_id} is neither on the "
                                              f"manager nor usable in the archive: {exc.user_message}"),
                             refused=True)
            extra["upload_before_restore"] = job.manager  # whose archived copy to push
        cmd = SnapshotsRestore(snapshot_id=safety_id, force=True, manager=job.manager)
        return await self.request(cmd, replace(inv, idem_key=f"restore_rollback:{job.id}"),
                                  extra=extra)
