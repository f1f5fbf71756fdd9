"""The `daily_runs` log: one row per (manager, slot); its primary key is the slot's lock."""
from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Any

from bot.clock import iso, parse_time
from bot.messages.daily import RunRecord
from bot.store import Store

RUN_FIELDS = ("job_id", "status", "snapshot_id", "size", "duration_s", "archive_path", "sha256",
              "detail", "started_at", "ended_at")


class RunLog:
    """Access to the `daily_runs` table through the store's connection."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def insert(self, manager: str, slot: datetime, **values: Any) -> bool:
        """Insert the slot's row; False if it exists already (someone else has the slot)."""
        row = {"manager": manager, "slot": iso(slot), **self._encode(values)}
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        try:
            self.store.db.execute(f"insert into daily_runs ({cols}) values ({marks})", list(row.values()))
        except sqlite3.IntegrityError:
            return False
        return True

    def update(self, manager: str, slot: datetime, **values: Any) -> None:
        enc = self._encode(values)
        sets = ", ".join(f"{k} = ?" for k in enc)
        self.store.db.execute(f"update daily_runs set {sets} where manager = ? and slot = ?",
                              [*enc.values(), manager, iso(slot)])

    def get(self, manager: str, slot: datetime) -> RunRecord | None:
        rows = list(self.store.db.query("select * from daily_runs where manager = ? and slot = ?",
                                        [manager, iso(slot)]))
        return _record(rows[0]) if rows else None

    def recent(self, manager: str, *, since: datetime | None = None, limit: int = 100) -> list[RunRecord]:
        """Newest first."""
        sql, args = "select * from daily_runs where manager = ?", [manager]
        if since is not None:
            sql += " and slot >= ?"
            args.append(iso(since))
        sql += " order by slot desc limit ?"
        return [_record(r) for r in self.store.db.query(sql, [*args, limit])]

    @staticmethod
    def _encode(values: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for k, v in values.items():
            if k not in RUN_FIELDS:
                raise ValueError(f"daily_runs has no column {k}")
            if isinstance(v, datetime):
                v = iso(v)
            elif k == "detail" and not isinstance(v, str):
                v = json.dumps(v, sort_keys=True, default=str)
            out[k] = v
        return out


def _record(r: dict[str, Any]) -> RunRecord:
    try:
        detail = json.loads(r["detail"]) if r.get("detail") else {}
    except ValueError:
        detail = {"text": r["detail"]}
    return RunRecord(manager=r["manager"], slot=parse_time(r["slot"]), status=r["status"] or "",
                     job_id=r["job_id"] or "", snapshot_id=r["snapshot_id"] or "", size=r["size"],
                     duration_s=r["duration_s"], archive_path=r["archive_path"] or "",
                     sha256=r["sha256"] or "", detail=detail if isinstance(detail, dict) else {},
                     started_at=parse_time(r["started_at"]), ended_at=parse_time(r["ended_at"]))

