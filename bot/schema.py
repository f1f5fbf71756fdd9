"""The database's schema: every migration, in one ordered list, and the store opened on it.

Each table's schema is kept by the module that owns the table and runs its SQL, beside that SQL:
jobs, transitions, approvals and daily runs by the store (`bot.store`), the outbox and its
delivery lease by `bot.outbox`, the audit log by `bot.audit`, the daily schedule by
`bot.jobs.daily.service`. This list numbers them: a version is applied once, in order, in one
transaction with its record in the `migrations` table. Append only; a released step never
changes (tests/test_schema.py holds the schema each version made).
"""
from __future__ import annotations

from pathlib import Path

from bot.audit import AuditLog
from bot.clock import Clock
from bot.jobs.daily.service import DailyService
from bot.outbox import Outbox
from bot.store import Migration, Store

MIGRATIONS: tuple[Migration, ...] = (
    (1, (Store.jobs_schema_v1, Store.daily_runs_schema_v1)),
    (2, (Outbox.schema_v2,)),
    (3, (AuditLog.schema_v3,)),
    (4, (DailyService.schedule_schema_v4,)),
)


def open_store(path: str | Path, clock: Clock) -> Store:
    """The store on the SQLite file at `path`, migrated to the latest version."""
    store = Store(path, clock)
    try:
        store.migrate(MIGRATIONS)
    except BaseException:
        store.close()
        raise
    return store
