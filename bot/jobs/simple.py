"""Simple one-shot jobs on the SIMPLE machine: queued -> running -> done | failed.

Each driver's `run` is written to be called again after a crash: in `running` it first asks the
manager what already happened (the snapshot exists? maintenance already activated? an execution
already started for that deployment?) before repeating anything. Waiting is polling with backoff
through the injected clock; intervals and timeouts come from `settings.runbook`.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping

from bot.archive_store import ArchiveStore
from bot.archive_store.transfer import download_to_store, upload_from_store
from bot.cloudify.client import CloudifyClient
from bot.config import RunbookConfig, Settings
from bot.errors import ArchiveError, CloudifyError, NotFound, SnapbotError, WaitTimeout
from bot.jobs.machine import SIMPLE, StateMachine
from bot.jobs.poll import poll
from bot.jobs.runner import JobContext, JobRunner
from bot.messages.blocks import human_duration, human_size
from bot.messages.jobs import display_url, job_card
from bot.notifier import Message
from bot.store import Job, Transition

log = logging.getLogger(__name__)

#: Plugins-update states after which nothing more happens (cloudify's PluginsUpdateStates).
PLUGINS_UPDATE_FINAL = frozenset({"successful", "failed", "no_changes_required", "rolledback"})
PLUGINS_UPDATE_OK = frozenset({"successful", "no_changes_required"})


class SimpleDriver:
    """Base of the simple drivers: the machine, the card, and queued -> running -> done."""

    kind = ""
    machine: StateMachine = SIMPLE

    def __init__(self, clients: Mapping[str, CloudifyClient], settings: Settings,
                 archives: ArchiveStore) -> None:
        self.clients = clients
        self.settings = settings
        self.archives = archives
        self.runbook = settings.runbook

    def render(self, job: Job, transitions: list[Transition]) -> Message:
        return job_card(job, transitions)

    async def run(self, ctx: JobContext) -> None:
        job = ctx.refresh()
        if self.machine.is_terminal(job.state) or job.state in self.machine.waiting:
            return
        resumed = job.state == "running"
        if job.state == "queued":
            # A job approved after a wait may find another job on its manager by now. Only jobs
            # that already started count: of two queued ones, the first to start wins (the check
            # and the move to running happen with no await in between).
            ctx.runner.ensure_free(job.manager, exclude=job.id, allow=lambda j: j.state == "queued")
            await ctx.move("running", self.starting_detail(job))
        started = ctx.clock.now()
        result = await self.work(ctx, resumed=resumed)
        result = dict(result or {})
        result.setdefault("duration_s", round((ctx.clock.now() - started).total_seconds(), 3))
        merged = {**ctx.job.result, **result}
        failure = merged.pop("_failure", None)
        if failure:
            await ctx.move("failed", failure, error=failure, result=merged)
        else:
            await ctx.move("done", self.done_detail(ctx.job, merged), result=merged)

    # -- for subclasses --------------------------------------------------------------------
    def starting_detail(self, job: Job) -> str:
        return ""

    def done_detail(self, job: Job, result: dict[str, Any]) -> str:
        return ""

    async def work(self, ctx: JobContext, *, resumed: bool) -> dict[str, Any]:
        raise NotImplementedError

    def client(self, ctx: JobContext) -> CloudifyClient:
        return self.clients[ctx.job.manager]


class SnapshotCreate(SimpleDriver):
    kind = "snapshot_create"

    def starting_detail(self, job: Job) -> str:
        return f"creating snapshot `{job.params['snapshot_id']}`"

    def done_detail(self, job: Job, result: dict[str, Any]) -> str:
        return f"snapshot `{result['snapshot_id']}` created in {human_duration(result.get('duration_s'))}"

    async def work(self, ctx: JobContext, *, resumed: bool) -> dict[str, Any]:
        client = self.client(ctx)
        p = ctx.job.params
        sid = p["snapshot_id"]
        started = ctx.clock.now()
        exists = False
        if resumed:  # did the PUT already go through before the restart?
            try:
                await client.get_snapshot(sid)
                exists = True
            except NotFound:
                exists = False
        if not exists:
            execution = await client.create_snapshot(
                sid, include_credentials=p.get("include_credentials", True),
                include_logs=p.get("include_logs", True), include_events=p.get("include_events", True))
            ctx.merge_result(snapshot_id=sid, execution_id=execution.id)
        else:
            await ctx.say(f"resumed: snapshot `{sid}` already exists, waiting for it")

        async def check() -> Any:
            snap = await client.get_snapshot(sid)
            return snap if snap.status in ("created", "failed", "uploaded") else None

        snap = await poll(ctx, check, pacing=self.runbook, timeout=self.runbook.snapshot_timeout_seconds,
                          what=f"snapshot {sid}",
                          progress=lambda s: f"creating… {human_duration(s)}")
        duration = round((ctx.clock.now() - started).total_seconds(), 3)
        if snap.status == "failed":
            raise SnapbotError(f"the manager failed to create snapshot {sid}: "
                               f"{snap.error or 'no reason given'} (the failed snapshot stays on the "
                               f"manager: `/cfy snapshots delete {sid}` removes it)")
        return {"snapshot_id": sid, "status": snap.status, "duration_s": duration}


class SnapshotDownload(SimpleDriver):
    kind = "snapshot_download"

    def starting_detail(self, job: Job) -> str:
        return f"downloading snapshot `{job.params['snapshot_id']}`"

    def done_detail(self, job: Job, result: dict[str, Any]) -> str:
        return f"saved and verified `{str(result.get('archive_path')).rsplit('/', 1)[-1]}`"

    async def work(self, ctx: JobContext, *, resumed: bool) -> dict[str, Any]:
        client = self.client(ctx)
        sid = ctx.job.params["snapshot_id"]
        archives = self.archives
        if resumed:  # a download cut by a restart starts over into a fresh temporary name
            await archives.discard_partials(ctx.job.manager, sid)
        snap = await client.get_snapshot(sid)
        if not snap.usable:
            raise SnapbotError(f"snapshot {sid} is {snap.status or 'not ready'} on the manager; "
                               "only created or uploaded snapshots can be downloaded")
        started = ctx.clock.now()
        # verified (zip, metadata.json, size) + sha256 sidecar, published atomically
        info = await download_to_store(client, archives, ctx.job.manager, sid)
        duration = round((ctx.clock.now() - started).total_seconds(), 3)
        await ctx.say(f"downloaded {human_size(info.size)}, sha256 {info.sha256[:12]}…")
        return {"snapshot_id": sid, "archive_path": str(info.path), "sha256": info.sha256,
                "size": info.size, "duration_s": duration}


class SnapshotUpload(SimpleDriver):
    kind = "snapshot_upload"

    def starting_detail(self, job: Job) -> str:
        src = job.params.get("url") or job.params.get("archive_path") or ""
        return f"uploading snapshot `{job.params['snapshot_id']}` from `{display_url(src)}`"

    def done_detail(self, job: Job, result: dict[str, Any]) -> str:
        return f"snapshot `{result['snapshot_id']}` is {result.get('status', 'uploaded')}"

    async def work(self, ctx: JobContext, *, resumed: bool) -> dict[str, Any]:
        client = self.client(ctx)
        p = ctx.job.params
        sid = p["snapshot_id"]
        if resumed:
            try:
                snap = await client.get_snapshot(sid)
            except NotFound:
                snap = None
            if snap is not None and snap.usable:
                return {"snapshot_id": sid, "status": snap.status,
                        "source": p.get("url") or p.get("archive_path")}
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
        if p.get("url"):
            url = ctx.runner.volatile.get(ctx.job.id, {}).get("url")
            if url is None:
                raise SnapbotError(f"the URL of this upload was not kept across the restart (it may "
                                   f"carry a signature, so it is never stored); run `/cfy snapshots "
                                   f"upload {sid} --url …` again")
            snap = await client.upload_snapshot(sid, url=url)
            return {"snapshot_id": sid, "status": snap.status, "source": p["url"],
                    "duration_s": round((ctx.clock.now() - started).total_seconds(), 3)}
        path = p["archive_path"]
        # jobs from before the archive store name the copy by its path: <dir>/<manager>/<id>.zip
        source = p.get("archive_manager") or Path(path).parent.name
        source_id = p.get("archive_snapshot_id") or sid
        archives = self.archives
        # The archive is checked again right before streaming: it may have changed since the
        # command was accepted (or since before a restart).
        info = await archives.verify(source, source_id)
        if p.get("sha256") and info.sha256 != p["sha256"]:
            raise ArchiveError(f"{source_id}.zip changed since the upload was requested")
        snap = await upload_from_store(client, archives, source, source_id, sid)
        return {"snapshot_id": sid, "status": snap.status, "source": str(path),
                "sha256": info.sha256, "size": info.size,
                "duration_s": round((ctx.clock.now() - started).total_seconds(), 3)}


class SnapshotDelete(SimpleDriver):
    kind = "snapshot_delete"

    def starting_detail(self, job: Job) -> str:
        return f"deleting snapshot `{job.params['snapshot_id']}`"

    def done_detail(self, job: Job, result: dict[str, Any]) -> str:
        return f"snapshot `{result['snapshot_id']}` deleted"

    async def work(self, ctx: JobContext, *, resumed: bool) -> dict[str, Any]:
        client = self.client(ctx)
        sid = ctx.job.params["snapshot_id"]
        try:
            await client.delete_snapshot(sid)
        except NotFound:
            if not resumed:
                raise
        return {"snapshot_id": sid, "deleted": True}


class MaintenanceActivate(SimpleDriver):
    kind = "maintenance_activate"

    def done_detail(self, job: Job, result: dict[str, Any]) -> str:
        return "maintenance mode is activated"

    async def work(self, ctx: JobContext, *, resumed: bool) -> dict[str, Any]:
        client = self.client(ctx)
        started = ctx.clock.now()
        state = await client.activate_maintenance()  # idempotent: also right after a restart
        last_remaining: list[int | None] = [None]

        async def check() -> Any:
            st = await client.maintenance()
            if st.status == "activated":
                return st
            if st.status == "deactivated":
                raise SnapbotError("maintenance mode went back to deactivated while activating "
                                   "(someone deactivated it)")
            n = len(st.remaining_executions)
            if n != last_remaining[0]:
                last_remaining[0] = n
                ids = ", ".join(f"`{e.get('id', '?')}`" for e in st.remaining_executions[:5])
                await ctx.say(f"activating: waiting for {n} running execution(s)" + (f": {ids}" if ids else ""))
            return None

        if state.status != "activated":
            try:
                state = await poll(ctx, check,
                                   pacing=self.runbook, timeout=self.runbook.maintenance_timeout_seconds,
                                   what="maintenance mode to be activated",
                                   progress=lambda s: f"still activating… {human_duration(s)}")
            except WaitTimeout as exc:
                # Say what the manager was left in and what to do next, not just "timed out".
                raise WaitTimeout(f"{exc}; the manager is left in maintenance mode *activating* "
                                 f"({last_remaining[0] or 0} execution(s) still running). Wait for "
                                 "them or run `/cfy maintenance-mode deactivate`.") from None
        return {"maintenance": "activated",
                "duration_s": round((ctx.clock.now() - started).total_seconds(), 3)}


class MaintenanceDeactivate(SimpleDriver):
    kind = "maintenance_deactivate"

    def done_detail(self, job: Job, result: dict[str, Any]) -> str:
        return "maintenance mode is deactivated"

    async def work(self, ctx: JobContext, *, resumed: bool) -> dict[str, Any]:
        client = self.client(ctx)
        state = await client.deactivate_maintenance()
        if state.status != "deactivated":
            state = await client.maintenance()
        if state.status != "deactivated":
            raise SnapbotError(f"maintenance mode is still {state.status} after deactivating")
        return {"maintenance": "deactivated"}


async def _follow_executions(ctx: JobContext, key: str, started: dict[str, str],
                             client: CloudifyClient, runbook: RunbookConfig) -> dict[str, dict[str, Any]]:
    """Poll executions {name: execution_id} until all are finished; returns per-name outcome."""
    outcome: dict[str, dict[str, Any]] = dict(ctx.job.result.get(key) or {})
    pending = {n: e for n, e in started.items() if not outcome.get(n, {}).get("final")}

    async def check() -> Any:
        for name, exec_id in list(pending.items()):
            ex = await client.get_execution(exec_id)
            if ex.finished:
                outcome[name] = {"execution_id": exec_id, "status": ex.status, "error": ex.error,
                                 "ok": ex.status == "terminated", "final": True}
                del pending[name]
                ctx.merge_result(**{key: outcome})
                await ctx.say(f"`{name}`: {ex.status}" + (f" – {ex.error}" if ex.error else ""))
        return True if not pending else None

    await poll(ctx, check, pacing=runbook, timeout=runbook.snapshot_timeout_seconds,
               what=f"{len(pending)} execution(s)",
               progress=lambda s: f"{len(pending)} still running… {human_duration(s)}")
    return outcome


class AgentsInstall(SimpleDriver):
    kind = "agents_install"

    def done_detail(self, job: Job, result: dict[str, Any]) -> str:
        deps = result.get("deployments") or {}
        return f"install_new_agents finished on {len(deps)} deployment(s)"

    async def work(self, ctx: JobContext, *, resumed: bool) -> dict[str, Any]:
        client = self.client(ctx)
        outcome: dict[str, dict[str, Any]] = dict(ctx.job.result.get("deployments") or {})
        deployments = ctx.job.result.get("deployment_ids")
        if deployments is None:
            deployments = [d.id for d in await client.list_deployments()]
            ctx.merge_result(deployment_ids=deployments)
        if not deployments:
            await ctx.say("no deployments on the manager: nothing to do")
            return {"deployments": {}}
        started: dict[str, str] = {}
        for dep in deployments:
            if dep in outcome and outcome[dep].get("execution_id"):
                started[dep] = outcome[dep]["execution_id"]  # started before a restart
                continue
            try:
                ex = await client.start_execution(dep, "install_new_agents")
            except CloudifyError as exc:
                outcome[dep] = {"status": "not started", "error": exc.user_message, "ok": False,
                                "final": True}
                ctx.merge_result(deployments=outcome)
                continue
            outcome[dep] = {"execution_id": ex.id, "status": ex.status, "ok": False}
            started[dep] = ex.id
            ctx.merge_result(deployments=outcome)
        await ctx.say(f"install_new_agents started on {len(started)} deployment(s)")
        if started:
            outcome = await _follow_executions(ctx, "deployments", started, client, self.runbook)
        return _per_item_result(outcome, "deployments", "deployment")


class PluginsUpdate(SimpleDriver):
    kind = "plugins_update"

    def done_detail(self, job: Job, result: dict[str, Any]) -> str:
        return f"plugins updated for {len(result.get('blueprints') or {})} blueprint(s)"

    async def work(self, ctx: JobContext, *, resumed: bool) -> dict[str, Any]:
        client = self.client(ctx)
        p = ctx.job.params
        outcome: dict[str, dict[str, Any]] = dict(ctx.job.result.get("blueprints") or {})
        blueprints = ctx.job.result.get("blueprint_ids")
        if blueprints is None:
            if p.get("all_blueprints"):
                blueprints = [b["id"] for b in await client.list_blueprints()]
            else:
                blueprints = [p["blueprint_id"]]
            ctx.merge_result(blueprint_ids=blueprints)
        if not blueprints:
            await ctx.say("no blueprints on the manager: nothing to do")
            return {"blueprints": {}}
        for bp in blueprints:
            entry = outcome.get(bp) or {}
            if entry.get("final"):
                continue
            if not entry.get("update_id"):
                try:
                    upd = await client.update_plugins(bp)
                except CloudifyError as exc:
                    if not p.get("all_blueprints"):
                        raise
                    outcome[bp] = {"status": "not started", "error": exc.user_message,
                                   "ok": False, "final": True}
                    ctx.merge_result(blueprints=outcome)
                    continue
                entry = {"update_id": upd.id, "status": upd.state, "ok": False}
                outcome[bp] = entry
                ctx.merge_result(blueprints=outcome)
                await ctx.say(f"`{bp}`: plugins update `{upd.id}` {upd.state}")
            update_id = entry["update_id"]

            async def check(update_id: str = update_id) -> Any:
                upd = await client.get_plugins_update(update_id)
                return upd if upd.state in PLUGINS_UPDATE_FINAL else None

            upd = await poll(ctx, check, pacing=self.runbook, timeout=self.runbook.snapshot_timeout_seconds,
                             what=f"plugins update of {bp}",
                             progress=lambda s, bp=bp: f"`{bp}`: updating… {human_duration(s)}")
            outcome[bp] = {"update_id": update_id, "status": upd.state,
                           "ok": upd.state in PLUGINS_UPDATE_OK, "final": True}
            ctx.merge_result(blueprints=outcome)
            await ctx.say(f"`{bp}`: {upd.state}")
        return _per_item_result(outcome, "blueprints", "blueprint")


def _per_item_result(outcome: dict[str, dict[str, Any]], key: str, noun: str) -> dict[str, Any]:
    failed = sorted(n for n, v in outcome.items() if not v.get("ok"))
    result: dict[str, Any] = {key: outcome}
    if failed:
        result["_failure"] = (f"{len(failed)} of {len(outcome)} {noun}(s) failed: "
                              + ", ".join(f"{n} ({outcome[n].get('status')})" for n in failed))
    return result


SIMPLE_DRIVERS = (SnapshotCreate, SnapshotDownload, SnapshotUpload, SnapshotDelete,
                  MaintenanceActivate, MaintenanceDeactivate, AgentsInstall, PluginsUpdate)
SIMPLE_KINDS = tuple(d.kind for d in SIMPLE_DRIVERS)


def register_simple_drivers(runner: JobRunner, clients: Mapping[str, CloudifyClient],
                            settings: Settings, archives: ArchiveStore) -> None:
    for driver in SIMPLE_DRIVERS:
        runner.register(driver(clients, settings, archives))
