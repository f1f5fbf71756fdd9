"""Simulator knobs. All durations are simulated seconds; real time = duration / speed."""
from __future__ import annotations

from dataclasses import dataclass, fields

from devtools.simulator.profiles import DEFAULT_VERSION


@dataclass
class SimulatorOptions:
    speed: float = 1.0
    # "scaled": real time, durations divided by speed; "manual": time moves only when told
    # (devtools.simulator.clock)
    clock: str = "scaled"
    # which Cloudify Manager to be: a key of devtools.simulator.profiles.PROFILES
    manager_version: str = DEFAULT_VERSION
    version: str | None = None  # version to report (/version, metadata); None = manager_version
    # simplified behaviours kept for tests (devtools.simulator.profiles COMPAT_*, SIMPLIFIED)
    compat: tuple[str, ...] = ()
    username: str = "admin"
    password: str = "admin"
    tenant: str = "default_tenant"
    data_dir: str | None = None  # where archives live (a temp dir when None)
    seed_deployments: int = 3  # deployments (and their blueprints) present at start
    create_seconds: float = 3.0  # snapshot creation time
    restore_seconds: float = 6.0
    restore_outage_seconds: float = 2.0  # REST unavailable during a legacy restore
    reboot_outage_seconds: float = 6.0  # restore_certificates without no_reboot
    snapshot_status_linger_seconds: float = 1.0  # /snapshot-status still "running" after the end
    workflow_seconds: float = 2.0  # ordinary executions: pending -> started -> terminated
    archive_size: int = 0  # pad new snapshot archives to about this many bytes
    range_downloads: bool = True  # archive downloads honour `Range: bytes=N-` (206), as nginx does
    # how a legacy restore's outage looks: None = nginx's 502 page ("refuse" with
    # COMPAT_OUTAGE_REFUSE); "refuse" | "502" | "503" force one. A reboot always refuses.
    outage_mode: str | None = None
    # the bootstrap admin's username (user id 0; manager.security.admin_username at install):
    # only it may run a legacy restore (snapshot_restore.py SnapshotRestoreValidator). None:
    # `username`
    bootstrap_admin: str | None = None
    # "premium" or "community" (GET /version); community has no GET /users, so a new-format
    # snapshot's dump fails at once (404 missing_premium_package_error)
    edition: str = "premium"

    @classmethod
    def field_names(cls) -> set[str]:
        return {f.name for f in fields(cls)}
