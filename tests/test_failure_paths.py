"""Every failure gets a clear message in Slack and in the log, nothing is lost, secrets never leak.

Through the real rig (signed HTTP into Bolt, the Slack stand-in, the simulator over loopback,
SQLite in tmp_path). Each test checks what a person sees (the ephemeral reply or the job's card),
that the log has the details (caplog), the job's final state in SQLite, and that no secret (the
manager password or token, the bot token, the signing secret) appears in any Slack call, log
record, the SQLite files or the exception text.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import resource
import signal
import sqlite3
import sys
import traceback
from pathlib import Path
from typing import Any

import pytest

from bot import bootstrap
from bot.cloudify.client import CloudifyClient
from bot.errors import Unauthorized
from devtools.simulator import SimulatorOptions, start_simulator
from devtools.standin.slack import render_text
from handlers.app import make_client
from handlers.notifier import SlackNotifier
from tests.fakes import ScaledClock
from tests.harness import BOT_TOKEN, CHANNEL, SIGNING_SECRET, make_rig
from tests.waiting import HELD, until

pytestmark = pytest.mark.slow

BAD_PASSWORD = "Wr0ng-Pa55-7f3e9c"
BAD_TOKEN = "ctok-bad-token-5d1a77e2"
ALWAYS_SECRET = (BOT_TOKEN, SIGNING_SECRET)


# --- helpers -------------------------------------------------------------------------------------

def no_retry_waits(rig: Any) -> None:
    """The client retries GETs on an unreachable manager with backoff (0.5 s, 1 s, 2 s); the
    retries still happen, only the waits between them are dropped to keep the tests quick."""
    for client in rig.services.clients.values():
        client.session.backoff = 0.0


def quick_slack_retries(rig: Any) -> None:
    """The outbox sender still backs off as configured, fifty times faster."""
    rig.services.sender.clock = ScaledClock(50.0)


async def cfy(rig: Any, text: str, user: str = "U_OPS") -> dict[str, Any]:
    """Send `/cfy text`; return the reply posted to the response_url."""
    before = len(rig.slack.responses())
    resp = await rig.command(text, user=user)
    assert resp.status == 200
    return (await rig.wait_response(before + 1))[before]


async def started_job(rig: Any, text: str) -> Any:
    post = await cfy(rig, text)
    assert post["response_type"] == "in_channel", render_text(post)
    job = rig.jobs(limit=1)[0]
    assert job.id in render_text(post)
    return job


async def card_text(rig: Any, job_id: str, until: str = "") -> str:
    """The job's card as a person sees it now (once it contains `until`)."""
    def text() -> str | None:
        job = rig.store.get_job(job_id)
        msg = rig.slack.message(CHANNEL, job.message_ts) if job.message_ts else None
        rendered = render_text(msg) if msg else ""
        return rendered if rendered and until in rendered else None
    return await rig.wait_for(text, timeout=20)


def db_bytes(rig: Any) -> bytes:
    """The SQLite database and its journal files, as stored on disk."""
    base = Path(rig.settings.db_path)
    return b"".join(p.read_bytes() for p in (base, Path(f"{base}-wal"), Path(f"{base}-journal"))
                    if p.exists())


def log_text(caplog: Any) -> str:
    """Every captured record, message and traceback."""
    formatter = logging.Formatter()
    out = []
    for r in caplog.records:
        out.append(r.getMessage())
        if r.exc_info:
            out.append(formatter.formatException(r.exc_info))
    return "\n".join(out)


def assert_no_secrets(rig: Any, caplog: Any, *secrets: str, extra: tuple[str, ...] = ()) -> None:
    """None of the secrets in what Slack received, the log, the DB files, or `extra` texts."""
    slack_seen = json.dumps([{"method": c.method, "args": c.args, "response": c.response}
                             for c in rig.slack.calls], default=str)
    slack_seen += json.dumps(rig.slack.responses(), default=str)
    slack_seen += json.dumps([e.message for e in rig.slack.events], default=str)
    logs = log_text(caplog)
    stored = db_bytes(rig)
    for secret in (*secrets, *ALWAYS_SECRET):
        assert secret not in slack_seen, f"{secret!r} reached Slack"
        assert secret not in logs, f"{secret!r} is in the log"
        assert secret.encode() not in stored, f"{secret!r} is in the SQLite file"
        for text in extra:
            assert secret not in text, f"{secret!r} is in {text[:80]!r}"


def assert_plain_failure(text: str) -> None:
    """A message for a person: no traceback, not the generic fallback."""
    assert "Traceback" not in text and "Something went wrong" not in text, text


async def take_down(rig: Any) -> None:
    """The manager's port closed (connections refused) for as long as the test runs."""
    await rig.sim_post("/_sim/outage", {"seconds": 10 ** 7, "mode": "refuse"})
    port = int(rig.sim.url.rsplit(":", 1)[1])

    async def refused() -> bool:  # the simulator closes its socket a moment after answering
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            return True
        writer.close()
        return False
    await rig.wait_for(refused)


# --- 1. the manager is unreachable ---------------------------------------------------------------

@pytest.mark.parametrize("command", ["snapshots list", "snapshots status",
                                     "maintenance-mode status", "cluster status"])
async def test_unreachable_manager_quick_read_answers_cannot_reach_manager(tmp_path, caplog, command):
    caplog.set_level(logging.DEBUG)
    async with make_rig(tmp_path) as rig:
        no_retry_waits(rig)
        await take_down(rig)
        post = await cfy(rig, f"/cfy {command}")
        text = render_text(post)
        assert post["response_type"] == "ephemeral"
        assert "Cannot reach manager `default`" in text and "ConnectError" in text, text
        assert_plain_failure(text)
        assert rig.jobs() == []  # a read makes no job
        assert "manager default: GET" in caplog.text and "ConnectError" in caplog.text
        assert_no_secrets(rig, caplog)


async def test_manager_behind_a_proxy_answering_502_reads_as_cannot_reach_manager(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    async with make_rig(tmp_path) as rig:
        no_retry_waits(rig)
        await rig.sim_post("/_sim/outage", {"seconds": 10 ** 7, "mode": "502"})
        post = await cfy(rig, "/cfy maintenance-mode status")
        text = render_text(post)
        assert "Cannot reach manager `default`: the manager answered HTTP 502" in text, text
        assert "<html" not in text.lower()  # not the proxy's error page
        assert_plain_failure(text)
        assert "manager_unavailable" in caplog.text
        assert_no_secrets(rig, caplog)


async def test_unreachable_manager_fails_snapshot_create_and_the_card_says_so(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    async with make_rig(tmp_path) as rig:
        no_retry_waits(rig)
        await take_down(rig)
        job = await started_job(rig, "/cfy snapshots create down-1")
        job = await rig.wait_job(job.id)
        assert job.state == "failed"
        assert "cannot reach manager `default`" in job.error
        text = await card_text(rig, job.id, "failed")
        assert "cannot reach manager `default`" in text
        assert_plain_failure(text)
        # an expected failure is one log line naming the job and why; tracebacks are for bugs
        failed = [r for r in caplog.records if r.name == "bot.jobs.runner" and job.id in r.getMessage()]
        assert failed and "cannot reach manager" in failed[0].getMessage()
        assert not any(r.exc_info for r in failed)
        # a create reads the version first (the snapshot format depends on it)
        assert "GET /version" in log_text(caplog)
        assert_no_secrets(rig, caplog)


# --- 2. wrong credentials ------------------------------------------------------------------------

async def test_wrong_password_answers_authentication_failed_for_the_manager(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    async with make_rig(tmp_path, env_overrides={"CLOUDIFY_PASSWORD": BAD_PASSWORD}) as rig:
        post = await cfy(rig, "/cfy snapshots list")
        text = render_text(post)
        assert post["response_type"] == "ephemeral"
        assert "Authentication failed for manager `default`" in text
        assert "Check the credentials" in text
        assert_plain_failure(text)
        assert "unauthorized_error" in caplog.text  # the manager's answer is in the log
        with pytest.raises(Unauthorized) as info:
            await rig.services.clients["default"].list_snapshots()
        exc_texts = (str(info.value), repr(info.value), info.value.user_message,
                     "".join(traceback.format_exception(info.value)),
                     repr(rig.services.clients["default"]), repr(rig.settings))
        assert_no_secrets(rig, caplog, BAD_PASSWORD, extra=exc_texts)


async def test_wrong_password_fails_a_job_saying_to_check_the_credentials(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    async with make_rig(tmp_path, env_overrides={"CLOUDIFY_PASSWORD": BAD_PASSWORD}) as rig:
        job = await rig.wait_job((await started_job(rig, "/cfy snapshots create auth-1")).id)
        assert job.state == "failed"
        assert "authentication failed for manager `default`" in job.error
        assert "check the credentials" in job.error
        text = await card_text(rig, job.id, "failed")
        assert "authentication failed for manager `default`" in text
        assert_plain_failure(text)
        # an expected failure: one line naming the job, no traceback
        lines = [r for r in caplog.records if r.name == "bot.jobs.runner" and "failed in state" in r.getMessage()]
        assert lines and not any(r.exc_info for r in lines)
        assert_no_secrets(rig, caplog, BAD_PASSWORD, extra=(job.error,))


async def test_bad_token_answers_authentication_failed_and_never_shows_the_token(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    async with make_rig(tmp_path, env_overrides={"CLOUDIFY_TOKEN": BAD_TOKEN}) as rig:
        post = await cfy(rig, "/cfy maintenance-mode status")
        text = render_text(post)
        assert "Authentication failed for manager `default`" in text and "invalid token" in text
        assert "Check the credentials" in text
        job = await rig.wait_job((await started_job(rig, "/cfy snapshots create tok-1")).id)
        assert job.state == "failed" and "authentication failed" in job.error
        with pytest.raises(Unauthorized) as info:
            await rig.services.clients["default"].maintenance()
        exc_texts = (str(info.value), repr(info.value), "".join(traceback.format_exception(info.value)),
                     repr(rig.services.clients["default"]), repr(rig.settings))
        assert_no_secrets(rig, caplog, BAD_TOKEN, extra=exc_texts)


# --- 3. the manager answers with an error --------------------------------------------------------

async def test_manager_500_shows_the_managers_own_message(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    async with make_rig(tmp_path) as rig:
        await rig.sim_post("/_sim/faults", {
            "path": "^/api/v3.1/snapshots$", "method": "GET", "status": 500,
            "error_code": "internal_server_error",
            "message": "Internal error: database connection pool exhausted", "count": 10})
        post = await cfy(rig, "/cfy snapshots list")
        text = render_text(post)
        assert post["response_type"] == "ephemeral"
        assert "Manager `default` answered with an error" in text
        assert "Internal error: database connection pool exhausted" in text
        assert "internal_server_error" in text
        assert_plain_failure(text)
        assert "database connection pool exhausted" in caplog.text
        assert_no_secrets(rig, caplog)


@pytest.mark.parametrize("command", ["snapshots delete nope-404", "snapshots download nope-404"])
async def test_unknown_snapshot_gets_a_private_answer_before_any_job(tmp_path, caplog, command):
    caplog.set_level(logging.DEBUG)
    async with make_rig(tmp_path) as rig:
        await rig.command(f"/cfy {command}")
        post = (await rig.wait_response(1))[0]
        assert post["response_type"] == "ephemeral"
        assert "manager `default` has no snapshot `nope-404`; nothing was done" in post["text"]
        assert rig.jobs() == [] and rig.slack.messages("C_OPS") == []  # no card, no failure card
        assert [p for p in (tmp_path / "archives").rglob("*") if p.is_file()] == []  # nothing kept
        assert_no_secrets(rig, caplog)


async def test_restore_of_an_unknown_snapshot_is_refused_naming_snapshot_and_manager(tmp_path, caplog):
    # The restore service asks the manager first (GET /snapshots/nope-404 -> 404) and words the
    # refusal itself; no approval card is opened and no restore is sent.
    caplog.set_level(logging.DEBUG)
    async with make_rig(tmp_path) as rig:
        post = await cfy(rig, "/cfy snapshots restore nope-404 --force")
        text = render_text(post)
        assert post["response_type"] == "ephemeral"
        assert "snapshot 'nope-404' does not exist on manager 'default'" in text, text
        assert rig.sim_requests("/snapshots/nope-404") >= 1
        assert rig.jobs() == []
        assert_plain_failure(text)
        assert rig.sim.state.restores == []
        assert_no_secrets(rig, caplog)


# --- 4. Slack is down while a job runs -----------------------------------------------------------

@pytest.mark.parametrize("status", [500, 429])
async def test_slack_down_while_a_job_runs_the_job_still_completes_and_the_card_catches_up(
        tmp_path, caplog, status):
    caplog.set_level(logging.INFO)
    # the manager's clock holds the create until Slack is down (after the card is posted)
    async with make_rig(tmp_path, sim_options=HELD) as rig:
        quick_slack_retries(rig)
        job = await started_job(rig, "/cfy snapshots create slack-down-1")
        await rig.wait_for(lambda: rig.store.get_job(job.id).message_ts)
        for method in ("chat.update", "chat.postMessage"):
            rig.slack.fail_next(method, 10_000, status=status, retry_after=0)
        job = await rig.wait_job(job.id, timeout=60, advance=True)
        assert job.state == "done", job.error  # in SQLite
        assert rig.sim.state.snapshots["slack-down-1"]["status"] == "created"  # on the manager
        assert any(not c.ok for c in rig.slack.calls_to("chat.update") + rig.slack.calls_to("chat.postMessage"))
        assert f"of job {job.id} to C_OPS" in caplog.text  # the sender says what it is holding
        assert "done" not in await card_text(rig, job.id)  # the card is behind meanwhile
        assert rig.services.outbox.rows(job_id=job.id, status="pending")  # ... and kept
        rig.slack._failures.clear()  # Slack is back (the stand-in has no public "heal" knob)
        text = await card_text(rig, job.id, "done")
        assert "slack-down-1" in text and "created" in text
        # the stand-in shows the update before the sender has its answer: wait for the outbox
        await rig.wait_for(lambda: not rig.services.outbox.rows(job_id=job.id, status="pending"))
        replies = [render_text(m) for m in rig.slack.messages("C_OPS", thread_ts=job.message_ts)]
        assert any("→ *done*" in r or "→ done" in r for r in replies), replies
        assert len(replies) == len(set(replies)), replies  # every reply once, none lost
        assert_no_secrets(rig, caplog)


# --- 5. the disk fills up while an archive downloads ---------------------------------------------

ARCHIVE_BYTES = 6 * 1024 * 1024
FILE_LIMIT = 2 * 1024 * 1024


def _small_file_limit() -> None:  # runs in the child between fork and exec
    # No root tricks: RLIMIT_FSIZE makes any write beyond FILE_LIMIT bytes fail, exactly like a
    # full disk for that process; with SIGXFSZ ignored (the disposition survives exec) the write
    # fails with EFBIG instead of killing the process. SQLite's file stays far below the limit.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT, FILE_LIMIT))


async def test_disk_full_while_downloading_leaves_no_partial_file_and_says_the_disk_is_full(tmp_path):
    password = "Pw-disk-full-3b8e1d"
    sim = await start_simulator("127.0.0.1", 0, SimulatorOptions(
        clock="manual", password=password, archive_size=ARCHIVE_BYTES, data_dir=str(tmp_path / "sim")))
    try:
        async with CloudifyClient(sim.url, password=password) as client:
            await client.create_snapshot("big-1")

            async def created() -> bool:
                return (await client.get_snapshot("big-1")).status == "created"
            await until(created, advancing=[sim])
        archives = tmp_path / "archives"
        db = tmp_path / "snapbot.db"
        env = {**{k: v for k, v in os.environ.items() if not k.startswith(("SNAPBOT_", "CLOUDIFY_", "SLACK_"))},
               "CLOUDIFY_URL": sim.url, "CLOUDIFY_PASSWORD": password, "SNAPBOT_DB": str(db),
               "SNAPBOT_ARCHIVE_DIR": str(archives), "SNAPBOT_SCHEDULE": "off",
               "SNAPBOT_LOG_LEVEL": "INFO"}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", "import sys; from snapbot.main import main; sys.exit(main())",
            "cfy", "snapshots", "download", "big-1", env=env, cwd=str(tmp_path),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            preexec_fn=_small_file_limit)
        out, err = await asyncio.wait_for(proc.communicate(), 120)
        output = out.decode() + err.decode()
        assert proc.returncode == 1, output
        assert "the disk is full" in output and "nothing was saved" in output, output
        assert "File too large" in output  # the OS's own words, in the log and the message
        assert [p for p in archives.rglob("*") if p.is_file()] == []  # no partial file left
        with sqlite3.connect(db) as conn:
            state, error = conn.execute("select state, error from jobs").fetchone()
        assert state == "failed" and "the disk is full" in error
        assert password not in output and password.encode() not in db.read_bytes()
    finally:
        await sim.close()


# --- 6. a restart while a simple job runs --------------------------------------------------------

async def test_restart_mid_snapshot_create_resumes_and_creates_exactly_once(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    async with make_rig(tmp_path, sim_options=HELD) as rig:
        job = await started_job(rig, "/cfy snapshots create restart-1")
        await rig.wait_for(lambda: rig.store.get_job(job.id).result.get("execution_id"))
        # The bot stops mid-create (after the PUT, while it waits): its services are torn down
        # as `snapbot run` does on exit; the job row stays `running`.
        await bootstrap.stop(rig.services)
        assert rig.sim.state.snapshots["restart-1"]["status"] == "creating"
        # A new process on the same database.
        services = await bootstrap.build_services(rig.settings,
                                                  notifier=SlackNotifier(make_client(rig.settings)))
        try:
            assert services.store.get_job(job.id).state == "running"
            assert job.id in await bootstrap.start(services)
            await rig.wait_for(lambda: services.store.get_job(job.id).finished, 60, advance=True)
            done = await services.runner.wait(job.id, timeout=60)
            assert done.state == "done", done.error
            card = render_text(rig.slack.message(CHANNEL, done.message_ts))
        finally:
            await bootstrap.stop(services)
        creates = [e for e in rig.sim.state.executions.values()
                   if e["workflow_id"] == "create_snapshot"]
        assert len(creates) == 1
        assert rig.sim.state.snapshots["restart-1"]["status"] == "created"
        assert f"resuming job {job.id}" in caplog.text
        assert "done" in card and "already exists" in "\n".join(rig.slack.texts())
        cards = [c for c in rig.slack.calls_to("chat.postMessage") if c.ok and not c.args.get("thread_ts")]
        assert len(cards) == 1  # the resumed job updates its card, it does not post a second one


# --- 7. bad input is refused before any request leaves -------------------------------------------

@pytest.mark.parametrize("command, problem", [
    ("snapshots create a/b", "must not contain '/'"),
    ("snapshots download a..b", "must not contain '..'"),
    ("snapshots create 'my snap'", "illegal characters"),
    ("snapshots create " + "a" * 300, "too long"),
    ("snapshots create 1snap", "must begin with a letter"),
    ("snapshots list --bogus", "unknown flag '--bogus'"),
    ("snapshots upload s1 --url ftp://example.com/s1.zip", "http:// or https://"),
    ("snapshots upload s1 --url https://u:UrlPa55-9d2c@example.com/s1.zip", "must not carry credentials"),
])
async def test_bad_input_is_refused_with_the_usage_line_before_any_request(tmp_path, caplog,
                                                                          command, problem):
    async with make_rig(tmp_path) as rig:
        before = dict(rig.sim.state.request_counts)
        resp = await rig.command(f"/cfy {command}")
        assert resp.status == 200
        reply = await rig.wait_for(lambda: rig.slack.ephemerals("U_OPS"))
        text = render_text(reply[-1])
        assert problem in text and "Usage: `/cfy snapshots" in text, text
        state = await rig.sim_state()
        counts = {p: n for p, n in state["request_counts"].items() if not p.startswith("/_sim")}
        assert counts == {p: n for p, n in before.items() if not p.startswith("/_sim")}
        assert sum(counts.values()) == 0  # nothing at all reached the manager
        assert rig.jobs() == []


# --- secrets a person typed: an upload URL's credentials and signature ---------------------------

async def test_upload_url_signature_never_reaches_slack_the_log_or_the_db(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    url = "https://127.0.0.1:1/s1.zip?X-Amz-Signature=SIG-4e7f0b1a"
    async with make_rig(tmp_path) as rig:
        job = await rig.wait_job((await started_job(rig, f"/cfy snapshots upload s1 --url {url}")).id)
        text = await card_text(rig, job.id, job.state)
        assert "https://127.0.0.1:1/s1.zip?…" in text  # which URL, without its signature
        # the manager was asked to fetch it (and could not reach it): the job failed saying so
        assert rig.sim_requests("/snapshots/s1/archive") == 1 and job.state == "failed"
        assert "Cannot download the snapshot archive" in text
        detail = await cfy(rig, f"/cfy jobs show {job.id}")
        assert_no_secrets(rig, caplog, "SIG-4e7f0b1a", extra=(render_text(detail),))
        assert rig.services.runner.in_memory(job.id) == {}  # gone from memory once used


async def test_an_upload_by_url_interrupted_by_a_restart_asks_to_run_it_again(tmp_path):
    async with make_rig(tmp_path, env_overrides={"SNAPBOT_GATED": "snapshots.upload"}) as rig:
        url = "https://127.0.0.1:1/s2.zip?sig=SIG-77"
        await cfy(rig, f"/cfy snapshots upload s2 --url {url}")
        job = (await rig.wait_for(lambda: rig.jobs()))[0]
        assert job.state == "awaiting_approval"
        rig.services.runner.forget(job.id)  # what a new process starts with
        await rig.click("job_approve", job.id, user="U_LEAD1")
        job = await rig.wait_job(job.id)
        assert job.state == "failed" and "run `/cfy snapshots upload s2 --url …` again" in job.error


async def test_slack_down_from_the_start_the_card_is_posted_once_slack_is_back(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    async with make_rig(tmp_path) as rig:
        quick_slack_retries(rig)
        rig.slack.fail_next("chat.postMessage", 10_000, status=503)
        post = await cfy(rig, "/cfy snapshots create slack-down-2")  # the reply uses response_url
        assert "Started job" in render_text(post)
        job = await rig.wait_job(rig.jobs(limit=1)[0].id, timeout=60)
        assert job.state == "done" and job.message_ts is None  # done, but no card yet
        assert f"Slack did not take card of job {job.id}" in caplog.text
        rig.slack._failures.clear()  # Slack is back
        text = await card_text(rig, job.id, "done")
        assert "slack-down-2" in text
        cards = [c for c in rig.slack.calls_to("chat.postMessage") if c.ok and not c.args.get("thread_ts")]
        assert len(cards) == 1  # one card, not one per retry
        await rig.wait_for(lambda: not rig.services.outbox.rows(job_id=job.id, status="pending"))
        replies = [render_text(m) for m in rig.slack.messages("C_OPS", thread_ts=cards[0].response["ts"])]
        assert any("*done*" in r for r in replies) and len(replies) == len(set(replies)), replies
        assert "Slack chat.postMessage failed: HTTP 503" in caplog.text  # a non-JSON 503 page
        assert "AttributeError" not in caplog.text


# --- the pieces behind the messages --------------------------------------------------------------

def test_client_errors_name_the_manager_and_default_to_the_url_host() -> None:
    assert CloudifyClient("http://127.0.0.1:8100", name="prod").name == "prod"
    assert CloudifyClient("https://cfy.example.com/").name == "cfy.example.com"


def test_scrub_urls_drops_credentials_and_query_but_keeps_the_rest() -> None:
    from bot.cloudify.errors import scrub_urls
    text = "Cannot download https://u:pw@h:8443/a/s.zip?sig=abc: refused (see http://doc/x.)"
    assert scrub_urls(text) == "Cannot download https://…@h:8443/a/s.zip?…: refused (see http://doc/x.)"


def test_error_text_for_unexpected_errors_hides_their_text() -> None:
    from bot.messages.errors import error_text
    text = error_text(RuntimeError("password=hunter2"), manager="prod")
    assert "hunter2" not in text and "RuntimeError" in text and "log" in text


async def test_a_failure_that_cannot_be_recorded_is_logged_not_lost(tmp_path, caplog) -> None:
    from bot.clock import SystemClock
    from bot.jobs.machine import SIMPLE
    from bot.jobs.runner import JobDriver, JobRunner
    from bot.schema import open_store
    from tests.fakes import RecordingNotifier

    class Boom(JobDriver):
        kind, machine = "boom", SIMPLE

        async def run(self, ctx: Any) -> None:
            raise RuntimeError("first failure")

        def render(self, job: Any, transitions: Any) -> dict[str, Any]:
            return {"text": job.state}

    store = open_store(tmp_path / "db.sqlite", SystemClock())
    runner = JobRunner(store, SystemClock(), RecordingNotifier())
    runner.register(Boom())

    async def broken_fail(ctx: Any, exc: Exception) -> None:
        raise OSError("database is gone")
    runner._fail = broken_fail  # type: ignore[method-assign]
    job = store.create_job("boom", "default", "queued", params={}, requester="U_OPS", channel="")
    with caplog.at_level(logging.ERROR, logger="bot.jobs.runner"):
        await runner.start(job.id)
    assert f"job {job.id} failed in state queued" in caplog.text
    assert f"job {job.id}: could not record its failure" in caplog.text
    store.close()


async def test_a_broken_progress_listener_does_not_fail_the_job(tmp_path, caplog) -> None:
    from bot.clock import SystemClock
    from bot.jobs.machine import SIMPLE
    from bot.jobs.runner import JobDriver, JobRunner
    from bot.schema import open_store
    from tests.fakes import RecordingNotifier

    class Talks(JobDriver):
        kind, machine = "talks", SIMPLE

        async def run(self, ctx: Any) -> None:
            await ctx.move("running")
            await ctx.say("halfway")
            await ctx.move("done")

        def render(self, job: Any, transitions: Any) -> dict[str, Any]:
            return {"text": job.state}

    async def broken(job: Any, detail: str) -> None:
        raise BrokenPipeError("terminal went away")

    store = open_store(tmp_path / "db.sqlite", SystemClock())
    runner = JobRunner(store, SystemClock(), RecordingNotifier())
    runner.register(Talks())
    runner.on_change(broken)
    job = store.create_job("talks", "default", "queued", params={}, requester="local:ops", channel="")
    with caplog.at_level(logging.ERROR, logger="bot.jobs.runner"):
        await runner.start(job.id)
    assert store.get_job(job.id).state == "done"
    assert "progress listener failed" in caplog.text
    store.close()
