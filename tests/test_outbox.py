"""The outbox on a real SQLite file: idempotent keys, one card per lane (newest wins, an older
version never overwrites a newer one), order per lane, Retry-After and backoff, dead letters,
one deliverer per database (the lease), and a delivery the database could not record is never
sent twice."""
from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from bot.delivery import OutboxSender
from bot.notifier import Message, MessageRef
from bot.outbox import DEAD, PENDING, SENT, SUPERSEDED, DeliveryFailed, Outbox
from bot.schema import open_store
from bot.store import Store
from tests.fakes import FakeClock, ScaledClock
from tests.waiting import until


class ScriptedSlack:
    """A stateful fake of the three Slack calls: keeps messages by ts, fails on demand."""

    def __init__(self) -> None:
        self.messages: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []  # (method, text)
        self.fail: list[DeliveryFailed] = []
        self._ts = itertools.count(1)
        self.local = False

    def _maybe_fail(self) -> None:
        if self.fail:
            raise self.fail.pop(0)

    async def post(self, channel: str, message: Message, *, thread_ts: str | None = None,
                   key: str | None = None) -> MessageRef:
        self.calls.append(("post", message["text"]))
        self._maybe_fail()
        ts = f"{next(self._ts)}.0001"
        self.messages[ts] = {"text": message["text"], "thread_ts": thread_ts}
        return MessageRef(channel, ts)

    async def find_posted(self, channel: str, key: str, *, thread_ts: str | None = None,
                          oldest: float = 0.0) -> str | None:
        return None

    async def update(self, ref: MessageRef, message: Message) -> None:
        self.calls.append(("update", message["text"]))
        self._maybe_fail()
        self.messages[ref.ts]["text"] = message["text"]

    async def ephemeral(self, channel: str, user: str, message: Message) -> None:
        self.calls.append(("ephemeral", message["text"]))
        self._maybe_fail()

    def thread(self, ts: str) -> list[str]:
        return [m["text"] for m in self.messages.values() if m["thread_ts"] == ts]


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = open_store(tmp_path / "snapbot.db", FakeClock())
    yield s
    s.close()


def _job(store: Store, channel: str = "C_OPS") -> Any:
    return store.create_job("snapshot_create", "default", "running", channel=channel)


def _msg(text: str) -> Message:
    return {"text": text}


def _sender(store: Store, outbox: Outbox, slack: ScriptedSlack, **kw: Any) -> OutboxSender:
    return OutboxSender(store, outbox, slack, clock=ScaledClock(kw.pop("speed", 1000.0)), **kw)


async def test_the_same_key_twice_is_sent_once(store: Store) -> None:
    outbox, slack = Outbox(store), ScriptedSlack()
    job = _job(store)
    outbox.card(job, _msg("card"))
    assert outbox.reply(job, _msg("report"), key="overdue-report:1") is not None
    assert outbox.reply(job, _msg("report"), key="overdue-report:1") is None  # resumed step
    await _sender(store, outbox, slack).kick(f"job:{job.id}")
    card_ts = store.get_job(job.id).message_ts
    assert slack.thread(card_ts) == ["report"]


async def test_a_card_is_posted_once_then_updated_with_the_newest_version(store: Store) -> None:
    outbox, slack = Outbox(store), ScriptedSlack()
    job = _job(store)
    outbox.card(job, _msg("v1"), version=1)
    sender = _sender(store, outbox, slack)
    await sender.kick(f"job:{job.id}")
    outbox.card(job, _msg("v2"), version=2)
    outbox.card(job, _msg("v4"), version=4)
    outbox.card(job, _msg("v3"), version=3)  # an older render arriving late
    await sender.kick(f"job:{job.id}")
    assert slack.calls == [("post", "v1"), ("update", "v4")]
    ts = store.get_job(job.id).message_ts
    assert slack.messages[ts]["text"] == "v4"
    statuses = {r.message["text"]: r.status for r in outbox.rows(job_id=job.id)}
    assert statuses == {"v1": SENT, "v2": SUPERSEDED, "v4": SENT, "v3": SUPERSEDED}


async def test_an_older_card_never_replaces_a_newer_one_already_sent(store: Store) -> None:
    outbox, slack = Outbox(store), ScriptedSlack()
    job = _job(store)
    sender = _sender(store, outbox, slack)
    outbox.card(job, _msg("v5"), version=5)
    await sender.kick(f"job:{job.id}")
    outbox.card(job, _msg("v3"), version=3)
    await sender.kick(f"job:{job.id}")
    assert slack.calls == [("post", "v5")]
    assert [r.status for r in outbox.rows(job_id=job.id)] == [SENT, SUPERSEDED]


async def test_replies_follow_their_card_in_order(store: Store) -> None:
    outbox, slack = Outbox(store), ScriptedSlack()
    job = _job(store)
    outbox.reply(job, _msg("r1"))  # queued before the card: still sent after it
    outbox.card(job, _msg("card"))
    outbox.reply(job, _msg("r2"))
    outbox.reply(job, _msg("r3"))
    await _sender(store, outbox, slack).kick(f"job:{job.id}")
    ts = store.get_job(job.id).message_ts
    assert slack.calls[0] == ("post", "card")
    assert slack.thread(ts) == ["r1", "r2", "r3"]


async def test_retry_after_holds_delivery_and_nothing_is_lost(store: Store) -> None:
    outbox, slack = Outbox(store), ScriptedSlack()
    job = _job(store)
    outbox.card(job, _msg("card"))
    for i in range(5):
        outbox.reply(job, _msg(f"r{i}"))
    slack.fail = [DeliveryFailed("ratelimited", retry_after=30),
                  DeliveryFailed("HTTP 503"), DeliveryFailed("HTTP 503")]
    sender = _sender(store, outbox, slack)
    await sender.kick(f"job:{job.id}")
    assert sender._on_hold()  # 30 s (at speed 1000: 30 ms) before anything else is tried
    await sender.kick(f"job:{job.id}")
    assert len(slack.calls) == 1  # the hold is honoured: no second call
    sender.start()
    try:
        await until(lambda: outbox.backlog() == 0, what="the outbox to empty")
    finally:
        await sender.stop()
    ts = store.get_job(job.id).message_ts
    assert slack.thread(ts) == [f"r{i}" for i in range(5)]
    assert outbox.backlog() == 0


async def test_a_message_slack_refuses_for_good_is_dead_and_the_lane_goes_on(store: Store, caplog) -> None:
    outbox, slack = Outbox(store), ScriptedSlack()
    job = _job(store)
    outbox.card(job, _msg("card"))
    sender = _sender(store, outbox, slack)
    await sender.kick(f"job:{job.id}")
    outbox.reply(job, _msg("too long"))
    outbox.reply(job, _msg("fine"))
    slack.fail = [DeliveryFailed("Slack chat.postMessage failed: msg_too_long", permanent=True)]
    await sender.kick(f"job:{job.id}")
    assert [r.status for r in outbox.rows(job_id=job.id)] == [SENT, DEAD, SENT]
    assert "refused" in caplog.text and "msg_too_long" in caplog.text


async def test_one_process_delivers_at_a_time(tmp_path: Path) -> None:
    a, b = open_store(tmp_path / "db", FakeClock()), open_store(tmp_path / "db", FakeClock())
    try:
        slack_a, slack_b = ScriptedSlack(), ScriptedSlack()
        out_a, out_b = Outbox(a), Outbox(b)
        sender_a, sender_b = _sender(a, out_a, slack_a), _sender(b, out_b, slack_b)
        assert sender_a.acquire()
        job = _job(b)
        out_b.card(job, _msg("from the terminal"))
        await sender_b.kick(f"job:{job.id}")  # b does not hold the lease: leaves it queued
        assert slack_b.calls == [] and out_b.backlog() == 1
        assert await sender_b.deliver_own(1.0) == []  # the app will deliver it
        await sender_a.kick(f"job:{job.id}")
        assert slack_a.calls == [("post", "from the terminal")]
        await sender_a.stop()  # releases the lease
        assert sender_b.acquire()
    finally:
        a.close()
        b.close()


async def test_deliver_own_names_what_it_could_not_deliver(store: Store) -> None:
    outbox, slack = Outbox(store), ScriptedSlack()
    outbox.post("C_OPS", _msg("daily report"), key="daily-report:d-1")
    slack.fail = [DeliveryFailed("HTTP 503")] * 100
    left = await _sender(store, outbox, slack, speed=100.0).deliver_own(5.0)
    assert [r.message["text"] for r in left] == ["daily report"]
    assert "daily report to C_OPS" in left[0].describe()
    assert outbox.backlog() == 1  # still queued for `snapbot run`


async def test_a_delivery_the_database_did_not_record_is_not_sent_again(store: Store) -> None:
    outbox, slack = Outbox(store), ScriptedSlack()
    job = _job(store)
    outbox.card(job, _msg("card"))
    outbox.reply(job, _msg("r1"))
    sender = _sender(store, outbox, slack)
    await sender.kick(f"job:{job.id}")
    outbox.reply(job, _msg("r2"))
    store.db.execute("PRAGMA query_only = 1")
    await sender.kick(f"job:{job.id}")  # Slack takes r2; recording it fails
    assert store.write_error and "readonly" in store.write_error.replace(" ", "").replace("-", "")
    store.db.execute("PRAGMA query_only = 0")
    sender._hold_until = 0.0
    await sender.kick(f"job:{job.id}")
    ts = store.get_job(job.id).message_ts
    assert slack.thread(ts) == ["r1", "r2"]
    assert outbox.backlog() == 0 and store.write_error is None


def test_backlog_counts_what_is_not_delivered(store: Store) -> None:
    outbox = Outbox(store)
    job = _job(store)
    assert outbox.backlog() == 0
    outbox.card(job, _msg("card"))
    outbox.ephemeral("C_OPS", "U_OPS", _msg("only you"))
    assert outbox.backlog() == 2
    assert [r.status for r in outbox.rows()] == [PENDING, PENDING]
    assert _job(store, channel="").channel == "" and outbox.card(_job(store, channel=""), _msg("x")) is None


async def test_the_lease_of_a_dead_process_on_this_host_is_taken_over_at_once(store: Store) -> None:
    import socket
    import subprocess
    import sys
    import time

    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead_pid = int(done.stdout)  # that process has exited (and was reaped)
    with store.transaction():
        store.db.execute("insert into outbox_lease (name, owner, expires_at) values ('sender', ?, ?)",
                         [f"{socket.gethostname()}:{dead_pid}:abc123", time.time() + 3600])
    outbox, slack = Outbox(store), ScriptedSlack()
    assert _sender(store, outbox, slack).acquire()  # no waiting out the hour
    with store.transaction():  # a live owner's lease is respected
        store.db.execute("update outbox_lease set owner = ?, expires_at = ? where name = 'sender'",
                         [f"{socket.gethostname()}:1:abc123", time.time() + 3600])
    assert not _sender(store, Outbox(store), ScriptedSlack()).acquire()


class SlackWithLookup(ScriptedSlack):
    """Keeps each post's key (Slack's message metadata) and can look posts up by it. `lose_answer`
    makes the next post reach Slack and then fail as a timeout would (no answer)."""

    def __init__(self) -> None:
        super().__init__()
        self.keys: dict[str, str] = {}
        self.lose_answer = False

    async def post(self, channel: str, message: Message, *, thread_ts: str | None = None,
                   key: str | None = None) -> MessageRef:
        ref = await super().post(channel, message, thread_ts=thread_ts, key=key)
        if key:
            self.keys[key] = ref.ts
        if self.lose_answer:
            self.lose_answer = False
            raise DeliveryFailed("Slack chat.postMessage failed: ReadTimeout", unknown=True)
        return ref

    async def find_posted(self, channel: str, key: str, *, thread_ts: str | None = None,
                          oldest: float = 0.0) -> str | None:
        self.calls.append(("lookup", key))
        return self.keys.get(key)


async def test_a_post_whose_answer_was_lost_is_looked_up_not_posted_again(store: Store) -> None:
    outbox, slack = Outbox(store), SlackWithLookup()
    job = _job(store)
    outbox.card(job, _msg("card"))
    sender = _sender(store, outbox, slack)
    await sender.kick(f"job:{job.id}")
    outbox.reply(job, _msg("restore started"))
    slack.lose_answer = True
    await sender.kick(f"job:{job.id}")  # Slack has it; we do not know
    sender._hold_until = 0.0
    await sender.kick(f"job:{job.id}")
    ts = store.get_job(job.id).message_ts
    assert slack.thread(ts) == ["restore started"]  # once
    assert [c[0] for c in slack.calls] == ["post", "post", "lookup"]
    assert outbox.backlog() == 0


async def test_a_post_slack_refused_is_posted_again_without_a_lookup(store: Store) -> None:
    outbox, slack = Outbox(store), SlackWithLookup()
    job = _job(store)
    outbox.card(job, _msg("card"))
    sender = _sender(store, outbox, slack)
    slack.fail = [DeliveryFailed("HTTP 503")]  # an answer: Slack did not take it
    await sender.kick(f"job:{job.id}")
    sender._hold_until = 0.0
    await sender.kick(f"job:{job.id}")
    assert [c[0] for c in slack.calls] == ["post", "post"]
    assert len(slack.messages) == 1
