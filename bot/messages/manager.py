"""A manager's modes in Slack: maintenance mode, and whether a snapshot restore runs there
(`/snapshot-status`) with snapbot's jobs on it."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bot.cloudify.models import MaintenanceState
from bot.messages.blocks import context, section, when
from bot.messages.common import Message, capped, line_sections, message
from bot.messages.jobs import manager_jobs_lines

MAINTENANCE_EMOJI = {
    "deactivated": ":large_green_circle:",
    "activating": ":large_yellow_circle:",
    "activated": ":red_circle:",
}


def maintenance_status(manager: str, state: MaintenanceState) -> Message:
    """`/cfy maintenance-mode status`."""
    emoji = MAINTENANCE_EMOJI.get(state.status, ":grey_question:")
    text = f"{emoji} Maintenance mode on `{manager}`: *{state.status or 'unknown'}*"
    blocks = [section(text)]
    facts = []
    if state.activation_requested_at:
        facts.append(f"requested {when(state.activation_requested_at)}")
    if state.requested_by:
        facts.append(f"by {state.requested_by}")
    if state.activated_at:
        facts.append(f"activated {when(state.activated_at)}")
    if facts:
        blocks.append(context(", ".join(facts)))
    if state.remaining_executions:
        rows = []
        for ex in state.remaining_executions:
            dep = ex.get("deployment_id")
            rows.append(f"• `{ex.get('id', '?')}` {ex.get('workflow_id', '')}"
                        + (f" on `{dep}`" if dep else "") + f" ({ex.get('status', '?')})")
        blocks.append(section(f"*Waiting for {len(rows)} running execution(s):*"))
        blocks.extend(line_sections(capped(rows)))
    return message(text, blocks)


def snapshot_status(manager: str, status: str, jobs: Iterable[Any] = ()) -> Message:
    """`/cfy snapshots status`: the manager's /snapshot-status and snapbot's jobs there."""
    running = status == "running"
    emoji = ":arrows_counterclockwise:" if running else ":zzz:"
    what = "a snapshot restore is in progress" if running else "no snapshot restore is running"
    text = f"{emoji} Snapshot status on `{manager}`: {what} (`{status}`)"
    lines = manager_jobs_lines(jobs)
    blocks = [section(text)]
    if lines:
        blocks.append(section("*snapbot jobs on this manager*"))
        blocks.extend(line_sections(capped(lines)))
    else:
        blocks.append(context("snapbot is running no job on this manager."))
    return message(text, blocks)
