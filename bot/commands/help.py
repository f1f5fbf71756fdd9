"""The one table of `/cfy` commands. It drives the `help` output, the parser's usage lines and the
README's command table (a test keeps the README equal to `readme_command_table()`).
"""
from __future__ import annotations

from dataclasses import dataclass

from bot.commands.model import COMMAND_NAMES

PREFIX = "/cfy"

#: approval column values
ALWAYS = "always"
CONFIGURABLE = "configurable"
NEVER = ""


@dataclass(frozen=True)
class CommandSpec:
    name: str  # a value of model.COMMAND_NAMES, e.g. "snapshots.restore"
    usage: str  # without the "/cfy " prefix
    summary: str  # one line
    example: str  # without the "/cfy " prefix
    approval: str = NEVER  # ALWAYS | CONFIGURABLE | NEVER

    @property
    def line(self) -> str:
        """The usage line as typed in Slack: `/cfy snapshots list [--manager M]`."""
        return f"{PREFIX} {self.usage}"

    @property
    def example_line(self) -> str:
        return f"{PREFIX} {self.example}"

    @property
    def group(self) -> str:
        """First word: `snapshots`, `maintenance-mode`, `jobs`..."""
        return self.name.split(".")[0]

    @property
    def can_require_approval(self) -> bool:
        return self.approval != NEVER


_M = "[--manager M]"

SPECS: tuple[CommandSpec, ...] = (
    CommandSpec("help", "help [TOPIC]",
                "Usage, examples and the configured managers; TOPIC narrows it (e.g. `restore`).",
                "help restore"),
    CommandSpec("snapshots.create",
                "snapshots create [ID] [--exclude-logs] [--exclude-events] [--exclude-credentials] "
                + _M,
                "Create a snapshot and follow it until created or failed; ID is generated if omitted.",
                "snapshots create nightly-extra --exclude-logs"),
    CommandSpec("snapshots.list", f"snapshots list {_M}",
                "Snapshots on the manager and archived copies, newest first.",
                "snapshots list --manager prod"),
    CommandSpec("snapshots.status", f"snapshots status {_M}",
                "The manager's snapshot status and any job snapbot is running there.",
                "snapshots status"),
    CommandSpec("snapshots.download", f"snapshots download ID {_M}",
                "Copy a snapshot into the archive directory and verify it (zip, sha256).",
                "snapshots download snap-20260101-0300"),
    CommandSpec("snapshots.upload",
                f"snapshots upload ID [--from-archive [MANAGER] | --url URL] {_M}",
                "Push an archived copy (or a URL) to a manager.",
                "snapshots upload snap-20260101-0300 --from-archive prod --manager dr",
                CONFIGURABLE),
    CommandSpec("snapshots.restore",
                "snapshots restore ID [--tenant-name T] [--force] [--restore-certificates] "
                f"[--no-reboot] {_M}",
                "Run the restore runbook: approval, preflight, safety snapshot, maintenance mode, "
                "restore, report.",
                "snapshots restore snap-20260101-0300 --force", ALWAYS),
    CommandSpec("snapshots.delete", f"snapshots delete ID {_M}",
                "Delete a snapshot on the manager (archived copies stay).",
                "snapshots delete snap-20251201-0300", CONFIGURABLE),
    CommandSpec("snapshots.schedule", f"snapshots schedule {_M}",
                "The daily snapshot schedule, retention and the last runs.",
                "snapshots schedule"),
    CommandSpec("snapshots.schedule.run-now", f"snapshots schedule run-now {_M}",
                "Run the daily snapshot job now (create, download, retention, report).",
                "snapshots schedule run-now", CONFIGURABLE),
    CommandSpec("maintenance-mode.status", f"maintenance-mode status {_M}",
                "Maintenance mode state and the executions it is waiting for.",
                "maintenance-mode status"),
    CommandSpec("maintenance-mode.activate", f"maintenance-mode activate {_M}",
                "Activate maintenance mode and wait until it is activated.",
                "maintenance-mode activate", CONFIGURABLE),
    CommandSpec("maintenance-mode.deactivate", f"maintenance-mode deactivate {_M}",
                "Deactivate maintenance mode.",
                "maintenance-mode deactivate", CONFIGURABLE),
    CommandSpec("agents.install", f"agents install {_M}",
                "Install new agents on every deployment (after an upgrade restore).",
                "agents install", CONFIGURABLE),
    CommandSpec("plugins.update", f"plugins update BLUEPRINT_ID|--all {_M}",
                "Update the plugins of a blueprint's deployments, or of all blueprints.",
                "plugins update --all", CONFIGURABLE),
    CommandSpec("cluster.status", f"cluster status {_M}",
                "Nodes, versions and health; warns about a split brain and links the runbook.",
                "cluster status"),
    CommandSpec("jobs.list", "jobs [list]",
                "snapbot's own jobs (restores, snapshots, ...) and their states.",
                "jobs"),
    CommandSpec("jobs.show", "jobs show JOB_ID",
                "One job: its steps with times, and who asked and approved.",
                "jobs show r-1a2b3c"),
    CommandSpec("jobs.cancel", "jobs cancel JOB_ID",
                "Cancel a job (its requester or an approver).",
                "jobs cancel r-1a2b3c"),
)

_BY_NAME = {s.name: s for s in SPECS}
assert set(_BY_NAME) == set(COMMAND_NAMES.values()), "help table and command model disagree"

GROUPS: tuple[str, ...] = tuple(dict.fromkeys(s.group for s in SPECS))


def spec(name: str) -> CommandSpec:
    """The spec of a command by its dotted name (`snapshots.restore`)."""
    return _BY_NAME[name]


def group_usage(group: str) -> str:
    """`/cfy snapshots create|list|...` for an unknown or missing subcommand of `group`."""
    subs = [s.name.split(".")[1] for s in SPECS if s.group == group and "." in s.name]
    subs = list(dict.fromkeys(subs))
    return f"{PREFIX} {group} {'|'.join(subs)} ..."


def topics() -> list[str]:
    """Words `help TOPIC` understands: groups, subcommands and dotted names."""
    words: dict[str, None] = {}
    for s in SPECS:
        words[s.group] = None
        words.update({p: None for p in s.name.split(".")[1:]})
        words[s.name] = None
    return list(words)


def topic_specs(topic: str | None) -> list[CommandSpec]:
    """The rows `help TOPIC` shows: all of them for None, else those whose group, subcommand or
    dotted name is the topic (`snapshots`, `restore`, `snapshots.restore`, `snapshots restore`).
    Empty for an unknown topic."""
    if not topic:
        return list(SPECS)
    t = topic.strip().lower().replace(" ", ".")
    return [s for s in SPECS
            if t in (s.group, s.name) or t in s.name.split(".")[1:]]


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|")


def readme_command_table() -> str:
    """The README's command table, rendered from SPECS (Markdown, ends with a newline)."""
    rows = ["| Command | What it does | Example | Approval |", "|---|---|---|---|"]
    for s in SPECS:
        approval = {ALWAYS: "**always**", CONFIGURABLE: "configurable"}.get(s.approval, "–")
        rows.append(f"| `{_md_cell(s.line)}` | {_md_cell(s.summary)} | "
                    f"`{_md_cell(s.example_line)}` | {approval} |")
    return "\n".join(rows) + "\n"
