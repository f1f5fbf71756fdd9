"""Block Kit builders for the backup posture: `/cfy status`, the App Home view, and the
staleness notices. Pure functions of their data; no I/O."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.messages.blocks import button, context, divider, header, human_duration, human_size, section
from bot.store import Job

Message = dict[str, Any]


@dataclass(frozen=True)
class ArchiveFigure:
    snapshot_id: str
    size: int
    archived_at: datetime
    age_s: float
    #: percent change of the size against the mean of up to seven archives before it
    trend_pct: float | None
    compared_with: int


@dataclass(frozen=True)
class DrillFigure:
    job_id: str
    verdict: str  # pass | fail
    source: str
    target: str
    rto_s: float | None
    age_s: float
    error: str = ""


@dataclass(frozen=True)
class ManagerPosture:
    name: str
    scratch: bool
    newest: ArchiveFigure | None
    stale: bool
    last_drill: DrillFigure | None
    next_daily: datetime | None
    next_drill: datetime | None
    running: tuple[Job, ...]
    pending: tuple[Job, ...]

#: the Home tab's approval buttons (approvers only; value: the job id)
HOME_APPROVE = "home_approve"
HOME_REJECT = "home_reject"


def _at(dt: datetime | None) -> str:
    return f"{dt:%Y-%m-%d %H:%M}Z" if dt is not None else "—"


def archive_line(p: ManagerPosture) -> str:
    n = p.newest
    if n is None:
        return "newest verified archive: *none*"
    if n.trend_pct is None:
        trend = "no earlier copies to compare"
    else:
        trend = f"{n.trend_pct:+.1f}% vs the mean of the last {n.compared_with}"
    flag = " :warning: *stale*" if p.stale else ""
    return (f"newest verified archive: `{n.snapshot_id}`, {human_duration(n.age_s)} old, "
            f"{human_size(n.size)} ({trend}){flag}")


def drill_line(p: ManagerPosture) -> str:
    d = p.last_drill
    if d is None:
        return "last drill: none yet"
    icon = ":white_check_mark: passed" if d.verdict == "pass" else ":x: failed"
    rto = f", RTO {human_duration(d.rto_s)}" if d.rto_s is not None else ""
    why = f" ({d.error})" if d.verdict != "pass" and d.error else ""
    where = f"`{d.source}` onto `{d.target}`"
    return f"last drill: {icon}{rto}, {human_duration(d.age_s)} ago, {where} (`{d.job_id}`){why}"


def manager_lines(p: ManagerPosture) -> list[str]:
    title = f"*{p.name}*" + (" (scratch)" if p.scratch else "")
    lines = [title]
    if not p.scratch:
        lines.append(archive_line(p))
    lines.append(drill_line(p))
    lines.append(f"next daily run: {_at(p.next_daily)} · next drill: {_at(p.next_drill)}")
    running = ", ".join(f"`{j.id}` {j.kind} ({j.state})" for j in p.running) or "none"
    lines.append(f"running jobs: {running}")
    pending = ", ".join(f"`{j.id}` {j.kind} by <@{j.requester}>" if j.requester.startswith("U")
                        else f"`{j.id}` {j.kind}" for j in p.pending) or "none"
    lines.append(f"pending approvals: {pending}")
    return lines


def status_message(postures: Sequence[ManagerPosture]) -> Message:
    """The answer to `/cfy status`."""
    blocks: list[dict[str, Any]] = [header("Backup posture")]
    text = []
    for p in postures:
        lines = manager_lines(p)
        blocks.append(section("\n".join(lines)))
        text.append("\n".join(lines))
    return {"text": "\n\n".join(text), "blocks": blocks}


def home_view(postures: Sequence[ManagerPosture], *, approver: bool,
              note: str = "") -> dict[str, Any]:
    """The App Home tab: the posture, and the pending approvals with their buttons for an
    approver (others see them listed). `note`: what the viewer's last click here did."""
    blocks: list[dict[str, Any]] = [header("snapbot: backup posture")]
    if note:
        blocks.append(context(note))
    for p in postures:
        blocks.append(section("\n".join(manager_lines(p))))
        for job in p.pending:
            if approver:
                blocks.append({"type": "actions", "block_id": f"home:{job.id}", "elements": [
                    button("Approve", HOME_APPROVE, job.id, "primary"),
                    button("Reject", HOME_REJECT, job.id, "danger")]})
        blocks.append(divider())
    blocks.append(context("Refreshed when a job ends. `/cfy status` says the same in a channel."))
    return {"type": "home", "blocks": blocks[:100]}


def home_not_a_viewer() -> dict[str, Any]:
    """The Home tab of someone who may not read snapbot's figures (access.viewers)."""
    return {"type": "home", "blocks": [
        header("snapbot"),
        section("The backup posture is shown to snapbot's viewers, operators and approvers "
                "(access.viewers / SNAPBOT_VIEWERS); you are not one of them.")]}


def stale_alert(manager: str, snapshot_id: str | None, age_s: float | None, hours: int,
                last_failure: str) -> Message:
    what = (f"newest verified archive `{snapshot_id}` is {human_duration(age_s)} old"
            if snapshot_id else "has no verified archive")
    why = f" Last failure: {last_failure}." if last_failure else " No failed run recorded."
    text = (f":warning: Backups of *{manager}* are stale: its {what} (more than {hours} h).{why} "
            "`/cfy snapshots schedule run-now --manager " + manager + "` takes one now.")
    return {"text": text, "blocks": [section(text)]}


def stale_recovered(manager: str, snapshot_id: str, age_s: float) -> Message:
    text = (f":white_check_mark: Backups of *{manager}* are fresh again: `{snapshot_id}` was "
            f"archived {human_duration(age_s)} ago.")
    return {"text": text, "blocks": [section(text)]}
