"""The audit log on a real SQLite file and through the dispatcher (bot.audit): the migration on
an existing database, record and query (newest first, by user, since), redaction, and what
`/cfy audit` shows."""
from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlite_utils
from slack_sdk.models.blocks import Block

from bot.audit import AuditLog, describe, describe_command, parse_since, redact
from bot.audit_entry import AuditEntry
from bot.clock import iso
from bot.commands import model as m
from bot.commands.parser import parse
from bot.errors import UsageError
from bot.messages.audit import SHOWN, audit_message
from bot.messages.text import for_slack
from bot.notifier import plain_text
from bot.schema import MIGRATIONS, open_store
from bot.store import Store
from tests.fakes import FakeClock
from tests.jobs_support import domain

START = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
PRESIGNED = ("https://bucket.s3.example/snap.zip?X-Amz-Credential=AKIDEXAMPLE%2F20261101"
             "&X-Amz-Signature=0123456789abcdef")


def entries_of(store: Store) -> list[dict]:
    return list(store.db.query("select * from audit order by id"))


def test_migration_3_adds_the_audit_table_to_a_database_that_has_jobs(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite_utils.Database(path)  # a database as migrations 1 and 2 left it, with a job
    db["migrations"].create({"version": int, "applied_at": str}, pk="version")
    for version, steps in MIGRATIONS:
        if version < 3:
            for step in steps:
                step(db)
            db["migrations"].insert({"version": version, "applied_at": "2026-01-01T00:00:00Z"})
    db["jobs"].insert({"id": "j-abcdef", "kind": "snapshot_create", "manager": "default",
                       "state": "done", "params": "{}", "finished": 1})
    db.conn.close()

    store = open_store(path, FakeClock(START))
    try:
        assert {r["version"] for r in store.db["migrations"].rows} == {v for v, _ in MIGRATIONS}
        assert store.get_job("j-abcdef").state == "done"
        indexes = {tuple(i.columns) for i in store.db["audit"].indexes}
        assert ("at",) in indexes and ("user", "at") in indexes
        AuditLog(store).record(user="U1", source="slack", channel="C1", what="jobs list",
                               outcome="ok")
        assert [e.what for e in AuditLog(store).query()] == ["jobs list"]
    finally:
        store.close()
    again = open_store(path, FakeClock(START))  # idempotent: opening it again changes nothing
    try:
        assert len(entries_of(again)) == 1
    finally:
        again.close()


def test_query_is_newest_first_and_filters_by_user_and_since(tmp_path: Path) -> None:
    clock = FakeClock(START)
    store = open_store(tmp_path / "a.db", clock)
    log = AuditLog(store)
    for n, user in enumerate(["U1", "U2", "U1", "local:alice"]):
        log.record(user=user, source="slack", channel="C1", what=f"cmd {n}", outcome="ok")
        clock.advance(3600)
    assert [e.what for e in log.query()] == ["cmd 3", "cmd 2", "cmd 1", "cmd 0"]
    assert [e.what for e in log.query(user="U1")] == ["cmd 2", "cmd 0"]
    assert [e.what for e in log.query(since=START + timedelta(hours=1))] == ["cmd 3", "cmd 2", "cmd 1"]
    assert [e.what for e in log.query(user="U1", since=START + timedelta(minutes=30))] == ["cmd 2"]
    assert [e.what for e in log.query(limit=2)] == ["cmd 3", "cmd 2"]
    assert log.query(user="local:alice")[0].at == START + timedelta(hours=3)
    store.close()


def test_a_write_the_database_refuses_is_logged_and_does_not_raise(tmp_path: Path, caplog) -> None:
    store = open_store(tmp_path / "a.db", FakeClock(START))
    log = AuditLog(store)
    store.db.execute("drop table audit")
    with caplog.at_level(logging.ERROR, logger="bot.audit"):
        log.record(user="U1", source="slack", channel="C1",
                   what=f"snapshots upload s --url {PRESIGNED}", outcome="ok")
    assert "could not record an audit entry" in caplog.text
    assert "X-Amz-Signature" not in caplog.text and "snapshots upload s --url" in caplog.text
    store.close()


@pytest.mark.parametrize("raw,gone,kept", [
    (f"snapshots upload s --url {PRESIGNED}", ["X-Amz", "AKIDEXAMPLE", "0123456789abcdef"],
     "--url https://bucket.s3.example/snap.zip?…"),
    ("upload --url https://ops:hunter2@files.example/a.zip", ["hunter2", "ops:"],
     "https://…@files.example/a.zip"),
    ("SLACK_BOT_TOKEN xoxb-1234-5678-abcdefghij and xapp-1-A1-99-ff", ["xoxb-1234", "xapp-1"],
     "SLACK_BOT_TOKEN … and …"),
    ("login password=hunter2 token: abc123 --password s3cret", ["hunter2", "abc123", "s3cret"],
     "password=…"),
    ("Authorization: Bearer eyJhbGciOi.x.y", ["eyJhbGciOi"], "Authorization: …"),
    ("admin:hunter2@10.0.0.1", ["hunter2"], "…@10.0.0.1"),
    ("line one\nline two\r\n\tthree", ["\n", "\t"], "line one line two three"),
])
def test_redact_leaves_no_credential_and_one_line(raw: str, gone: list[str], kept: str) -> None:
    out = redact(raw)
    for secret in gone:
        assert secret not in out
    assert kept in out


def test_redact_cuts_long_secrets_whole() -> None:
    token, secret = "xoxb-" + "a1" * 1000, "p" * 3000
    out = redact(f"{token} password={secret} https://u:{secret}@h.example/x?{secret} u:{secret}@h")
    assert "a1a1" not in out and "pp" not in out


def test_redact_reads_a_bounded_prefix_of_100kb_input() -> None:
    out = redact("https://u:pw@h.example/?" + "x" * 100_000)
    assert out == "https://…@h.example/?…"
    assert len(redact("word " * 20_000)) < 4000


def test_redact_keeps_ordinary_words_about_passwords() -> None:
    text = "restore failed: the password hashes were restored; tokens rotate nightly"
    assert redact(text) == text


def test_describe_writes_the_command_as_it_could_be_typed_again() -> None:
    assert describe_command(parse("snapshots restore snap-1 --force --manager prod")) == \
        "snapshots restore snap-1 --force --manager prod"
    assert describe_command(parse("snapshots create snap-2 --exclude-logs")) == \
        "snapshots create snap-2 --exclude-logs"
    assert describe_command(parse("snapshots upload snap-3 --from-archive")) == \
        "snapshots upload snap-3 --from-archive"
    assert describe_command(parse(f"snapshots upload snap-3 --url {PRESIGNED}")) == \
        "snapshots upload snap-3 --url https://bucket.s3.example/snap.zip?…"
    assert describe_command(parse("plugins update --all")) == "plugins update --all-blueprints"
    assert describe_command(m.JobsList()) == "jobs list"
    assert describe("button restore_approve", {"value": "r-123456"}) == \
        "button restore_approve value=r-123456"


def test_parse_since_reads_spans_and_dates() -> None:
    assert parse_since("30m", START) == START - timedelta(minutes=30)
    assert parse_since("24h", START) == START - timedelta(hours=24)
    assert parse_since("7D", START) == START - timedelta(days=7)
    assert parse_since("2w", START) == START - timedelta(weeks=2)
    assert parse_since("2026-10-01", START) == datetime(2026, 10, 1, tzinfo=UTC)
    assert parse_since("2026-10-01T08:30:00Z", START) == datetime(2026, 10, 1, 8, 30,
                                                                 tzinfo=UTC)
    for bad in ("yesterday", "5y", "-3d", "2026-13-01", "x" * 100):
        with pytest.raises(UsageError):
            parse_since(bad, START)


def test_the_audit_command_parses_user_mentions_ids_and_since() -> None:
    assert parse("audit") == m.Audit()
    assert parse("audit --user <@U0123ABCD> --since 24h") == m.Audit(user="U0123ABCD", since="24h")
    assert parse("audit --user <@U0123ABCD|alice>") == m.Audit(user="U0123ABCD")
    assert parse("audit --user U0123ABCD --since 2026-11-01") == \
        m.Audit(user="U0123ABCD", since="2026-11-01")
    assert parse("audit --user local:alice") == m.Audit(user="local:alice")
    for bad in ("audit --user alice", "audit --since soon", "audit --since", "audit extra"):
        with pytest.raises(UsageError):
            parse(bad)


def _entry(n: int, **kw) -> AuditEntry:
    base = {"at": START - timedelta(minutes=n), "user": "U_OPS", "source": "slack",
            "channel": "C_OPS", "what": f"snapshots delete snap-{n}", "outcome": "ok", "detail": ""}
    return AuditEntry(**{**base, **kw})


def test_the_audit_message_shows_who_where_what_outcome_and_why_within_slacks_limits() -> None:
    entries = [_entry(0, outcome="refused", detail="only the requester or an approver may cancel"),
               _entry(1, user="local:alice", source="terminal", channel="", detail="job j-abcdef"),
               _entry(2, outcome="failed", channel="D_DM", detail="cannot reach the manager"),
               _entry(3, what="x" * 5000),
               _entry(4, outcome="failed", detail="manager said <!channel> & <@U_EVIL>")]
    msg = for_slack(audit_message(entries))
    text = plain_text(msg)
    lines = [line for line in text.splitlines() if "snapshots delete" in line or "xxx" in line]
    assert "snap-0" in lines[0] and "snap-1" in lines[1] and "snap-2" in lines[2]  # newest first
    assert "<@U_OPS>" in lines[0] and "<#C_OPS>" in lines[0] and "refused" in lines[0]
    assert "only the requester or an approver may cancel" in lines[0]
    assert "local:alice" in lines[1] and "the terminal" in lines[1] and "job j-abcdef" in lines[1]
    assert "a DM" in lines[2] and "failed" in lines[2] and "cannot reach the manager" in lines[2]
    assert "<!channel>" not in str(msg) and "&lt;!channel&gt;" in str(msg)
    for block in msg["blocks"]:
        Block.parse(block).validate_json()


def test_the_audit_message_stays_within_slacks_limits_with_many_long_entries() -> None:
    entries = [_entry(n, what="&" * 600, detail="<" * 600, outcome="failed")
               for n in range(SHOWN + 1)]
    msg = for_slack(audit_message(entries))
    assert len(msg["blocks"]) <= 50
    for block in msg["blocks"]:
        Block.parse(block).validate_json()
    assert "Only the newest" in str(msg["blocks"][-1])
    assert len(plain_text(audit_message(entries[:3]))) < len(plain_text(audit_message(entries)))


async def test_every_dispatched_command_is_recorded_with_its_outcome(tmp_path: Path) -> None:
    async with domain(tmp_path) as d:
        await d.run("snapshots create snap-a", user="U_OPS")
        job = await d.finish()
        await d.run("jobs cancel j-000000", user="U_OPS")  # no such job: failed
        await d.sim_post("/_sim/faults", {"path": "/snapshots$", "status": 400,
                                          "error_code": "forbidden_error", "message": "no way"})
        await d.run("snapshots list", user="U_OPS")  # the manager refuses: failed
        # someone who is neither the requester nor an approver: refused
        await d.run(f"jobs cancel {job.id}", user="U_OTHER")
        audit = d.services.dispatcher.audit
        rows = audit.query()
        assert [(e.what, e.outcome) for e in rows] == [
            (f"jobs cancel {job.id}", "refused"), ("snapshots list", "failed"),
            ("jobs cancel j-000000", "failed"), ("snapshots create snap-a", "ok")]
        assert rows[0].user == "U_OTHER" and "only the requester or an approver" in rows[0].detail
        assert "no way" in rows[1].detail
        assert rows[3].detail == f"job {job.id}" and rows[3].channel == "C_OPS"
        assert all(e.source == "slack" for e in rows)


async def test_an_unexpected_error_is_recorded_as_failed_without_its_text(tmp_path: Path) -> None:
    class Broken:
        async def request(self, cmd, inv):
            raise RuntimeError("secret=hunter2 leaked into an exception")

    async with domain(tmp_path) as d:
        dispatcher = d.dispatcher_with(restores=Broken())
        reply = await dispatcher.execute(parse("snapshots restore snap-1"), d.inv())
        assert reply.ephemeral
        entry = dispatcher.audit.query()[0]
        assert (entry.what, entry.outcome) == ("snapshots restore snap-1", "failed")
        assert entry.detail == "unexpected RuntimeError"


async def test_a_presigned_url_is_never_stored(tmp_path: Path, file_server) -> None:
    _, base = file_server  # loopback; the file is not there, so the manager's fetch fails
    url = f"{base}/snap.zip?X-Amz-Credential=AKIDEXAMPLE&X-Amz-Signature=0123456789abcdef"
    async with domain(tmp_path) as d:
        await d.run(f"snapshots upload snap-u --url {url}")
        await d.finish()
        entry = d.services.dispatcher.audit.query()[0]
        assert entry.what == f"snapshots upload snap-u --url {base}/snap.zip?…"
        assert entry.outcome == "ok" and entry.detail.startswith("job j-")
        d.services.store.db.execute("pragma wal_checkpoint(truncate)")
        raw = Path(d.services.settings.db_path).read_bytes()
        assert b"X-Amz-Signature" not in raw and b"0123456789abcdef" not in raw


async def test_the_audit_command_answers_privately_with_a_users_recent_entries(tmp_path: Path) -> None:
    async with domain(tmp_path) as d:
        clock_now = d.services.clock.now()
        await d.run("snapshots status", user="U_OPS")
        await d.run("jobs", user="U_LEAD1")
        old = iso(clock_now - timedelta(days=3))
        d.services.store.db.execute("update audit set at = ? where what = 'snapshots status'", [old])
        reply = await d.run("audit --user <@U_OPS>", user="U_LEAD1")
        assert reply.ephemeral
        text = d.text(reply)
        assert "snapshots status" in text and "jobs list" not in text
        reply = await d.run("audit --since 24h", user="U_LEAD1")
        text = d.text(reply)
        assert "jobs list" in text and "snapshots status" not in text
        assert "audit --user U_OPS" in text  # the audit command itself is in the log
