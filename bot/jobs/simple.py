"""Simple one-shot jobs on the SIMPLE machine: queued -> running -> done | failed.

Each driver's `run` is written to be called again after a crash: in `running` it first asks the
manager what already happened (the snapshot exists? maintenance already activated? an execution
already started for that deployment?) before repeating anything. Waiting is polling with backoff
through the injected clock; intervals and timeouts come from `settings.runbook`.
"""
from __future__ import annotations

from collections.abc import Mapping

from bot.archive_store import ArchiveStore
from bot.cloudify.client import CloudifyClient
from bot.config import Settings
from bot.jobs.manager_jobs import AgentsInstall, MaintenanceActivate, MaintenanceDeactivate, PluginsUpdate
from bot.jobs.runner import JobRunner
from bot.jobs.simple_base import SimpleDriver
from bot.jobs.snapshot_jobs import SnapshotCreate, SnapshotDelete, SnapshotDownload, SnapshotUpload

__all__ = ["SIMPLE_DRIVERS", "SIMPLE_KINDS", "SimpleDriver", "register_simple_drivers"]


SIMPLE_DRIVERS = (SnapshotCreate, SnapshotDownload, SnapshotUpload, SnapshotDelete,
                  MaintenanceActivate, MaintenanceDeactivate, AgentsInstall, PluginsUpdate)
SIMPLE_KINDS = tuple(d.kind for d in SIMPLE_DRIVERS)


def register_simple_drivers(runner: JobRunner, clients: Mapping[str, CloudifyClient],
                            settings: Settings, archives: ArchiveStore) -> None:
    for driver in SIMPLE_DRIVERS:
        runner.register(driver(clients, settings, archives))
