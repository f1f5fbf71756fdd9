"""The manager's restore execution: starting it exactly once, finding one whose POST answer was
lost, following it to the end, and reading the overdue report from it afterwards."""
from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from bot.clock import iso, parse_time
from bot.cloudify import versions
from bot.cloudify.client import CloudifyClient
from bot.cloudify.models import Execution
from bot.config.settings import RunbookConfig
from bot.errors import BadParameters, CloudifyError, MaintenanceActive, NotFound, StepFailed, Unauthorized
from bot.jobs.poll import poll, retrying
from bot.jobs.restore.payload import ScheduledWorkReport, manager_version, params_of, result_of
from bot.jobs.restore.report import OVERDUE_RE, overdue_report
from bot.jobs.runner import JobContext
from bot.jobs.scheduled_work import ORIGINAL_FAILED_RE, failed_originals, skipped_schedules

log = logging.getLogger(__name__)


async def restore_executions(client: CloudifyClient) -> list[Execution] | None:
    """The manager's restore executions, or None if it hides executions in maintenance mode
    (no X-BYPASS-MAINTENANCE support)."""
    try:
        return await client.list_executions(workflow_id="restore_snapshot", bypass_maintenance=True)
    except MaintenanceActive:
        return None

async def find_posted(ctx: JobContext, client: CloudifyClient, runbook: RunbookConfig) -> str | None:
    """The restore execution a POST whose answer was lost (or a process that died) started, or
    None when the manager shows that none started."""
    recorded = result_of(ctx.job).execution.known_ids
    timeout = runbook.restore_timeout_seconds
    execs = await retrying(ctx, lambda: restore_executions(client), pacing=runbook, timeout=timeout)
    if execs is None or recorded is None:
        # Without a view of the executions, posting again could start a second restore.
        raise StepFailed("cannot tell whether the restore already started (the manager hides "
                           "executions in maintenance mode); check `/cfy snapshots status` and the "
                           "manager before retrying")
    known = set(recorded)
    sid = params_of(ctx.job).snapshot_id
    mine = [e for e in execs if e.id not in known and (e.parameters.get("snapshot_id") in (None, sid))]
    if mine:
        _record_execution_id(ctx, mine[0].id)
        return mine[0].id
    if await retrying(ctx, client.snapshot_status, pacing=runbook, timeout=timeout) == "running":
        # A restore we cannot see yet is running; wait for it to show up rather than post.
        box: dict[str, str] = {}

        async def visible() -> bool:
            for e in await restore_executions(client) or []:
                if e.id not in known:
                    box["id"] = e.id
                    return True
            return await client.snapshot_status() != "running"

        await poll(ctx, visible, pacing=runbook, timeout=timeout, what="the running restore to appear")
        if "id" in box:
            _record_execution_id(ctx, box["id"])
            return box["id"]
        raise StepFailed("a restore ran on the manager but its execution cannot be found; "
                           "check the manager before retrying")
    return None


async def end_refused(ctx: JobContext, client: CloudifyClient) -> None:
    """After the manager refused the restore (other executions running): 7.x stores the restore's
    execution before it refuses (resource_manager.py restore_snapshot, then prepare_executions),
    and that execution stays `pending`, never run, holding back later system workflows (a daily
    snapshot) and maintenance activation. End snapbot's own one, as the mgmtworker would end a
    workflow: the pending restore of this snapshot that was not there before the request."""
    recorded = result_of(ctx.job).execution.known_ids
    if recorded is None:
        return  # the manager hid its executions before the request: which one is ours is unknown
    known = set(recorded)
    sid = params_of(ctx.job).snapshot_id
    try:
        listed = await restore_executions(client) or []
    except CloudifyError as exc:
        await ctx.say(f"could not check for a refused restore left on the manager ({exc.user_message}); "
                      "look for a `pending` restore_snapshot execution and cancel it")
        return
    for e in listed:
        if e.id in known or e.status != "pending" or e.parameters.get("snapshot_id") not in (None, sid):
            continue
        try:
            await client.end_execution(e.id, "cancelled", error="refused: other executions were running")
        except CloudifyError as exc:
            log.warning("restore %s: could not end the refused restore execution %s: %s",
                        ctx.job.id, e.id, exc.user_message)
            await ctx.say(f"the manager kept the refused restore as execution `{e.id}` (pending, never run) "
                          f"and snapbot could not end it ({exc.user_message}); end it with "
                          f"`cfy executions cancel --kill {e.id}` (a plain cancel of a pending "
                          "execution leaves it `cancelling`)")
        else:
            log.info("restore %s: ended the refused restore execution %s", ctx.job.id, e.id)
            await ctx.say(f"the manager kept the refused restore as execution `{e.id}` (pending, never run); "
                          "snapbot ended it, so it holds back nothing")


def _record_execution_id(ctx: JobContext, exec_id: str) -> None:
    ctx.merge_result(**replace(result_of(ctx.job).execution, execution_id=exec_id).stored())


async def follow(ctx: JobContext, client: CloudifyClient, runbook: RunbookConfig, exec_id: str) -> None:
    """Wait for the restore execution to end (the manager may drop connections or restart
    meanwhile), then move the job to `restored` or fail it with the manager's error."""
    timeout = runbook.restore_timeout_seconds
    seen: dict[str, Any] = {}

    async def finished() -> bool:
        status = await client.snapshot_status()
        if status == "running":
            seen["running"] = True
            return await _ended_but_flagged(ctx, client, runbook, exec_id, seen)
        try:
            ex = await client.get_execution(exec_id, bypass_maintenance=True)
        except NotFound:
            seen["missing"] = seen.get("missing", 0) + 1
            return bool(seen["missing"] >= 3)  # gone with the old database: over, judged below
        except Unauthorized:
            # /snapshot-status (no auth) says the workflow is over; snapbot's credentials are
            # not the restored database's: how it ended is read once they work again
            seen["unauthorized"] = True
            return True
        except MaintenanceActive:
            seen["no_bypass"] = True
            return True  # the manager will not show executions now; snapshot-status says over
        seen["execution"] = ex
        recorded = result_of(ctx.job).execution
        if ex.created_at and recorded.started_at is None:
            ctx.merge_result(**replace(recorded, started_at=iso(ex.created_at)).stored())
        return ex.finished

    await poll(ctx, finished, pacing=runbook, timeout=timeout, what=f"restore execution {exec_id} to finish")
    ex: Execution | None = seen.get("execution")
    if ex is not None and ex.status == "failed":
        raise StepFailed(f"the restore execution {exec_id} failed on the manager: {ex.error or 'no error given'}",
                         manager_message=ex.error or "")
    if ex is not None and ex.status == "cancelled":
        raise StepFailed(f"the restore execution {exec_id} was cancelled on the manager")
    recorded = result_of(ctx.job).execution
    if seen.get("unauthorized"):
        recorded = replace(recorded, status="finished (snapbot's credentials no longer work)",
                           status_unknown=True)
    else:
        recorded = replace(recorded, status=ex.status if ex else "finished (execution not visible)")
    if ex is not None and ex.ended_at:
        recorded = replace(recorded, ended_at=iso(ex.ended_at))
    if ex is not None and ex.created_at and recorded.started_at is None:
        recorded = replace(recorded, started_at=iso(ex.created_at))
    ctx.merge_result(**recorded.stored())
    await ctx.move("restored", f"restore execution {exec_id} "
                               f"{ex.status if ex else 'finished'}")

async def _ended_but_flagged(ctx: JobContext, client: CloudifyClient, runbook: RunbookConfig,
                             exec_id: str, seen: dict[str, Any]) -> bool:
    """`/snapshot-status` says running: the end is decided from the restore execution. Once it
    has ended, the flag gets `snapshot_status_grace_seconds` to clear (a legacy restore removes it
    with a command run after the end, after the reboot if there is one); then the restore is
    taken as over and the thread says the status is stuck (7.0.5 keeps it for good when the
    archive cannot be read: snapshot_restore.py restore()'s `finally`)."""
    try:
        ex = await client.get_execution(exec_id, bypass_maintenance=True)
    except (NotFound, Unauthorized, MaintenanceActive):
        return False  # the answers below decide once the status clears
    if not ex.finished:
        return False
    seen["execution"] = ex
    now = ctx.clock.now()
    since = seen.setdefault("ended_seen", now)
    if (now - since).total_seconds() < runbook.snapshot_status_grace_seconds:
        return False
    ctx.merge_result(**replace(result_of(ctx.job).after, snapshot_status_stuck=True).stored())
    await ctx.say(f"the restore execution `{exec_id}` ended {ex.status}, but the manager's "
                  f"/snapshot-status still says running {int(runbook.snapshot_status_grace_seconds)} s "
                  "later; going by the execution. If it stays so, the manager keeps treating a restore "
                  "as running: check the manager (its snapshot-status flag file)")
    return True


async def collect_report(ctx: JobContext, client: CloudifyClient, runbook: RunbookConfig) -> ScheduledWorkReport:
    """What the restore did to scheduled work, the way this manager's version does it (see
    bot.jobs.scheduled_work), the items a new-format restore could not merge, and the snapshot
    list it left. Read with X-BYPASS-MAINTENANCE while maintenance mode is still on."""
    p, done = params_of(ctx.job), result_of(ctx.job)
    exec_id = done.execution.execution_id
    started = parse_time(done.execution.started_at) or parse_time(done.execution.posted_at) or ctx.clock.now()
    timeout = runbook.restore_timeout_seconds
    version = manager_version(p, done, after=True)
    fmt = p.facts.restore_format or done.preflight.restore_format
    traits = versions.traits(version)

    def again(call: Any) -> Any:
        return retrying(ctx, call, pacing=runbook, timeout=timeout)

    events = []
    if exec_id:
        try:
            events = await again(lambda: client.list_events(exec_id, bypass_maintenance=True))
        except NotFound:
            events = []
    lines = [e.message for e in events]
    failed = await again(lambda: client.list_executions(status="failed", bypass_maintenance=True))
    report = ScheduledWorkReport(style=traits.scheduled_report, format=fmt, version=version,
                                 restore_started_at=iso(started))
    if traits.scheduled_report == "overdue":
        scheduled = await again(lambda: client.list_executions(status="scheduled", bypass_maintenance=True))
        lookup = await _lookup(client, lines, failed, OVERDUE_RE)
        found = overdue_report(started, lines, failed, scheduled, lookup)
        report = replace(report, overdue=tuple(found["overdue"]), requeued=tuple(found["requeued"]))
    else:
        try:
            schedules = await again(lambda: client.list_execution_schedules(bypass_maintenance=True))
        except (NotFound, BadParameters) as exc:  # not there after all: say so, report the rest
            schedules = []
            report = replace(report, unread=(f"execution schedules ({exc.user_message})",))
        lookup = await _lookup(client, lines, failed, ORIGINAL_FAILED_RE)
        ended = parse_time(done.execution.ended_at) or ctx.clock.now()
        skipped = skipped_schedules(schedules, snapshot_at=parse_time(p.facts.snapshot_created_at),
                                    restore_ended=ended)
        report = replace(report, failed_originals=tuple(failed_originals(lines, failed, lookup, schedules, started)),
                         skipped_schedules=tuple(skipped), schedules_checked=not report.unread)
    if fmt == versions.NEW:
        report = replace(report, merge_errors=tuple(e.message for e in events if e.level == "error")[:200])
    try:
        return replace(report, snapshots_after=len(await again(client.list_snapshots)))
    except CloudifyError:
        return report


async def _lookup(client: CloudifyClient, lines: list[str], failed: list[Execution],
                  pattern: Any) -> dict[str, Execution]:
    """Executions the log names that the failed list does not hold (fetched one by one)."""
    lookup: dict[str, Execution] = {}
    known = {e.id for e in failed}
    for line in lines:
        m = pattern.search(line)
        if m and m["id"] not in known and m["id"] not in lookup:
            try:
                lookup[m["id"]] = await client.get_execution(m["id"], bypass_maintenance=True)
            except CloudifyError:
                pass
    return lookup
