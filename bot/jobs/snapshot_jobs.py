"""Simple jobs on snapshots: create, download (verified, into the archive), upload, delete."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from bot.archive_store.transfer import download_to_store, upload_from_store
from bot.commands import model as m
from bot.errors import ArchiveError, NotFound, SnapbotError
from bot.jobs.poll import poll
from bot.jobs.runner import JobContext
from bot.jobs.simple_base import SimpleDriver
from bot.jobs.simple_payload import SimpleResult, params_of
from bot.jobs.transfer import end_progress, job_meter
from bot.messages.blocks import human_duration, human_size
from bot.messages.text import archive_name
from bot.store import Job
from bot.urls import display_url

log = logging.getLogger(__name__)


class SnapshotCreate(SimpleDriver, command=m.SnapshotsCreate):

    def starting_detail(self, job: Job) -> str:
        return f"creating snapshot `{params_of(job).snapshot_id}`"

    def done_detail(self, job: Job, result: SimpleResult) -> str:
        return f"snapshot `{result.snapshot_id}` created in {human_duration(result.duration_s)}"

    async def work(self, ctx: JobContext, *, resumed: bool) -> SimpleResult:
        client = self.client(ctx)
        p = params_of(ctx.job)
        sid = p.snapshot_id
        started = ctx.clock.now()
        exists = False
        execution_id: str | None = None
        if resumed:  # did the PUT already go through before the restart?
            try:
                await client.get_snapshot(sid)
                exists = True
            except NotFound:
                exists = False
        if not exists:
            execution = await client.create_snapshot(
                sid, include_credentials=p.include_credentials, include_logs=p.include_logs,
                include_events=p.include_events)
            ctx.merge_result(snapshot_id=sid, execution_id=execution.id)
            execution_id = execution.id
        else:
            await ctx.say(f"resumed: snapshot `{sid}` already exists, waiting for it")

        async def check() -> Any:
            snap = await client.get_snapshot(sid)
            if snap.status not in ("created", "failed", "uploaded"):
                return None
            # A real manager marks the snapshot created a moment before its create_snapshot
            # execution ends; a job started in between would be refused as "running".
            if (snap.status == "created" and execution_id is not None
                    and not (await client.get_execution(execution_id)).finished):
                return None
            return snap

        snap = await poll(ctx, check, pacing=self.runbook, timeout=self.runbook.snapshot_timeout_seconds,
                          what=f"snapshot {sid}",
                          progress=lambda s: f"creating… {human_duration(s)}")
        duration = round((ctx.clock.now() - started).total_seconds(), 3)
        if snap.status == "failed":
            raise SnapbotError(f"the manager failed to create snapshot {sid}: "
                               f"{snap.error or 'no reason given'} (the failed snapshot stays on the "
                               f"manager: `/cfy snapshots delete {sid}` removes it)")
        return SimpleResult(snapshot_id=sid, status=snap.status, duration_s=duration)


class SnapshotDownload(SimpleDriver, command=m.SnapshotsDownload):

    def starting_detail(self, job: Job) -> str:
        return f"downloading snapshot `{params_of(job).snapshot_id}`"

    def done_detail(self, job: Job, result: SimpleResult) -> str:
        return f"saved and verified `{result.archive_path.rsplit('/', 1)[-1]}`"

    async def work(self, ctx: JobContext, *, resumed: bool) -> SimpleResult:
        client = self.client(ctx)
        sid = params_of(ctx.job).snapshot_id
        archives = self.archives
        if resumed:  # a download cut by a restart starts over into a fresh temporary name
            await archives.discard_partials(ctx.job.manager, sid)
        snap = await client.get_snapshot(sid)
        if not snap.usable:
            raise SnapbotError(f"snapshot {sid} is {snap.status or 'not ready'} on the manager; "
                               "only created or uploaded snapshots can be downloaded")
        started = ctx.clock.now()
        # verified (zip, metadata.json, size) + sha256 sidecar, published atomically
        try:
            info = await download_to_store(client, archives, ctx.job.manager, sid,
                                           meter=job_meter(ctx, "downloading"))
        finally:
            end_progress(ctx)
        duration = round((ctx.clock.now() - started).total_seconds(), 3)
        await ctx.say(f"downloaded {human_size(info.size)}, sha256 {info.sha256[:12]}…")
        return SimpleResult(snapshot_id=sid, archive_path=str(info.path), sha256=info.sha256,
                            size=info.size, duration_s=duration)


class SnapshotUpload(SimpleDriver, command=m.SnapshotsUpload):

    def starting_detail(self, job: Job) -> str:
        p = params_of(job)
        src = p.url or archive_name(p.archive_path)
        return f"uploading snapshot `{p.snapshot_id}` from `{display_url(src)}`"

    def done_detail(self, job: Job, result: SimpleResult) -> str:
        return f"snapshot `{result.snapshot_id}` is {result.status or 'uploaded'}"

    async def work(self, ctx: JobContext, *, resumed: bool) -> SimpleResult:
        client = self.client(ctx)
        p = params_of(ctx.job)
        sid = p.snapshot_id
        if resumed:
            try:
                snap = await client.get_snapshot(sid)
            except NotFound:
                snap = None
            if snap is not None and snap.usable:
                return SimpleResult(snapshot_id=sid, status=snap.status, source=p.url or p.archive_path)
            if snap is not None:  # a half-done upload: clear it before sending again
                await client.delete_snapshot(sid)
        else:
            try:
                snap = await client.get_snapshot(sid)
            except NotFound:
                snap = None
            if snap is not None:  # uploading would silently replace that snapshot's archive
                raise SnapbotError(f"snapshot {sid} already exists on {ctx.job.manager} "
                                   f"({snap.status}); nothing was uploaded")
        started = ctx.clock.now()
        if p.url:
            url = ctx.runner.in_memory(ctx.job.id).get("url")
            if url is None:
                raise SnapbotError(f"the URL of this upload was not kept across the restart (it may "
                                   f"carry a signature, so it is never stored); run `/cfy snapshots "
                                   f"upload {sid} --url …` again")
            snap = await client.upload_snapshot(sid, url=url)
            return SimpleResult(snapshot_id=sid, status=snap.status, source=p.url,
                                duration_s=round((ctx.clock.now() - started).total_seconds(), 3))
        path = p.archive_path
        # jobs from before the archive store name the copy by its path: <dir>/<manager>/<id>.zip
        source = p.archive_manager or Path(path).parent.name
        source_id = p.archive_snapshot_id or sid
        archives = self.archives
        # The archive is checked again right before streaming: it may have changed since the
        # command was accepted (or since before a restart).
        info = await archives.verify(source, source_id)
        if p.sha256 and info.sha256 != p.sha256:
            raise ArchiveError(f"{source_id}.zip changed since the upload was requested")
        try:
            snap = await upload_from_store(client, archives, source, source_id, sid,
                                           meter=job_meter(ctx, "uploading")(info.size))
        finally:
            end_progress(ctx)
        return SimpleResult(snapshot_id=sid, status=snap.status, source=str(path), sha256=info.sha256,
                            size=info.size, duration_s=round((ctx.clock.now() - started).total_seconds(), 3))


class SnapshotDelete(SimpleDriver, command=m.SnapshotsDelete):

    def starting_detail(self, job: Job) -> str:
        return f"deleting snapshot `{params_of(job).snapshot_id}`"

    def done_detail(self, job: Job, result: SimpleResult) -> str:
        return f"snapshot `{result.snapshot_id}` deleted"

    async def work(self, ctx: JobContext, *, resumed: bool) -> SimpleResult:
        client = self.client(ctx)
        sid = params_of(ctx.job).snapshot_id
        try:
            await client.delete_snapshot(sid)
        except NotFound:
            if not resumed:
                raise
        return SimpleResult(snapshot_id=sid, deleted=True)


#: this module's drivers (`bot.jobs.simple` registers them)
DRIVERS: tuple[type[SimpleDriver], ...] = (SnapshotCreate, SnapshotDownload, SnapshotUpload, SnapshotDelete)
