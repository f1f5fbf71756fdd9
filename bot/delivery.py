"""The outbox's sender: delivers `bot.outbox` rows through a `bot.notifier.Notifier`, in order
per lane, one process per database at a time (a lease row), honouring Retry-After and backing off
on 5xx; see `bot.outbox` for the rules. Its waits (Retry-After, backoff, polling) run on an
injectable clock (`bot.clock.Clock`; the system's by default)."""
from __future__ import annotations

import asyncio
import logging
import os
import socket
import sqlite3
import time
from collections.abc import Callable

from bot.clock import Clock, SystemClock
from bot.notifier import HomePublisher, MessageRef, Notifier
from bot.outbox import DEAD, PENDING, SENT, SUPERSEDED, DeliveryFailed, Outbox, OutboxRow
from bot.store import Store
from bot.tasks import cancel_and_wait, ensure_running

log = logging.getLogger(__name__)


class OutboxSender:
    """Delivers the outbox through a Notifier (see the module docstring)."""

    LEASE = "sender"

    def __init__(self, store: Store, outbox: Outbox, notifier: Notifier, *, clock: Clock | None = None,
                 poll_interval: float = 0.5, lease_seconds: float = 15.0,
                 first_backoff: float = 1.0, max_backoff: float = 30.0,
                 wall: Callable[[], float] = time.time) -> None:
        self.store = store
        self.outbox = outbox
        self.notifier = notifier
        self.clock: Clock = clock or SystemClock()
        self.poll_interval = poll_interval
        self.lease_seconds = lease_seconds
        self.first_backoff = first_backoff
        self.max_backoff = max_backoff
        self._wall = wall
        self.owner = outbox.origin
        self._locks: dict[str, asyncio.Lock] = {}
        self._hold_until = 0.0  # clock time (s) before which nothing is sent (429 / backoff)
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
        self._task = ensure_running(self._task, self._loop, "outbox-sender")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)
        self._release()

    # -- the lease ----------------------------------------------------------------------------
    def acquire(self) -> bool:
        """Take or renew the delivery lease; False while another live process holds it."""
        now = self._wall()
        try:
            if not self.outbox.take_lease(self.LEASE, self.owner, now, self.lease_seconds,
                                          holder_gone=_dead_here):
                self._leased = False
                return False
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
        return self.outbox.lease_holder(self.LEASE, self._wall())

    def _release(self) -> None:
        if not self._leased:
            return
        self._leased = False
        try:
            self.outbox.release_lease(self.LEASE, self.owner)
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
            await self._nap(max(wait, 0.01))

    async def deliver_own(self, timeout: float, *, everything: bool = False) -> list[OutboxRow]:
        """For a process running alone: deliver every pending message (its own among them)
        within `timeout` seconds of its clock. Returns this process's rows (with `everything`,
        all rows) still not delivered: empty when all went, or when a running app holds the
        lease and will deliver them."""
        deadline = self._now() + timeout

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
            remaining = deadline - self._now()
            if remaining <= 0:
                return rest
            await self.clock.sleep(min(max(self._hold_until - self._now(), 0.01), remaining))

    def _now(self) -> float:
        return self.clock.now().timestamp()

    async def _nap(self, seconds: float) -> None:
        """Until something is queued (`kick`, a listener) or `seconds` of the clock pass."""
        woken = asyncio.ensure_future(self._wake.wait())
        slept = asyncio.ensure_future(self.clock.sleep(seconds))
        try:
            await asyncio.wait({woken, slept}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            woken.cancel()
            slept.cancel()

    def _on_hold(self) -> bool:
        return self._now() < self._hold_until

    def _hold(self, seconds: float) -> None:
        self._hold_until = max(self._hold_until, self._now() + seconds)

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
            self._hold(self.first_backoff)
            return False
        self._unrecorded.pop(row.id, None)
        return True

    async def _send(self, row: OutboxRow) -> str:
        if row.kind == "card":
            job = self.store.get_job(row.job_id)
            if job.message_ts is None:  # one card per job, whichever render goes first
                since = job.created_at.timestamp() if job.created_at else row.created_epoch
                return await self._post_once(row, row.channel, None, f"card/{job.id}", since)
            await self.notifier.update(MessageRef(job.channel or row.channel, job.message_ts), row.message)
            return job.message_ts
        if row.kind == "reply":
            job = self.store.get_job(row.job_id)
            if not job.thread_ts:
                raise DeliveryFailed("the job has no card to reply under", permanent=True)
            return await self._post_once(row, job.channel or row.channel, job.thread_ts,
                                         f"{row.origin}/{row.id}")
        if row.kind == "post":
            return await self._post_once(row, row.channel, None, f"{row.origin}/{row.id}")
        if row.kind == "ephemeral":
            await self.notifier.ephemeral(row.channel, row.user, row.message)
            return ""
        if row.kind == "home":
            if not isinstance(self.notifier, HomePublisher):
                raise DeliveryFailed("this notifier cannot publish a Home view", permanent=True)
            await self.notifier.publish_home(row.user, row.message)
            return ""
        raise DeliveryFailed(f"unknown outbox kind {row.kind!r}", permanent=True)

    async def _post_once(self, row: OutboxRow, channel: str, thread_ts: str | None, key: str,
                         since: float | None = None) -> str:
        """chat.postMessage, at most once per key even across a crash between Slack taking the
        post and the database recording it: the attempt is marked in flight first, and a later
        attempt on a row found in flight asks Slack for the post by its key (metadata) before
        posting again (a notifier with nothing to look in finds nothing: a plain post)."""
        if self.outbox.was_in_flight(row):
            try:
                oldest = (row.created_epoch if since is None else since) - 60
                ts = await self.notifier.find_posted(channel, key, thread_ts=thread_ts,
                                                     oldest=oldest)
            except DeliveryFailed as exc:
                if not exc.permanent:
                    # the look-up failed: the post is still of unknown fate, keep it in flight
                    raise DeliveryFailed(exc.user_message, retry_after=exc.retry_after,
                                         unknown=True) from None
                log.warning("outbox: cannot look %s up in Slack (%s); posting it again",
                            row.describe(), exc.user_message)
                ts = None
            if ts:
                log.warning("outbox: %s had reached Slack on an earlier attempt; not posted again",
                         row.describe())
                return ts
        self.outbox.mark_in_flight(row)
        ref = await self.notifier.post(channel, row.message, thread_ts=thread_ts, key=key)
        return ref.ts

    def _failed(self, row: OutboxRow, exc: DeliveryFailed) -> bool:
        why = exc.user_message
        try:
            if exc.permanent:
                log.error("outbox: Slack refused %s for good: %s (not retried)", row.describe(), why)
                self.outbox.mark([row.id], DEAD, error=why)
                return True
            self.outbox.note_failure(row.id, why, outcome_unknown=exc.unknown)
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


__all__ = ["OutboxSender"]
