"""The drill job: the source's archive onto the scratch manager, restored through the restore
runbook (a restore job of its own, approved by the drill: preflight, maintenance, restore, the
manager's return, report), then compared with what the archive holds.

Each step saves its state before acting and checks the scratch manager before repeating
anything, so a drill killed in any state carries on where it was. The drill's job holds the
scratch manager's lock; its restore job is its child (`parent_job`), which the lock lets through.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bot.archive_store.transfer import upload_from_store
from bot.clock import iso
from bot.cloudify import versions
from bot.cloudify.client import CloudifyClient
from bot.errors import ArchiveError, NotFound, StepFailed
from bot.jobs.drill.inventory import LABELS, Inventory, archive_inventory, compare, manager_inventory
from bot.jobs.drill.machine import DRILL, KIND
from bot.jobs.drill.machine import DrillState as S
from bot.jobs.drill.payload import DrillResult, params_of, result_of
from bot.jobs.payload import SharedParams
from bot.jobs.poll import poll
from bot.jobs.restore import preflight
from bot.jobs.restore.machine import KIND as RESTORE_KIND
from bot.jobs.restore.machine import RestoreState
from bot.jobs.runner import JobContext
from bot.jobs.simple_base import ArchiveJobDriver
from bot.messages.blocks import human_duration, human_size
from bot.partials import partial_name
from bot.store import Job

log = logging.getLogger(__name__)


class DrillDriver(ArchiveJobDriver):
    kind = KIND
    machine = DRILL

    def _scratch(self, job: Job) -> CloudifyClient:
        """The target's client, only if the target is marked scratch (checked at every step:
        nothing is ever sent to a manager that is not)."""
        target = self.settings.manager(job.manager)
        if not target.scratch:
            raise StepFailed(f"manager {target.name!r} is not marked scratch; a drill changes "
                             "nothing on it")
        return self.clients[target.name]

    async def run(self, ctx: JobContext) -> None:
        steps = {S.QUEUED: self._queued, S.UPLOADING: self._uploading,
                 S.RESTORING: self._restoring, S.COMPARING: self._comparing}
        while True:
            job = ctx.refresh()
            step = steps.get(S(job.state)) if job.state in steps else None
            if step is None:
                return
            await step(ctx)

    # -- steps ----------------------------------------------------------------------------
    async def _queued(self, ctx: JobContext) -> None:
        job = ctx.job
        self._scratch(job)
        ctx.runner.ensure_free(job.manager, exclude=job.id, allow=lambda j: j.state == "queued")
        p = params_of(job)
        await ctx.move(S.UPLOADING, f"drilling `{p.snapshot_id}` of `{p.source}` "
                                    f"({human_size(p.size or 0)}, archived "
                                    f"{human_duration(p.age_s or 0)} ago) onto "
                                    f"scratch manager `{job.manager}`")

    async def _uploading(self, ctx: JobContext) -> None:
        job = ctx.job
        client = self._scratch(job)
        p = params_of(job)
        source, sid = p.source, p.snapshot_id
        recorded = result_of(job)
        if recorded.started_at is None:
            ctx.merge_result(**DrillResult(started_at=ctx.clock.now()).stored())
        expected = recorded.expected
        if expected is None:
            expected = await self._read_archive(source, sid, p.sha256,
                                                self.settings.manager(job.manager).tenant)
            ctx.merge_result(**DrillResult(expected=expected).stored())
        answered = await client.version()
        version = answered.version
        if expected.version and compare(expected, Inventory(version, {})).version is not None:
            raise StepFailed(f"the archive is from {expected.version} but scratch manager "
                             f"{job.manager!r} runs {version}; a drill needs a scratch manager of "
                             "the source's version (nothing was changed)")
        ctx.merge_result(**DrillResult(scratch_version=version).stored())
        if not result_of(ctx.job).uploaded:
            # what the restore runbook refuses, before the upload changes anything (the
            # schedules of a new-format archive are read from the source's copy)
            target = self.settings.manager(job.manager)
            await preflight.before_any_change(
                client, self.archives, manager=source, snapshot_id=sid,
                fmt=versions.restore_format(version, expected.fmt or None, None), version=version,
                edition=answered.edition, bootstrap_admin=target.bootstrap_admin,
                configured_user=target.username)
            await self._upload(ctx, client, source, sid)
            ctx.merge_result(**DrillResult(uploaded=True).stored())
        await ctx.move(S.RESTORING, f"`{sid}` uploaded to `{job.manager}`; restoring it through "
                                    "the runbook (preflight, maintenance mode, restore, report)")

    async def _read_archive(self, source: str, sid: str, sha256: str, tenant: str) -> Inventory:
        """Stream the archived copy into a partial file, check its checksum against the one
        recorded when the drill chose it, and read what it holds."""
        info = await self.archives.verify(source, sid)
        if sha256 and info.sha256 != sha256:
            raise ArchiveError(f"{sid}.zip of {source} changed since the drill chose it "
                               f"(sha256 {info.sha256[:12]}…, recorded {sha256[:12]}…)")
        root = Path(self.settings.archive_dir)
        await asyncio.to_thread(root.mkdir, parents=True, exist_ok=True)
        tmp = root / partial_name(f"{sid}.zip", "drill")
        digest = hashlib.sha256()
        out = await asyncio.to_thread(tmp.open, "wb")
        try:
            try:
                async for chunk in self.archives.read(source, sid):
                    digest.update(chunk)
                    await asyncio.to_thread(out.write, chunk)
            finally:
                await asyncio.to_thread(out.close)
            if digest.hexdigest() != info.sha256:
                raise ArchiveError(f"{sid}.zip of {source} changed while the drill read it")
            return await asyncio.to_thread(archive_inventory, tmp, tenant)
        finally:
            tmp.unlink(missing_ok=True)

    async def _upload(self, ctx: JobContext, client: CloudifyClient, source: str, sid: str) -> None:
        """Replace whatever the scratch manager holds under that id with the archived copy."""
        try:
            await client.get_snapshot(sid)
        except NotFound:
            pass
        else:
            await client.delete_snapshot(sid)

            async def gone() -> bool:
                try:
                    await client.get_snapshot(sid)
                except NotFound:
                    return True
                return False

            await poll(ctx, gone, pacing=self.runbook, timeout=self.runbook.snapshot_timeout_seconds,
                       what=f"the old {sid} to be deleted from the scratch manager")
        await self.archives.verify(source, sid)
        await upload_from_store(client, self.archives, source, sid)

        async def usable() -> bool:
            snap = await client.get_snapshot(sid)
            if snap.status == "failed":
                raise StepFailed(f"the scratch manager refused the upload of {sid}: "
                                 f"{snap.error or 'no error given'}")
            return snap.usable

        await poll(ctx, usable, pacing=self.runbook, timeout=self.runbook.snapshot_timeout_seconds,
                   what=f"{sid} to be uploaded to the scratch manager")

    async def _restoring(self, ctx: JobContext) -> None:
        job = ctx.job
        self._scratch(job)
        child_id = result_of(job).restore_job
        if not child_id:
            child, _ = ctx.store.create_job_once(
                RESTORE_KIND, job.manager, RestoreState.APPROVED,
                params=self._restore_params(job),
                requester=job.requester, channel="", idem_key=f"drill-restore:{job.id}",
                actor="snapbot", detail=f"restore of {params_of(job).snapshot_id} for drill {job.id} "
                                        "(a scratch manager: no approval)")
            child_id = child.id
            ctx.merge_result(**DrillResult(restore_job=child_id, restore_started_at=ctx.clock.now()).stored())
            await ctx.say(f"restore job `{child_id}` runs the runbook on `{job.manager}`")
        ctx.runner.start(child_id)
        child = await ctx.runner.wait(child_id)
        if child.state != RestoreState.DONE:
            why = child.error or f"it stopped in {child.state}"
            raise StepFailed(f"the restore on `{job.manager}` did not complete (job `{child.id}`, "
                             f"{child.state}): {why}")
        recorded = result_of(ctx.job)
        started = recorded.started_at or ctx.clock.now()
        restore_started = recorded.restore_started_at or started
        now = ctx.clock.now()
        figures = DrillResult(rto_s=round((now - started).total_seconds(), 3),
                              restore_s=round((now - restore_started).total_seconds(), 3))
        ctx.merge_result(**figures.stored())
        await ctx.move(S.COMPARING, f"restored in {human_duration(figures.rto_s)}; "
                                    "comparing the manager with the archive")

    def _restore_params(self, job: Job) -> dict[str, Any]:
        """What the restore runbook gets from a request, here from the drill: the archive's
        version, format and copy (the source's), the scratch manager's version and users,
        `--force` (a scratch manager is overwritten), no safety snapshot of a throw-away one."""
        p, recorded = params_of(job), result_of(job)
        expected, version = recorded.expected, recorded.scratch_version or None
        target = self.settings.manager(job.manager)
        shared = SharedParams(parent_job=job.id, required_approvals=0)  # a child, not gated
        return {"archive_manager": p.source, "bootstrap_admin": target.bootstrap_admin,
                "configured_user": target.username, "snapshot_id": p.snapshot_id,
                "force": True, "restore_certificates": False, "no_reboot": False,
                "safety_snapshot": False, **shared.stored(),
                "drill": True, "manager_version": version,
                "snapshot_version": expected.version if expected else None, "snapshot_size": p.size,
                "snapshot_created_at": iso(p.archived_at) if p.archived_at else "",
                "restore_format": versions.restore_format(version, expected.fmt if expected else None, None)}

    async def _comparing(self, ctx: JobContext) -> None:
        job = ctx.job
        client = self._scratch(job)
        expected = result_of(job).expected
        if expected is None:  # recorded before the upload: a drill here always has it
            raise StepFailed(f"drill {job.id} has no record of what the archive holds")
        actual = await manager_inventory(client)
        result = compare(expected, actual)
        counts = {k: v for k, v in expected.counts().items() if k not in actual.unavailable}
        verdict = DrillResult(
            counts=counts, manager_version=actual.version,
            not_compared=tuple(sorted(actual.unavailable | expected.unavailable)),
            differences=tuple(result.differences), verdict="pass" if result.passed else "fail",
            rpo_s=params_of(job).age_s)
        merged = {**job.result, **verdict.stored()}
        text = verdict_text(job, DrillResult.from_stored(merged))
        if result.passed:
            await ctx.move(S.DONE, text, result=merged)
        else:
            first = result.differences[0]
            await ctx.move(S.FAILED, text, error=f"the restored manager differs from the archive: {first}",
                           result={**merged, **DrillResult(failed_step=S.COMPARING).stored()})


def counts_text(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{n} {LABELS.get(k, k)}" for k, n in counts.items())


def verdict_text(job: Job, result: DrillResult) -> str:
    """The verdict as the channel reads it: pass with counts, RTO and RPO, or the differences."""
    p = params_of(job)
    rto = human_duration(result.rto_s or 0)
    rpo = human_duration(p.age_s or 0)
    head = f"`{p.snapshot_id}` of `{p.source}` on scratch `{job.manager}` ({result.manager_version})"
    skipped = result.not_compared
    note = f" (not compared: {', '.join(LABELS.get(k, k) for k in skipped)})" if skipped else ""
    if result.verdict == "pass":
        return (f":white_check_mark: drill passed: {head} restored in {rto} (RTO), archive "
                f"{rpo} old (RPO); {counts_text(result.counts)} as in the archive"
                f"{note}")
    diffs = result.differences
    lines = "\n".join(f"• {d}" for d in diffs[:10])
    return (f":x: drill FAILED: {head} restored in {rto}, but differs from the archive "
            f"(first: {diffs[0] if diffs else '?'}):\n{lines}{note}")

