"""The outbox end to end, against the Slack stand-in and the simulator over loopback:

* Slack answering 429 (Retry-After) and then 503 for a minute in the middle of a restore loses
  and duplicates nothing, and keeps each card's order (the stand-in's fault window and the
  sender run on a clock 30 times faster than real time: the minute lasts two real seconds);
* `snapbot daily --once` posts its report to the channel, or (Slack down) exits 3 naming what it
  could not post, leaving it queued for `snapbot run`, which posts it;
* a gated job requested from the terminal gets its approval card from the running app;
* the database refusing writes in the middle of a restore: /healthz 503 with the reason, a
  message in the job's thread, no manager step on a state the database did not take; writable
  again, the job finishes without a restart.
"""
from __future__ import annotations

import asyncio
import getpass
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from bot.jobs.restore.payload import ScheduledWorkReport
from bot.messages.jobs import people, with_mentions
from bot.messages.restore import overdue_report_text
from bot.messages.text import for_slack
from devtools.simulator import SimulatorOptions
from tests.fakes import ScaledClock
from tests.harness import BOT_TOKEN, make_rig
from tests.restore_support import create_snapshot, posted_restore_job

SPEED = 30.0


def _state_replies(rig: Any, job: Any) -> list[str]:
    """The thread's replies that announce a state change (progress notes left out), in order."""
    thread = [m.get("text", "") for m in rig.slack.messages("C_OPS", thread_ts=job.message_ts)]
    changes = set(_expected_replies(rig, job))
    return [t for t in thread if t in changes]


def _expected_replies(rig: Any, job: Any) -> list[str]:
    """The state-change replies the stored transitions call for (user ids shown as mentions),
    as the Slack edge sends them (escaped; snapbot's own mentions made live)."""
    return [for_slack({"text": f"`{job.id}` → *{t.to_state}*: {with_mentions(t.detail, people(job, t.actor))}"})["text"]
            for t in rig.store.transitions(job.id) if t.seq > 1 and t.detail]


@pytest.mark.slow
async def test_slack_429_then_503_for_a_minute_mid_restore_loses_nothing_and_keeps_order(tmp_path: Path) -> None:
    async with make_rig(tmp_path, sim_options=SimulatorOptions(speed=40.0)) as rig:
        sender = rig.services.sender
        sender.clock = ScaledClock(SPEED)
        await create_snapshot(rig, "snap-1")
        await rig.command("/cfy snapshots restore snap-1 --force")
        job = await posted_restore_job(rig)
        await rig.click("restore_approve", job.id, user="U_LEAD1")
        await rig.wait_job(job.id, states=("preflight", "safety_snapshot"))
        window = rig.slack.fault_window([(429, 30, 2), (503, 30, 0)], speed=SPEED)
        job = await rig.wait_job(job.id, timeout=60)
        assert job.state == "done", job.error
        await rig.wait_for(lambda: window.over and rig.services.outbox.backlog() == 0, timeout=60)
        assert window.answered > 0  # Slack did refuse, with both kinds of answer
        statuses = {c.status for c in rig.slack.calls if not c.ok}
        assert {429, 503} <= statuses, statuses
        job = rig.store.get_job(job.id)
        # every state change's reply, once each, in the order the states were taken
        assert _state_replies(rig, job) == _expected_replies(rig, job)
        thread = [m.get("text", "") for m in rig.slack.messages("C_OPS", thread_ts=job.message_ts)]
        assert sum(overdue_report_text(ScheduledWorkReport.from_stored(job.result["report"])) in t for t in thread) == 1
        card = rig.slack.message("C_OPS", job.message_ts)
        assert card is not None and "done" in card["text"]
        assert len(rig.slack.messages("C_OPS", top_level=True)) == 1  # one card
        assert rig.services.outbox.rows(status="dead") == []
        sent = len(rig.services.outbox.rows(status="sent"))
        refused = len([c for c in rig.slack.calls if not c.ok])
        print(f"\n429/503 window of 60 s (speed {SPEED:g}): {sent} messages delivered, 0 lost, "
              f"0 duplicated; Slack refused {refused} calls meanwhile")


@pytest.mark.slow
async def test_slack_storing_posts_but_answering_503_mid_restore_posts_every_message_once(tmp_path: Path) -> None:
    async with make_rig(tmp_path, sim_options=SimulatorOptions(speed=40.0)) as rig:
        speed = 4.0  # the 8 s window lasts 2 real seconds
        rig.services.sender.clock = ScaledClock(speed)
        await create_snapshot(rig, "snap-1")
        await rig.command("/cfy snapshots restore snap-1 --force")
        job = await posted_restore_job(rig)
        await rig.click("restore_approve", job.id, user="U_LEAD1")
        await rig.wait_job(job.id, states=("preflight", "safety_snapshot"))
        window = rig.slack.fault_window([(503, 8, 0)], speed=speed, takes_effect=True)
        job = await rig.wait_job(job.id, timeout=60)
        assert job.state == "done", job.error
        await rig.wait_for(lambda: window.over and rig.services.outbox.backlog() == 0, timeout=60)
        stored_yet_refused = [c for c in rig.slack.calls_to("chat.postMessage") if c.status == 503]
        assert stored_yet_refused  # Slack did store posts and answer 503
        job = rig.store.get_job(job.id)
        thread = [m.get("text", "") for m in rig.slack.messages("C_OPS", thread_ts=job.message_ts)]
        assert len(thread) == len(set(thread)), thread  # nothing twice
        assert _state_replies(rig, job) == _expected_replies(rig, job)
        assert sum(overdue_report_text(ScheduledWorkReport.from_stored(job.result["report"])) in t for t in thread) == 1
        assert len(rig.slack.messages("C_OPS", top_level=True)) == 1  # one card
        assert rig.slack.calls_to("conversations.replies")  # looked up, not posted again
        assert rig.services.outbox.rows(status="dead") == []


# -- snapbot daily --once ------------------------------------------------------------------------

async def _daily_once(rig: Any, env_extra: dict[str, str]) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SNAPBOT_", "CLOUDIFY_"))}
    env.update(CLOUDIFY_URL=rig.sim.url, CLOUDIFY_USERNAME="admin", CLOUDIFY_PASSWORD="admin",
               SNAPBOT_DB=rig.settings.db_path, SNAPBOT_ARCHIVE_DIR=rig.settings.archive_dir,
               SNAPBOT_SCHEDULE="off", SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_API_URL=rig.slack.api_url,
               SNAPBOT_CHANNEL="C_OPS", SNAPBOT_SLACK_DELIVERY_TIMEOUT="2")
    env.update(env_extra)
    snapbot = str(Path(sys.executable).with_name("snapbot"))
    proc = await asyncio.create_subprocess_exec(snapbot, "daily", "--once", env=env,
                                                stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode or 0, out.decode(), err.decode()


def _reports(rig: Any) -> list[str]:
    return [m["text"] for m in rig.slack.messages("C_OPS") if m["text"].startswith("Daily snapshot of default:")]


@pytest.mark.slow
async def test_daily_once_with_slack_configured_posts_the_report(tmp_path: Path) -> None:
    async with make_rig(tmp_path, start_services=False) as rig:
        rc, out, err = await _daily_once(rig, {})
        assert rc == 0, out + err
        assert "Daily snapshot of default: ok" in out  # the terminal still shows it
        assert len(_reports(rig)) == 1, rig.slack.texts()


@pytest.mark.slow
async def test_daily_once_with_slack_down_names_the_report_and_snapbot_run_posts_it(tmp_path: Path) -> None:
    async with make_rig(tmp_path, start_services=False) as rig:
        rig.slack.fail_next("chat.postMessage", 10_000, status=503)
        rc, out, err = await _daily_once(rig, {})
        assert rc == 3, out + err
        assert "could not post the daily report of job d-" in err, err
        assert "to C_OPS ('Daily snapshot of default: ok" in err, err
        assert "they stay queued; `snapbot run` posts them" in err
        assert _reports(rig) == []
        queued = rig.services.outbox.backlog()
        assert queued > 0
        async with rig.http.get(rig.base_url + "/metrics") as resp:  # what ops alerts on
            assert f"snapbot_outbox_backlog {float(queued)}" in await resp.text()
        rig.slack._failures.clear()  # Slack is back; the app starts on the same database
        from bot import bootstrap
        await bootstrap.start(rig.services)
        await rig.wait_for(lambda: rig.services.outbox.backlog() == 0, timeout=30)
        assert len(_reports(rig)) == 1, rig.slack.texts()  # exactly once
        assert len(rig.slack.messages("C_OPS", top_level=True)) == 2  # the job's card, the report


# -- a gated job from the terminal -----------------------------------------------------------------

@pytest.mark.slow
async def test_a_gated_job_requested_from_the_terminal_gets_its_card_from_the_running_app(tmp_path: Path) -> None:
    env_gate = {"SNAPBOT_GATED": "snapshots.delete"}
    async with make_rig(tmp_path, env_overrides=env_gate) as rig:
        rig.services.sender.poll_interval = 0.05
        await create_snapshot(rig, "old-1")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SNAPBOT_", "CLOUDIFY_"))}
        env.update(CLOUDIFY_URL=rig.sim.url, CLOUDIFY_USERNAME="admin", CLOUDIFY_PASSWORD="admin",
                   SNAPBOT_DB=rig.settings.db_path, SNAPBOT_ARCHIVE_DIR=rig.settings.archive_dir,
                   SNAPBOT_SCHEDULE="off", SNAPBOT_CHANNEL="C_OPS", **env_gate,
                   SNAPBOT_TERMINAL_USERS=f"{getpass.getuser()}=U_OPS")
        snapbot = str(Path(sys.executable).with_name("snapbot"))
        proc = await asyncio.create_subprocess_exec(snapbot, "cfy", "--yes", "snapshots", "delete", "old-1",
                                                    env=env, stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.STDOUT)
        out, _ = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, out.decode()
        job = next(j for j in rig.jobs() if j.kind == "snapshot_delete")
        assert job.state == "awaiting_approval"
        job = await rig.wait_for(lambda: rig.store.get_job(job.id).message_ts and rig.store.get_job(job.id))
        card = rig.slack.message("C_OPS", job.message_ts)  # a real ts from Slack, not 1.000
        assert card is not None and "old-1" in card["text"], job.message_ts
        await rig.click("job_approve", job.id, user="U_LEAD1")
        job = await rig.wait_job(job.id, timeout=30)
        assert job.state == "done", job.error
        assert "old-1" not in rig.sim.state.snapshots


# -- the database refusing writes ------------------------------------------------------------------

@pytest.mark.slow
async def test_database_read_only_mid_restore_holds_says_so_and_finishes_when_writable(tmp_path: Path) -> None:
    async with make_rig(tmp_path) as rig:
        runner = rig.services.runner
        runner.store_retry_interval, runner.store_retry_max_interval = 0.05, 0.2
        conn = rig.store.db.conn

        async def freeze(job: Any, detail: str) -> None:
            if job.kind == "restore" and job.state == "maintenance_active" and not frozen:
                frozen.append(job.id)
                conn.execute("PRAGMA query_only = 1")  # every write now fails: SQLITE_READONLY

        frozen: list[str] = []
        runner.on_change(freeze)
        await create_snapshot(rig, "snap-1")
        await rig.command("/cfy snapshots restore snap-1 --force")
        job = await posted_restore_job(rig)
        await rig.click("restore_approve", job.id, user="U_LEAD1")
        await rig.wait_for(lambda: frozen)
        thread = lambda: [m.get("text", "") for m in rig.slack.messages("C_OPS", thread_ts=job.message_ts)]  # noqa: E731
        await rig.wait_for(lambda: any("cannot record progress" in t for t in thread()), timeout=30)
        async with rig.http.get(rig.base_url + "/healthz") as resp:
            body = await resp.json()
            assert resp.status == 503, body
            assert "readonly" in body["reason"].replace(" ", "").replace("-", ""), body
        # the job holds: no restore is posted on a state the database did not take
        assert rig.store.get_job(job.id).state == "maintenance_active"
        assert rig.sim.state.restores == [] or len(rig.sim.state.restores) == 0
        conn.execute("PRAGMA query_only = 0")  # writable again
        job = await rig.wait_job(job.id, timeout=60)
        assert job.state == "done", job.error
        assert len(rig.sim.state.restores) == 1
        async with rig.http.get(rig.base_url + "/healthz") as resp:
            assert resp.status == 200
        await rig.wait_for(lambda: rig.services.outbox.backlog() == 0)
        assert any("takes writes again" in t for t in thread())
        assert _state_replies(rig, job) == _expected_replies(rig, job)
