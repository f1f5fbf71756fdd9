"""Daily snapshots kept off the manager (issue 6). STUB: implementation in progress."""
from __future__ import annotations

from typing import Any


class DailyService:
    def __init__(self, services: Any) -> None:
        self.services = services

    async def describe(self, manager: str | None):
        raise NotImplementedError

    async def run_now(self, manager: str | None, inv: Any):
        raise NotImplementedError

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    async def run_once(self, manager: str | None):
        raise NotImplementedError


def install(services: Any) -> DailyService:
    services.daily = DailyService(services)
    return services.daily


def main(argv: list[str] | None = None) -> int:
    print("snapbot daily: not implemented yet")
    return 2
