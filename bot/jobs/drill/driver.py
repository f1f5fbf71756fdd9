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
from bot.clock import iso, parse_time
from bot.cloudify import versions
from bot.cloudify.client import CloudifyClient
from bot.errors import ArchiveError, NotFound, StepFailed
from bot.jobs.drill.inventory import LABELS, Inventory, archive_inventory, compare, manager_inventory
from bot.jobs.drill.machine import DRILL, KIND
from bot.jobs.drill.machine import DrillState as S
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
        p = job.params
        await ctx.move(S.UPLOADING, f"drilling `{p['snapshot_id']}` of `{p['source']}` "
                                    f"({human_size(int(p.get('size') or 0))}, archived "
                                    f"{human_duration(float(p.get('age_s') or 0))} ago) onto "
                                    f"scratch manager `{job.manager}`")

    async def _uploading(self, ctx: JobContext) -> None:
        job = ctx.job
        client = self._scratch(job)
        p = job.params
        source, sid = p["source"], p["snapshot_id"]
        if "started_at" not in job.result:
            ctx.merge_result(started_at=iso(ctx.clock.now()))
        if "expected" not in ctx.job.result:
            expected = await self._read_archive(source, sid, p.get("sha256", ""),
                                                self.settings.manager(job.manager).tenant)
            ctx.merge_result(expected=expected.as_dict())
        expected = Inventory.from_dict(ctx.job.result["expected"])
        answered = await client.version()
        version = answered.version
        if expected.version and compare(expected, Inventory(version, {})).version is not None:
            raise StepFailed(f"the archive is from {expected.version} but scratch manager "
                             f"{job.manager!r} runs {version}; a drill needs a scratch manager of "
                             "the source's version (nothing was changed)")
        ctx.merge_result(scratch_version=version)
        if not ctx.job.result.get("uploaded"):
            # what the restore runbook refuses, before the upload changes anything (the
            # schedules of a new-format archive are read from the source's copy)
            target = self.settings.manager(job.manager)
            await preflight.before_any_change(
                client, self.archives, manager=source, snapshot_id=sid,
                fmt=versions.restore_format(version, expected.fmt or None, None), version=version,
                edition=answered.edition, bootstrap_admin=target.bootstrap_admin,
                configured_user=target.username)
            await self._upload(ctx, client, source, sid)
            ctx.merge_result(uploaded=True)
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
        child_id = job.result.get("restore_job")
        if child_id is None:
            p = job.params
            child, _ = ctx.store.create_job_once(
                RESTORE_KIND, job.manager, RestoreState.APPROVED,
                params=self._restore_params(job),
                requester=job.requester, channel="", idem_key=f"drill-restore:{job.id}",
                actor="snapbot", detail=f"restore of {p['snapshot_id']} for drill {job.id} "
                                        "(a scratch manager: no approval)")
            child_id = child.id
            ctx.merge_result(restore_job=child_id, restore_started_at=iso(ctx.clock.now()))
            await ctx.say(f"restore job `{child_id}` runs the runbook on `{job.manager}`")
        ctx.runner.start(child_id)
        child = await ctx.runner.wait(child_id)
        if child.state != RestoreState.DONE:
            why = child.error or f"it stopped in {child.state}"
            raise StepFailed(f"the restore on `{job.manager}` did not complete (job `{child.id}`, "
                             f"{child.state}): {why}")
        started = parse_time(ctx.job.result.get("started_at")) or ctx.clock.now()
        restore_started = parse_time(ctx.job.result.get("restore_started_at")) or started
        now = ctx.clock.now()
        ctx.merge_result(rto_s=round((now - started).total_seconds(), 3),
                         restore_s=round((now - restore_started).total_seconds(), 3))
        await ctx.move(S.COMPARING, f"restored in {human_duration(ctx.job.result['rto_s'])}; "
                                    "comparing the manager with the archive")

    def _restore_params(self, job: Job) -> dict[str, Any]:
        """What the restore runbook gets from a request, here from the drill: the archive's
        version, format and copy (the source's), the scratch manager's version and users,
        `--force` (a scratch manager is overwritten), no safety snapshot of a throw-away one."""
        p, expected = job.params, job.result.get("expected") or {}
        version = job.result.get("scratch_version")
        target = self.settings.manager(job.manager)
        return {"archive_manager": p["source"], "bootstrap_admin": target.bootstrap_admin,
                "configured_user": target.username, "snapshot_id": p["snapshot_id"],
                "force": True, "restore_certificates": False, "no_reboot": False,
                "safety_snapshot": False, "parent_job": job.id,
                "drill": True, "required_approvals": 0, "manager_version": version,
                "snapshot_version": expected.get("version"), "snapshot_size": p.get("size"),
                "snapshot_created_at": p.get("archived_at", ""),
                "restore_format": versions.restore_format(version, expected.get("format"), None)}

    async def _comparing(self, ctx: JobContext) -> None:
        job = ctx.job
        client = self._scratch(job)
        expected = Inventory.from_dict(job.result["expected"])
        actual = await manager_inventory(client)
        result = compare(expected, actual)
        counts = {k: v for k, v in expected.counts().items() if k not in actual.unavailable}
        values: dict[str, Any] = {
            "counts": counts, "manager_version": actual.version,
            "not_compared": sorted(actual.unavailable | expected.unavailable),
            "differences": result.differences, "verdict": "pass" if result.passed else "fail",
            "rpo_s": job.params.get("age_s")}
        merged = {**job.result, **values}
        if result.passed:
            await ctx.move(S.DONE, verdict_text(job, merged), result=merged)
        else:
            first = result.differences[0]
            await ctx.move(S.FAILED, verdict_text(job, merged),
                           error=f"the restored manager differs from the archive: {first}",
                           result={**merged, "failed_step": S.COMPARING})


def counts_text(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{n} {LABELS.get(k, k)}" for k, n in counts.items())


def verdict_text(job: Job, result: Mapping[str, Any]) -> str:
    """The verdict as the channel reads it: pass with counts, RTO and RPO, or the differences."""
    p = job.params
    rto = human_duration(float(result.get("rto_s") or 0))
    rpo = human_duration(float(p.get("age_s") or 0))
    head = (f"`{p['snapshot_id']}` of `{p['source']}` on scratch `{job.manager}` "
            f"({result.get('manager_version', '')})")
    skipped = result.get("not_compared") or []
    note = f" (not compared: {', '.join(LABELS.get(k, k) for k in skipped)})" if skipped else ""
    if result.get("verdict") == "pass":
        return (f":white_check_mark: drill passed: {head} restored in {rto} (RTO), archive "
                f"{rpo} old (RPO); {counts_text(result.get('counts') or {})} as in the archive"
                f"{note}")
    diffs = result.get("differences") or []
    lines = "\n".join(f"• {d}" for d in diffs[:10])
    return (f":x: drill FAILED: {head} restored in {rto}, but differs from the archive "
            f"(first: {diffs[0] if diffs else '?'}):\n{lines}{note}")

