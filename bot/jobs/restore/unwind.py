"""What a restore waits for before its restore execution starts, and undoing what it did there.

Until the manager's restore execution starts, nothing irreversible has happened: a cancel (by the
requester or an approver), a time-out or a failure moves the job to `unwinding`, where snapbot
cancels its own safety snapshot if it is still queued or running (and deletes its empty record),
deactivates maintenance mode if snapbot activated it, and ends `cancelled` or `failed` saying
what it undid and what it left. It never cancels anybody else's execution; an approver may, with
the card's button naming them (`cancel_blockers`).

Facts (cloudify-manager 7.0.5, also 6.4.2 where said):
- every execution not in an end state counts as remaining for maintenance mode, queued and
  scheduled ones included (rest-service `maintenance.py` get_running_executions);
- queued executions start only when no maintenance row exists (6.4.2/7.0.5
  `resource_manager.py` update_execution_status; deactivate starts them: `maintenance_mode.py`),
  so a queued execution holds `activating` for good; 5.1.4 starts them whatever the mode;
- the execution-scheduler runs due schedules while maintenance is `activating` (only
  `activated` stops it), with queue=True (`execution_scheduler/main.py`), so a scheduled run
  that comes due behind a running execution is queued and holds maintenance too;
- a queued or scheduled execution is cancelled as a kill (`resource_manager.py`
  cancel_execution); deactivating maintenance from `activating` removes the row
  (`maintenance_mode.py`).
"""
from __future__ import annotations

import logging
from typing import Any

from bot.clock import iso
from bot.cloudify import versions
from bot.cloudify.client import CloudifyClient
from bot.cloudify.models import Execution
from bot.config.settings import RunbookConfig
from bot.errors import CloudifyError, NotFound, SnapbotError, Unauthorized, WaitTimeout
from bot.jobs.poll import poll
from bot.jobs.restore.machine import RESTORE
from bot.jobs.restore.machine import RestoreState as S
from bot.jobs.runner import JobContext

log = logging.getLogger(__name__)

#: statuses the manager counts as remaining while maintenance mode activates
NOT_OVER = ("pending", "started", "queued", "scheduled", "cancelling", "force_cancelling",
            "kill_cancelling")


def held_by_maintenance(version: str | None) -> bool:
    """On this version, does a queued execution wait for maintenance mode to be off?"""
    return versions.traits(version).queued_held_by_maintenance


async def not_over(client: CloudifyClient, *, exclude: set[str] | None = None) -> list[Execution]:
    """Every execution the manager has not ended (what maintenance mode waits for)."""
    execs = await client.list_executions(status=list(NOT_OVER), bypass_maintenance=True)
    return [e for e in execs if e.id not in (exclude or set())]


def blocker_line(e: Execution, *, held: bool) -> str:
    """One execution for people: id, workflow, deployment, status, and why it matters."""
    return execution_line({"id": e.id, "workflow_id": e.workflow_id,
                           "deployment_id": e.deployment_id, "status": e.status}, held=held)


async def own_safety_executions(client: CloudifyClient, sid: str) -> list[Execution]:
    """The manager's create executions of snapbot's safety snapshot `sid` that are not over."""
    execs = await client.list_executions(workflow_id="create_snapshot", bypass_maintenance=True)
    return [e for e in execs if e.parameters.get("snapshot_id") == sid and not e.finished]


def record_maintenance_before(ctx: JobContext, status: str) -> None:
    """Remember, once, the mode snapbot found before it first asked for maintenance: if it was
    off, snapbot is the one that turned it on (and turns it off when it unwinds)."""
    if "maintenance_before" not in ctx.job.result:
        ctx.merge_result(maintenance_before=status)


async def unwind(ctx: JobContext, client: CloudifyClient, runbook: RunbookConfig) -> tuple[list[str], list[str]]:
    """Undo what the restore did before its restore execution; returns (undone, left)."""
    r = ctx.job.result
    undone: list[str] = []
    left: list[str] = []
    sid = r.get("safety_snapshot_id")
    if sid and not r.get("safety_archive_path"):
        await _drop_safety(client, sid, undone, left)
    before = r.get("maintenance_before")
    if before == "deactivated":
        await _maintenance_off(ctx, client, runbook, undone, left)
    elif before in ("activating", "activated"):
        left.append(f"maintenance mode {before}, as snapbot found it")
    return undone, left


async def _drop_safety(client: CloudifyClient, sid: str, undone: list[str], left: list[str]) -> None:
    try:
        live = await own_safety_executions(client, sid)
    except CloudifyError as exc:
        left.append(f"safety snapshot `{sid}` (the manager did not list its executions: {exc.user_message})")
        return
    for e in live:
        try:
            await client.cancel_execution(e.id)
        except CloudifyError as exc:
            left.append(f"safety snapshot `{sid}`'s execution `{e.id}` ({e.status}): the manager "
                        f"refused to cancel it ({exc.manager_message or exc.user_message})")
            return
        undone.append(f"cancelled its safety snapshot `{sid}` (execution `{e.id}`, was {e.status})")
    try:
        await client.delete_snapshot(sid)
    except NotFound:
        return
    except CloudifyError as exc:
        left.append(f"the record of safety snapshot `{sid}` ({exc.manager_message or exc.user_message})")
        return
    undone.append(f"deleted the unfinished safety snapshot `{sid}`")


async def _maintenance_off(ctx: JobContext, client: CloudifyClient, runbook: RunbookConfig,
                           undone: list[str], left: list[str]) -> None:
    async def off() -> bool:
        m = await client.maintenance()
        if m.status != "deactivated":
            await client.deactivate_maintenance()
            return (await client.maintenance()).status == "deactivated"
        return True

    try:
        await poll(ctx, off, pacing=runbook, timeout=runbook.maintenance_timeout_seconds,
                   what="maintenance mode to deactivate")
    except SnapbotError as exc:
        left.append(f"maintenance mode on: snapbot could not deactivate it ({exc.user_message}); "
                    "run `/cfy maintenance-mode deactivate`")
        return
    undone.append("deactivated maintenance mode (snapbot had activated it)")


def outcome_text(undone: list[str], left: list[str]) -> str:
    said = ("undone: " + "; ".join(undone)) if undone else "nothing to undo"
    return said + ("; left: " + "; ".join(left) if left else "; the manager is as snapbot found it")


async def waiting_for(ctx: JobContext, client: CloudifyClient, what: str, *, exclude: set[str],
                      seen: dict[str, Any], bound: float) -> None:
    """Name on the card and in the thread (when it changes) the executions a wait is behind."""
    version = ctx.job.result.get("manager_version") or ctx.job.params.get("manager_version")
    held = held_by_maintenance(version) and what == "maintenance"
    try:
        blocking = await not_over(client, exclude=exclude)
    except CloudifyError as exc:
        log.info("restore %s: could not list executions: %s", ctx.job.id, exc.user_message)
        return
    ids = tuple(sorted(e.id for e in blocking))
    if seen.get(what) == ids:
        return
    seen[what] = ids
    lines = [blocker_line(e, held=held) for e in blocking]
    ctx.merge_result(waiting_for={"what": what, "executions": lines, "bound": bound,
                                  "ids": list(ids), "since": iso(ctx.clock.now())})
    await ctx.runner.report(ctx.job, "")
    if lines:
        await ctx.say(f"{'the safety snapshot is queued' if what == 'safety' else 'maintenance mode activating'}; "
                      f"waiting for {len(lines)} execution{'s' if len(lines) != 1 else ''}: "
                      + ", ".join(lines))


def remaining_line(r: dict[str, Any], *, held: bool) -> str:
    """One of `GET /maintenance`'s remaining executions, as `blocker_line` says it."""
    return execution_line(r, held=held)


async def safety_queue_check(ctx: JobContext, client: CloudifyClient, runbook: RunbookConfig,
                             sid: str, memo: dict[str, Any]) -> None:
    """While snapbot's safety snapshot is queued on the manager: name what it waits behind, and
    give up after `queue_timeout_seconds` (the unwind then cancels it)."""
    mine = await own_safety_executions(client, sid)
    if not any(e.status == "queued" for e in mine):
        if memo.pop("since", None) is not None:
            ctx.merge_result(waiting_for=None)
        return
    now = ctx.clock.now()
    since = memo.setdefault("since", now)
    await waiting_for(ctx, client, "safety", exclude={e.id for e in mine}, seen=memo,
                      bound=runbook.queue_timeout_seconds)
    waited = (now - since).total_seconds()
    if waited >= runbook.queue_timeout_seconds:
        behind = ", ".join((ctx.job.result.get("waiting_for") or {}).get("executions") or []) or "other executions"
        raise WaitTimeout(f"the safety snapshot {sid} stayed queued on the manager for "
                          f"{int(waited)} s (runbook.queue_timeout_seconds) behind {behind}")


def execution_line(r: dict[str, Any], *, held: bool = False) -> str:
    """One of the executions maintenance mode waits for, in a few words. `held`: this manager
    starts queued executions only once maintenance mode is off (6.x/7.x), so a queued one holds
    `activating` until it is cancelled."""
    eid = str(r.get("id", "?"))
    wf = r.get("workflow_id") or ""
    dep = r.get("deployment_id") or ""
    line = f"{eid}" + (f" ({wf}" + (f" on {dep}" if dep else "") + ")" if wf else "")
    if r.get("status") == "queued" and held:
        line += (" [queued: it never starts while maintenance mode is on, so it holds it until "
                 f"cancelled, `cfy executions cancel {eid}`]")
    elif r.get("status") in ("scheduled", "queued"):
        # maintenance.py get_running_executions counts every execution not in an end state
        line += (f" [{r['status']}: maintenance mode cannot activate until it has run or is cancelled,"
                 f" `cfy executions cancel {eid}`]")
    return line


async def manager_state(ctx: JobContext, client: CloudifyClient) -> str:
    """The maintenance mode a failed or unwound restore left the manager in, for people."""
    try:
        m = await client.maintenance()
    except Unauthorized:
        return ("in an unknown state: snapbot's credentials no longer work (maintenance mode "
                "was on)" if RESTORE.after(ctx.job.state, S.MAINTENANCE_ACTIVATING)
                else "in an unknown state: snapbot's credentials no longer work")
    except SnapbotError:
        return "in an unknown state (not answering)"
    if m.status == "activated":
        return "still in maintenance mode"
    if m.status == "activating":
        return "still activating maintenance mode"
    return "out of maintenance mode"


async def step(ctx: JobContext, client: CloudifyClient, runbook: RunbookConfig) -> None:
    """The `unwinding` state: undo, say what was undone and left, end cancelled or failed."""
    undone, left = await unwind(ctx, client, runbook)
    said = outcome_text(undone, left)
    ctx.merge_result(unwound=undone, left=left, waiting_for=None, manager_state=await manager_state(ctx, client))
    if ctx.job.result.get("unwind_for") == "cancelled":
        await ctx.move(S.CANCELLED, f"cancelled by {ctx.job.result.get('cancelled_by') or 'snapbot'} "
                                    f"before the restore started; {said}")
        return
    error = ctx.job.result.get("unwind_error") or "failed"
    failed_step = ctx.job.result.get("failed_step") or S.PREFLIGHT
    await ctx.move(S.FAILED, f"{RESTORE.label(failed_step)} failed: {error}; no restore was started; {said}",
                   error=error)
