"""The composition root's product: every long-lived object, built once and passed around.

No module-level singletons anywhere: whoever needs the store, a client or the runner gets this.
"""
from __future__ import annotations

from dataclasses import dataclass

from bot.approvals import ApprovalService
from bot.archive_store import ArchiveStore
from bot.clicks import Buttons
from bot.clock import Clock
from bot.cloudify.client import CloudifyClient, ManagerClients
from bot.config.settings import Settings
from bot.delivery import OutboxSender
from bot.dispatch import Dispatcher
from bot.jobs.daily.service import DailyService
from bot.jobs.drill.service import DrillService
from bot.jobs.restore.service import RestoreService
from bot.jobs.runner import JobRunner
from bot.metrics import Metrics
from bot.notifier import Notifier
from bot.outbox import Outbox
from bot.posture import Posture
from bot.store import Store


@dataclass(frozen=True)
class Services:
    """Built last, by bot.bootstrap.build_services, from collaborators built before it."""

    settings: Settings
    store: Store
    clock: Clock
    notifier: Notifier
    runner: JobRunner
    clients: ManagerClients  # by manager name
    archives: ArchiveStore
    metrics: Metrics
    outbox: Outbox  # every Slack message, durable
    sender: OutboxSender | None  # delivers the outbox (None: a terminal that only echoes)
    approvals: ApprovalService
    restores: RestoreService
    daily: DailyService
    dispatcher: Dispatcher
    buttons: Buttons  # every button, authorized as the command it stands for
    drills: DrillService  # restore drills onto scratch managers, and their schedule
    posture: Posture  # /cfy status, the App Home tab, the staleness watch

    def client(self, manager: str | None) -> CloudifyClient:
        return self.clients[self.settings.manager(manager).name]
