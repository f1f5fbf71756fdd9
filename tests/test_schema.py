"""The database's schema (bot.schema): each table's migration steps live beside the SQL of the
module that owns the table, and one ordered list numbers them. A new database, and an existing
one at any released version, end with the schema the released migrations made, and a version
already applied is never run again.

`RELEASED` is the schema each released migration added, as SQLite recorded it (`sqlite_master`)
on a database made by the single migration list these steps came from. It never changes: a new
migration appends a version here and in bot.schema.MIGRATIONS.
"""
from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlite_utils

from bot.schema import MIGRATIONS, open_store
from tests.fakes import FakeClock
from tests.test_layers import TABLE_OWNERS

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
OLD = "2026-01-01T00:00:00Z"

RELEASED: dict[int, tuple[str, ...]] = {
    0: (
        """CREATE TABLE "migrations" (
   "version" INTEGER PRIMARY KEY,
   "applied_at" TEXT
)""",
    ),
    1: (
        """CREATE TABLE "jobs" (
   "id" TEXT PRIMARY KEY,
   "kind" TEXT NOT NULL,
   "manager" TEXT NOT NULL,
   "state" TEXT NOT NULL,
   "params" TEXT,
   "requester" TEXT,
   "channel" TEXT,
   "message_ts" TEXT,
   "thread_ts" TEXT,
   "idem_key" TEXT,
   "created_at" TEXT,
   "updated_at" TEXT,
   "error" TEXT,
   "result" TEXT,
   "finished" INTEGER
)""",
        """CREATE UNIQUE INDEX "idx_jobs_idem_key"
    ON "jobs" ("idem_key")""",
        """CREATE INDEX "idx_jobs_manager_finished"
    ON "jobs" ("manager", "finished")""",
        """CREATE TABLE "transitions" (
   "job_id" TEXT REFERENCES "jobs"("id"),
   "seq" INTEGER,
   "from_state" TEXT,
   "to_state" TEXT,
   "at" TEXT,
   "actor" TEXT,
   "detail" TEXT,
   PRIMARY KEY ("job_id", "seq")
)""",
        """CREATE TABLE "approvals" (
   "job_id" TEXT REFERENCES "jobs"("id"),
   "user" TEXT,
   "decision" TEXT,
   "at" TEXT,
   PRIMARY KEY ("job_id", "user")
)""",
        """CREATE TABLE "daily_runs" (
   "manager" TEXT,
   "slot" TEXT,
   "job_id" TEXT,
   "status" TEXT,
   "snapshot_id" TEXT,
   "size" INTEGER,
   "duration_s" REAL,
   "archive_path" TEXT,
   "sha256" TEXT,
   "detail" TEXT,
   "started_at" TEXT,
   "ended_at" TEXT,
   PRIMARY KEY ("manager", "slot")
)""",
    ),
    2: (
        """CREATE TABLE "outbox" (
   "id" INTEGER PRIMARY KEY,
   "key" TEXT,
   "lane" TEXT NOT NULL,
   "kind" TEXT NOT NULL,
   "job_id" TEXT,
   "channel" TEXT,
   "user" TEXT,
   "version" INTEGER,
   "message" TEXT NOT NULL,
   "status" TEXT NOT NULL,
   "attempts" INTEGER,
   "last_error" TEXT,
   "origin" TEXT,
   "created_at" TEXT,
   "sent_at" TEXT,
   "ts" TEXT
)""",
        """CREATE UNIQUE INDEX "idx_outbox_key"
    ON "outbox" ("key")""",
        """CREATE INDEX "idx_outbox_status_lane_id"
    ON "outbox" ("status", "lane", "id")""",
        """CREATE TABLE "outbox_lease" (
   "name" TEXT PRIMARY KEY,
   "owner" TEXT,
   "expires_at" REAL
)""",
    ),
    3: (
        """CREATE TABLE "audit" (
   "id" INTEGER PRIMARY KEY,
   "at" TEXT NOT NULL,
   "user" TEXT NOT NULL,
   "source" TEXT,
   "channel" TEXT,
   "what" TEXT NOT NULL,
   "outcome" TEXT NOT NULL,
   "detail" TEXT
)""",
        """CREATE INDEX "idx_audit_at"
    ON "audit" ("at")""",
        """CREATE INDEX "idx_audit_user_at"
    ON "audit" ("user", "at")""",
    ),
    4: (
        """CREATE TABLE "daily_schedule" (
   "manager" TEXT PRIMARY KEY,
   "cron" TEXT,
   "timezone" TEXT,
   "since" TEXT
)""",
    ),
}
LATEST = max(RELEASED)


def schema(db: sqlite_utils.Database) -> set[tuple[str, str, str, str | None]]:
    """Every table and index: (type, name, table, its CREATE statement)."""
    return set(db.execute("select type, name, tbl_name, sql from sqlite_master").fetchall())


def released_database(path: Path, version: int) -> sqlite_utils.Database:
    """A database as the released migrations left it at `version` (0: only the migrations
    table), built from their recorded statements, with a job row that must survive."""
    db = sqlite_utils.Database(path)
    for v in range(version + 1):
        for sql in RELEASED[v]:
            db.execute(sql)
        if v:
            db.execute("insert into migrations (version, applied_at) values (?, ?)", [v, OLD])
    if version >= 1:
        db.execute("insert into jobs (id, kind, manager, state, params, finished)"
                   " values ('j-abcdef', 'snapshot_create', 'default', 'done', '{}', 1)")
    db.conn.commit()
    return db


def released_schema(tmp_path: Path) -> set[tuple[str, str, str, str | None]]:
    db = released_database(tmp_path / "released.db", LATEST)
    try:
        return schema(db)
    finally:
        db.conn.close()


def test_the_registry_numbers_the_released_versions_in_order():
    versions = [v for v, _ in MIGRATIONS]
    assert versions == sorted(versions) == list(range(1, LATEST + 1))
    assert all(steps for _, steps in MIGRATIONS)


def test_a_new_database_has_the_released_schema(tmp_path):
    store = open_store(tmp_path / "new.db", FakeClock(NOW))
    try:
        assert schema(store.db) == released_schema(tmp_path)
        # every table has its one owner (tests/test_layers.py holds the others to that)
        assert {t for (kind, _, t, _) in schema(store.db) if kind == "table"} == set(TABLE_OWNERS)
        assert [r["version"] for r in store.db.query("select version from migrations order by version")] \
            == list(range(1, LATEST + 1))
    finally:
        store.close()


@pytest.mark.parametrize("version", range(LATEST + 1))
def test_an_existing_database_at_any_version_migrates_to_the_released_schema(tmp_path, version):
    """The versions it has keep their record (not run again), the others are applied, its rows
    stay, and opening it once more changes nothing."""
    released_database(tmp_path / "old.db", version).conn.close()
    expected = released_schema(tmp_path)
    for _ in range(2):
        store = open_store(tmp_path / "old.db", FakeClock(NOW))
        try:
            assert schema(store.db) == expected
            applied = {r["version"]: r["applied_at"] for r in store.db.query("select * from migrations")}
            assert sorted(applied) == list(range(1, LATEST + 1))
            assert all(applied[v] == OLD for v in range(1, version + 1))
            assert all(applied[v] != OLD for v in range(version + 1, LATEST + 1))
            if version >= 1:
                assert store.get_job("j-abcdef").state == "done"
        finally:
            store.close()


@pytest.mark.parametrize("version", range(1, LATEST + 1))
def test_each_versions_steps_add_exactly_what_that_version_released(tmp_path, version):
    db = released_database(tmp_path / "step.db", version - 1)
    try:
        before = {sql for (_, _, _, sql) in schema(db) if sql}
        (steps,) = [s for v, s in MIGRATIONS if v == version]
        for step in steps:
            step(db)
        added = {sql for (_, _, _, sql) in schema(db) if sql} - before
        assert added == set(RELEASED[version])
    finally:
        db.conn.close()
