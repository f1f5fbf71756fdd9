"""Block Kit builders for snapbot's own jobs: the status card, `/cfy jobs` list and detail, and
the short replies of the dispatcher. Pure functions of their data."""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from bot.commands import model as m
from bot.commands.registry import KIND_TITLES, kind_of
from bot.jobs import payload, simple_payload
from bot.messages.blocks import (
    SECTION_MAX,
    context,
    hhmmss,
    human_duration,
    human_size,
    section,
    truncate,
    when,
)
from bot.messages.text import archive_name, mention
from bot.progress import progress_line
from bot.store import Approval, Job, Transition
from bot.urls import display_url

Message = dict[str, Any]

STATE_EMOJI = {
    "awaiting_approval": ":hourglass:",
    "requested": ":hourglass:",
    "queued": ":white_circle:",
    "running": ":arrows_counterclockwise:",
    "done": ":white_check_mark:",
    "failed": ":x:",
    "cancelled": ":no_entry_sign:",
    "rejected": ":no_entry:",
    "expired": ":alarm_clock:",
}


_SLACK_USER = re.compile(r"[UW][A-Z0-9_]+")

def shown_location(value: Any) -> str:
    """A value that may name where an archive is, as Slack may show it: a URL without its
    credentials and query string, a file path relative to the archive root
    (`<manager>/<id>.zip`), anything else as it is."""
    text = str(value)
    if "://" in text:
        return display_url(text)
    if text.startswith("/") or (len(text) > 2 and text[1] == ":" and text[2] in "\\/"):
        return archive_name(text)
    return text


def text_message(text: str) -> Message:
    """A one-section message."""
    return {"text": text, "blocks": [section(text)]}


def thread_reply(job: Job, detail: str) -> Message:
    """The reply in a job's thread for a state change (or a progress note in that state)."""
    return text_message(f"`{job.id}` → *{job.state}*" + (f": {detail}" if detail else ""))


def who(user: str) -> str:
    """Slack users as mentions, terminal users (local:<login>) and snapbot as plain text."""
    if _SLACK_USER.fullmatch(user or ""):
        return mention(user)
    return user or "snapbot"


def with_mentions(text: str, users: Iterable[str]) -> str:
    """Stored text names people by their ids ("approved by U0123ABC"); in Slack each known
    Slack user id becomes a mention. Terminal users (local:<login>) stay as they are."""
    for user in sorted({u for u in users if _SLACK_USER.fullmatch(u or "")}, key=len, reverse=True):
        # a mention made by the builder (bot.messages.text): the Slack edge escapes the rest
        text = re.sub(rf"(?<![\w@<]){re.escape(user)}(?![\w>])", mention(user), text)
    return text


def people(job: Job, *actors: str) -> set[str]:
    """The users a job's stored texts can name: its requester, approvers and the actors given."""
    return {job.requester, *payload.result_of(job).approved_by, *actors}


def job_title(job: Job) -> str:
    title = KIND_TITLES.get(job.kind, job.kind)
    target = payload.params_of(job).snapshot_id
    if job.kind == kind_of(m.PluginsUpdate):
        p = simple_payload.params_of(job)
        target = "all blueprints" if p.all_blueprints else p.blueprint_id
    return f"{title} `{target}`" if target else title


def result_lines(job: Job) -> list[str]:
    """What a finished job produced, one fact a line."""
    r = simple_payload.result_of(job)
    out = []
    if r.snapshot_id and job.kind != kind_of(m.SnapshotsDelete):
        out.append(f"snapshot `{r.snapshot_id}`" + (f" ({r.status})" if r.status else ""))
    if r.archive_path:
        out.append(f"archive `{archive_name(r.archive_path)}`")
    if r.size is not None and (r.archive_path or r.sha256):
        out.append(f"size {human_size(r.size)}")
    if r.sha256:
        out.append(f"sha256 `{r.sha256}`")
    if r.source:
        out.append(f"from {shown_location(r.source)}")
    if r.maintenance:
        out.append(f"maintenance mode *{r.maintenance}*")
    for key, items in (("deployments", r.deployments), ("blueprints", r.blueprints)):
        if items:
            ok = sum(1 for v in items.values() if v.ok)
            out.append(f"{key}: {ok}/{len(items)} succeeded")
            for name, v in sorted(items.items()):
                if not v.ok and v.status:
                    out.append(f"• `{name}`: {v.status}" + (f" – {v.error}" if v.error else ""))
    if r.duration_s is not None:
        out.append(f"took {human_duration(r.duration_s)}")
    return out


def transition_line(t: Transition, job: Job) -> str:
    emoji = STATE_EMOJI.get(t.to_state, ":small_blue_diamond:")
    line = f"{emoji} `{hhmmss(t.at)}` {t.to_state}"
    if t.actor and t.actor != "snapbot":
        line += f" by {who(t.actor)}"
    if t.detail:
        line += f" – {with_mentions(t.detail, people(job, t.actor))}"
    return line


def waiting_blocks(job: Job, *, bound_seconds: float | None = None) -> list[dict[str, Any]]:
    """What a waiting job waits for (`result.waiting_for`), with the approvers' button that
    cancels those executions (named in its confirmation)."""
    waiting = payload.result_of(job).waiting_for
    if waiting is None or not waiting.executions:
        return []
    lines = list(waiting.executions)
    what = {"safety": "the safety snapshot is queued behind",
            "maintenance": "maintenance mode activates once these end"}.get(waiting.what, "waiting for")
    text = f"*Waiting:* {what}: " + ", ".join(lines)
    if bound_seconds:
        text += f". Gives up after {human_duration(bound_seconds)} and undoes what snapbot did."
    if any("holds it" in line for line in lines):
        text += (" A queued execution never starts while maintenance mode is on: cancel it, or "
                 "cancel this job.")
    n = len(waiting.ids or lines)
    names = ", ".join(f"`{i}`" for i in waiting.ids[:10])
    button = {"type": "button", "action_id": "cancel_blockers", "value": job.id, "style": "danger",
              "text": {"type": "plain_text", "text": f"Cancel the {n} execution{'s' if n != 1 else ''} (approvers)"},
              "confirm": {"title": {"type": "plain_text", "text": "Cancel other executions?"},
                          "text": {"type": "mrkdwn", "text": truncate(
                              f"Cancel {names} on `{job.manager}`. They are not snapbot's"
                              + (": a legacy restore would replace them anyway." if job.kind == "restore" else "."),
                              SECTION_MAX)},
                          "confirm": {"type": "plain_text", "text": "Cancel them"},
                          "deny": {"type": "plain_text", "text": "Keep them"}}}
    return [section(truncate(text, SECTION_MAX)), {"type": "actions", "elements": [button]}]


def job_card(job: Job, transitions: Sequence[Transition]) -> Message:
    """The job's status message, updated in place: title, manager, state, checklist of state
    changes with times, the result or the error, and Cancel while it can still be stopped."""
    emoji = STATE_EMOJI.get(job.state, ":small_blue_diamond:")
    head = f"{emoji} *{job_title(job)}* on `{job.manager}` – *{job.state}*"
    blocks: list[dict[str, Any]] = [section(head)]
    checklist = "\n".join(transition_line(t, job) for t in transitions)
    if checklist:
        blocks.append(section(checklist))
    if job.state == "done":
        lines = result_lines(job)
        if lines:
            blocks.append(section("\n".join(lines)))
    if job.error:
        blocks.append(section(f":warning: *Error:* {job.error}"))
    if (line := transfer_line(job)) is not None:
        blocks.append(context(line))
    blocks.append(context(f"job `{job.id}` · requested by {who(job.requester)}"))
    if job.state == "running":
        blocks.extend(waiting_blocks(job))
    if job.state in ("queued", "running"):
        blocks.append({"type": "actions", "elements": [{
            "type": "button", "action_id": "job_cancel", "value": job.id, "style": "danger",
            "text": {"type": "plain_text", "text": "Cancel"},
            "confirm": {"title": {"type": "plain_text", "text": "Cancel this job?"},
                        "text": {"type": "mrkdwn", "text": f"Stop job `{job.id}` ({job_title(job)})."},
                        "confirm": {"type": "plain_text", "text": "Cancel job"},
                        "deny": {"type": "plain_text", "text": "Keep it"}},
        }]})
    fallback = f"{job_title(job)} on {job.manager}: {job.state}" + (f" ({job.error})" if job.error else "")
    return {"text": fallback, "blocks": blocks}


def transfer_line(job: Job) -> str | None:
    """The archive transfer under way (bytes, percent, rate), while the job runs."""
    progress = payload.result_of(job).progress
    if job.finished or progress is None:
        return None
    arrow = ":arrow_down_small:" if progress.what == "downloading" else ":arrow_up_small:"
    return f"{arrow} {progress_line(progress)}"


def job_started(job: Job) -> Message:
    where = " Progress is posted in the channel." if job.channel else ""
    return text_message(f":rocket: Started job `{job.id}`: {job_title(job)} on `{job.manager}`.{where}")


def job_awaiting_approval(job: Job) -> Message:
    return text_message(f":hourglass: Job `{job.id}` ({job_title(job)} on `{job.manager}`) "
                        "needs approval before it starts.")


def job_duplicate(job: Job) -> Message:
    return text_message(f"This request is already running as job `{job.id}` ({job.state}).")


def blockers_cancelled(job: Job, executions: Iterable[Any]) -> Message:
    """The reply to an approver's "cancel what it waits for" on a job's card."""
    lines = [f":no_entry_sign: Executions job `{job.id}` waited for on `{job.manager}`:"]
    for o in executions:
        what = f"`{o.execution_id}`" + (f" ({o.workflow_id})" if o.workflow_id else "")
        lines.append(f"• {what} cancelled (now {o.status})" if o.cancelled
                     else f"• :warning: {what} *not cancelled*: {o.why}")
    if len(lines) == 1:
        lines.append("• none was still running")
    return text_message("\n".join(lines))


def job_cancelled(job: Job, executions: Iterable[Any] = (), undone: str = "") -> Message:
    """The cancel reply; `executions` are the `bot.jobs.cancel.ExecutionOutcome`s of the
    manager executions the job had started."""
    if not job.finished:  # it undoes its own work first; its card says what it left
        return text_message(f":no_entry_sign: Job `{job.id}` ({job_title(job)}) is being cancelled: "
                            "snapbot undoes what it did on the manager first; its card and thread "
                            "say what it undid and what it left.")
    lines = [f":no_entry_sign: Job `{job.id}` ({job_title(job)}) was cancelled."]
    for o in executions:
        what = f"`{o.execution_id}`" + (f" ({o.workflow_id})" if o.workflow_id else "")
        if o.cancelled:
            lines.append(f"• manager execution {what} cancelled on `{job.manager}`"
                         + (f" (now {o.status})" if o.status else ""))
        else:
            lines.append(f"• :warning: manager execution {what} *left running* on `{job.manager}`"
                         + (f" ({o.status})" if o.status else "") + f": {o.why}")
    if undone:
        lines.append(f"• {undone}")
    return text_message("\n".join(lines))


def jobs_list(jobs: Iterable[Job]) -> Message:
    jobs = list(jobs)
    if not jobs:
        return text_message("No snapbot jobs yet.")
    lines = []
    for j in jobs:
        emoji = STATE_EMOJI.get(j.state, ":small_blue_diamond:")
        lines.append(f"{emoji} `{j.id}` {job_title(j)} on `{j.manager}` – *{j.state}* "
                     f"· {when(j.created_at)} · {who(j.requester)}")
    text = "*snapbot jobs* (newest first)\n" + "\n".join(lines)
    return {"text": text, "blocks": [section(text)]}


def job_detail(job: Job, transitions: Sequence[Transition], approvals: Sequence[Approval] = ()) -> Message:
    """`/cfy jobs show ID`: the whole audit trail."""
    emoji = STATE_EMOJI.get(job.state, ":small_blue_diamond:")
    blocks: list[dict[str, Any]] = [
        section(f"{emoji} *{job_title(job)}* on `{job.manager}` – *{job.state}*\n"
                 f"job `{job.id}` · kind `{job.kind}` · requested by {who(job.requester)} "
                 f"at {when(job.created_at)}"),
    ]
    params = {k: v for k, v in sorted(job.params.items()) if v not in (None, "", False)}
    if params:
        blocks.append(section("*Parameters:* " + ", ".join(f"{k}=`{shown_location(v)}`"
                                                           for k, v in params.items())))
    if approvals:
        blocks.append(section("*Approvals:*\n" + "\n".join(
            f"• {who(a.user)} {a.decision}d at {when(a.at)}" if a.decision in ("approve", "reject")
            else f"• {who(a.user)} {a.decision} at {when(a.at)}" for a in approvals)))
    if transitions:
        history = "\n".join(
            f"• {when(t.at)} {t.from_state or '∅'} → *{t.to_state}* by {who(t.actor)}"
            + (f": {with_mentions(t.detail, people(job, t.actor))}" if t.detail else "")
            for t in transitions)
        blocks.append(section("*History:*\n" + history))
    lines = result_lines(job)
    if lines:
        blocks.append(section("*Result:*\n" + "\n".join(lines)))
    if job.error:
        blocks.append(section(f":warning: *Error:* {job.error}"))
    text = f"job {job.id}: {job_title(job)} on {job.manager}: {job.state}"
    return {"text": text, "blocks": blocks}


def manager_jobs_lines(jobs: Iterable[Job]) -> list[str]:
    return [f"{STATE_EMOJI.get(j.state, '')} `{j.id}` {job_title(j)} – *{j.state}* ({who(j.requester)})"
            for j in jobs]
