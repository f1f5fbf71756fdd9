"""snapbot against the real Cloudify Manager 7.0.5, end to end through Slack: real signed
requests into the Bolt app, the Slack stand-in, SQLite in tmp_path, and Cloudify's own REST
service, mgmtworker and workflows (`snapbot realmanager`, the session's `real_manager`).

Skipped, with one line naming SNAPBOT_CLOUDIFY_SRC, when no Cloudify source is given. The
snapshot workflows need the single-host layout (SNAPBOT_REALMANAGER_SYSTEM_LAYOUT=1, as CI sets).
The manager here runs without Prometheus, so its cluster status is Fail: the restore is asked
for by an approver with --ignore-cluster-health, as the runbook says to when the cluster's
health cannot be read."""
from __future__ import annotations

import dataclasses
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot import archive
from bot.config.settings import RunbookConfig, Settings
from bot.notifier import plain_text
from devtools.realmanager import RealManager
from devtools.standin.slack import render_text
from tests.archive_support import list_archived
from tests.daily_support import SLOT
from tests.fakes import FakeClock
from tests.harness import CHANNEL, REQUESTER, Rig, make_rig
from tests.realmanager_seed import api, ensure_deployment
from tests.realmanager_support import as_premium_writes_it

pytestmark = [pytest.mark.realmanager, pytest.mark.slow]

#: seconds a job may take on the real manager (a legacy restore restarts its services)
JOB_TIMEOUT = 300.0


def _real_polling(settings: Settings) -> Settings:
    """Poll the real manager a few times a second, not the simulator's 50, and give its
    `/snapshot-status` flag the time it really takes to clear (a legacy restore removes it with
    commands run after the workflow's end: snapshot_restore.py _trigger_post_restore_commands)."""
    runbook = dataclasses.replace(
        settings.runbook, poll_interval_seconds=0.25, poll_max_interval_seconds=1.0,
        snapshot_status_grace_seconds=RunbookConfig().snapshot_status_grace_seconds)
    return dataclasses.replace(settings, runbook=runbook)


@asynccontextmanager
async def real_rig(tmp_path: Path, manager: RealManager, **kwargs: Any) -> AsyncIterator[Rig]:
    async with make_rig(tmp_path, manager_url=manager.url, settings_overrides=_real_polling,
                        **kwargs) as rig:
        yield rig


def _id(what: str) -> str:
    return f"{what}-{secrets.token_hex(3)}"


async def cfy(rig: Rig, text: str, user: str = REQUESTER) -> dict[str, Any]:
    before = len(rig.slack.responses())
    resp = await rig.command(text, user=user)
    assert resp.status == 200
    posts = await rig.wait_response(before + 1, timeout=60)
    return dict(posts[before])


async def run_job(rig: Rig, text: str, user: str = REQUESTER) -> Any:
    """Send the command, check it started a job in the channel, wait for the job's end."""
    post = await cfy(rig, text, user=user)
    assert post["response_type"] == "in_channel", render_text(post)
    job = rig.jobs(limit=1)[0]
    assert job.id in render_text(post)
    return await rig.wait_job(job.id, timeout=JOB_TIMEOUT)


async def on_manager(manager: RealManager, path: str, **params: Any) -> Any:
    async with api(manager.url) as http:
        resp = await http.get(path, params=params or None)
        assert resp.status_code == 200, resp.text
        return resp.json()


async def snapshots_on(manager: RealManager) -> dict[str, str]:
    page = await on_manager(manager, "/snapshots", _size=1000)
    return {s["id"]: s["status"] for s in page["items"]}


async def test_create_download_delete_and_upload_a_snapshot_of_the_real_manager(
        tmp_path: Path, real_manager: RealManager) -> None:
    sid = _id("e2e")
    async with real_rig(tmp_path, real_manager) as rig:
        job = await run_job(rig, f"/cfy snapshots create {sid}")
        assert job.state == "done", job.error
        assert (await snapshots_on(real_manager))[sid] == "created"
        # the real create_snapshot execution ended terminated
        execs = await on_manager(real_manager, "/executions", workflow_id="create_snapshot",
                                 _include_system_workflows="true", _size=1000)
        mine = [e for e in execs["items"] if e["parameters"].get("snapshot_id") == sid]
        assert [e["status"] for e in mine] == ["terminated"]

        job = await run_job(rig, f"/cfy snapshots download {sid}")
        assert job.state == "done", job.error
        path = archive.archive_path(rig.settings.archive_dir, "default", sid)
        info = archive.verify_archived(path)  # a zip whose sha256 matches its sidecar
        assert info.sha256 == job.result["sha256"]

        job = await run_job(rig, f"/cfy snapshots delete {sid}")
        assert job.state == "done", job.error
        assert sid not in await snapshots_on(real_manager)

        job = await run_job(rig, f"/cfy snapshots upload {sid} --from-archive")
        assert job.state == "done", job.error
        assert (await snapshots_on(real_manager))[sid] == "uploaded"


async def test_maintenance_mode_on_and_off_on_the_real_manager(tmp_path: Path,
                                                               real_manager: RealManager) -> None:
    async with real_rig(tmp_path, real_manager) as rig:
        job = await run_job(rig, "/cfy maintenance-mode activate")
        assert job.state == "done", job.error
        assert (await on_manager(real_manager, "/maintenance"))["status"] == "activated"
        assert "activated" in render_text(await cfy(rig, "/cfy maintenance-mode status"))
        job = await run_job(rig, "/cfy maintenance-mode deactivate")
        assert job.state == "done", job.error
        assert (await on_manager(real_manager, "/maintenance"))["status"] == "deactivated"
        assert "deactivated" in render_text(await cfy(rig, "/cfy maintenance-mode status"))


async def test_cluster_status_reads_the_real_managers_nodes(tmp_path: Path,
                                                            real_manager: RealManager) -> None:
    nodes = await on_manager(real_manager, "/managers")
    hostname = nodes["items"][0]["hostname"]
    async with real_rig(tmp_path, real_manager) as rig:
        text = render_text(await cfy(rig, "/cfy cluster status"))
    assert hostname in text
    assert "7.0.5" in text
    assert "Fail" in text  # no Prometheus here: the manager says its cluster status is Fail


async def test_a_daily_run_archives_a_verified_snapshot_of_the_real_manager(
        tmp_path: Path, real_manager: RealManager) -> None:
    env = {"SNAPBOT_SCHEDULE": "0 3 * * *", "SNAPBOT_TIMEZONE": "UTC"}
    async with real_rig(tmp_path, real_manager, env_overrides=env,
                        clock=FakeClock(SLOT + timedelta(seconds=5))) as rig:
        await cfy(rig, "/cfy snapshots schedule run-now")
        job = await rig.wait_for(lambda: next(iter(rig.jobs(kind="daily")), None))
        job = await rig.wait_job(job.id, timeout=JOB_TIMEOUT)
        assert job.state == "done", job.error
        sid = job.params["snapshot_id"]
        assert (await snapshots_on(real_manager))[sid] == "created"
        archived = [p for p in list_archived(rig.settings.archive_dir, "default")
                    if p.name == f"{sid}.zip"]
        assert len(archived) == 1
        archive.verify_archived(archived[0])
        reports = [plain_text(m) for m in rig.slack.messages(CHANNEL, top_level=True)
                   if "Daily snapshot of default" in plain_text(m)]
        assert reports and sid in reports[-1]


async def _schedule_work(manager: RealManager, deployment: str) -> tuple[str, str]:
    """An execution scheduled on the deployment for tomorrow (7.x: an execution schedule) and a
    daily schedule of its own; returns both schedule ids."""
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    daily = _id("nightly-install")
    async with api(manager.url) as http:
        resp = await http.post("/executions", json={
            "deployment_id": deployment, "workflow_id": "install", "parameters": {},
            "scheduled_time": tomorrow.strftime("%Y-%m-%dT%H:%M:%S.000Z")})
        assert resp.status_code == 201, resp.text
        resp = await http.put(f"/execution-schedules/{daily}", params={"deployment_id": deployment},
                              json={"workflow_id": "install", "recurrence": "1 day",
                                    "since": (tomorrow + timedelta(hours=1))
                                    .strftime("%Y-%m-%dT%H:%M:%S.000Z")})
        assert resp.status_code == 201, resp.text
        schedules = (await http.get("/execution-schedules", params={"_size": 1000})).json()
    once = next(s["id"] for s in schedules["items"]
                if s["deployment_id"] == deployment and s["id"].startswith("install_")
                and s["id"] != daily)
    return once, daily


async def test_the_restore_runbook_restores_a_snapshot_of_scheduled_work_on_the_real_manager(
        tmp_path: Path, real_manager: RealManager) -> None:
    deployment = await ensure_deployment(real_manager.url)
    once, daily = await _schedule_work(real_manager, deployment)
    sid = _id("before-restore")
    async with real_rig(tmp_path, real_manager) as rig:
        job = await run_job(rig, f"/cfy snapshots create {sid}")
        assert job.state == "done", job.error
        job = await run_job(rig, f"/cfy snapshots download {sid}")
        assert job.state == "done", job.error
        # community 7.0.5 writes no UI schema revisions, and its restore then reads its own legacy
        # snapshot as the new format and restores nothing of it: restore the same archive with the
        # metadata a premium manager writes, so the database really is replaced
        legacy = f"{sid}-legacy"
        archive_dir = Path(rig.settings.archive_dir) / "default"
        as_premium_writes_it(archive_dir / f"{sid}.zip", archive_dir / f"{legacy}.zip")
        job = await run_job(rig, f"/cfy snapshots upload {legacy} --from-archive")
        assert job.state == "done", job.error
        # what changes after the snapshot, which the restore must undo
        async with api(real_manager.url) as http:
            resp = await http.delete(f"/execution-schedules/{daily}",
                                     params={"deployment_id": deployment})
            assert resp.status_code == 204, resp.text
            resp = await http.put(f"/secrets/{sid}-made-after", json={"value": "x"})
            assert resp.status_code in (200, 201), resp.text

        lead, second = "U_LEAD1", "U_LEAD2"
        await cfy(rig, f"/cfy snapshots restore {legacy} --force --ignore-cluster-health",
                  user=lead)
        job = (await rig.wait_for(lambda: [j for j in rig.jobs(kind="restore") if j.message_ts],
                                  timeout=60))[0]
        assert job.state == "requested"
        await rig.click("restore_approve", job.id, user=second)
        job = await rig.wait_job(job.id, timeout=JOB_TIMEOUT)
        assert job.state == "done", (job.state, job.error)
        history = [t.to_state for t in rig.store.transitions(job.id)]
        assert history == ["requested", "approved", "preflight", "safety_snapshot",
                           "maintenance_activating", "maintenance_active", "restoring",
                           "restored", "reporting", "maintenance_deactivating", "done"]
        archive.verify_archived(job.result["safety_archive_path"])  # taken off the manager first
        thread = [plain_text(m) for m in rig.slack.messages(CHANNEL, thread_ts=job.thread_ts)]
        report_text = next(t for t in thread if "Scheduled work report" in t)
        # 7.x keeps scheduled work as execution schedules, which come back with the database:
        # no scheduled execution to mark FAILED
        assert job.result["report"]["failed_originals"] == []
        assert "No scheduled execution was marked FAILED." in report_text
        assert not job.result.get("snapshot_status_stuck")  # the flag cleared, as it should
        restore_id = job.result["restore_execution_id"]
    # what the manager says once the runbook is over (the restore re-inserts its own execution
    # into the restored database, without its parameters: postgres.py _get_execution_restore_query)
    assert (await on_manager(real_manager, f"/executions/{restore_id}"))["status"] == "terminated"
    assert (await on_manager(real_manager, "/maintenance"))["status"] == "deactivated"
    assert (await on_manager(real_manager, "/snapshot-status"))["status"] == "not-running"
    # the database is the snapshot's: the scheduled work is back, what came after is gone
    schedules = await on_manager(real_manager, "/execution-schedules", _size=1000)
    assert {once, daily} <= {s["id"] for s in schedules["items"]}
    async with api(real_manager.url) as http:
        assert (await http.get(f"/secrets/{sid}-made-after")).status_code == 404
