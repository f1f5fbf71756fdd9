"""Typed commands, one frozen dataclass per command; everything else about a command (grammar,
help, approval, job kind) is in its spec in `bot.commands.registry`.

The parser turns `/cfy` text into one of these; the dispatcher runs it. `manager` is None when
`--manager` was not given (the first configured manager is meant).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True)
class Command:
    #: Dotted command path, e.g. 'snapshots.create' (also the approval-gating key); declared by
    #: each subclass: `class SnapshotsCreate(Command, name="snapshots.create")`.
    name: ClassVar[str]

    def __init_subclass__(cls, *, name: str, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        cls.name = name


@dataclass(frozen=True)
class Help(Command, name="help"):
    topic: str | None = None


@dataclass(frozen=True)
class SnapshotsCreate(Command, name="snapshots.create"):
    snapshot_id: str | None = None  # generated when omitted
    include_logs: bool = True
    include_events: bool = True
    include_credentials: bool = True
    manager: str | None = None


@dataclass(frozen=True)
class SnapshotsList(Command, name="snapshots.list"):
    manager: str | None = None


@dataclass(frozen=True)
class SnapshotsStatus(Command, name="snapshots.status"):
    manager: str | None = None


@dataclass(frozen=True)
class SnapshotsDownload(Command, name="snapshots.download"):
    snapshot_id: str
    manager: str | None = None


@dataclass(frozen=True)
class SnapshotsUpload(Command, name="snapshots.upload"):
    snapshot_id: str
    from_archive: str | None = None  # archived copy to push: its manager name, or "" = same id's
    url: str | None = None
    manager: str | None = None
    ignore_cluster_health: bool = False  # an approver's override of the split-brain guard


@dataclass(frozen=True)
class SnapshotsRestore(Command, name="snapshots.restore"):
    snapshot_id: str
    tenant_name: str | None = None
    force: bool = False
    restore_certificates: bool = False
    no_reboot: bool = False
    manager: str | None = None
    #: an approver's override of the split-brain / cluster-Fail refusal
    ignore_cluster_health: bool = False


@dataclass(frozen=True)
class SnapshotsDelete(Command, name="snapshots.delete"):
    snapshot_id: str
    manager: str | None = None
    ignore_cluster_health: bool = False  # an approver's override of the split-brain guard


@dataclass(frozen=True)
class SnapshotsSchedule(Command, name="snapshots.schedule"):
    manager: str | None = None


@dataclass(frozen=True)
class SnapshotsScheduleRunNow(Command, name="snapshots.schedule.run-now"):
    manager: str | None = None
    ignore_cluster_health: bool = False  # an approver's override of the split-brain guard


@dataclass(frozen=True)
class SnapshotsDrill(Command, name="snapshots.drill"):
    manager: str | None = None  # the source manager (default: the first one with a drill)


@dataclass(frozen=True)
class Status(Command, name="status"):
    manager: str | None = None  # one manager (default: every configured one)


@dataclass(frozen=True)
class MaintenanceStatus(Command, name="maintenance-mode.status"):
    manager: str | None = None


@dataclass(frozen=True)
class MaintenanceActivate(Command, name="maintenance-mode.activate"):
    manager: str | None = None
    ignore_cluster_health: bool = False  # an approver's override of the split-brain guard


@dataclass(frozen=True)
class MaintenanceDeactivate(Command, name="maintenance-mode.deactivate"):
    manager: str | None = None
    ignore_cluster_health: bool = False  # an approver's override of the split-brain guard


@dataclass(frozen=True)
class AgentsInstall(Command, name="agents.install"):
    manager: str | None = None
    ignore_cluster_health: bool = False  # an approver's override of the split-brain guard


@dataclass(frozen=True)
class PluginsUpdate(Command, name="plugins.update"):
    blueprint_id: str | None = None  # None with all_blueprints=True
    all_blueprints: bool = False
    manager: str | None = None
    ignore_cluster_health: bool = False  # an approver's override of the split-brain guard


@dataclass(frozen=True)
class ClusterStatus(Command, name="cluster.status"):
    manager: str | None = None


@dataclass(frozen=True)
class JobsList(Command, name="jobs.list"):
    pass


@dataclass(frozen=True)
class JobsShow(Command, name="jobs.show"):
    job_id: str


@dataclass(frozen=True)
class JobsCancel(Command, name="jobs.cancel"):
    job_id: str


@dataclass(frozen=True)
class Audit(Command, name="audit"):
    user: str | None = None  # a Slack user id (U…) or a terminal login (local:…)
    since: str | None = None  # 30m, 24h, 7d, 2w or an ISO date (bot.audit.parse_since)
