"""What the store keeps: its records (jobs, their transitions, approvals, daily runs), the
schema migrations, and the conversions between rows and records. (The audit log's record is
`bot.audit_entry.AuditEntry`.)"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlite_utils

from bot.clock import iso, parse_time, required_time


@dataclass(frozen=True)
class Job:
    id: str
    kind: str  # restore | snapshot_create | snapshot_download | ... | daily
    manager: str
    state: str
    params: dict[str, Any] = field(default_factory=dict)
    requester: str = ""
    channel: str = ""
    message_ts: str | None = None  # the status message updated in place
    thread_ts: str | None = None
    idem_key: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    error: str = ""
    result: dict[str, Any] = field(default_factory=dict)
    finished: bool = False


@dataclass(frozen=True)
class Transition:
    job_id: str
    seq: int
    from_state: str
    to_state: str
    at: datetime
    actor: str
    detail: str


@dataclass(frozen=True)
class Approval:
    job_id: str
    user: str
    decision: str  # approve | reject
    at: datetime


@dataclass(frozen=True)
class RunRecord:
    """One row of `daily_runs`."""
    manager: str
    slot: datetime
    status: str  # queued | running | ok | failed | missed
    job_id: str = ""
    snapshot_id: str = ""
    size: int | None = None
    duration_s: float | None = None
    archive_path: str = ""
    sha256: str = ""
    detail: dict[str, Any] = field(default_factory=dict)
    started_at: datetime | None = None
    ended_at: datetime | None = None


def _m1(db: sqlite_utils.Database) -> None:
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
    # Daily snapshot runs: one row per manager per scheduled slot. The unique key is the lock
    # that keeps two instances from running the same day's job twice.
    db.table("daily_runs").create({
        "manager": str, "slot": str, "job_id": str, "status": str, "snapshot_id": str,
        "size": int, "duration_s": float, "archive_path": str, "sha256": str, "detail": str,
        "started_at": str, "ended_at": str,
    }, pk=("manager", "slot"), if_not_exists=True)


def _m2(db: sqlite_utils.Database) -> None:
    # The outbox (bot.outbox): every Slack message snapbot means to send, written in the same
    # transaction as the change that causes it. `lane` orders delivery (one card and its thread
    # per lane); `key` makes enqueueing the same message twice a no-op.
    db.table("outbox").create({
        "id": int, "key": str, "lane": str, "kind": str, "job_id": str, "channel": str,
        "user": str, "version": int, "message": str, "status": str, "attempts": int,
        "last_error": str, "origin": str, "created_at": str, "sent_at": str, "ts": str,
    }, pk="id", not_null={"lane", "kind", "message", "status"}, if_not_exists=True)
    db.table("outbox").create_index(["key"], unique=True, if_not_exists=True)
    db.table("outbox").create_index(["status", "lane", "id"], if_not_exists=True)
    # Who delivers: one process at a time holds the lease (renewed while it runs).
    db.table("outbox_lease").create({"name": str, "owner": str, "expires_at": float}, pk="name",
                              if_not_exists=True)


def _m3(db: sqlite_utils.Database) -> None:
    # The audit log (bot.audit): every command and click, who, where, what, outcome. Read
    # newest first, by time or by one user's time.
    db.table("audit").create({"id": int, "at": str, "user": str, "source": str, "channel": str,
                        "what": str, "outcome": str, "detail": str},
                       pk="id", not_null={"at", "user", "what", "outcome"}, if_not_exists=True)
    db.table("audit").create_index(["at"], if_not_exists=True)
    db.table("audit").create_index(["user", "at"], if_not_exists=True)


def _m4(db: sqlite_utils.Database) -> None:
    # Since when snapbot has scheduled each manager's daily run on its cron and zone: a slot
    # before that is not one snapbot missed (bot.jobs.daily.service catch-up).
    db.table("daily_schedule").create({"manager": str, "cron": str, "timezone": str, "since": str},
                                pk="manager", if_not_exists=True)


#: Numbered, idempotent migrations. Append only; never edit a released one.
MIGRATIONS: list[tuple[int, Callable[[sqlite_utils.Database], None]]] = [(1, _m1), (2, _m2),
                                                                          (3, _m3), (4, _m4)]


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def job_from_row(r: dict[str, Any]) -> Job:
    return Job(id=r["id"], kind=r["kind"], manager=r["manager"], state=r["state"],
               params=json.loads(r["params"] or "{}"), requester=r["requester"] or "",
               channel=r["channel"] or "", message_ts=r["message_ts"], thread_ts=r["thread_ts"],
               idem_key=r["idem_key"], created_at=parse_time(r["created_at"]),
               updated_at=parse_time(r["updated_at"]), error=r["error"] or "",
               result=json.loads(r["result"] or "{}"), finished=bool(r["finished"]))


RUN_FIELDS = ("job_id", "status", "snapshot_id", "size", "duration_s", "archive_path", "sha256",
              "detail", "started_at", "ended_at")


def run_values(values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in values.items():
        if k not in RUN_FIELDS:
            raise ValueError(f"daily_runs has no column {k}")
        if isinstance(v, datetime):
            v = iso(v)
        elif k == "detail" and not isinstance(v, str):
            v = dumps(v)
        out[k] = v
    return out


def run_from_row(r: dict[str, Any]) -> RunRecord:
    try:
        detail = json.loads(r["detail"]) if r.get("detail") else {}
    except ValueError:
        detail = {"text": r["detail"]}
    slot = required_time(r["slot"])
    return RunRecord(manager=r["manager"], slot=slot, status=r["status"] or "",
                     job_id=r["job_id"] or "", snapshot_id=r["snapshot_id"] or "", size=r["size"],
                     duration_s=r["duration_s"], archive_path=r["archive_path"] or "",
                     sha256=r["sha256"] or "", detail=detail if isinstance(detail, dict) else {},
                     started_at=parse_time(r["started_at"]), ended_at=parse_time(r["ended_at"]))
