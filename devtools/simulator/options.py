"""Simulator knobs. All durations are simulated seconds; real time = duration / speed."""
from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass
class SimulatorOptions:
    speed: float = 1.0
    version: str = "7.0.0"
    username: str = "admin"
    password: str = "admin"
    tenant: str = "default_tenant"
    data_dir: str | None = None  # where archives live (a temp dir when None)
    seed_deployments: int = 3  # deployments (and their blueprints) present at start
    create_seconds: float = 3.0  # snapshot creation time
    restore_seconds: float = 6.0
    restore_outage_seconds: float = 2.0  # REST unavailable during a restore
    reboot_outage_seconds: float = 6.0  # restore_certificates without no_reboot
    snapshot_status_linger_seconds: float = 1.0  # /snapshot-status still "running" after the end
    workflow_seconds: float = 2.0  # ordinary executions: pending -> started -> terminated
    archive_size: int = 0  # pad new snapshot archives to about this many bytes
    range_downloads: bool = True  # archive downloads honour `Range: bytes=N-` (206), as nginx does
    outage_mode: str = "refuse"  # how the restore outage looks: "refuse" | "502" | "503"
    # what a restore does with the snapshot's scheduled executions:
    # "5.1": overdue -> failed + "Execution <id> scheduled for <t> is overdue. Marking as FAILED.",
    #        future ones stay scheduled (re-queued);
    # "7.0": every one -> failed + "Marking original execution <id> scheduled for <t> as FAILED.",
    #        future ones re-created as new scheduled executions
    scheduled_restore_style: str = "5.1"

    @classmethod
    def field_names(cls) -> set[str]:
        return {f.name for f in fields(cls)}
