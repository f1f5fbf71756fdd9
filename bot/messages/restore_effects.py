"""What a restore does on *this* manager, in words for the card and the thread: replace or merge,
reboot or not, credentials, the snapshot list and the scheduled work, by format and version
(facts: `bot.cloudify.versions`). Pure functions of the job's params and result."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot import runbooks
from bot.cloudify import versions
from bot.jobs.restore.payload import RestoreParams, ScheduledWorkReport
from bot.messages.blocks import when


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def effects(p: RestoreParams) -> list[str]:
    """The "What happens" lines of the request card for a restore asked with `p` (its format,
    the manager's version and deployments, the snapshot's date, the certificate flags)."""
    fmt = p.facts.restore_format
    version = p.facts.manager_version
    traits = versions.traits(version)
    deployments = p.facts.deployments
    since = f" since {when(p.facts.snapshot_created_at)}" if p.facts.snapshot_created_at else ""
    out: list[str] = []
    if fmt == versions.LEGACY:
        line = ("*replaces everything* on the manager (legacy snapshot): its database becomes the "
                "snapshot's")
        if deployments:
            line += f"; the {_plural(deployments, 'deployment')} there now are deleted (--force)"
        out.append(line)
        out.append(":warning: users, passwords and API tokens become the snapshot's: if snapbot's "
                   f"password or token changed{since}, snapbot stops after the restore, with maintenance "
                   "mode still on, until its credentials work again")
        out.append("the manager's snapshot list is *empty* afterwards (snapbot's archive keeps the copies)")
    elif fmt == versions.NEW:
        out.append("*merges* into the manager (new-format snapshot): items from the snapshot are added, "
                   "items that already exist are kept as they are and each clash is listed as an error "
                   "in the report; users, tokens and the snapshot list are kept")
    else:
        out.append("snapshot format unknown (no archived copy and no create record): a *legacy* snapshot "
                   "replaces everything (users and tokens included), a *new-format* one merges; "
                   "`/cfy snapshots download` it first to know")
    if p.request.restore_certificates:
        if fmt == versions.NEW:
            out.append("--restore-certificates has no effect on a new-format restore: certificates are "
                       "not restored and the manager does not reboot")
        elif p.request.no_reboot:
            out.append("restores certificates; the manager will *not* reboot (--no-reboot): restart its "
                       "services yourself")
        else:
            out.append("restores certificates: *the manager will reboot*"
                       + (" (if the snapshot is legacy)" if fmt is None else ""))
    elif fmt != versions.NEW:
        out.append("services restart during the restore (no reboot)")
    else:
        out.append("no restart and no reboot")
    if fmt != versions.NEW:
        if traits.scheduled_report == "overdue":
            out.append(f"scheduled executions ({traits.version or 'this'} manager): overdue ones are marked "
                       "FAILED, later ones re-queued; the report lists both")
        else:
            out.append("scheduled executions are marked FAILED and the future ones re-created as "
                       "`<workflow>_restored_…` schedules; schedule runs that fall due before the restore "
                       "ends are skipped by the manager; the report lists them")
    return out


def credentials_lost(manager: str, exec_id: str | None, base_url: str | None,
                     interval: float) -> str:
    """The card/thread text while a finished restore waits for snapbot's credentials."""
    return (f":key: The restore finished{f' (execution `{exec_id}`)' if exec_id else ''}, but snapbot's "
            f"credentials for `{manager}` no longer work (401): the legacy restore gave the manager the "
            "snapshot's users and tokens. The manager is *still in maintenance mode*. snapbot checks again "
            f"every {int(interval) if interval >= 1 else interval} s and then writes the report and turns "
            f"maintenance mode off; {runbooks.reference(runbooks.CREDENTIALS, base_url)}")


def credentials_back(manager: str) -> str:
    return f":key: snapbot's credentials for `{manager}` work again; carrying on with the report"


# -- the scheduled-work report --------------------------------------------------------------

def _execution(e: Mapping[str, Any]) -> str:
    return (f"`{e.get('id')}` — deployment `{e.get('deployment_id') or '?'}`, workflow "
            f"`{e.get('workflow_id') or '?'}`, scheduled for {when(e.get('scheduled_for'))}")


def report_summary(report: ScheduledWorkReport) -> str:
    """One line for the card."""
    parts: list[str] = []
    overdue, requeued = report.overdue, report.requeued
    originals, skipped, errors = report.failed_originals, report.skipped_schedules, report.merge_errors
    if overdue:
        parts.append(f"{_plural(len(overdue), 'overdue execution')} marked FAILED: "
                     + ", ".join(f"`{e['id']}`" for e in overdue))
    if requeued:
        parts.append(f"{len(requeued)} re-queued: " + ", ".join(f"`{e['id']}`" for e in requeued))
    if originals:
        moved = sum(1 for e in originals if e.get("schedule_id"))
        parts.append(f"{_plural(len(originals), 'scheduled execution')} marked FAILED"
                     + (f" ({moved} re-created as schedules)" if moved else ""))
    if skipped:
        parts.append(f"{_plural(len(skipped), 'schedule')} skipped a run during the restore: "
                     + ", ".join(f"`{s['id']}` (due {when(s.get('due'))})" for s in skipped))
    if errors:
        parts.append(f"{_plural(len(errors), 'item')} not merged (already on the manager)")
    if report.snapshots_after == 0 and report.format == versions.LEGACY:
        parts.append("the manager's snapshot list is now empty")
    if not parts:
        return "No scheduled executions were affected by the restore."
    return "; ".join(parts)


def report_text(report: ScheduledWorkReport) -> str:
    """The thread reply: everything the restore did to scheduled work, one item per line."""
    lines = [f"*Scheduled work report* (restore began {when(report.restore_started_at)})"]
    if not report.by_schedules:
        overdue, requeued = report.overdue, report.requeued
        if overdue:
            lines.append(f"Marked FAILED by the restore because overdue ({len(overdue)}):")
            lines += [f"• {_execution(e)}" for e in overdue]
            lines.append("Re-run them by hand if they are still needed.")
        else:
            lines.append("No execution was marked FAILED as overdue.")
        if requeued:
            lines.append(f"Re-queued, will run at their time ({len(requeued)}):")
            lines += [f"• {_execution(e)}" for e in requeued]
    else:
        originals = report.failed_originals
        if originals:
            lines.append(f"Scheduled executions the restore marked FAILED ({len(originals)}):")
            for e in originals:
                tail = (f" → re-created as schedule `{e['schedule_id']}`" if e.get("schedule_id")
                        else " → *not* re-created (its time had passed): re-run it by hand if needed")
                lines.append(f"• {_execution(e)}{tail}")
        else:
            lines.append("No scheduled execution was marked FAILED.")
        skipped = report.skipped_schedules
        if skipped:
            lines.append(f"Execution schedules whose run fell due between the snapshot and the end of the "
                         f"restore; the manager skips these runs ({len(skipped)}):")
            for s in skipped:
                nxt = f"; next run {when(s['next'])}" if s.get("next") else "; no run after this"
                runs = s.get("due_runs") or [s.get("due")]
                if len(runs) > 1:
                    nxt = f"; {len(runs)} runs due: " + ", ".join(when(r) for r in runs[:10]) \
                          + (" …" if len(runs) > 10 else "") + nxt
                lines.append(f"• `{s['id']}` — deployment `{s.get('deployment_id') or '?'}`, workflow "
                             f"`{s.get('workflow_id') or '?'}`, due {when(s.get('due'))}{nxt}")
            lines.append("Run them by hand if those runs are still needed.")
        elif report.schedules_checked:
            lines.append("No execution schedule fell due during the restore.")
    for what in report.unread:
        lines.append(f":warning: could not read {what}; check it on the manager")
    errors = report.merge_errors
    if errors:
        lines.append(f"Not merged, already on the manager ({len(errors)}; the manager logged each as an error):")
        lines += [f"• {e}" for e in errors[:25]]
        if len(errors) > 25:
            lines.append(f"…and {len(errors) - 25} more")
    n = report.snapshots_after
    if report.format == versions.LEGACY and n is not None:
        lines.append("The manager's snapshot list is now empty (a legacy restore empties it); snapbot's "
                     "archive keeps the copies." if n == 0 else
                     f"The manager now lists {_plural(n, 'snapshot')}.")
    return "\n".join(lines)
