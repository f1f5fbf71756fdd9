"""Block Kit builders shared by every command: help, usage and other errors, snapshot tables,
maintenance and cluster status, confirmations. Pure functions `(data) -> {"text", "blocks"}`.

Every message stays within Slack's limits: a section's text at most 3000 characters, at most 50
blocks, a header at most 150; long lists end with "…and N more".
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot import runbooks
from bot.clock import EARLIEST
from bot.cloudify.cluster import ClusterHealth, assess
from bot.cloudify.models import ArchiveInfo, MaintenanceState, ManagerNode, Snapshot
from bot.commands.help import topic_specs
from bot.commands.registry import ALWAYS, COMMANDS, CONFIGURABLE, CommandSpec
from bot.errors import (
    ArchiveError,
    CloudifyError,
    ManagerUnavailable,
    NotAuthorized,
    SnapbotError,
    Unauthorized,
    UsageError,
)
from bot.messages.blocks import SECTION_MAX, context, divider, header, human_size, section, truncate, when
from bot.messages.jobs import manager_jobs_lines
from bot.messages.text import archive_name

Message = dict[str, Any]

MAX_BLOCKS = 50
LIST_MAX = 25  # rows shown before "…and N more"

SNAPSHOT_EMOJI = {
    "created": ":white_check_mark:",
    "uploaded": ":white_check_mark:",
    "creating": ":hourglass_flowing_sand:",
    "uploading": ":arrow_up:",
    "failed": ":x:",
}
MAINTENANCE_EMOJI = {
    "deactivated": ":large_green_circle:",
    "activating": ":large_yellow_circle:",
    "activated": ":red_circle:",
}
HEALTH_EMOJI = {"ok": ":large_green_circle:", "degraded": ":large_yellow_circle:",
                "fail": ":red_circle:", "failed": ":red_circle:"}


# --- block helpers -------------------------------------------------------------------------------

def capped(lines: Sequence[str], limit: int = LIST_MAX) -> list[str]:
    """The first `limit` lines, plus "…and N more" when some were left out."""
    if len(lines) <= limit:
        return list(lines)
    return list(lines[:limit]) + [f"…and {len(lines) - limit} more"]


def line_sections(lines: Sequence[str]) -> list[dict[str, Any]]:
    """Lines packed into as few sections as fit in SECTION_MAX each."""
    out: list[dict[str, Any]] = []
    buf = ""
    for line in lines:
        line = truncate(line)
        if buf and len(buf) + 1 + len(line) > SECTION_MAX:
            out.append(section(buf))
            buf = ""
        buf = f"{buf}\n{line}" if buf else line
    if buf:
        out.append(section(buf))
    return out


def message(text: str, blocks: list[dict[str, Any]]) -> Message:
    """Assemble a message, keeping at most MAX_BLOCKS blocks (the last says what was cut)."""
    if len(blocks) > MAX_BLOCKS:
        cut = len(blocks) - (MAX_BLOCKS - 1)
        blocks = blocks[: MAX_BLOCKS - 1] + [context(f"…and {cut} more blocks not shown")]
    return {"text": truncate(text), "blocks": blocks}


# --- help and errors -----------------------------------------------------------------------------

def _approval_note(s: CommandSpec) -> str:
    if s.approval == ALWAYS:
        return " _(needs approval)_"
    if s.approval == CONFIGURABLE:
        return " _(may need approval)_"
    return ""


def help_message(topic: str | None = None, managers: Sequence[str] = (),
                 specs: Sequence[CommandSpec] = COMMANDS) -> Message:
    """`/cfy help [topic]`: the commands (all, or the topic's) with examples, and the managers.

    `managers` are the configured manager names, the first being the default."""
    shown = [s for s in topic_specs(topic) if s in specs] if topic else list(specs)
    blocks: list[dict[str, Any]] = []
    if topic and not shown:
        blocks.append(section(f":grey_question: No help topic `{topic}`; here is everything."))
        shown, topic = list(specs), None
    title = f"snapbot help: {topic}" if topic else "snapbot: Cloudify Manager backups from Slack"
    blocks.append(header(title))
    groups: dict[str, list[CommandSpec]] = {}
    for s in shown:
        groups.setdefault(s.group, []).append(s)
    for group, items in groups.items():
        lines = [f"*{group}*"] if not topic else []
        for s in items:
            lines.append(f"`{s.line}`{_approval_note(s)}\n{s.summary}")
            if topic:
                lines.append(f"Example: `{s.example_line}`")
        blocks.extend(line_sections(lines))
    if not topic:
        examples = ", ".join(f"`{s.example_line}`" for s in shown[:4])
        blocks.append(context(f"Examples: {examples}. `/cfy help TOPIC` (e.g. `restore`, "
                              "`maintenance-mode`) shows details."))
    if managers:
        names = [f"`{managers[0]}` (default)"] + [f"`{n}`" for n in managers[1:]]
        blocks.append(context("Managers: " + ", ".join(capped(names, 20))
                              + ". Choose one with `--manager NAME`."))
    text = title + ": " + "; ".join(s.line for s in shown)
    return message(text, blocks)


def usage_error(err: UsageError) -> Message:
    """What was wrong with the command, and its usage line."""
    problem = err.problem or str(err)
    usage = err.usage
    blocks = [section(f":warning: {problem}")]
    if usage:
        blocks.append(section(f"Usage: `{usage}`"))
    blocks.append(context("`/cfy help` lists every command."))
    text = f"{problem}" + (f" Usage: {usage}" if usage else "")
    return message(text, blocks)


def not_authorized(reason: str | NotAuthorized = "", action: str | None = None) -> Message:
    """You may not do this (with why, when known)."""
    why = str(reason) if reason else "you are not allowed to do that"
    what = f" `{action}`" if action else ""
    text = f":no_entry: Not authorized{what}: {why}"
    return message(text, [section(text)])


def _manager_label(err: BaseException, manager: str | None) -> str:
    own = err.manager if isinstance(err, (CloudifyError, ArchiveError)) else ""
    name = manager or own
    return f"manager `{name}`" if name else "the manager"


def error_text(err: BaseException, manager: str | None = None) -> str:
    """What failed, in one line of plain words (job cards, thread replies, the terminal).

    `manager` names the manager involved; by default the error's own `manager` (the client stamps
    it). Never a traceback, and never the text of an unexpected exception: that may hold details
    meant for the log only (which `logger.exception` already has)."""
    who = _manager_label(err, manager)
    if isinstance(err, ManagerUnavailable):
        detail = err.manager_message or ""
        if detail.startswith("cannot reach the manager"):
            return f"cannot reach {who}{detail[len('cannot reach the manager'):]}"
        return f"cannot reach {who}: {detail}" if detail else f"cannot reach {who}"
    if isinstance(err, Unauthorized):
        return (f"authentication failed for {who} ({err.manager_message}); check the "
                "credentials snapbot uses for it (its password or token setting)")
    if isinstance(err, CloudifyError):
        code = f" (`{err.error_code}`)" if err.error_code else ""
        return f"{who} answered with an error{code}: {err.manager_message}"
    if isinstance(err, SnapbotError):
        return err.user_message
    return f"unexpected error ({type(err).__name__}); the details are in snapbot's log"


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def error_message(err: BaseException, manager: str | None = None) -> Message:
    """A user-facing message for any error. Never a traceback; unexpected exceptions get a
    generic text (their own may hold details meant for the log only). Manager errors say which
    manager (`manager`, else the error's own) and, for refusals, the manager's own message."""
    if isinstance(err, UsageError):
        return usage_error(err)
    if isinstance(err, NotAuthorized):
        return not_authorized(err)
    if isinstance(err, ManagerUnavailable):
        text = f":electric_plug: {_capital(error_text(err, manager))}"
        return message(text, [section(text), context(
            "The manager could not be reached. It may be restarting (a restore does that); "
            "try again in a minute, or check its URL and that it is up.")])
    if isinstance(err, Unauthorized):
        who = _manager_label(err, manager)
        text = (f":lock: Authentication failed for {who}: {err.manager_message}")
        return message(text, [section(text), context(
            "Check the credentials snapbot uses for this manager (its username and the password "
            "or token in snapbot's environment); nothing was changed on the manager.")])
    if isinstance(err, CloudifyError):
        text = f":x: {_capital(error_text(err, manager))}"
        blocks = [section(text)]
        if err.method:
            blocks.append(context(f"{err.method} {err.path}" + (f" → {err.status}" if err.status else "")))
        return message(text, blocks)
    if isinstance(err, SnapbotError):
        text = f":warning: {err.user_message}"
        return message(text, [section(text)])
    text = ":boom: Something went wrong; the details are in snapbot's log."
    return message(text, [section(text)])


def confirmation(text: str) -> Message:
    """A short success reply."""
    t = f":white_check_mark: {text}"
    return message(t, [section(t)])


# --- snapshots -----------------------------------------------------------------------------------

def _archive_fields(item: Any) -> tuple[str, int | None, str, datetime | None]:
    """(snapshot id, size, sha256, modified) of an archived copy: an ArchiveInfo-like object
    (path/size/sha256), or a Path (size and checksum sidecar read from disk)."""
    if isinstance(item, (str, Path)):
        p = Path(item)
        try:
            st = p.stat()
            size, mtime = st.st_size, datetime.fromtimestamp(st.st_mtime, tz=UTC)
        except OSError:
            size, mtime = None, None
        try:
            sha = Path(str(p) + ".sha256").read_text().split()[0]
        except (OSError, IndexError):
            sha = ""
        return p.stem, size, sha, mtime
    path = str(getattr(item, "path", "") or "")
    sid = getattr(item, "snapshot_id", None) or (Path(path).stem if path else "?")
    return (sid, getattr(item, "size", None), getattr(item, "sha256", "") or "",
            getattr(item, "modified", None) or getattr(item, "mtime", None))


def snapshot_line(s: Snapshot) -> str:
    emoji = SNAPSHOT_EMOJI.get(s.status, ":grey_question:")
    line = f"{emoji} `{s.id}` *{s.status}* {when(s.created_at)}"
    if s.created_by:
        line += f" by {s.created_by}"
    if s.error:
        line += f"\n      _{truncate(s.error.strip().splitlines()[-1], 300)}_"
    return line


def snapshot_table(manager: str, snapshots: Sequence[Snapshot], archived: Iterable[Any] = ()
                   ) -> Message:
    """`/cfy snapshots list`: snapshots on the manager (newest first, status emoji) and the
    archived copies off the manager (size, sha256 prefix)."""
    ordered = sorted(snapshots, key=lambda s: (s.created_at is not None,
                                               s.created_at or EARLIEST), reverse=True)
    blocks: list[dict[str, Any]] = [header(f"Snapshots on {manager}")]
    rows = [snapshot_line(s) for s in ordered]
    blocks.extend(line_sections(capped(rows)) or [section("_No snapshots on the manager._")])
    arch = [_archive_fields(a) for a in archived]
    arch.sort(key=lambda a: (a[3] is not None, a[3] or EARLIEST), reverse=True)
    blocks.append(divider())
    blocks.append(section("*Archived copies* (off the manager)"))
    arows = [f":package: `{sid}` {human_size(size)}"
             + (f" sha256 `{sha[:12]}…`" if sha else " _no checksum_")
             + (f" {when(mtime)}" if mtime else "")
             for sid, size, sha, mtime in arch]
    blocks.extend(line_sections(capped(arows)) or [section("_No archived copies._")])
    text = (f"Snapshots on {manager}: {len(ordered)} on the manager, {len(arch)} archived. "
            + ", ".join(f"{s.id} ({s.status})" for s in ordered[:10]))
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


def archive_saved(info: ArchiveInfo, manager: str | None = None) -> Message:
    """A snapshot archive is on disk and verified."""
    name = Path(info.path).name
    where = f" from `{manager}`" if manager else ""
    text = (f":floppy_disk: Saved `{name}`{where}: {human_size(info.size)}, "
            f"sha256 `{info.sha256[:12]}…` (verified)")
    return message(text, [section(text), context(f"`{archive_name(info.path)}` · sha256 `{info.sha256}`")])


# --- maintenance and cluster ---------------------------------------------------------------------

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


def _health(status: Any) -> str:
    s = str(status or "?")
    return f"{HEALTH_EMOJI.get(s.lower(), ':grey_question:')} {s}"


def active_nodes(nodes: Sequence[ManagerNode]) -> list[ManagerNode]:
    return [n for n in nodes if n.is_active]


def cluster_status(manager: str, status: dict[str, Any] | None, nodes: Sequence[ManagerNode],
                   cluster: dict[str, Any] | None = None, *, health: ClusterHealth | None = None,
                   version: str | None = None, runbook_base_url: str | None = None) -> Message:
    """`/cfy cluster status`: health (/status, /cluster-status), the nodes (/managers), the nodes
    that are down, and a split-brain warning with its runbook (see bot.cloudify.cluster)."""
    status = status or {}
    if health is None:
        health = assess(nodes, cluster)
    overall = (cluster or {}).get("status") or health.status or status.get("status")
    title = f"Cluster status of {manager}"
    blocks: list[dict[str, Any]] = [header(title)]
    summary = f"*Health:* {_health(overall)}"
    if version:
        summary += f"   *Version:* {version}"
    summary += f"   *Nodes:* {len(nodes)}"
    blocks.append(section(summary))
    if health.split_brain:
        blocks.append(section(truncate(
            f":rotating_light: *Split brain:* {health.split_brain}. Do not restore or change "
            f"anything until it is resolved; {runbooks.reference(runbooks.SPLIT_BRAIN, runbook_base_url)}",
            SECTION_MAX)))
    elif health.failed:
        blocks.append(section(truncate(
            ":red_circle: *Cluster status Fail*"
            + (f": {', '.join(health.down)} not OK" if health.down else "")
            + f". Restores are refused until it recovers; "
            f"{runbooks.reference(runbooks.CLUSTER_FAIL, runbook_base_url)}", SECTION_MAX)))
    if health.down and not health.failed:
        blocks.append(section(":warning: *Down:* " + ", ".join(f"`{d}`" for d in health.down)))
    rows = []
    for n in nodes:
        active = " :star: active" if n.is_active else ""
        ips = " / ".join(ip for ip in (n.private_ip, n.public_ip) if ip)
        rows.append(f"• `{n.hostname or '?'}` {ips} {n.version}"
                    + (f" {_health(n.status)}" if n.status else "") + active)
    if rows:
        blocks.extend(line_sections(capped(rows)))
    services = (cluster or {}).get("services") or status.get("services") or {}
    if isinstance(services, dict) and services:
        srows = []
        for name, svc in services.items():
            st = svc.get("status") if isinstance(svc, dict) else svc
            srows.append(f"{name}: {_health(st)}")
        blocks.append(context(truncate(" · ".join(capped(srows, 20)), 2000)))
    text = f"{title}: {overall or '?'}, {len(nodes)} node(s)"
    if health.split_brain:
        text += f" — SPLIT BRAIN: {health.split_brain}"
    if health.down:
        text += f" — down: {', '.join(health.down)}"
    return message(text, blocks)
