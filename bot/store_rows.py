"""What the store keeps: its records (jobs, their transitions, approvals, daily runs) and the
conversions between rows and records. (The audit log's record is `bot.audit_entry.AuditEntry`;
the tables' schemas are kept by their owners and registered in `bot.schema`.)"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

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
