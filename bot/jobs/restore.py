"""The restore runbook: state machine, RestoreService, driver. (stub, in progress)"""
from __future__ import annotations

from typing import Any


class RestoreService:
    def __init__(self, services: Any) -> None:
        self.services = services


def install(services: Any) -> RestoreService:
    """Register the restore driver and set `services.restores`."""
    services.restores = RestoreService(services)
    return services.restores
