"""Approvals: who may approve a job, N-of-M, TTL expiry, exactly-once decisions. (stub, in progress)"""
from __future__ import annotations

from typing import Any


class ApprovalService:
    def __init__(self, services: Any) -> None:
        self.services = services

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


def install(services: Any) -> ApprovalService:
    """Create the approval service and set `services.approvals`."""
    services.approvals = ApprovalService(services)
    return services.approvals
