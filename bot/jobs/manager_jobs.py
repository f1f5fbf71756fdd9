"""Simple jobs on the manager: maintenance mode on and off, agents install, plugins update."""
from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from typing import Any

from bot.cloudify import versions
from bot.cloudify.client import CloudifyClient
from bot.commands import model as m
from bot.config.settings import RunbookConfig
from bot.errors import CloudifyError, SnapbotError, WaitTimeout
from bot.jobs.cancel import undo_maintenance
from bot.jobs.poll import poll
from bot.jobs.restore.unwind import remaining_line
from bot.jobs.runner import JobContext
from bot.jobs.simple_base import SimpleDriver
from bot.messages.blocks import human_duration
from bot.store import Job

log = logging.getLogger(__name__)

#: Plugins-update states after which nothing more happens (cloudify's PluginsUpdateStates).
PLUGINS_UPDATE_FINAL = frozenset({"successful", "failed", "no_changes_required", "rolledback"})
PLUGINS_UPDATE_OK = frozenset({"successful", "no_changes_required"})


class MaintenanceActivate(SimpleDriver, command=m.MaintenanceActivate):

    def done_detail(self, job: Job, result: dict[str, Any]) -> str:
        return "maintenance mode is activated"

    async def work(self, ctx: JobContext, *, resumed: bool) -> dict[str, Any]:
        client = self.client(ctx)
        started = ctx.clock.now()
        if "maintenance_before" not in ctx.job.result:  # who turned it on decides the undo
            ctx.merge_result(maintenance_before=(await client.maintenance()).status)
        # resumed: ask the manager first; what the first life already turned on is followed
        state = await client.maintenance() if resumed else None
        if state is None or state.status not in ("activating", "activated"):
            state = await client.activate_maintenance()
        held = versions.traits((await client.version()).version).queued_held_by_maintenance
        last_remaining: list[tuple[str, ...] | None] = [None]

        async def check() -> Any:
            st = await client.maintenance()
            if st.status == "activated":
                return st
            if st.status == "deactivated":
                raise SnapbotError("maintenance mode went back to deactivated while activating "
                                   "(someone deactivated it)")
            ids = tuple(sorted(str(e.get("id", "?")) for e in st.remaining_executions))
            if ids != last_remaining[0]:
                last_remaining[0] = ids
                lines = [remaining_line(e, held=held) for e in st.remaining_executions]
                ctx.merge_result(waiting_for={"what": "maintenance", "ids": list(ids),
                                              "executions": lines})
                await ctx.touch_card()
                await ctx.say(f"activating: waiting for {len(ids)} execution(s)"
                              + (f": {', '.join(lines[:10])}" if lines else ""),
                              key=waiting_key(ctx.job.id, list(st.remaining_executions)))
            return None

        if state.status != "activated":
            try:
                state = await poll(ctx, check,
                                   pacing=self.runbook, timeout=self.runbook.maintenance_timeout_seconds,
                                   what="maintenance mode to be activated",
                                   progress=lambda s: f"still activating… {human_duration(s)}")
            except SnapbotError as exc:
                # Say what the manager was left in and what to do next, not just "timed out";
                # maintenance this job turned on is turned off again (`activating` refuses work).
                undone = await undo_maintenance(client, ctx.refresh())
                waiting = ", ".join((ctx.job.result.get("waiting_for") or {}).get("executions") or [])
                left = undone or "the manager is left in maintenance mode *activating*"
                text = f"{exc.user_message}; {left}" + (f"; it waited for: {waiting}" if waiting else "")
                raise (WaitTimeout(text) if isinstance(exc, WaitTimeout) else SnapbotError(text)) from None
        return {"maintenance": "activated", "waiting_for": None,
                "duration_s": round((ctx.clock.now() - started).total_seconds(), 3)}


class MaintenanceDeactivate(SimpleDriver, command=m.MaintenanceDeactivate):

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


class AgentsInstall(SimpleDriver, command=m.AgentsInstall):

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


class PluginsUpdate(SimpleDriver, command=m.PluginsUpdate):

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

            def progress(waited: float, bp: str = bp) -> str:
                return f"`{bp}`: updating… {human_duration(waited)}"

            upd = await poll(ctx, check, pacing=self.runbook, timeout=self.runbook.snapshot_timeout_seconds,
                             what=f"plugins update of {bp}", progress=progress)
            outcome[bp] = {"update_id": update_id, "status": upd.state,
                           "ok": upd.state in PLUGINS_UPDATE_OK, "final": True}
            ctx.merge_result(blueprints=outcome)
            await ctx.say(f"`{bp}`: {upd.state}")
        return _per_item_result(outcome, "blueprints", "blueprint")


#: this module's drivers (`bot.jobs.simple` registers them)
DRIVERS: tuple[type[SimpleDriver], ...] = (MaintenanceActivate, MaintenanceDeactivate, AgentsInstall,
                                           PluginsUpdate)


def _per_item_result(outcome: dict[str, dict[str, Any]], key: str, noun: str) -> dict[str, Any]:
    failed = sorted(n for n, v in outcome.items() if not v.get("ok"))
    result: dict[str, Any] = {key: outcome}
    if failed:
        result["_failure"] = (f"{len(failed)} of {len(outcome)} {noun}(s) failed: "
                              + ", ".join(f"{n} ({outcome[n].get('status')})" for n in failed))
    return result


def waiting_key(job_id: str, executions: Sequence[dict[str, Any]]) -> str:
    """The outbox key of a "waiting for" line: the same wait is said once, also across a
    restart (the resumed step polls again and finds the same executions)."""
    ids = ",".join(sorted(str(e.get("id", "?")) for e in executions))
    return f"waiting:{job_id}:{hashlib.sha256(ids.encode()).hexdigest()[:16]}"
