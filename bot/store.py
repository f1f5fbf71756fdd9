"""SQLite persistence (sqlite-utils): jobs, their transitions, approvals, daily runs.

One `Store` owns one connection, its transactions and the migration runner; its own tables
(jobs, transitions, approvals, daily_runs, migrations) are named in SQL here only, beside their
schema. The outbox and its lease (`bot.outbox`), the audit log (`bot.audit`) and the daily
schedule (`bot.jobs.daily.service`) keep their own SQL and schema the same way; `bot.schema`
lists every migration in order and opens a migrated store. Every state change is a
compare-and-swap inside a transaction, which is what makes a double click, two approvers or a
Slack retry start exactly one restore.
"""
from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import sqlite_utils

from bot.clock import Clock, iso, parse_time, required_time
from bot.errors import JobConflict, JobNotFound, StaleState
from bot.store_rows import Approval, Job, RunRecord, Transition, dumps, job_from_row, run_from_row, run_values

#: one schema step: creates or changes tables, run inside its migration's transaction
MigrationStep = Callable[[sqlite_utils.Database], None]
#: a numbered migration: its version and its steps, in order
Migration = tuple[int, Sequence[MigrationStep]]


class Store:
    """The only owner of the SQLite connection. Methods are synchronous and short; async code
    calls them directly from the event loop thread (SQLite work here is sub-millisecond).
    `bot.schema.open_store` opens one and migrates the database (the constructor does not)."""

    def __init__(self, path: str | Path, clock: Clock) -> None:
        self.path = str(path)
        self.clock = clock
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA busy_timeout=5000")
        conn.execute("PRAGMA foreign_keys=ON")
        self.db = sqlite_utils.Database(conn)
        #: Why the last write failed (read-only or full database, I/O error), None once a write
        #: succeeds again. /healthz answers 503 with it.
        self.write_error: str | None = None

    def close(self) -> None:
        self.db.conn.close()

    # -- migrations -------------------------------------------------------------------------
    def migrate(self, migrations: Sequence[Migration]) -> None:
        """Apply each migration not yet recorded in `migrations`, in version order, each in one
        transaction with its record (`bot.schema.MIGRATIONS` is the database's list)."""
        self.db.table("migrations").create({"version": int, "applied_at": str}, pk="version",
                                     if_not_exists=True)
        done = {r["version"] for r in self.db.table("migrations").rows}
        for version, steps in sorted(migrations, key=lambda m: m[0]):
            if version in done:
                continue
            with self.transaction():
                for step in steps:
                    step(self.db)
                self.db.table("migrations").insert({"version": version, "applied_at": iso(self.clock.now())},
                                             replace=True)

    # -- schema of the store's tables (registered in bot.schema; released steps never change) --
    @staticmethod
    def jobs_schema_v1(db: sqlite_utils.Database) -> None:
        """Migration 1: jobs, their transitions and approvals."""
        db.table("jobs").create({
            "id": str, "kind": str, "manager": str, "state": str, "params": str, "requester": str,
            "channel": str, "message_ts": str, "thread_ts": str, "idem_key": str, "created_at": str,
            "updated_at": str, "error": str, "result": str, "finished": int,
        }, pk="id", not_null={"kind", "manager", "state"}, if_not_exists=True)
        db.table("jobs").create_index(["idem_key"], unique=True, if_not_exists=True)
        db.table("jobs").create_index(["manager", "finished"], if_not_exists=True)
        db.table("transitions").create({
            "job_id": str, "seq": int, "from_state": str, "to_state": str, "at": str, "actor": str,
            "detail": str,
        }, pk=("job_id", "seq"), foreign_keys=[("job_id", "jobs", "id")], if_not_exists=True)
        db.table("approvals").create({"job_id": str, "user": str, "decision": str, "at": str},
                                     pk=("job_id", "user"), foreign_keys=[("job_id", "jobs", "id")],
                                     if_not_exists=True)

    @staticmethod
    def daily_runs_schema_v1(db: sqlite_utils.Database) -> None:
        """Migration 1: daily snapshot runs, one row per manager per scheduled slot. The unique
        key is the lock that keeps two instances from running the same day's job twice."""
        db.table("daily_runs").create({
            "manager": str, "slot": str, "job_id": str, "status": str, "snapshot_id": str,
            "size": int, "duration_s": float, "archive_path": str, "sha256": str, "detail": str,
            "started_at": str, "ended_at": str,
        }, pk=("manager", "slot"), if_not_exists=True)

    def _tx(self) -> _Transaction:
        return _Transaction(self.db.conn, self)

    def transaction(self) -> _Transaction:
        """`with store.transaction():` groups several writes (a state change and the messages
        it causes) into one SQLite transaction (BEGIN IMMEDIATE). Nesting joins the outer one."""
        return self._tx()

    def probe_write(self) -> bool:
        """Does the database take a write now? (A real one, in the store's own table: the
        latest migration's row rewritten as it is.)"""
        try:
            with self._tx():
                self.db.execute("update migrations set applied_at = applied_at"
                                " where version = (select max(version) from migrations)")
        except sqlite3.Error:
            return False
        return True

    def _write_failed(self, exc: BaseException) -> None:
        if isinstance(exc, sqlite3.OperationalError) and not _busy(exc):
            self.write_error = f"database not writable: {exc}"

    def _write_ok(self) -> None:
        self.write_error = None

    # -- jobs -------------------------------------------------------------------------------
    def new_job_id(self, kind: str) -> str:
        prefix = {"restore": "r", "daily": "d", "drill": "k"}.get(kind, "j")
        return f"{prefix}-{secrets.token_hex(3)}"

    def create_job(self, kind: str, manager: str, state: str, *, params: dict[str, Any] | None = None,
                   requester: str = "", channel: str = "", idem_key: str | None = None,
                   actor: str = "", detail: str = "") -> Job:
        """Insert a job and its first transition ('' -> state). A duplicate `idem_key` raises
        JobConflict naming the existing job (use `create_job_once` to get that job instead)."""
        job, created = self.create_job_once(kind, manager, state, params=params, requester=requester,
                                            channel=channel, idem_key=idem_key, actor=actor,
                                            detail=detail)
        if not created:
            raise JobConflict(f"this request was already received as job {job.id}")
        return job

    def create_job_once(self, kind: str, manager: str, state: str, *,
                        params: dict[str, Any] | None = None, requester: str = "", channel: str = "",
                        idem_key: str | None = None, actor: str = "",
                        detail: str = "") -> tuple[Job, bool]:
        """The job of `idem_key`, created now if there is none: `(job, True)` when this call
        created it, `(existing, False)` when the same request was already received (also when
        another process inserted it a moment ago)."""
        if idem_key:
            existing = self.find_by_idem_key(idem_key)
            if existing is not None:
                return existing, False
        now = iso(self.clock.now())
        job_id = self.new_job_id(kind)
        try:
            with self.transaction():
                self.db.table("jobs").insert({
                    "id": job_id, "kind": kind, "manager": manager, "state": state,
                    "params": dumps(params or {}), "requester": requester, "channel": channel,
                    "message_ts": None, "thread_ts": None, "idem_key": idem_key, "created_at": now,
                    "updated_at": now, "error": "", "result": "{}", "finished": 0,
                })
                self.db.table("transitions").insert({"job_id": job_id, "seq": 1, "from_state": "",
                                               "to_state": state, "at": now,
                                               "actor": actor or requester, "detail": detail})
        except sqlite3.IntegrityError:
            existing = self.find_by_idem_key(idem_key) if idem_key else None
            if existing is None:
                raise
            return existing, False
        return self.get_job(job_id), True

    def get_job(self, job_id: str) -> Job:
        rows = list(self.db.query("select * from jobs where id = ?", [job_id]))
        if not rows:
            raise JobNotFound(f"no job {job_id!r}")
        return job_from_row(rows[0])

    def find_by_idem_key(self, idem_key: str) -> Job | None:
        rows = list(self.db.query("select * from jobs where idem_key = ?", [idem_key]))
        return job_from_row(rows[0]) if rows else None

    def list_jobs(self, *, unfinished: bool | None = None, manager: str | None = None,
                  kind: str | None = None, limit: int = 50) -> list[Job]:
        where: list[str] = []
        args: list[str | int] = []
        if unfinished is not None:
            where.append("finished = ?")
            args.append(0 if unfinished else 1)
        if manager is not None:
            where.append("manager = ?")
            args.append(manager)
        if kind is not None:
            where.append("kind = ?")
            args.append(kind)
        sql = "select * from jobs" + (" where " + " and ".join(where) if where else "")
        sql += " order by created_at desc, rowid desc limit ?"
        return [job_from_row(r) for r in self.db.query(sql, [*args, limit])]

    def transition(self, job_id: str, expected: str, target: str, *, actor: str = "snapbot",
                   detail: str = "", finished: bool = False, error: str | None = None,
                   result: dict[str, Any] | None = None) -> Job:
        """Compare-and-swap the job's state from `expected` to `target` and log the transition,
        in one transaction. Raises StaleState if the job is no longer in `expected`.
        Callers validate `target` against their machine's table first."""
        now = iso(self.clock.now())
        with self.transaction():
            cur = self.db.execute(
                "update jobs set state = ?, updated_at = ?, finished = ?,"
                " error = coalesce(?, error), result = coalesce(?, result)"
                " where id = ? and state = ?",
                [target, now, 1 if finished else 0, error,
                 dumps(result) if result is not None else None, job_id, expected])
            if cur.rowcount != 1:
                current = self._current_state(job_id)
                raise StaleState("job " + job_id, current, target)
            seq = self.db.execute("select coalesce(max(seq), 0) + 1 from transitions where job_id = ?",
                                  [job_id]).fetchone()[0]
            self.db.table("transitions").insert({"job_id": job_id, "seq": seq, "from_state": expected,
                                           "to_state": target, "at": now, "actor": actor,
                                           "detail": detail})
        return self.get_job(job_id)

    def _current_state(self, job_id: str) -> str:
        row = self.db.execute("select state from jobs where id = ?", [job_id]).fetchone()
        if row is None:
            raise JobNotFound(f"no job {job_id!r}")
        return str(row[0])

    def update_job(self, job_id: str, *, message_ts: str | None = None, thread_ts: str | None = None,
                   channel: str | None = None, result: dict[str, Any] | None = None,
                   params: dict[str, Any] | None = None) -> Job:
        """Record Slack message refs and accumulated results (not state: use `transition`)."""
        changes: dict[str, Any] = {"updated_at": iso(self.clock.now())}
        if message_ts is not None:
            changes["message_ts"] = message_ts
        if thread_ts is not None:
            changes["thread_ts"] = thread_ts
        if channel is not None:
            changes["channel"] = channel
        if result is not None:
            changes["result"] = dumps(result)
        if params is not None:
            changes["params"] = dumps(params)
        with self.transaction():
            self.db.table("jobs").update(job_id, changes)
        return self.get_job(job_id)

    def merge_result(self, job_id: str, **values: Any) -> Job:
        """Add keys to the job's result. Read and write happen in one transaction, so another
        process sharing the database (the terminal, the app) never loses its update."""
        with self._tx():
            row = self.db.execute("select result from jobs where id = ?", [job_id]).fetchone()
            if row is None:
                raise JobNotFound(f"no job {job_id!r}")
            merged = {**json.loads(row[0] or "{}"), **values}
            self.db.execute("update jobs set result = ?, updated_at = ? where id = ?",
                            [dumps(merged), iso(self.clock.now()), job_id])
        return self.get_job(job_id)

    def version(self, job_id: str) -> int:
        """The job's state version: how many transitions it has made (a card rendered at
        version n never replaces one rendered at n+1)."""
        row = self.db.execute("select coalesce(max(seq), 0) from transitions where job_id = ?",
                              [job_id]).fetchone()
        return int(row[0])

    def transitions(self, job_id: str) -> list[Transition]:
        return [Transition(job_id=r["job_id"], seq=r["seq"], from_state=r["from_state"],
                           to_state=r["to_state"], at=required_time(r["at"]), actor=r["actor"] or "",
                           detail=r["detail"] or "")
                for r in self.db.query("select * from transitions where job_id = ? order by seq",
                                       [job_id])]

    # -- approvals --------------------------------------------------------------------------
    def record_approval(self, job_id: str, user: str, decision: str, *,
                        approved_by: str | None = None) -> bool:
        """Record a user's decision once. Returns False if that user already decided. With
        `approved_by` (a decision value), the job's result key `approved_by` is set to the users
        who made that decision, in the same transaction (two approvers at once both count)."""
        try:
            with self.transaction():
                self.db.table("approvals").insert({"job_id": job_id, "user": user, "decision": decision,
                                             "at": iso(self.clock.now())})
                if approved_by is not None:
                    users = [r[0] for r in self.db.execute(
                        "select user from approvals where job_id = ? and decision = ? order by at, rowid",
                        [job_id, approved_by])]
                    self.merge_result(job_id, approved_by=users)
        except sqlite3.IntegrityError:
            return False
        return True

    def approvals(self, job_id: str) -> list[Approval]:
        return [Approval(job_id=r["job_id"], user=r["user"], decision=r["decision"],
                         at=required_time(r["at"]))
                for r in self.db.query("select * from approvals where job_id = ? order by at",
                                       [job_id])]


    # -- daily runs -------------------------------------------------------------------------
    def claim_daily_run(self, manager: str, slot: datetime, **values: Any) -> bool:
        """Insert the (manager, slot) row; False if it exists already (someone has the slot)."""
        try:
            self.db.table("daily_runs").insert({"manager": manager, "slot": iso(slot),
                                          **run_values(values)})
        except sqlite3.IntegrityError:
            return False
        return True

    def update_daily_run(self, manager: str, slot: datetime, **values: Any) -> None:
        try:
            self.db.table("daily_runs").update((manager, iso(slot)), run_values(values))
        except sqlite_utils.db.NotFoundError:
            pass

    def daily_run(self, manager: str, slot: datetime) -> RunRecord | None:
        try:
            return run_from_row(self.db.table("daily_runs").get((manager, iso(slot))))
        except sqlite_utils.db.NotFoundError:
            return None

    def daily_runs(self, manager: str, *, since: datetime | None = None,
                   limit: int = 100) -> list[RunRecord]:
        """The manager's runs, newest first."""
        where, args = "manager = ?", [manager]
        if since is not None:
            where += " and slot >= ?"
            args.append(iso(since))
        rows = self.db.table("daily_runs").rows_where(where, args, order_by="slot desc", limit=limit)
        return [run_from_row(r) for r in rows]


    # -- figures (metrics) ------------------------------------------------------------------
    def last_daily_runs(self, status: str = "ok") -> list[RunRecord]:
        """Each manager's latest finished run with `status`."""
        rows = self.db.query("select * from daily_runs d where status = ? and ended_at is not null"
                             " and ended_at = (select max(ended_at) from daily_runs e where"
                             " e.manager = d.manager and e.status = d.status)", [status])
        return [run_from_row(r) for r in rows]

    def daily_run_counts(self, statuses: tuple[str, ...]) -> dict[tuple[str, str], int]:
        """(manager, status) -> how many runs ended that way."""
        marks = ",".join("?" for _ in statuses)
        rows = self.db.query(f"select manager, status, count(*) as n from daily_runs"
                             f" where status in ({marks}) group by manager, status", list(statuses))
        return {(r["manager"], r["status"]): r["n"] for r in rows}

    def finished_job_counts(self) -> dict[tuple[str, str], int]:
        """(kind, final state) -> how many jobs ended there. A drill's restore of a scratch
        manager counts as `drill_restore`: its outcome is the drill's, not a real restore's."""
        rows = self.db.query("select case when kind = 'restore' and json_extract(params,"
                             " '$.parent_job') is not null then 'drill_restore' else kind end"
                             " as kind, state, count(*) as n from jobs where finished = 1"
                             " group by 1, state")
        return {(r["kind"], r["state"]): r["n"] for r in rows}

    def restore_spans(self) -> list[tuple[datetime, datetime]]:
        """(left `approved`, ended) of every finished restore that started (a drill's restore
        of a scratch manager is the drill's RTO, not counted here)."""
        rows = self.db.query(
            "select j.updated_at as ended, min(t.at) as started from jobs j join transitions t"
            " on t.job_id = j.id and t.from_state = 'approved'"
            " where j.kind = 'restore' and j.finished = 1"
            " and json_extract(j.params, '$.parent_job') is null group by j.id")
        spans = []
        for r in rows:
            started, ended = parse_time(r["started"]), parse_time(r["ended"])
            if started is not None and ended is not None:
                spans.append((started, ended))
        return spans


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT/ROLLBACK on an autocommit connection (nesting-safe). Records
    on the store whether writing works (Store.write_error)."""

    def __init__(self, conn: sqlite3.Connection, store: Store | None = None) -> None:
        self.conn = conn
        self.store = store
        self.outer = False

    def __enter__(self) -> Self:
        if not self.conn.in_transaction:
            try:
                self.conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                if self.store is not None:
                    self.store._write_failed(exc)
                raise
            self.outer = True
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if not self.outer:
            return
        if exc_type is None:
            try:
                self.conn.execute("COMMIT")
            except sqlite3.Error as exc2:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                if self.store is not None:
                    self.store._write_failed(exc2)
                raise
            if self.store is not None:
                self.store._write_ok()
        else:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            if self.store is not None and exc is not None:
                self.store._write_failed(exc)


def _busy(exc: BaseException) -> bool:
    """A lock held by another process (busy_timeout ran out): contention, not a broken store."""
    text = str(exc).lower()
    return "locked" in text or "busy" in text


__all__ = ["Approval", "Job", "Migration", "MigrationStep", "RunRecord", "Store", "Transition"]
