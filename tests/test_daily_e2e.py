"""The daily job end to end: the simulator, the Slack stand-in and the real Bolt app.

The clock is a FakeClock given to the rig (days pass without sleeping); the
simulator and Slack run for real over loopback HTTP. Retries go through signed button clicks.
"""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from bot import archive
from bot.notifier import plain_text
from tests.daily_support import SLOT, archive_files, verified_archives
from tests.fakes import FakeClock
from tests.harness import CHANNEL, REQUESTER, make_rig

ENV = {"SNAPBOT_SCHEDULE": "0 3 * * *", "SNAPBOT_TIMEZONE": "Europe/Paris", "SNAPBOT_KEEP_ON_MANAGER": "2",
       "SNAPBOT_KEEP_ARCHIVED": "2"}


@pytest.fixture
def clock() -> FakeClock:
    """The bot's clock, given to the rig: days pass without sleeping."""
    return FakeClock(SLOT + timedelta(seconds=5))


def reports(rig, word: str) -> list[str]:
    return [plain_text(m) for m in rig.slack.messages(CHANNEL, top_level=True)
            if word in plain_text(m) and "Daily snapshot of default" in plain_text(m)]


async def fire_and_wait(rig):
    job = await rig.services.daily.fire("default")
    return await rig.wait_job(job.id)


async def retry_by_click(rig, failed_job):
    resp = await rig.click("daily_retry", "default", user=REQUESTER)
    assert resp.status == 200
    retry = await rig.wait_for(lambda: next((j for j in rig.jobs(kind="daily")
                                             if j.id != failed_job.id), None))
    return await rig.wait_job(retry.id)


async def test_three_daily_runs_leave_n_snapshots_and_m_archives_and_report_each(tmp_path, clock):
    async with make_rig(tmp_path, env_overrides=ENV, start_services=False, clock=clock) as rig:
        ids = []
        for day in range(3):
            clock.set(SLOT + timedelta(days=day, seconds=5))
            job = await fire_and_wait(rig)
            assert job.state == "done", job.error
            ids.append(job.params["snapshot_id"])
        assert ids == ["daily-default-20260110-0300", "daily-default-20260111-0300",
                       "daily-default-20260112-0300"]
        state = await rig.sim_state()
        assert sorted(s["id"] for s in state["snapshots"]) == ids[1:]
        assert verified_archives(rig.settings.archive_dir) == ids[1:]
        for sid in ids[1:]:
            path = archive.archive_path(rig.settings.archive_dir, "default", sid)
            assert archive.read_sidecar(path) == archive.sha256_file(path)
        ok = reports(rig, ": ok")
        assert len(ok) == 3
        for sid, text in zip(ids, ok, strict=True):
            assert sid in text
        assert f"removed on the manager: `{ids[0]}`" in ok[-1]
        assert f"removed from the archive: `{ids[0]}`" in ok[-1]


async def test_a_failed_create_reports_loudly_and_retry_now_succeeds(tmp_path, clock):
    async with make_rig(tmp_path, env_overrides=ENV, start_services=False, clock=clock) as rig:
        await rig.sim_post("/_sim/config", {"create_fails": "no space left on /opt/manager"})
        failed = await fire_and_wait(rig)
        assert failed.state == "failed"
        [text] = reports(rig, "FAILED")
        assert "creating" in text and "no space left" in text and "[Retry now]" in text
        assert archive_files(rig.settings.archive_dir) == []
        await rig.sim_post("/_sim/config", {"create_fails": None})
        retry = await retry_by_click(rig, failed)
        assert retry.state == "done", retry.error
        assert verified_archives(rig.settings.archive_dir) == [retry.params["snapshot_id"]]
        assert any(retry.params["snapshot_id"] in t for t in reports(rig, ": ok"))


async def test_a_download_cut_mid_stream_leaves_no_partial_file_and_retry_succeeds(tmp_path, clock):
    async with make_rig(tmp_path, env_overrides=ENV, start_services=False, clock=clock) as rig:
        # cut on every attempt of the first run (1 + the client's download_retries), not after
        cuts = 1 + rig.services.clients["default"].session.download_retries
        await rig.sim_post("/_sim/faults", {"path": "/archive$", "cut_after_bytes": 200, "count": cuts})
        failed = await fire_and_wait(rig)
        assert failed.state == "failed" and failed.result["failed_step"] == "downloading"
        [text] = reports(rig, "FAILED")
        assert "created on the manager but not archived" in text
        assert archive_files(rig.settings.archive_dir) == []
        retry = await retry_by_click(rig, failed)
        assert retry.state == "done", retry.error
        assert len(verified_archives(rig.settings.archive_dir)) == 1


async def test_an_unwritable_archive_dir_reports_failure_and_retry_succeeds(tmp_path, clock):
    blocker = tmp_path / "blocked"
    blocker.write_text("a file, not a directory")
    env = dict(ENV, SNAPBOT_ARCHIVE_DIR=str(blocker / "archives"))
    async with make_rig(tmp_path, env_overrides=env, start_services=False, clock=clock) as rig:
        failed = await fire_and_wait(rig)
        assert failed.state == "failed" and failed.result["failed_step"] == "downloading"
        [text] = reports(rig, "FAILED")
        assert "downloading" in text and "[Retry now]" in text
        blocker.unlink()  # the operator fixes the disk
        retry = await retry_by_click(rig, failed)
        assert retry.state == "done", retry.error
        assert len(verified_archives(rig.settings.archive_dir)) == 1


async def test_schedule_command_shows_the_next_run_in_the_configured_zone(tmp_path, clock):
    async with make_rig(tmp_path, env_overrides=ENV, start_services=False, clock=clock) as rig:
        await rig.command("/cfy snapshots schedule")
        texts = await rig.wait_for(lambda: [t for t in rig.slack.texts() if "0 3 * * *" in t])
        assert "Europe/Paris" in texts[-1] and "2026-01-11 03:00 CET" in texts[-1]


async def test_run_now_command_starts_a_daily_run(tmp_path, clock):
    async with make_rig(tmp_path, env_overrides=ENV, start_services=False, clock=clock) as rig:
        await rig.command("/cfy snapshots schedule run-now")
        job = await rig.wait_for(lambda: next(iter(rig.jobs(kind="daily")), None))
        job = await rig.wait_job(job.id)
        assert job.state == "done", job.error
        assert job.requester == REQUESTER


@pytest.mark.slow
async def test_snapbot_daily_once_runs_from_a_terminal_with_env_only_config(tmp_path):
    sim = subprocess.Popen([sys.executable, "-m", "devtools.simulator", "--port", "0", "--speed", "200"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = _read_sim_url(sim)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SNAPBOT_", "CLOUDIFY_"))}
        env.update(CLOUDIFY_URL=url, CLOUDIFY_USERNAME="admin", CLOUDIFY_PASSWORD="admin",
                   SNAPBOT_DB=str(tmp_path / "db.sqlite"), SNAPBOT_ARCHIVE_DIR=str(tmp_path / "arch"))
        snapbot = str(Path(sys.executable).with_name("snapbot"))
        done = subprocess.run([snapbot, "daily", "--once"], env=env, capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "Daily snapshot of default: ok" in done.stdout and ":white_check_mark:" not in done.stdout
        assert len(verified_archives(tmp_path / "arch")) == 1
        bad = dict(env, SNAPBOT_ARCHIVE_DIR="/proc/version/arch")
        failed = subprocess.run([snapbot, "daily", "--once", "--manager", "default"], env=bad,
                                capture_output=True, text=True, timeout=120)
        assert failed.returncode == 1, failed.stdout + failed.stderr
        assert "FAILED" in failed.stdout
    finally:
        sim.terminate()
        sim.wait(10)


def _read_sim_url(proc) -> str:
    import re
    for _ in range(50):
        line = proc.stdout.readline()
        m = re.search(r"(http://127\.0\.0\.1:\d+)", line or "")
        if m:
            return m.group(1)
    raise AssertionError("the simulator did not print its URL")


async def test_gated_run_now_waits_for_an_approver_then_runs(tmp_path, clock):
    env = dict(ENV, SNAPBOT_GATED="snapshots.schedule.run-now")
    async with make_rig(tmp_path, env_overrides=env, start_services=False, clock=clock) as rig:
        await rig.command("/cfy snapshots schedule run-now")
        job = await rig.wait_for(lambda: next(iter(rig.jobs(kind="daily")), None))
        assert job.state == "awaiting_approval"
        await rig.wait_for(lambda: rig.slack.find_button("job_approve", job.id))
        resp = await rig.click("job_approve", job.id, user="U_LEAD1")
        assert resp.status == 200
        job = await rig.wait_job(job.id)
        assert job.state == "done", job.error
        assert len(verified_archives(rig.settings.archive_dir)) == 1


async def test_a_rejected_gated_run_shows_as_rejected_in_the_schedule(tmp_path, clock):
    env = dict(ENV, SNAPBOT_GATED="snapshots.schedule.run-now")
    async with make_rig(tmp_path, env_overrides=env, start_services=False, clock=clock) as rig:
        await rig.command("/cfy snapshots schedule run-now")
        job = await rig.wait_for(lambda: next(iter(rig.jobs(kind="daily")), None))
        await rig.wait_for(lambda: rig.slack.find_button("job_reject", job.id))
        await rig.click("job_reject", job.id, user="U_LEAD1")
        await rig.wait_job(job.id)
        view = rig.services.daily.view("default")
        assert [r.status for r in view.last_runs] == ["rejected"]
        assert (await rig.sim_state())["snapshots"] == []


async def test_an_archived_daily_snapshot_uploads_back_with_from_archive(tmp_path, clock):
    async with make_rig(tmp_path, env_overrides=ENV, start_services=False, clock=clock) as rig:
        job = await fire_and_wait(rig)
        sid = job.params["snapshot_id"]
        await rig.services.client("default").delete_snapshot(sid)
        await rig.command(f"/cfy snapshots upload {sid} --from-archive default")
        upload = await rig.wait_for(lambda: next(iter(rig.jobs(kind="snapshot_upload")), None))
        upload = await rig.wait_job(upload.id)
        assert upload.state == "done", upload.error
        snaps = {s["id"]: s["status"] for s in (await rig.sim_state())["snapshots"]}
        assert snaps == {sid: "uploaded"}
