"""Block Kit builders for restores and approvals: pure functions of (job, transitions, now)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from bot import runbooks
from bot.jobs import payload as shared
from bot.jobs.restore.machine import RESTORE, UNWINDABLE
from bot.jobs.restore.payload import RestoreOutcome, RestoreParams, params_of, result_of
from bot.messages import restore_effects as effects
from bot.messages.blocks import (
    SECTION_MAX,
    button,
    context,
    hhmmss,
    human_duration,
    human_size,
    message,
    section,
    truncate,
    when,
)
from bot.messages.jobs import transfer_line, waiting_blocks, who
from bot.messages.text import archive_name, mention
from bot.store import Job, Transition

Message = dict[str, Any]


OUTCOMES = {
    "rejected": ":no_entry: Rejected",
    "expired": ":hourglass: Expired",
    "cancelled": ":heavy_multiplication_x: Cancelled",
}


# -- simple replies ---------------------------------------------------------------------------

def refusal(text: str) -> Message:
    t = f":no_entry_sign: {text}"
    return message(t, [section(t)])


def info(text: str) -> Message:
    return message(text, [section(text)])


def already_requested(job: Job) -> Message:
    return info(f"this request was already received as job `{job.id}` ({job.state})")


def request_ack(job: Job) -> Message:
    terms = shared.approval_of(job)
    need = terms.need(1)
    return info(f"restore request `{job.id}` posted; it needs approval by "
                f"{'an approver' if need == 1 else f'{need} approvers'}"
                f" (not you) before {when(terms.expires_at)}")


# -- the restore card -------------------------------------------------------------------------

def consequences(p: RestoreParams, job_id: str, runbook_base_url: str | None = None) -> list[str]:
    """The request card's "What happens": what the restore does on this manager (by format and
    version, restore_effects.effects), the safety snapshot, maintenance mode, a forced cluster."""
    out = list(effects.effects(p))
    if p.request.safety_snapshot:
        out.append(f"a safety snapshot `safety-{job_id}` will be taken and archived off the manager first")
    else:
        out.append("no safety snapshot will be taken (disabled in config)")
    out.append("maintenance mode is on during the restore")
    if p.request.tenant_name:
        # no version's restore endpoint reads a tenant name (rest-service resources_v2/snapshots.py)
        out.append(f"`--tenant-name {p.request.tenant_name}` is ignored by the manager: the restore is "
                   "not scoped to a tenant, every tenant in the snapshot is restored")
    if p.facts.cluster_down:
        out.append("cluster nodes not OK: " + ", ".join(f"`{d}`" for d in p.facts.cluster_down))
    override = p.facts.cluster_override
    if override:
        rb = next((r for r in runbooks.ALL if r.anchor == override.runbook), runbooks.SPLIT_BRAIN)
        out.append(f":rotating_light: requested despite a {override.why} "
                   f"(--ignore-cluster-health by approver {who(override.by)}); "
                   + runbooks.reference(rb, runbook_base_url))
    return out


def _facts(job: Job) -> list[dict[str, Any]]:
    p = params_of(job)
    f = p.facts
    snap = [f"*Snapshot* `{p.snapshot_id}`"]
    if f.snapshot_created_at:
        snap.append(f"created {when(f.snapshot_created_at)}")
    snap.append(f"version {f.snapshot_version}" if f.snapshot_version else "version unknown")
    if f.snapshot_size is not None:
        snap.append(f"size {human_size(f.snapshot_size)}")
    mgr = [f"*Manager* `{job.manager}`", f"runs {f.manager_version or '?'}"]
    if f.deployments is not None:
        mgr.append(f"{f.deployments} deployment{'s' if f.deployments != 1 else ''}")
    return [{"type": "section", "fields": [{"type": "mrkdwn", "text": "\n".join(snap)},
                                           {"type": "mrkdwn", "text": "\n".join(mgr)}]}]


def _approved_by(job: Job) -> list[str]:
    return list(shared.result_of(job).approved_by)


def request_card(job: Job, now: datetime | None = None, runbook_base_url: str | None = None) -> Message:
    p = params_of(job)
    title = f"Restore request `{job.id}`"
    if p.origin.rollback_of:
        title += f" (rollback of `{p.origin.rollback_of}`)"
    text = f":rotating_light: {title}: {who(job.requester)} asks to restore `{p.snapshot_id}` on `{job.manager}`"
    blocks = [section(text), *_facts(job),
              section(truncate("*What happens*\n" + "\n".join(f"• {c}" for c in consequences(p, job.id, runbook_base_url)),
                               SECTION_MAX))]
    terms = shared.approval_of(job)
    need = terms.need(1)
    got = _approved_by(job)
    approvals = f"Needs {need} approval{'s' if need != 1 else ''} from an approver other than {who(job.requester)}"
    if got:
        approvals += f"; approved so far by {', '.join(who(u) for u in got)} ({len(got)}/{need})"
    blocks.append(context(approvals + f". Expires at {when(terms.expires_at)}, then becomes *expired*."))
    blocks.append({"type": "actions", "block_id": f"restore_decision:{job.id}", "elements": [
        button("Approve", "restore_approve", job.id, "primary"),
        button("Reject", "restore_reject", job.id, "danger"),
    ]})
    return message(text, blocks)


def _entered(transitions: list[Transition]) -> dict[str, Transition]:
    first: dict[str, Transition] = {}
    for t in transitions:
        first.setdefault(t.to_state, t)
    return first


def checklist(job: Job, transitions: list[Transition], now: datetime | None = None) -> list[str]:
    """The steps with their times; the current one with how long it has run (the card is
    refreshed at least every minute while a step waits, so this stays true)."""
    entered = _entered(transitions)
    done = result_of(job)
    steps = [s for s in RESTORE.steps if s != "safety_snapshot" or params_of(job).request.safety_snapshot
             or "safety_snapshot" in entered]
    failed_step = done.outcome.failed_step if job.state == "failed" else None
    waiting_creds = job.state == "awaiting_credentials"
    current = (done.credentials.resume_state or "restored") if waiting_creds else \
        (job.state if job.state in steps else None)
    latest = transitions[-1] if transitions else None
    since = latest.at if latest is not None and latest.to_state == job.state else \
        (entered[current].at if current in entered else None)
    elapsed = ""
    if now is not None and since is not None and current is not None:
        elapsed = f" ({human_duration(max(0.0, (now - since).total_seconds()))} so far)"
    lines = []
    reached = True
    for s in steps:
        t = entered.get(s)
        if failed_step == s:
            failed_at = entered.get("failed")
            lines.append(f":x: {RESTORE.label(s)} — failed at {hhmmss(failed_at.at if failed_at else None)}")
            reached = False
            continue
        if s == current:
            if waiting_creds:
                lines.append(f":key: {RESTORE.label(s)} — waiting for working credentials since "
                             f"{hhmmss(since)}{elapsed}")
            else:
                lines.append(f":hourglass_flowing_sand: {RESTORE.label(s)} — since {hhmmss(since)}{elapsed}")
            reached = False
            continue
        if t is not None and reached and job.state != "approved":
            lines.append(f":white_check_mark: {RESTORE.label(s)} — {hhmmss(t.at)}")
        else:
            lines.append(f":white_small_square: {RESTORE.label(s)}")
    return lines


report_summary = effects.report_summary
overdue_report_text = effects.report_text  # the scheduled-work report (the name the driver uses)


def credentials_lost(job: Job, runbook_base_url: str | None, interval: float) -> str:
    return effects.credentials_lost(job.manager, result_of(job).execution.execution_id,
                                    runbook_base_url, interval)


def credentials_back(manager: str) -> str:
    return effects.credentials_back(manager)


def progress_card(job: Job, transitions: list[Transition], now: datetime | None = None,
                  runbook_base_url: str | None = None, poll_interval: float = 2.0) -> Message:
    p = params_of(job)
    state_word = {"done": ":white_check_mark: done", "failed": ":x: failed"}.get(job.state, job.state.replace("_", " "))
    text = f"Restore `{job.id}` of `{p.snapshot_id}` on `{job.manager}`: {state_word}"
    blocks = [section(f"*{text}*"), *_facts(job)]
    people = f"Requested by {who(job.requester)}"
    got = _approved_by(job)
    if got:
        people += f", approved by {', '.join(who(u) for u in got)}"
    if p.origin.retry_of:
        people += f"; retry of `{p.origin.retry_of}` from {RESTORE.label(p.origin.retry_from)}"
    blocks.append(context(people))
    blocks.append(section("\n".join(checklist(job, transitions, now))))
    if (line := transfer_line(job)) is not None:  # the safety copy coming off the manager
        blocks.append(context(line))
    r = result_of(job)
    if job.state == "awaiting_credentials":
        blocks.append(section(truncate(credentials_lost(job, runbook_base_url, poll_interval), SECTION_MAX)))
    if r.safety.archived:
        blocks.append(context(f"Safety snapshot `{r.safety.snapshot_id}` archived at `{archive_name(r.safety.archive_path)}` "
                               f"(sha256 {r.safety.sha256[:12]}…)"))
    waiting = shared.result_of(job).waiting_for
    if job.state in ("safety_snapshot", "maintenance_activating") and waiting is not None:
        blocks.extend(waiting_blocks(job, bound_seconds=waiting.bound))
    elif job.state == "maintenance_activating" and r.maintenance.remaining:
        blocks.append(context("Waiting for: " + ", ".join(r.maintenance.remaining)))
    if job.state in UNWINDABLE:  # nothing irreversible yet: the requester or an approver may stop it
        blocks.append({"type": "actions", "block_id": f"restore_cancel:{job.id}", "elements": [
            button("Cancel the restore", "job_cancel", job.id, "danger")]})
    if job.state == "unwinding" or r.outcome.unwound or r.outcome.left:
        blocks.append(section(truncate(_unwound_text(r.outcome), SECTION_MAX)))
    if r.after.report:
        blocks.append(section(truncate("*Scheduled work:* " + report_summary(r.after.report), SECTION_MAX)))
    if job.state == "done" and r.after.upgrade:
        blocks.append(section(f"The snapshot ({p.facts.snapshot_version}) is older than the manager "
                               f"({r.after.manager_version or p.facts.manager_version}): this restore was an upgrade. "
                               "Next steps from the vendor guide:"))
        blocks.append({"type": "actions", "block_id": f"restore_upgrade:{job.id}", "elements": [
            button("Install new agents", "restore_agents", job.id, "primary"),
            button("Update plugins", "restore_plugins", job.id),
        ]})
    if job.state == "failed":
        step = r.outcome.failed_step or ""
        left_in = r.outcome.manager_state or ""
        blocks.append(section(f"*{RESTORE.label(step)} failed:* {job.error or 'unknown error'}\n"
                               f"The manager was left *{left_in or 'in an unknown state'}*."))
        buttons = [button("Retry from this step", "restore_retry", job.id, "primary")]
        if left_in.startswith("still"):
            buttons.append(button("Deactivate maintenance mode", "restore_deactivate", job.id))
        if r.safety.archive_path:
            buttons.append(button("Restore the safety snapshot", "restore_rollback", job.id, "danger"))
        blocks.append({"type": "actions", "block_id": f"restore_failed:{job.id}", "elements": buttons})
    return message(text, blocks)


def _unwound_text(outcome: RestoreOutcome) -> str:
    if outcome.unwound is None:
        return "*Undoing what snapbot did* (its own queued safety snapshot, maintenance mode it activated)…"
    undone, left = outcome.unwound, outcome.left
    text = "*Undone:* " + ("; ".join(undone) if undone else "nothing needed undoing")
    text += "\n*Left:* " + ("; ".join(left) if left else "nothing: the manager is as snapbot found it")
    return text + "\nNo restore was started."


def decided_card(job: Job, transitions: list[Transition]) -> Message:
    p = params_of(job)
    outcome = OUTCOMES.get(job.state, job.state)
    last = transitions[-1] if transitions else None
    by = ""
    if last is not None and last.to_state == job.state:
        by = f" by {who(last.actor)}" if last.actor and last.actor != "snapbot" else ""
        by += f" at {when(last.at)}"
        if job.state == "expired":
            by = f" at {when(shared.approval_of(job).expires_at)}: no decision in time"
    text = f"{outcome}{by}: restore of `{p.snapshot_id}` on `{job.manager}` (`{job.id}`), requested by {who(job.requester)}"
    blocks = [section(text), *_facts(job)]
    unwind = result_of(job).outcome
    if unwind.unwound is not None:
        blocks.append(section(truncate(_unwound_text(unwind), SECTION_MAX)))
    return message(text, blocks)


def render(job: Job, transitions: list[Transition], now: datetime | None = None, *,
           runbook_base_url: str | None = None, poll_interval: float = 2.0) -> Message:
    """The one card of a restore, whatever its state."""
    if job.state == "requested":
        return request_card(job, now, runbook_base_url)
    if job.state in OUTCOMES:
        return decided_card(job, transitions)
    return progress_card(job, transitions, now, runbook_base_url, poll_interval)


# -- approvals of gated simple jobs -----------------------------------------------------------

def describe_job(job: Job) -> str:
    params = ", ".join(f"{k}={v}" for k, v in sorted(job.params.items())
                       if v not in (None, False, "") and k not in ("expires_at", "required_approvals"))
    return f"`{job.kind}` on `{job.manager}`" + (f" ({params})" if params else "")


def approval_card(job: Job) -> Message:
    """The approve/reject card of a gated simple job (maintenance toggles, deletes, uploads...)."""
    text = f":lock: {who(job.requester)} asks to run {describe_job(job)} (job `{job.id}`)"
    terms = shared.approval_of(job)
    need = terms.need(1)
    blocks = [section(text),
              context(f"Needs {need} approval{'s' if need != 1 else ''} from an approver other than "
                       f"{who(job.requester)}. Expires at {when(terms.expires_at)}, then becomes *expired*."
                       + (f" Approved so far by {', '.join(who(u) for u in _approved_by(job))}." if _approved_by(job) else "")),
              {"type": "actions", "block_id": f"job_decision:{job.id}", "elements": [
                  button("Approve", "job_approve", job.id, "primary"),
                  button("Reject", "job_reject", job.id, "danger")]}]
    return message(text, blocks)


def job_decided_card(job: Job, outcome: str, actor: str, at: datetime | None) -> Message:
    text = (f"{OUTCOMES.get(outcome, outcome)}{(' by ' + mention(actor)) if actor and actor != 'snapbot' else ''}"
            f"{(' at ' + when(at)) if at else ''}: {describe_job(job)} (job `{job.id}`), requested by {who(job.requester)}")
    return message(text, [section(text)])


def decision_reply(text: str) -> Message:
    return info(text)
