"""The outbox: every Slack message snapbot means to send, durable in SQLite.

A message is written (`Outbox.card`, `reply`, `post`, `ephemeral`) in the same transaction as the
state change that causes it, so a crash can lose neither: whatever was committed gets delivered,
by this process or the next one that shares the database. One `OutboxSender` delivers:

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

import asyncio
import json
import logging
import os
import socket
import sqlite3
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable

from bot.clock import iso
from bot.errors import SnapbotError
from bot.notifier import Message, MessageRef, Notifier
from bot.store import Job, Store

log = logging.getLogger(__name__)

PENDING, SENT, SUPERSEDED, DEAD = "pending", "sent", "superseded", "dead"


class DeliveryFailed(SnapbotError):
    """Slack did not take a message. `retry_after`: Slack said when to try again (429);
    `permanent`: retrying cannot help (the row is marked dead)."""

    def __init__(self, message: str, *, retry_after: float | None = None,
                 permanent: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.permanent = permanent


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
            row_id = int(cur.lastrowid)
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
                self.store.db.execute(
                    "update outbox set status = ?, sent_at = ?, ts = ?, last_error = ?"
                    " where id = ? and status = ?", [status, now, ts, error, row_id, PENDING])

    def note_failure(self, row_id: int, error: str) -> None:
        with self.store.transaction():
            self.store.db.execute("update outbox set attempts = attempts + 1, last_error = ?"
                                  " where id = ?", [error, row_id])


def _dead_here(owner: str) -> bool:
    """Is `owner` (host:pid:nonce) a process of this host that no longer runs? Then its lease
    is void at once: a restarted app delivers without waiting for the old lease to run out."""
    host, _, rest = owner.partition(":")
    pid_text = rest.split(":", 1)[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _row(r: dict[str, Any]) -> OutboxRow:
    return OutboxRow(id=r["id"], key=r["key"], lane=r["lane"], kind=r["kind"],
                     job_id=r["job_id"] or "", channel=r["channel"] or "", user=r["user"] or "",
                     version=r["version"] or 0, message=json.loads(r["message"]),
                     status=r["status"], attempts=r["attempts"] or 0,
                     last_error=r["last_error"] or "", origin=r["origin"] or "")


class OutboxSender:
    """Delivers the outbox through a Notifier (see the module docstring)."""

    LEASE = "sender"

    def __init__(self, store: Store, outbox: Outbox, notifier: Notifier, *, speed: float = 1.0,
                 poll_interval: float = 0.5, lease_seconds: float = 15.0,
                 first_backoff: float = 1.0, max_backoff: float = 30.0,
                 wall: Callable[[], float] = time.time) -> None:
        self.store = store
        self.outbox = outbox
        self.notifier = notifier
        self.speed = speed
        self.poll_interval = poll_interval
        self.lease_seconds = lease_seconds
        self.first_backoff = first_backoff
        self.max_backoff = max_backoff
        self._wall = wall
        self.owner = outbox.origin
        self._locks: dict[str, asyncio.Lock] = {}
        self._hold_until = 0.0  # loop time before which nothing is sent (429 / backoff)
        self._backoff = 0.0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._leased = False
        self._renewed_at = 0.0
        #: rows Slack took whose success could not be recorded (database not writable): never
        #: sent again, recorded as soon as the database takes writes
        self._unrecorded: dict[int, str] = {}
        self.delivered = 0
        outbox.listeners.append(lambda row: self._wake.set())

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._loop(), name="outbox-sender")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        self._release()

    # -- the lease ----------------------------------------------------------------------------
    def acquire(self) -> bool:
        """Take or renew the delivery lease; False while another live process holds it."""
        now = self._wall()
        try:
            with self.store.transaction():
                row = self.store.db.execute("select owner, expires_at from outbox_lease where name = ?",
                                            [self.LEASE]).fetchone()
                if row is not None and row[0] != self.owner and row[1] > now \
                        and not _dead_here(str(row[0])):
                    self._leased = False
                    return False
                self.store.db.execute(
                    "insert into outbox_lease (name, owner, expires_at) values (?, ?, ?)"
                    " on conflict(name) do update set owner = excluded.owner,"
                    " expires_at = excluded.expires_at",
                    [self.LEASE, self.owner, now + self.lease_seconds])
        except sqlite3.Error:
            log.warning("outbox: could not renew the delivery lease (database not writable)")
            return self._leased  # keep delivering what we hold; nobody else can take it either
        self._leased = True
        self._renewed_at = now
        return True

    def _lease_fresh(self) -> bool:
        """Hold the lease, renewing it when a third of it has gone (kick without the loop)."""
        if self._leased and self._wall() < self._renewed_at + self.lease_seconds / 3:
            return True
        return self.acquire()

    def lease_holder(self) -> str | None:
        row = self.store.db.execute("select owner, expires_at from outbox_lease where name = ?",
                                    [self.LEASE]).fetchone()
        if row is None or row[1] <= self._wall():
            return None
        return str(row[0])

    def _release(self) -> None:
        if not self._leased:
            return
        self._leased = False
        try:
            with self.store.transaction():
                self.store.db.execute("update outbox_lease set expires_at = 0 where name = ? and owner = ?",
                                      [self.LEASE, self.owner])
        except sqlite3.Error:
            pass

    # -- delivering ---------------------------------------------------------------------------
    async def kick(self, lane: str) -> None:
        """Deliver a lane now, if this process delivers and Slack is not on hold. Never raises."""
        if self._on_hold() or not self._lease_fresh():
            self._wake.set()
            return
        try:
            await self._drain(lane)
        except Exception:
            log.exception("outbox: delivering %s failed", lane)

    async def _loop(self) -> None:
        while True:
            try:
                if self.acquire():
                    for lane in self.outbox.pending_lanes():
                        if self._on_hold():
                            break
                        await self._drain(lane)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox: delivery pass failed")
            wait = self.poll_interval
            if self._on_hold():
                wait = max(0.0, self._hold_until - self._now())
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), max(wait, 0.01))
            except asyncio.TimeoutError:
                pass

    async def deliver_own(self, timeout: float, *, everything: bool = False) -> list[OutboxRow]:
        """For a process running alone: deliver every pending message (its own among them)
        within `timeout` seconds (real time, scaled by speed). Returns this process's rows (with
        `everything`, all rows) still not delivered: empty when all went, or when a running app
        holds the lease and will deliver them."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout / self.speed

        def left() -> list[OutboxRow]:
            return [r for r in self.outbox.rows(status=PENDING) if everything or r.origin == self.owner]

        while True:
            if not left():
                return []
            if not self.acquire():
                log.info("outbox: %d message(s) left for %s to deliver", len(left()), self.lease_holder())
                return []
            for lane in self.outbox.pending_lanes():
                if self._on_hold():
                    break
                await self._drain(lane)
            rest = left()
            if not rest:
                return []
            remaining = deadline - loop.time()
            if remaining <= 0:
                return rest
            await asyncio.sleep(min(max(self._hold_until - self._now(), 0.01), remaining))

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def _on_hold(self) -> bool:
        return self._now() < self._hold_until

    def _hold(self, seconds: float) -> None:
        self._hold_until = max(self._hold_until, self._now() + seconds / self.speed)

    async def _drain(self, lane: str) -> None:
        async with self._locks.setdefault(lane, asyncio.Lock()):
            while not self._on_hold():
                row = self.outbox.head(lane)
                if row is None:
                    return
                if not await self._deliver(row):
                    return

    async def _deliver(self, row: OutboxRow) -> bool:
        """Send one row (a card: the newest card of its lane). False: stop this lane for now."""
        rows = [row]
        if row.kind == "reply" and self.outbox.newest_card(row.lane) is not None \
                and not self.store.get_job(row.job_id).thread_ts:
            row = self.outbox.newest_card(row.lane) or row  # the card comes first: the thread's parent
        if row.kind == "card":
            newest = self.outbox.newest_card(row.lane) or row
            older = [r.id for r in self.outbox.rows(lane=row.lane, status=PENDING)
                     if r.kind == "card" and r.id != newest.id and r.version <= newest.version]
            if newest.version < self.outbox.sent_card_version(row.lane):
                self.outbox.mark([newest.id, *older], SUPERSEDED)
                return True
            self.outbox.mark(older, SUPERSEDED)
            row = newest
            rows = [newest]
        if row.id in self._unrecorded:  # Slack has it; only our record of it is missing
            return self._record(row, self._unrecorded[row.id])
        try:
            ts = await self._send(row)
        except DeliveryFailed as exc:
            return self._failed(row, exc)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug or an unexpected answer: keep it, try later
            log.exception("outbox: sending %s failed", row.describe())
            return self._failed(row, DeliveryFailed(type(exc).__name__))
        self._backoff = 0.0
        self.delivered += 1
        return self._record(rows[0], ts)

    def _record(self, row: OutboxRow, ts: str) -> bool:
        try:
            with self.store.transaction():
                if row.kind == "card" and ts:
                    job = self.store.get_job(row.job_id)
                    if job.message_ts is None:
                        self.store.update_job(row.job_id, message_ts=ts, thread_ts=ts)
                self.outbox.mark([row.id], SENT, ts=ts)
        except sqlite3.Error:
            self._unrecorded[row.id] = ts
            log.error("outbox: %s was delivered but the database did not record it; recording "
                      "it again before anything else on that card", row.describe())
            self._hold(self.first_backoff * self.speed)
            return False
        self._unrecorded.pop(row.id, None)
        return True

    async def _send(self, row: OutboxRow) -> str:
        if row.kind == "card":
            job = self.store.get_job(row.job_id)
            if job.message_ts is None:
                ref = await self.notifier.post(row.channel, row.message)
                return ref.ts
            await self.notifier.update(MessageRef(job.channel or row.channel, job.message_ts), row.message)
            return job.message_ts
        if row.kind == "reply":
            job = self.store.get_job(row.job_id)
            if not job.thread_ts:
                raise DeliveryFailed("the job has no card to reply under", permanent=True)
            ref = await self.notifier.post(job.channel or row.channel, row.message, thread_ts=job.thread_ts)
            return ref.ts
        if row.kind == "post":
            ref = await self.notifier.post(row.channel, row.message)
            return ref.ts
        if row.kind == "ephemeral":
            await self.notifier.ephemeral(row.channel, row.user, row.message)
            return ""
        raise DeliveryFailed(f"unknown outbox kind {row.kind!r}", permanent=True)

    def _failed(self, row: OutboxRow, exc: DeliveryFailed) -> bool:
        why = exc.user_message
        try:
            if exc.permanent:
                log.error("outbox: Slack refused %s for good: %s (not retried)", row.describe(), why)
                self.outbox.mark([row.id], DEAD, error=why)
                return True
            self.outbox.note_failure(row.id, why)
        except sqlite3.Error:
            log.warning("outbox: could not record a failed delivery (database not writable)")
        if exc.retry_after is not None:
            log.warning("outbox: Slack asks to wait %.0f s (%s) with %s; holding every delivery",
                        exc.retry_after, why, row.describe())
            self._hold(max(exc.retry_after, 0.0))
        else:
            self._backoff = min(self.max_backoff, self._backoff * 2 if self._backoff else self.first_backoff)
            log.warning("outbox: Slack did not take %s (%s); trying again in %.0f s",
                        row.describe(), why, self._backoff)
            self._hold(self._backoff)
        return False


__all__ = ["Outbox", "OutboxSender", "OutboxRow", "DeliveryFailed", "job_lane",
           "PENDING", "SENT", "SUPERSEDED", "DEAD"]
