"""Typed commands, one frozen dataclass per row of the commands table (DESIGN.md).

The parser turns `/cfy` text into one of these; the dispatcher runs it. `manager` is None when
`--manager` was not given (the first configured manager is meant).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    @property
    def name(self) -> str:
        """Dotted command path, e.g. 'snapshots.create' (also the approval-gating key)."""
        return COMMAND_NAMES[type(self)]


@dataclass(frozen=True)
class Help(Command):
    topic: str | None = None


@dataclass(frozen=True)
class SnapshotsCreate(Command):
    snapshot_id: str | None = None  # generated when omitted
    include_logs: bool = True
    include_events: bool = True
    include_credentials: bool = True
    manager: str | None = None


@dataclass(frozen=True)
class SnapshotsList(Command):
    manager: str | None = None


@dataclass(frozen=True)
class SnapshotsStatus(Command):
    manager: str | None = None


@dataclass(frozen=True)
class SnapshotsDownload(Command):
    snapshot_id: str
    manager: str | None = None


@dataclass(frozen=True)
class SnapshotsUpload(Command):
    snapshot_id: str
    from_archive: str | None = None  # archived copy to push: its manager name, or "" = same id's
    url: str | None = None
    manager: str | None = None


@dataclass(frozen=True)
class SnapshotsRestore(Command):
    snapshot_id: str
    tenant_name: str | None = None
    force: bool = False
    restore_certificates: bool = False
    no_reboot: bool = False
    manager: str | None = None


@dataclass(frozen=True)
class SnapshotsDelete(Command):
    snapshot_id: str
    manager: str | None = None


@dataclass(frozen=True)
class SnapshotsSchedule(Command):
    manager: str | None = None


@dataclass(frozen=True)
class SnapshotsScheduleRunNow(Command):
    manager: str | None = None


@dataclass(frozen=True)
class MaintenanceStatus(Command):
    manager: str | None = None


@dataclass(frozen=True)
class MaintenanceActivate(Command):
    manager: str | None = None


@dataclass(frozen=True)
class MaintenanceDeactivate(Command):
    manager: str | None = None


@dataclass(frozen=True)
class AgentsInstall(Command):
    manager: str | None = None


@dataclass(frozen=True)
class PluginsUpdate(Command):
    blueprint_id: str | None = None  # None with all_blueprints=True
    all_blueprints: bool = False
    manager: str | None = None


@dataclass(frozen=True)
class ClusterStatus(Command):
    manager: str | None = None


@dataclass(frozen=True)
class JobsList(Command):
    pass


@dataclass(frozen=True)
class JobsShow(Command):
    job_id: str


@dataclass(frozen=True)
class JobsCancel(Command):
    job_id: str


COMMAND_NAMES: dict[type, str] = {
    Help: "help",
    SnapshotsCreate: "snapshots.create",
    SnapshotsList: "snapshots.list",
    SnapshotsStatus: "snapshots.status",
    SnapshotsDownload: "snapshots.download",
    SnapshotsUpload: "snapshots.upload",
    SnapshotsRestore: "snapshots.restore",
    SnapshotsDelete: "snapshots.delete",
    SnapshotsSchedule: "snapshots.schedule",
    SnapshotsScheduleRunNow: "snapshots.schedule.run-now",
    MaintenanceStatus: "maintenance-mode.status",
    MaintenanceActivate: "maintenance-mode.activate",
    MaintenanceDeactivate: "maintenance-mode.deactivate",
    AgentsInstall: "agents.install",
    PluginsUpdate: "plugins.update",
    ClusterStatus: "cluster.status",
    JobsList: "jobs.list",
    JobsShow: "jobs.show",
    JobsCancel: "jobs.cancel",
}

__all__ = [n for n in dir() if n[0].isupper()]
