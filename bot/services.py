"""The composition root's product: every long-lived object, built once and passed around.

No module-level singletons anywhere: whoever needs the store, a client or the runner gets this.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.archive_store import ArchiveStore
from bot.clock import Clock
from bot.cloudify.client import CloudifyClient, ManagerClients
from bot.config import Settings
from bot.jobs.runner import JobRunner
from bot.metrics import Metrics
from bot.notifier import Notifier
from bot.delivery import OutboxSender
from bot.outbox import Outbox
from bot.store import Store

if TYPE_CHECKING:  # built in bot.bootstrap after Services exists (they take it as an argument)
    from bot.approvals import ApprovalService
    from bot.dispatch import Dispatcher
    from bot.jobs.daily.service import DailyService
    from bot.jobs.restore.service import RestoreService


@dataclass
class Services:
    settings: Settings
    store: Store
    clock: Clock
    notifier: Notifier
    runner: JobRunner
    clients: ManagerClients = field(default_factory=ManagerClients)  # by manager name
    archives: ArchiveStore = None  # type: ignore[assignment]  # set by bot.bootstrap
    metrics: Metrics = None  # type: ignore[assignment]  # set by bot.bootstrap
    outbox: Outbox = None  # type: ignore[assignment]  # every Slack message, durable
    sender: OutboxSender | None = None  # delivers the outbox (None: a terminal that only echoes)
    dispatcher: "Dispatcher" = None  # type: ignore[assignment]
    approvals: "ApprovalService" = None  # type: ignore[assignment]
    restores: "RestoreService" = None  # type: ignore[assignment]
    daily: "DailyService" = None  # type: ignore[assignment]

    def client(self, manager: str | None) -> CloudifyClient:
        return self.clients[self.settings.manager(manager).name]
