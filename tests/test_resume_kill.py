"""Kill a real snapbot process (SIGKILL) at every state of the restore table, and at every kind of
Slack call it makes, restart it, and check what the restore did and what people saw: every run
ends `done` with exactly one restore execution on the simulator, one card in the channel showing
the final state, every state change's thread reply and the overdue report exactly once, nothing
left undelivered, and no partial download left behind.

One more kill lands in the middle of the safety snapshot's download (a large archive): the
partial file the killed process leaves is removed by the resumed job.

The worker talks to the Slack stand-in through the outbox, like `snapbot run`; the stand-in kills
it when a chosen Slack call arrives, before answering (`SlackStandin.kill_on`). The Slack-call
kills are parametrized by call kind (the card's post, a card update, a state-change reply, the
overdue report, the final reply), not by every (state x call) pair: the state kills already cover
each state, and a call kind is handled by the same code whatever the state. Three of the posts are
also killed *after* Slack took them (before the answer reached the worker): still once."""
from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.cloudify.client import CloudifyClient
from bot.jobs.restore.machine import RESTORE
from bot.jobs.restore.payload import ScheduledWorkReport
from bot.messages.jobs import with_mentions
from bot.messages.restore import overdue_report_text
from bot.messages.text import for_slack
from devtools.simulator import SimulatorOptions, start_simulator
from devtools.standin.slack import Call, SlackStandin
from tests.restore_worker import BOT_TOKEN
from tests.waiting import until

ROOT = Path(__file__).resolve().parent.parent
RUNNING = ["requested", "approved", "preflight", "safety_snapshot", "maintenance_activating",
           "maintenance_active", "restoring", "restored", "reporting", "maintenance_deactivating"]
# awaiting_credentials follows a 401 after the restore, unwinding a cancel, time-out or failure
# before it: their resumes are tested in test_resume_restore
assert set(RUNNING) | {"awaiting_credentials", "unwinding"} == RESTORE.states - RESTORE.terminal
CHANNEL = "C_OPS"


async def _spawn(sim_url: str, slack: SlackStandin, workdir: Path, *extra: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.restore_worker", "--sim", sim_url, "--workdir", str(workdir),
        "--slack", slack.api_url, "--slack-speed", "20", *extra,
        cwd=str(ROOT), stdout=asyncio.subprocess.DEVNULL, stderr=open(workdir / "stderr.log", "ab"),
        env={**os.environ, "PYTHONPATH": str(ROOT)})


def _query(db: Path, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if not db.exists():
        return []
    try:
        conn = sqlite3.connect(str(db), timeout=5)
        try:
            return conn.execute(sql, args).fetchall()
        finally:
            conn.close()
    except sqlite3.Error:
        return []


def _state(db: Path) -> str | None:
    rows = _query(db, "select state from jobs where kind = 'restore'")
    return rows[0][0] if rows else None


def _leave_partials(work: Path, db: Path) -> None:
    """Partial files as a process killed mid-download leaves them: one of the restore job (its
    resume removes it), one of a job that no longer exists and an untagged old one (start-up
    removes both)."""
    rows = _query(db, "select id from jobs where kind = 'restore'")
    folder = work / "archives" / "default"
    folder.mkdir(parents=True, exist_ok=True)
    names = [".safety-x.zip.part-j-000000-1234", ".old.zip.part-5678"]
    if rows:
        names.append(f".safety-x.zip.part-{rows[0][0]}-abcd")
    for name in names:
        (folder / name).write_bytes(b"PK partial")
        os.utime(folder / name, (1_000_000_000, 1_000_000_000))  # from long before any job


def _text(message: dict[str, Any]) -> str:
    return str(message.get("text") or "")


def _assert_people_saw_it_once(slack: SlackStandin, db: Path, work: Path) -> None:
    """One card showing the final state; each state change's reply and the overdue report once;
    nothing pending or dead in the outbox; no partial download anywhere."""
    (job_id, result_json), = _query(db, "select id, result from jobs where kind = 'restore'")
    cards = slack.messages(CHANNEL, top_level=True)
    assert len(cards) == 1, [_text(c) for c in cards]
    card = cards[0]
    final_version = _query(db, "select max(seq) from transitions where job_id = ?", (job_id,))[0][0]
    sent = _query(db, "select version, message from outbox where job_id = ? and kind = 'card'"
                      " and status = 'sent' order by version desc, id desc limit 1", (job_id,))
    assert sent and sent[0][0] == final_version  # the last card sent is the final state's
    # ... and Slack shows it (as the Slack edge sends it: escaped, cut to Slack's limits)
    assert card["blocks"] == for_slack(json.loads(sent[0][1])).get("blocks")
    replies = [_text(m) for m in slack.messages(CHANNEL, thread_ts=card["ts"])]
    moves = _query(db, "select to_state, detail, actor from transitions where job_id = ? and seq > 1"
                       " and detail != '' order by seq", (job_id,))
    for to_state, detail, actor in moves:  # stored user ids appear in Slack as mentions
        expected = for_slack({"text": f"`{job_id}` → *{to_state}*: {with_mentions(detail, [actor])}"})["text"]
        assert replies.count(expected) == 1, (expected, replies)
    report = json.loads(result_json)["report"]
    assert sum(for_slack({"text": overdue_report_text(ScheduledWorkReport.from_stored(report))})["text"] in r for r in replies) == 1, replies
    state_replies = [r for r in replies if r.startswith(f"`{job_id}` → ")]
    assert [r.split("*")[1] for r in state_replies][-1] == "done"  # order kept: done comes last
    left = _query(db, "select kind, status, last_error from outbox where status in ('pending', 'dead')")
    assert left == [], left
    partials = [p for p in work.rglob("*") if ".part" in p.name]
    assert partials == [], partials


async def _scenario(tmp_path: Path, *, pause: bool, state: str | None = None,
                    kill: tuple[str, int, Callable[[Call], bool] | None] | None = None,
                    mid_download: bool = False, after_answer: bool = False) -> None:
    # The manager runs on a manual clock that moves only while this test waits (one timer per
    # poll, the wait's condition checked first): a step that waits on the manager (a create, a
    # restore, maintenance mode `activating` behind an execution) lasts until the kill, however
    # loaded the machine.
    options = SimulatorOptions(clock="manual", data_dir=str(tmp_path / "sim"))
    if mid_download:  # a safety snapshot big enough that its download is seen on disk
        options = dataclasses.replace(options, archive_size=96 * 1024 * 1024)
    sim = await start_simulator("127.0.0.1", 0, options)
    manager = [sim]
    slack = SlackStandin(bot_token=BOT_TOKEN)
    await slack.start()
    try:
        async with CloudifyClient(sim.url, password="admin") as c:
            await c.create_snapshot("snap-1")
            await until(lambda: sim.state.snapshots.get("snap-1", {}).get("status") == "created", timeout=10,
                        what="snapshot", advancing=manager)
        work = tmp_path / "work"
        work.mkdir()
        holding: str | None = None  # an execution that holds maintenance mode `activating`
        args = ["--request"] + (["--pause-at", state] if pause and state else [])
        proc = await _spawn(sim.url, slack, work, *args)
        db = work / "snapbot.db"
        if kill is not None:
            method, nth, match = kill
            slack.kill_on(method, proc.pid, nth=nth, match=match, after=after_answer)
        elif mid_download:
            await until(lambda: [p for p in work.rglob("*") if ".part-" in p.name], timeout=60,
                        interval=0.005, what="the safety snapshot's download on disk", advancing=manager)
        elif pause:
            await until(lambda: (work / "paused").exists(), timeout=30, what=f"the worker to pause in {state}",
                        advancing=manager)
        else:
            if state == "maintenance_activating":
                # Started once the safety snapshot is under way (a legacy create would queue behind
                # it otherwise): an execution that runs until the test ends it keeps maintenance
                # mode `activating` however long the steps before take on a loaded machine.
                await until(lambda: _state(db) == "safety_snapshot", timeout=30, what="state safety_snapshot",
                            advancing=manager)
                await until(lambda: any(e.get("workflow_id") == "create_snapshot" and e.get("status") == "started"
                                        for e in sim.state.executions.values()),
                            timeout=30, what="the safety snapshot's create execution to start", advancing=manager)
                async with httpx.AsyncClient() as h:
                    holding = (await h.post(sim.url + "/_sim/executions",
                                            json={"deployment_id": "dep-1", "workflow_id": "install"})).json()["id"]
            await until(lambda: _state(db) == state, timeout=30, what=f"state {state}", advancing=manager)
        if kill is None:
            proc.send_signal(signal.SIGKILL)
        else:  # killed by the stand-in once the manager got the restore that far
            await until(lambda: proc.returncode is not None, timeout=60, what="the kill", advancing=manager)
        rc = await asyncio.wait_for(proc.wait(), 60)
        assert rc == -signal.SIGKILL, (rc, (work / "stderr.log").read_text()[-2000:])
        if holding is not None:  # the execution ends while snapbot is down: activation completes
            async with httpx.AsyncClient() as h:
                (await h.post(f"{sim.url}/_sim/executions/{holding}/finish", json={})).raise_for_status()
        if mid_download:  # the killed process did leave its partial download behind
            assert [p for p in work.rglob("*") if ".part-" in p.name]
        _leave_partials(work, db)  # what a process killed mid-download leaves behind
        proc = await _spawn(sim.url, slack, work)
        await until(lambda: proc.returncode is not None, timeout=90, what="the resumed run to end",
                    advancing=manager)
        rc = await proc.wait()
        log = (work / "stderr.log").read_text()[-3000:]
        assert rc == 0, log
        assert _state(db) == "done", log
        assert len(sim.state.restores) == 1, sim.state.restores
        assert sim.state.maintenance["status"] == "deactivated"
        _assert_people_saw_it_once(slack, db, work)
    finally:
        await slack.close()
        await sim.close()


@pytest.mark.slow
@pytest.mark.parametrize("state", RUNNING)
async def test_restore_killed_right_after_saving_each_state_resumes_to_done_with_one_restore(tmp_path: Path, state: str) -> None:
    await _scenario(tmp_path, pause=True, state=state)


@pytest.mark.slow
@pytest.mark.parametrize("state", ["safety_snapshot", "maintenance_activating", "restoring"])
async def test_restore_killed_in_the_middle_of_a_long_step_resumes_to_done_with_one_restore(tmp_path: Path, state: str) -> None:
    await _scenario(tmp_path, pause=False, state=state)


def _reply(fragment: str) -> Callable[[Call], bool]:
    return lambda call: bool(call.args.get("thread_ts")) and fragment in str(call.args.get("text"))


SLACK_CALLS = {
    "card post": ("chat.postMessage", 1, lambda call: not call.args.get("thread_ts")),
    "card update": ("chat.update", 2, None),
    "state reply": ("chat.postMessage", 1, _reply("→ *maintenance_active*")),
    "overdue report": ("chat.postMessage", 1, _reply("Scheduled work report")),
    "final reply": ("chat.postMessage", 1, _reply("→ *done*")),
}


@pytest.mark.slow
@pytest.mark.parametrize("call", list(SLACK_CALLS))
async def test_restore_killed_when_a_slack_call_arrives_resumes_and_every_message_lands_once(tmp_path: Path, call: str) -> None:
    await _scenario(tmp_path, pause=False, kill=SLACK_CALLS[call])


@pytest.mark.slow
async def test_restore_killed_in_the_middle_of_its_safety_download_leaves_no_partial_file(tmp_path: Path) -> None:
    await _scenario(tmp_path, pause=False, mid_download=True)


@pytest.mark.slow
@pytest.mark.parametrize("call", ["card post", "state reply", "overdue report"])
async def test_restore_killed_after_slack_took_a_post_does_not_post_it_twice(tmp_path: Path, call: str) -> None:
    """The post reached Slack, its answer never reached the database: the resumed process asks
    Slack for it (by the outbox key in its metadata) instead of posting it again."""
    await _scenario(tmp_path, pause=False, kill=SLACK_CALLS[call], after_answer=True)
