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
from bot.jobs import payload
from bot.jobs.cancel import undo_maintenance
from bot.jobs.poll import poll
from bot.jobs.restore.unwind import remaining_line
from bot.jobs.runner import JobContext
from bot.jobs.simple_base import SimpleDriver
from bot.jobs.simple_payload import ItemOutcome, Outcomes, SimpleResult, outcomes_stored, params_of, result_of
from bot.messages.blocks import human_duration
from bot.store import Job

log = logging.getLogger(__name__)

#: Plugins-update states after which nothing more happens (cloudify's PluginsUpdateStates).
PLUGINS_UPDATE_FINAL = frozenset({"successful", "failed", "no_changes_required", "rolledback"})
PLUGINS_UPDATE_OK = frozenset({"successful", "no_changes_required"})


class MaintenanceActivate(SimpleDriver, command=m.MaintenanceActivate):

    def done_detail(self, job: Job, result: SimpleResult) -> str:
        return "maintenance mode is activated"

    async def work(self, ctx: JobContext, *, resumed: bool) -> SimpleResult:
        client = self.client(ctx)
        started = ctx.clock.now()
        if not result_of(ctx.job).maintenance_before:  # who turned it on decides the undo
            before = SimpleResult(maintenance_before=(await client.maintenance()).status)
            ctx.merge_result(**before.stored())
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
                waiting = payload.Waiting(what="maintenance", executions=tuple(lines), ids=ids)
                ctx.merge_result(waiting_for=payload.waiting_stored(waiting))
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
                last = payload.result_of(ctx.job).waiting_for
                waiting = ", ".join(last.executions) if last else ""
                left = undone or "the manager is left in maintenance mode *activating*"
                text = f"{exc.user_message}; {left}" + (f"; it waited for: {waiting}" if waiting else "")
                raise (WaitTimeout(text) if isinstance(exc, WaitTimeout) else SnapbotError(text)) from None
        ctx.merge_result(waiting_for=payload.waiting_stored(None))
        return SimpleResult(maintenance="activated",
                            duration_s=round((ctx.clock.now() - started).total_seconds(), 3))


class MaintenanceDeactivate(SimpleDriver, command=m.MaintenanceDeactivate):

    def done_detail(self, job: Job, result: SimpleResult) -> str:
        return "maintenance mode is deactivated"

    async def work(self, ctx: JobContext, *, resumed: bool) -> SimpleResult:
        client = self.client(ctx)
        state = await client.deactivate_maintenance()
        if state.status != "deactivated":
            state = await client.maintenance()
        if state.status != "deactivated":
            raise SnapbotError(f"maintenance mode is still {state.status} after deactivating")
        return SimpleResult(maintenance="deactivated")


async def _follow_executions(ctx: JobContext, key: str, outcomes: Outcomes, started: dict[str, str],
                             client: CloudifyClient, runbook: RunbookConfig) -> dict[str, ItemOutcome]:
    """Poll executions {name: execution_id} until all are finished; returns per-name outcome,
    recorded in the result under `key` as each ends (`outcomes`: what is recorded so far)."""
    outcome = dict(outcomes)
    pending = {n: e for n, e in started.items() if not (n in outcome and outcome[n].final)}

    async def check() -> Any:
        for name, exec_id in list(pending.items()):
            ex = await client.get_execution(exec_id)
            if ex.finished:
                outcome[name] = ItemOutcome(execution_id=exec_id, status=ex.status, error=ex.error or "",
                                            ok=ex.status == "terminated", final=True)
                del pending[name]
                ctx.merge_result(**{key: outcomes_stored(outcome)})
                await ctx.say(f"`{name}`: {ex.status}" + (f" – {ex.error}" if ex.error else ""))
        return True if not pending else None

    await poll(ctx, check, pacing=runbook, timeout=runbook.snapshot_timeout_seconds,
               what=f"{len(pending)} execution(s)",
               progress=lambda s: f"{len(pending)} still running… {human_duration(s)}")
    return outcome


class AgentsInstall(SimpleDriver, command=m.AgentsInstall):

    def done_detail(self, job: Job, result: SimpleResult) -> str:
        return f"install_new_agents finished on {len(result.deployments)} deployment(s)"

    async def work(self, ctx: JobContext, *, resumed: bool) -> SimpleResult:
        client = self.client(ctx)
        recorded = result_of(ctx.job)
        outcome = dict(recorded.deployments)
        deployments = recorded.deployment_ids
        if deployments is None:
            deployments = tuple(d.id for d in await client.list_deployments())
            ctx.merge_result(**SimpleResult(deployment_ids=deployments).stored())
        if not deployments:
            await ctx.say("no deployments on the manager: nothing to do")
            return SimpleResult()
        started: dict[str, str] = {}
        for dep in deployments:
            if dep in outcome and outcome[dep].execution_id:
                started[dep] = outcome[dep].execution_id  # started before a restart
                continue
            try:
                ex = await client.start_execution(dep, "install_new_agents")
            except CloudifyError as exc:
                outcome[dep] = ItemOutcome(status="not started", error=exc.user_message, final=True)
                ctx.merge_result(deployments=outcomes_stored(outcome))
                continue
            outcome[dep] = ItemOutcome(execution_id=ex.id, status=ex.status)
            started[dep] = ex.id
            ctx.merge_result(deployments=outcomes_stored(outcome))
        await ctx.say(f"install_new_agents started on {len(started)} deployment(s)")
        if started:
            outcome = await _follow_executions(ctx, "deployments", outcome, started, client, self.runbook)
        return SimpleResult(deployments=outcome, failure=_failure(outcome, "deployment"))


class PluginsUpdate(SimpleDriver, command=m.PluginsUpdate):

    def done_detail(self, job: Job, result: SimpleResult) -> str:
        return f"plugins updated for {len(result.blueprints)} blueprint(s)"

    async def work(self, ctx: JobContext, *, resumed: bool) -> SimpleResult:
        client = self.client(ctx)
        p = params_of(ctx.job)
        recorded = result_of(ctx.job)
        outcome = dict(recorded.blueprints)
        blueprints = recorded.blueprint_ids
        if blueprints is None:
            if p.all_blueprints:
                blueprints = tuple(str(b["id"]) for b in await client.list_blueprints())
            else:
                blueprints = (p.blueprint_id,)
            ctx.merge_result(**SimpleResult(blueprint_ids=blueprints).stored())
        if not blueprints:
            await ctx.say("no blueprints on the manager: nothing to do")
            return SimpleResult()
        for bp in blueprints:
            entry = outcome.get(bp) or ItemOutcome()
            if entry.final:
                continue
            if not entry.update_id:
                try:
                    upd = await client.update_plugins(bp)
                except CloudifyError as exc:
                    if not p.all_blueprints:
                        raise
                    outcome[bp] = ItemOutcome(status="not started", error=exc.user_message, final=True)
                    ctx.merge_result(blueprints=outcomes_stored(outcome))
                    continue
                entry = ItemOutcome(update_id=upd.id, status=upd.state)
                outcome[bp] = entry
                ctx.merge_result(blueprints=outcomes_stored(outcome))
                await ctx.say(f"`{bp}`: plugins update `{upd.id}` {upd.state}")
            update_id = entry.update_id

            async def check(update_id: str = update_id) -> Any:
                upd = await client.get_plugins_update(update_id)
                return upd if upd.state in PLUGINS_UPDATE_FINAL else None

            def progress(waited: float, bp: str = bp) -> str:
                return f"`{bp}`: updating… {human_duration(waited)}"

            upd = await poll(ctx, check, pacing=self.runbook, timeout=self.runbook.snapshot_timeout_seconds,
                             what=f"plugins update of {bp}", progress=progress)
            outcome[bp] = ItemOutcome(update_id=update_id, status=upd.state,
                                      ok=upd.state in PLUGINS_UPDATE_OK, final=True)
            ctx.merge_result(blueprints=outcomes_stored(outcome))
            await ctx.say(f"`{bp}`: {upd.state}")
        return SimpleResult(blueprints=outcome, failure=_failure(outcome, "blueprint"))


#: this module's drivers (`bot.jobs.simple` registers them)
DRIVERS: tuple[type[SimpleDriver], ...] = (MaintenanceActivate, MaintenanceDeactivate, AgentsInstall,
                                           PluginsUpdate)


def _failure(outcome: Outcomes, noun: str) -> str:
    """Why a job over several items failed ("": none failed)."""
    failed = sorted(n for n, v in outcome.items() if not v.ok)
    if not failed:
        return ""
    return (f"{len(failed)} of {len(outcome)} {noun}(s) failed: "
            + ", ".join(f"{n} ({outcome[n].status})" for n in failed))


def waiting_key(job_id: str, executions: Sequence[dict[str, Any]]) -> str:
    """The outbox key of a "waiting for" line: the same wait is said once, also across a
    restart (the resumed step polls again and finds the same executions)."""
    ids = ",".join(sorted(str(e.get("id", "?")) for e in executions))
    return f"waiting:{job_id}:{hashlib.sha256(ids.encode()).hexdigest()[:16]}"
