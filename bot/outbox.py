"""The outbox: every Slack message snapbot means to send, durable in SQLite.

A message is written (`Outbox.card`, `reply`, `post`, `ephemeral`) in the same transaction as the
state change that causes it, so a crash can lose neither: whatever was committed gets delivered,
by this process or the next one that shares the database. One `bot.delivery.OutboxSender`
delivers:

* in order per *lane* (a job's card and its thread replies share one lane, so a reply never
  precedes its card; the daily report follows its job's card);
* a card is one message updated in place: of the card rows waiting in a lane, only the newest is
  sent, and a card rendered at an older state version never replaces a newer one;
* `key` makes a message idempotent: enqueueing the same key twice (a step resumed after a crash)
  sends it once;
* Slack's 429 holds every delivery for its Retry-After, 5xx and unreachable back off
  exponentially (capped), errors that retrying cannot fix (channel_not_found, invalid_blocks, ...)
  mark the row `dead` and are logged loudly;
* one process delivers at a time (a lease row in SQLite, renewed while it runs), so the app and a
  terminal sharing the database never send the same row twice. `snapbot run` holds it; a process
  running alone (`snapbot daily --once` from cron) takes it to deliver its own messages with a
  bounded wait (`deliver_own`), and leaves them queued when the app holds it.

The sender speaks to Slack only through `bot.notifier.Notifier`; the Slack implementation raises
`DeliveryFailed` saying whether and when to retry. `speed` scales every wait (tests run a
60-second Slack outage in a few real seconds).
"""
from __future__ import annotations

import json
import logging
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from bot.clock import iso, parse_time
from bot.errors import SnapbotError
from bot.notifier import Message
from bot.store import Job, Store

log = logging.getLogger(__name__)

PENDING, SENT, SUPERSEDED, DEAD = "pending", "sent", "superseded", "dead"
#: `last_error` of a row while its post is on its way (still there after a crash)
IN_FLIGHT = "in flight"


class DeliveryFailed(SnapbotError):
    """Slack did not take a message. `retry_after`: Slack said when to try again (429);
    `permanent`: retrying cannot help (the row is marked dead)."""

    def __init__(self, message: str, *, retry_after: float | None = None,
                 permanent: bool = False, unknown: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.permanent = permanent
        #: no answer came (timeout, connection lost): Slack may have taken it all the same
        self.unknown = unknown


@dataclass(frozen=True)
class OutboxRow:
    id: int
    key: str | None
    lane: str
    kind: str  # card | reply | post | ephemeral
    job_id: str
    channel: str
    user: str
    version: int
    message: Message
    status: str
    attempts: int
    last_error: str
    origin: str
    created_epoch: float = 0.0

    def describe(self) -> str:
        what = {"card": "card", "reply": "thread reply", "post": "message",
                "ephemeral": "ephemeral message"}.get(self.kind, self.kind)
        named = (self.key or "").split(":", 1)[0]
        what = {"daily-report": "daily report", "overdue-report": "overdue report"}.get(named, what)
        text = str(self.message.get("text") or "")[:60]
        of = f" of job {self.job_id}" if self.job_id else ""
        return f"{what}{of} to {self.channel or '?'} ({text!r})"


def job_lane(job_id: str) -> str:
    return f"job:{job_id}"


class Outbox:
    """Enqueue side. Writes join the caller's transaction (`with store.transaction(): ...`)."""

    def __init__(self, store: Store, *, origin: str | None = None) -> None:
        self.store = store
        #: identifies rows this process wrote (deliver_own): host, pid and a random part
        self.origin = origin or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        #: called with each row this process enqueues (a terminal echoes it; the sender wakes)
        self.listeners: list[Callable[[OutboxRow], None]] = []

    # -- schema (registered in bot.schema; a released step never changes) -----------------------
    @staticmethod
    def schema_v2(db: sqlite_utils.Database) -> None:
        """Migration 2: the outbox, and its delivery lease. A row is written in the same
        transaction as the change that causes it; `lane` orders delivery (one card and its
        thread per lane); `key` makes enqueueing the same message twice a no-op. One process at
        a time holds the lease (renewed while it runs)."""
        db.table("outbox").create({
            "id": int, "key": str, "lane": str, "kind": str, "job_id": str, "channel": str,
            "user": str, "version": int, "message": str, "status": str, "attempts": int,
            "last_error": str, "origin": str, "created_at": str, "sent_at": str, "ts": str,
        }, pk="id", not_null={"lane", "kind", "message", "status"}, if_not_exists=True)
        db.table("outbox").create_index(["key"], unique=True, if_not_exists=True)
        db.table("outbox").create_index(["status", "lane", "id"], if_not_exists=True)
        db.table("outbox_lease").create({"name": str, "owner": str, "expires_at": float}, pk="name",
                                        if_not_exists=True)

    # -- enqueue ------------------------------------------------------------------------------
    def card(self, job: Job, message: Message, *, version: int | None = None) -> int | None:
        """The job's card (posted once, then updated in place) at the job's state version."""
        if not job.channel:
            return None
        v = self.store.version(job.id) if version is None else version
        return self._add(lane=job_lane(job.id), kind="card", job_id=job.id, channel=job.channel,
                         version=v, message=message)

    def reply(self, job: Job, message: Message, *, key: str | None = None) -> int | None:
        """A reply in the job's card thread (the card is posted first: same lane)."""
        if not job.channel:
            return None
        return self._add(lane=job_lane(job.id), kind="reply", job_id=job.id, channel=job.channel,
                         message=message, key=key)

    def post(self, channel: str, message: Message, *, key: str | None = None,
             job_id: str = "") -> int | None:
        """A message of its own in a channel (after the job's card when `job_id` is given)."""
        if not channel:
            return None
        lane = job_lane(job_id) if job_id else f"channel:{channel}"
        return self._add(lane=lane, kind="post", job_id=job_id, channel=channel, message=message,
                         key=key)

    def ephemeral(self, channel: str, user: str, message: Message, *,
                  key: str | None = None) -> int | None:
        return self._add(lane=f"ephemeral:{channel}:{user}", kind="ephemeral", channel=channel,
                         user=user, message=message, key=key)

    def home(self, user: str, view: Message) -> int | None:
        """`user`'s App Home view (views.publish); a newer one replaces any still waiting."""
        lane = f"home:{user}"
        with self.store.transaction():
            self.store.db.execute("update outbox set status = ? where lane = ? and kind = 'home'"
                                  " and status = ?", [SUPERSEDED, lane, PENDING])
            return self._add(lane=lane, kind="home", user=user, message=view)

    def home_users(self) -> list[str]:
        """Everyone whose Home tab snapbot has published (they get it again when it changes)."""
        rows = self.store.db.query("select distinct user from outbox where kind = 'home'")
        return sorted(str(r["user"]) for r in rows if r["user"])

    def _add(self, *, lane: str, kind: str, message: Message, channel: str = "", job_id: str = "",
             user: str = "", version: int = 0, key: str | None = None) -> int | None:
        with self.store.transaction():
            cur = self.store.db.execute(
                "insert or ignore into outbox (key, lane, kind, job_id, channel, user, version,"
                " message, status, attempts, last_error, origin, created_at)"
                " values (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, '', ?, ?)",
                [key, lane, kind, job_id, channel, user, version,
                 json.dumps(message, sort_keys=True), PENDING, self.origin,
                 iso(self.store.clock.now())])
            if cur.rowcount != 1:  # that key was enqueued before: sent (or sending) once
                return None
            row_id = cur.lastrowid
            assert row_id is not None  # an insert that took a row has its rowid
        row = self.get(row_id)
        for listener in list(self.listeners):
            try:
                listener(row)
            except Exception:
                log.exception("outbox listener failed")
        return row_id

    # -- reading ------------------------------------------------------------------------------
    def get(self, row_id: int) -> OutboxRow:
        rows = list(self.store.db.query("select * from outbox where id = ?", [row_id]))
        return _row(rows[0])

    def rows(self, *, lane: str | None = None, status: str | None = None,
             job_id: str | None = None) -> list[OutboxRow]:
        where, args = [], []
        for col, val in (("lane", lane), ("status", status), ("job_id", job_id)):
            if val is not None:
                where.append(f"{col} = ?")
                args.append(val)
        sql = "select * from outbox" + (" where " + " and ".join(where) if where else "")
        return [_row(r) for r in self.store.db.query(sql + " order by id", args)]

    def latest_key(self, prefix: str) -> str | None:
        """The newest key starting with `prefix` (once-only notices: what was said last)."""
        rows = list(self.store.db.query(
            "select key from outbox where key >= ? and key < ? order by id desc limit 1",
            [prefix, prefix + "\uffff"]))
        return str(rows[0]["key"]) if rows else None

    def backlog(self) -> int:
        """Messages not delivered yet (the /metrics gauge)."""
        return int(self.store.db.execute("select count(*) from outbox where status = ?",
                                         [PENDING]).fetchone()[0])

    def pending_lanes(self) -> list[str]:
        """Lanes with something to send, oldest first."""
        return [r[0] for r in self.store.db.execute(
            "select lane from outbox where status = ? group by lane order by min(id)", [PENDING])]

    def head(self, lane: str) -> OutboxRow | None:
        rows = list(self.store.db.query(
            "select * from outbox where lane = ? and status = ? order by id limit 1", [lane, PENDING]))
        return _row(rows[0]) if rows else None

    def newest_card(self, lane: str) -> OutboxRow | None:
        rows = list(self.store.db.query(
            "select * from outbox where lane = ? and status = ? and kind = 'card'"
            " order by version desc, id desc limit 1", [lane, PENDING]))
        return _row(rows[0]) if rows else None

    def sent_card_version(self, lane: str) -> int:
        row = self.store.db.execute(
            "select coalesce(max(version), -1) from outbox where lane = ? and kind = 'card'"
            " and status = ?", [lane, SENT]).fetchone()
        return int(row[0])

    # -- marking ------------------------------------------------------------------------------
    def mark(self, row_ids: list[int], status: str, *, ts: str = "", error: str = "") -> None:
        now = iso(self.store.clock.now())
        with self.store.transaction():
            for row_id in row_ids:
                # a superseded card keeps its in-flight mark: it may be the job's card in Slack
                self.store.db.execute(
                    "update outbox set status = ?, sent_at = ?, ts = ?,"
                    " last_error = case when ? then last_error else ? end"
                    " where id = ? and status = ?",
                    [status, now, ts, 1 if status == SUPERSEDED else 0, error, row_id, PENDING])

    def mark_in_flight(self, row: OutboxRow) -> None:
        """Before posting: if the process dies before the answer is recorded, the next sender
        knows to ask Slack whether the post arrived (a card: any of the job's card rows)."""
        with self.store.transaction():
            self.store.db.execute("update outbox set last_error = ? where id = ?", [IN_FLIGHT, row.id])

    def was_in_flight(self, row: OutboxRow) -> bool:
        if row.kind == "card":
            return self.store.db.execute(
                "select 1 from outbox where lane = ? and kind = 'card' and last_error = ? limit 1",
                [row.lane, IN_FLIGHT]).fetchone() is not None
        return row.last_error == IN_FLIGHT

    def note_failure(self, row_id: int, error: str, *, outcome_unknown: bool = False) -> None:
        """Count a failed attempt. When no answer came, the row stays marked in flight (the post
        may have arrived: the next attempt asks Slack first)."""
        with self.store.transaction():
            self.store.db.execute(
                "update outbox set attempts = attempts + 1,"
                " last_error = case when ? and last_error = ? then last_error else ? end"
                " where id = ?", [1 if outcome_unknown else 0, IN_FLIGHT, error, row_id])

    # -- the delivery lease (table outbox_lease): one process delivers at a time ---------------
    def take_lease(self, name: str, owner: str, now: float, seconds: float, *,
                   holder_gone: Callable[[str], bool]) -> bool:
        """Take or renew lease `name` for `owner` until `now + seconds` (wall time), in one
        transaction; False while another owner holds it unexpired and `holder_gone(owner)` is
        False. sqlite3.Error when the database refuses the write."""
        with self.store.transaction():
            row = self.store.db.execute("select owner, expires_at from outbox_lease where name = ?",
                                        [name]).fetchone()
            if row is not None and row[0] != owner and row[1] > now and not holder_gone(str(row[0])):
                return False
            self.store.db.execute(
                "insert into outbox_lease (name, owner, expires_at) values (?, ?, ?)"
                " on conflict(name) do update set owner = excluded.owner,"
                " expires_at = excluded.expires_at",
                [name, owner, now + seconds])
        return True

    def lease_holder(self, name: str, now: float) -> str | None:
        """Who holds lease `name` unexpired at `now`, if anyone."""
        row = self.store.db.execute("select owner, expires_at from outbox_lease where name = ?",
                                    [name]).fetchone()
        if row is None or row[1] <= now:
            return None
        return str(row[0])

    def release_lease(self, name: str, owner: str) -> None:
        """Let lease `name` expire now, if `owner` holds it. sqlite3.Error when the database
        refuses the write."""
        with self.store.transaction():
            self.store.db.execute("update outbox_lease set expires_at = 0 where name = ? and owner = ?",
                                  [name, owner])


def _epoch(value: str | None) -> float:
    when = parse_time(value)
    return when.timestamp() if when else 0.0


def _row(r: dict[str, Any]) -> OutboxRow:
    return OutboxRow(id=r["id"], key=r["key"], lane=r["lane"], kind=r["kind"],
                     job_id=r["job_id"] or "", channel=r["channel"] or "", user=r["user"] or "",
                     version=r["version"] or 0, message=json.loads(r["message"]),
                     status=r["status"], attempts=r["attempts"] or 0,
                     last_error=r["last_error"] or "", origin=r["origin"] or "",
                     created_epoch=_epoch(r["created_at"]))


__all__ = [
    "DEAD",
    "PENDING",
    "SENT",
    "SUPERSEDED",
    "DeliveryFailed",
    "Outbox",
    "OutboxRow",
    "job_lane",
]
