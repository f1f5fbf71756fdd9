"""The one table of `/cfy` commands: one `CommandSpec` per command.

Everything else is derived from it: the parser's grammar and usage lines (`bot.commands.parser`),
`help` and the README/docs command table (`bot.commands.help`), the dispatcher's map and the job
kind a command creates (`bot.dispatch`), which commands approval can gate (`approvals.gated`,
`bot.config`) and which need `--yes` from a terminal (`snapbot cfy`), and, for a command that runs
as a job, its job kind and the title of the job's card (`bot.messages.jobs`); the kind is typed
here only, its driver names the command (`SimpleDriver`'s `command=`) and takes the kind from
this spec. Adding a simple command is its class and spec here (or the class in
`bot.commands.model`) and its driver (`docs/development.md`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from bot.commands import model as m
from bot.commands.grammar import (
    JOB_ARG,
    MANAGER,
    OPTIONAL,
    SNAPSHOT_ARG,
    TRUE,
    VALUE,
    Arg,
    Flag,
    Grammar,
    include_exclude,
    name_validator,
    validate_manager_name,
    validate_since,
    validate_snapshot_id,
    validate_url,
    validate_user,
)

PREFIX = "/cfy"

#: approval column values
ALWAYS = "always"  # every run needs approval (the restore runbook)
CONFIGURABLE = "configurable"  # may be put behind approval by `approvals.gated`
NEVER = ""


@dataclass(frozen=True)
class CommandSpec:
    cls: type[m.Command]
    usage: str  # without the "/cfy " prefix
    summary: str  # one line
    example: str  # without the "/cfy " prefix
    grammar: Grammar = field(default_factory=Grammar)
    approval: str = NEVER  # ALWAYS | CONFIGURABLE | NEVER
    #: changes a manager or starts something that does: `snapbot cfy` needs `--yes`
    changes_manager: bool = False
    #: the kind of job the command creates (None: answered at once); typed here only
    job_kind: str | None = None
    #: the title of that job's card and lines ("Activate maintenance mode")
    title: str = ""

    @property
    def name(self) -> str:
        """The dotted name, e.g. `snapshots.restore` (the approval-gating key)."""
        return self.cls.name

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
_MANAGER_ONLY = Grammar(flags=(MANAGER,))
#: an approver's override of the split-brain guard on a command that changes a manager
_IGNORE = Flag(("--ignore-cluster-health",), "ignore_cluster_health", TRUE)
_GUARDED = Grammar(flags=(MANAGER, _IGNORE))
_I = "[--ignore-cluster-health]"

COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(m.Help, "help [TOPIC]",
                "Usage, examples and the configured managers; TOPIC narrows it (e.g. `restore`).",
                "help restore"),
    CommandSpec(m.SnapshotsCreate,
                "snapshots create [ID] [--exclude-logs] [--exclude-events] [--exclude-credentials] "
                + _M,
                "Create a snapshot and follow it until created or failed; ID is generated if omitted.",
                "snapshots create nightly-extra --exclude-logs",
                Grammar((Arg("snapshot_id", "ID", validate_snapshot_id, required=False),),
                        (*include_exclude("logs", "include_logs"), *include_exclude("events", "include_events"),
                         *include_exclude("credentials", "include_credentials"), MANAGER)),
                job_kind="snapshot_create",
                title="Create snapshot"),
    CommandSpec(m.SnapshotsList, f"snapshots list {_M}",
                "Snapshots on the manager and archived copies, newest first.",
                "snapshots list --manager prod", _MANAGER_ONLY),
    CommandSpec(m.SnapshotsStatus, f"snapshots status {_M}",
                "The manager's snapshot status and any job snapbot is running there.",
                "snapshots status", _MANAGER_ONLY),
    CommandSpec(m.SnapshotsDownload, f"snapshots download ID {_M}",
                "Copy a snapshot into the archive directory and verify it (zip, sha256).",
                "snapshots download snap-20260101-0300",
                Grammar((SNAPSHOT_ARG,), (MANAGER,)), job_kind="snapshot_download",
                title="Download snapshot"),
    CommandSpec(m.SnapshotsUpload,
                f"snapshots upload ID [--from-archive [MANAGER] | --url URL] {_I} {_M}",
                "Push an archived copy (or a URL) to a manager.",
                "snapshots upload snap-20260101-0300 --from-archive prod --manager dr",
                Grammar((SNAPSHOT_ARG,),
                        (Flag(("--from-archive",), "from_archive", OPTIONAL, validate_manager_name),
                         Flag(("--url",), "url", VALUE, validate_url),
                         # cfy's own spelling: `cfy snapshots upload PATH -s ID`
                         Flag(("-s", "--snapshot-id"), "snapshot_id", VALUE, validate_snapshot_id),
                         _IGNORE, MANAGER),
                        exclusive=(("from_archive", "url"),)),
                CONFIGURABLE, changes_manager=True, job_kind="snapshot_upload",
                title="Upload snapshot"),
    CommandSpec(m.SnapshotsRestore,
                "snapshots restore ID [--tenant-name T] [--force] [--restore-certificates] "
                f"[--no-reboot] [--ignore-cluster-health] {_M}",
                "Run the restore runbook: approval, preflight, safety snapshot, maintenance mode, "
                "restore, report.",
                "snapshots restore snap-20260101-0300 --force",
                Grammar((SNAPSHOT_ARG,),
                        (Flag(("-t", "--tenant-name"), "tenant_name", VALUE, name_validator("tenant name")),
                         Flag(("-f", "--force"), "force", TRUE),
                         Flag(("--restore-certificates",), "restore_certificates", TRUE),
                         Flag(("--no-reboot",), "no_reboot", TRUE),
                         Flag(("--ignore-cluster-health",), "ignore_cluster_health", TRUE),
                         MANAGER)),
                ALWAYS, changes_manager=True, job_kind="restore",
                title="Restore snapshot"),
    CommandSpec(m.SnapshotsDelete, f"snapshots delete ID {_I} {_M}",
                "Delete a snapshot on the manager (archived copies stay).",
                "snapshots delete snap-20251201-0300", Grammar((SNAPSHOT_ARG,), (_IGNORE, MANAGER)),
                CONFIGURABLE, changes_manager=True, job_kind="snapshot_delete",
                title="Delete snapshot"),
    CommandSpec(m.SnapshotsSchedule, f"snapshots schedule {_M}",
                "The daily snapshot schedule, retention and the last runs.",
                "snapshots schedule", _MANAGER_ONLY),
    CommandSpec(m.SnapshotsScheduleRunNow, f"snapshots schedule run-now {_I} {_M}",
                "Run the daily snapshot job now (create, download, retention, report).",
                "snapshots schedule run-now", _GUARDED,
                CONFIGURABLE, changes_manager=True, job_kind="daily",
                title="Daily snapshot"),
    CommandSpec(m.SnapshotsDrill, f"snapshots drill {_M}",
                "Restore drill now: the manager's newest verified archive restored onto its "
                "scratch manager, then compared with the archive (RTO, RPO, verdict).",
                "snapshots drill --manager prod", _MANAGER_ONLY,
                changes_manager=True, job_kind="drill",
                title="Restore drill of"),
    CommandSpec(m.MaintenanceStatus, f"maintenance-mode status {_M}",
                "Maintenance mode state and the executions it is waiting for.",
                "maintenance-mode status", _MANAGER_ONLY),
    CommandSpec(m.MaintenanceActivate, f"maintenance-mode activate {_I} {_M}",
                "Activate maintenance mode and wait until it is activated.",
                "maintenance-mode activate", _GUARDED,
                CONFIGURABLE, changes_manager=True, job_kind="maintenance_activate",
                title="Activate maintenance mode"),
    CommandSpec(m.MaintenanceDeactivate, f"maintenance-mode deactivate {_I} {_M}",
                "Deactivate maintenance mode.",
                "maintenance-mode deactivate", _GUARDED,
                CONFIGURABLE, changes_manager=True, job_kind="maintenance_deactivate",
                title="Deactivate maintenance mode"),
    CommandSpec(m.AgentsInstall, f"agents install {_I} {_M}",
                "Install new agents on every deployment (after an upgrade restore).",
                "agents install", _GUARDED,
                CONFIGURABLE, changes_manager=True, job_kind="agents_install",
                title="Install new agents"),
    CommandSpec(m.PluginsUpdate, f"plugins update BLUEPRINT_ID|--all {_I} {_M}",
                "Update the plugins of a blueprint's deployments, or of all blueprints.",
                "plugins update --all",
                Grammar((Arg("blueprint_id", "BLUEPRINT_ID", name_validator("blueprint id"), required=False),),
                        (Flag(("--all", "--all-blueprints"), "all_blueprints", TRUE), _IGNORE, MANAGER),
                        one_of=("blueprint_id", "all_blueprints")),
                CONFIGURABLE, changes_manager=True, job_kind="plugins_update",
                title="Update plugins"),
    CommandSpec(m.ClusterStatus, f"cluster status {_M}",
                "Nodes, versions and health; warns about a split brain and links the runbook.",
                "cluster status", _MANAGER_ONLY),
    CommandSpec(m.Status, f"status {_M}",
                "Backup posture per manager: newest verified archive, last drill, next runs, "
                "running jobs, pending approvals.",
                "status", _MANAGER_ONLY),
    CommandSpec(m.JobsList, "jobs [list]",
                "snapbot's own jobs (restores, snapshots, ...) and their states.",
                "jobs"),
    CommandSpec(m.JobsShow, "jobs show JOB_ID",
                "One job: its steps with times, and who asked and approved.",
                "jobs show r-1a2b3c", Grammar((JOB_ARG,))),
    CommandSpec(m.JobsCancel, "jobs cancel JOB_ID",
                "Cancel a job (its requester or an approver).",
                "jobs cancel r-1a2b3c", Grammar((JOB_ARG,))),
    CommandSpec(m.Audit, "audit [--user U] [--since 24h]",
                "Who ran what, from where, and the outcome (commands and buttons, refusals "
                "too), newest first.",
                "audit --user U0123ABCD --since 7d",
                Grammar(flags=(Flag(("--user",), "user", VALUE, validate_user),
                               Flag(("--since",), "since", VALUE, validate_since)))),
)

_BY_NAME = {s.name: s for s in COMMANDS}
_BY_CLASS = {s.cls: s for s in COMMANDS}

#: Dotted names of the commands approval may gate by config (`approvals.gated`); restore always is.
GATEABLE = frozenset(s.name for s in COMMANDS if s.approval == CONFIGURABLE)
#: Command groups in table order: `snapshots`, `maintenance-mode`, ...
GROUPS: tuple[str, ...] = tuple(dict.fromkeys(s.group for s in COMMANDS))
#: Command words that may be left out: `jobs` alone means `jobs list`.
DEFAULT_SUBCOMMAND = {"jobs": "jobs.list"}


def spec(name: str) -> CommandSpec:
    """The spec of a command by its dotted name (`snapshots.restore`)."""
    return _BY_NAME[name]


def spec_for(cmd: m.Command | type[m.Command]) -> CommandSpec:
    """The spec of a command (or command class)."""
    return _BY_CLASS[cmd if isinstance(cmd, type) else type(cmd)]


def kind_of(cmd: type[m.Command]) -> str:
    """The job kind a command creates, as its spec names it (other modules refer to a kind
    through this, never by typing the string again)."""
    kind = spec_for(cmd).job_kind
    if kind is None:
        raise LookupError(f"`{cmd.name}` does not run as a job")
    return kind


#: Each job kind's card title, from the specs.
KIND_TITLES: dict[str, str] = {s.job_kind: s.title for s in COMMANDS if s.job_kind}
