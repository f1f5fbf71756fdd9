"""The composition root's product: every long-lived object, built once and passed around.

No module-level singletons anywhere: whoever needs the store, a client or the runner gets this.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.clock import Clock
from bot.cloudify.client import CloudifyClient
from bot.config import Settings
from bot.jobs.runner import JobRunner
from bot.notifier import Notifier
from bot.store import Store


@dataclass
class Services:
    settings: Settings
    store: Store
    clock: Clock
    notifier: Notifier
    runner: JobRunner
    clients: dict[str, CloudifyClient] = field(default_factory=dict)  # by manager name
    dispatcher: Any = None  # bot.dispatch.Dispatcher
    approvals: Any = None  # bot.approvals.ApprovalService
    restores: Any = None  # bot.jobs.restore.RestoreService
    daily: Any = None  # bot.jobs.daily.DailyService
    extra: dict[str, Any] = field(default_factory=dict)

    def client(self, manager: str | None) -> CloudifyClient:
        return self.clients[self.settings.manager(manager).name]
