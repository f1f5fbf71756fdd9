"""Simple one-shot jobs on the SIMPLE machine: queued -> running -> done | failed.

Each driver's `run` is written to be called again after a crash: in `running` it first asks the
manager what already happened (the snapshot exists? maintenance already activated? an execution
already started for that deployment?) before repeating anything. Waiting is polling with backoff
through the injected clock; intervals and timeouts come from `settings.runbook`.

The drivers are those each module of `DRIVER_MODULES` lists in its `DRIVERS`, in the order of
their commands' specs; each takes its kind from its command's spec.
"""
from __future__ import annotations

from collections.abc import Mapping

from bot.archive_store import ArchiveStore
from bot.cloudify.client import CloudifyClient
from bot.commands.registry import COMMANDS
from bot.config.settings import Settings
from bot.jobs import manager_jobs, snapshot_jobs
from bot.jobs.runner import JobRunner
from bot.jobs.simple_base import SimpleDriver

__all__ = ["DRIVER_MODULES", "SIMPLE_DRIVERS", "SIMPLE_KINDS", "SimpleDriver", "register_simple_drivers"]

#: the modules that declare simple drivers (a driver in a new module adds its module here)
DRIVER_MODULES = (snapshot_jobs, manager_jobs)
_DECLARED = tuple(d for module in DRIVER_MODULES for d in module.DRIVERS)
SIMPLE_DRIVERS: tuple[type[SimpleDriver], ...] = tuple(
    d for s in COMMANDS for d in _DECLARED if d.command is s.cls)
SIMPLE_KINDS = tuple(d.kind for d in SIMPLE_DRIVERS)


def register_simple_drivers(runner: JobRunner, clients: Mapping[str, CloudifyClient],
                            settings: Settings, archives: ArchiveStore) -> None:
    for driver in SIMPLE_DRIVERS:
        runner.register(driver(clients, settings, archives))
