"""The daily job against the simulator, on an injected clock, reporting to a RecordingNotifier."""
from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

import httpx

from bot import archive
from bot.invocation import Invocation
from bot.schema import open_store
from tests.daily_support import (
    SLOT,
    archive_files,
    daily_services,
    daily_settings,
    verified_archives,
    wait_jobs,
)
from tests.fakes import FakeClock, RecordingNotifier
from tests.waiting import until

SID = "daily-default-20260110-0300"


async def sim_post(sim, path: str, body: dict) -> None:
    await sim_post_json(sim, path, body)


async def sim_post_json(sim, path: str, body: dict) -> dict:
    async with httpx.AsyncClient(base_url=sim.url) as c:
        answer = await c.post(path, json=body)
        answer.raise_for_status()
        return answer.json()


async def test_firing_at_the_slot_archives_a_dated_snapshot(sim, tmp_path):
    settings = daily_settings(sim.url, tmp_path)
    async with daily_services(settings, FakeClock(SLOT + timedelta(seconds=1))) as services:
        job = await services.daily.fire("default")
        job = await services.runner.wait(job.id, timeout=30)
        assert job.state == "done", job.error
        assert job.params["snapshot_id"] == SID
        path = archive.archive_path(settings.archive_dir, "default", SID)
        info = archive.verify_archived(path)
        side = archive.sidecar_path(path).read_text()
        assert side == f"{info.sha256}  {SID}.zip\n"
        assert archive_files(settings.archive_dir) == [f"{SID}.zip", f"{SID}.zip.sha256"]


async def test_a_run_is_recorded_in_daily_runs(sim, tmp_path):
    settings = daily_settings(sim.url, tmp_path)
    async with daily_services(settings) as services:
        job = await services.daily.fire("default")
        await services.runner.wait(job.id, timeout=30)
        row = services.store.daily_run("default", SLOT)
        assert row.status == "ok" and row.snapshot_id == SID and row.job_id == job.id
        assert row.size and row.size > 0 and len(row.sha256) == 64
        assert row.archive_path.endswith(f"default/{SID}.zip")
        assert row.duration_s is not None


async def test_the_report_names_the_snapshot_its_archive_and_checksum(sim, tmp_path):
    notifier = RecordingNotifier()
    settings = daily_settings(sim.url, tmp_path)
    async with daily_services(settings, notifier=notifier) as services:
        job = await services.daily.fire("default")
        job = await services.runner.wait(job.id, timeout=30)
        report = [t for t in notifier.texts("post") if "Daily snapshot of default: ok" in t]
        assert len(report) == 1
        assert SID in report[0] and job.result["sha256"][:12] in report[0]
        # relative to the archive directory: Slack never sees the server's absolute path
        assert f"default/{SID}.zip" in report[0] and str(tmp_path) not in report[0]


async def test_catch_up_runs_a_slot_missed_within_the_grace_time(sim, tmp_path):
    settings = daily_settings(sim.url, tmp_path)
    async with daily_services(settings, FakeClock(SLOT + timedelta(minutes=40))) as services:
        services.daily.note_scheduling(at=SLOT - timedelta(days=1))  # snapbot was scheduling it
        assert await services.daily.catch_up() == {"default": f"started {services.store.list_jobs()[0].id}"}
        await wait_jobs(services)
        assert services.store.daily_run("default", SLOT).status == "ok"
        assert verified_archives(settings.archive_dir) == [SID]


async def test_catch_up_reports_a_slot_missed_beyond_the_grace_time(sim, tmp_path):
    notifier = RecordingNotifier()
    settings = daily_settings(sim.url, tmp_path)
    async with daily_services(settings, FakeClock(SLOT + timedelta(hours=3)), notifier) as services:
        services.store.claim_daily_run("default", SLOT - timedelta(days=1), status="ok")  # ran before
        services.daily.note_scheduling(at=SLOT - timedelta(days=1))
        assert await services.daily.catch_up() == {"default": "missed"}
        assert services.store.daily_run("default", SLOT).status == "missed"
        assert services.store.list_jobs() == []
        assert any("missed" in t for t in notifier.texts("post"))
        assert sim.state.snapshots == {}


async def test_catch_up_leaves_a_slot_that_already_ran_alone(sim, tmp_path):
    settings = daily_settings(sim.url, tmp_path)
    async with daily_services(settings) as services:
        await services.runner.wait((await services.daily.fire("default")).id, timeout=30)
        assert await services.daily.catch_up() == {}
        assert len(services.store.list_jobs(kind="daily")) == 1


async def test_a_second_instance_does_not_run_the_same_slot(sim, tmp_path):
    settings = daily_settings(sim.url, tmp_path)
    async with daily_services(settings) as one, daily_services(settings) as two:
        assert one.store is not two.store
        jobs = await asyncio.gather(one.daily.fire("default"), two.daily.fire("default"),
                                    one.daily.catch_up(), two.daily.catch_up())
        started = [j for j in jobs[:2] if j is not None]
        assert len(started) == 1
        await wait_jobs(one)
        await wait_jobs(two)
    store = open_store(settings.db_path, FakeClock(SLOT))
    try:
        assert len(store.list_jobs(kind="daily")) == 1
    finally:
        store.close()
    assert list(sim.state.snapshots) == [SID]


async def test_a_failed_create_gives_a_loud_report_with_a_retry_button(sim, tmp_path):
    notifier = RecordingNotifier()
    settings = daily_settings(sim.url, tmp_path)
    await sim_post(sim, "/_sim/config", {"create_fails": "disk quota exceeded on /opt/manager"})
    async with daily_services(settings, notifier=notifier) as services:
        job = await services.runner.wait((await services.daily.fire("default")).id, timeout=30)
        assert job.state == "failed"
        report = next(m for k, _, m in notifier.calls if k == "post" and "FAILED" in m["text"])
        text = "\n".join(b.get("text", {}).get("text", "") for b in report["blocks"] if b["type"] == "section")
        assert "creating" in text and "disk quota exceeded" in text
        buttons = [e for b in report["blocks"] if b["type"] == "actions" for e in b["elements"]]
        assert [(b["action_id"], b["value"]) for b in buttons] == [("daily_retry", "default")]
        assert services.store.daily_run("default", SLOT).status == "failed"
        assert archive_files(settings.archive_dir) == []


async def test_a_run_that_finds_the_manager_busy_waits_for_its_executions_and_then_archives(sim, tmp_path):
    """A colleague's install runs at the slot: the manager refuses the snapshot while it runs;
    the run says so once, asks again, and archives the snapshot once the install has ended."""
    notifier = RecordingNotifier()
    settings = daily_settings(sim.url, tmp_path)
    settings = dataclasses.replace(settings, runbook=dataclasses.replace(settings.runbook,
                                                                         queue_timeout_seconds=10**7))
    install = await sim_post_json(sim, "/_sim/executions", {"deployment_id": "dep-1", "workflow_id": "install"})
    async with daily_services(settings, notifier=notifier) as services:
        job = await services.daily.fire("default")
        line = await until(lambda: [t for t in notifier.texts("reply") if "other executions" in t],
                           what="the run to say the manager is busy")
        assert install["id"] in line[0]
        assert services.store.get_job(job.id).state == "creating"
        assert not [e for e in sim.state.executions.values() if e["workflow_id"] == "create_snapshot"]
        await sim_post(sim, f"/_sim/executions/{install['id']}/finish", {})
        job = await services.runner.wait(job.id, timeout=30)
        assert job.state == "done", job.error
        assert len([t for t in notifier.texts("reply") if "other executions" in t]) == 1
    assert verified_archives(settings.archive_dir) == [SID]
    creates = [e for e in sim.state.executions.values() if e["workflow_id"] == "create_snapshot"]
    assert [e["status"] for e in creates] == ["terminated"]


async def test_a_run_that_finds_the_manager_busy_for_too_long_fails_and_leaves_nothing_behind(sim, tmp_path):
    notifier = RecordingNotifier()
    settings = daily_settings(sim.url, tmp_path)
    settings = dataclasses.replace(settings, runbook=dataclasses.replace(settings.runbook,
                                                                         queue_timeout_seconds=2))
    install = await sim_post_json(sim, "/_sim/executions", {"deployment_id": "dep-1", "workflow_id": "install"})
    async with daily_services(settings, notifier=notifier) as services:
        job = await services.runner.wait((await services.daily.fire("default")).id, timeout=30)
        assert job.state == "failed"
        assert "kept running other executions" in job.error and "queue_timeout_seconds" in job.error
        assert install["id"] in job.error
        report = next(t for t in notifier.texts("post") if "FAILED" in t)
        assert "kept running other executions" in report
        assert services.store.daily_run("default", SLOT).status == "failed"
    assert not [e for e in sim.state.executions.values() if e["workflow_id"] == "create_snapshot"]
    assert SID not in sim.state.snapshots
    assert archive_files(settings.archive_dir) == []
    await sim_post(sim, f"/_sim/executions/{install['id']}/finish", {})


async def test_a_download_cut_mid_stream_fails_and_leaves_no_partial_file(sim, tmp_path):
    notifier = RecordingNotifier()
    settings = daily_settings(sim.url, tmp_path)
    await sim_post(sim, "/_sim/faults", {"path": "/archive$", "cut_after_bytes": 100, "count": 5})
    async with daily_services(settings, notifier=notifier) as services:
        job = await services.runner.wait((await services.daily.fire("default")).id, timeout=30)
        assert job.state == "failed" and job.result["failed_step"] == "downloading"
        assert archive_files(settings.archive_dir) == []
        text = next(t for t in notifier.texts("post") if "FAILED" in t)
        assert f"{SID}` created on the manager but not archived" in text


async def test_an_unwritable_archive_dir_fails_and_leaves_no_file(sim, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the archive dir should be")
    settings = daily_settings(sim.url, tmp_path, archive_dir=str(blocker / "archives"))
    async with daily_services(settings) as services:
        job = await services.runner.wait((await services.daily.fire("default")).id, timeout=30)
        assert job.state == "failed" and job.result["failed_step"] == "downloading"
        assert blocker.read_text().startswith("a file")


async def test_three_daily_runs_keep_n_on_the_manager_and_m_archived(sim, tmp_path):
    settings = daily_settings(sim.url, tmp_path, keep_on_manager=2, keep_archived=2)
    clock = FakeClock(SLOT)
    async with daily_services(settings, clock) as services:
        ids = []
        for day in range(3):
            clock.set(SLOT + timedelta(days=day, seconds=5))
            job = await services.runner.wait((await services.daily.fire("default")).id, timeout=30)
            assert job.state == "done", job.error
            ids.append(job.params["snapshot_id"])
        assert sorted(sim.state.snapshots) == ids[1:]
        assert verified_archives(settings.archive_dir) == ids[1:]
        last = services.store.get_job(job.id)
        assert last.result["removed_on_manager"] == [ids[0]]
        assert last.result["removed_archives"] == [ids[0]]


async def test_run_once_uses_the_current_time_for_its_id(sim, tmp_path):
    settings = daily_settings(sim.url, tmp_path)
    async with daily_services(settings, FakeClock(SLOT + timedelta(hours=9, seconds=7))) as services:
        job = await services.daily.run_once(None)
        assert job.state == "done"
        assert job.params["snapshot_id"] == "daily-default-20260110-120007"


async def test_describe_shows_cron_zone_next_run_and_last_runs(sim, tmp_path):
    settings = daily_settings(sim.url, tmp_path)
    async with daily_services(settings, FakeClock(SLOT + timedelta(seconds=1))) as services:
        await services.runner.wait((await services.daily.fire("default")).id, timeout=30)
        reply = await services.daily.describe(None)
        from bot.notifier import plain_text
        text = plain_text(reply.message)
        assert "0 3 * * *" in text and "Europe/Paris" in text
        assert "2026-01-11 03:00 CET" in text
        assert SID in text and "ok" in text


async def test_a_first_start_after_the_grace_time_reports_nothing_missed(sim, tmp_path):
    notifier = RecordingNotifier()
    settings = daily_settings(sim.url, tmp_path)
    async with daily_services(settings, FakeClock(SLOT + timedelta(hours=3)), notifier) as services:
        assert await services.daily.catch_up() == {}
        assert notifier.calls == []
        assert services.store.daily_run("default", SLOT) is None


async def test_start_runs_the_scheduler_and_catches_up(sim, tmp_path):
    settings = daily_settings(sim.url, tmp_path)
    async with daily_services(settings, FakeClock(SLOT + timedelta(minutes=5))) as services:
        services.daily.note_scheduling(at=SLOT - timedelta(hours=1))  # up before, down across the slot
        await services.daily.start()
        assert services.daily.scheduler.apscheduler.get_job("daily:default") is not None
        await wait_jobs(services)
        assert services.store.daily_run("default", SLOT).status == "ok"
        await services.daily.stop()
        assert services.daily.scheduler.apscheduler is None


async def test_a_disabled_schedule_starts_no_scheduler(sim, tmp_path):
    settings = daily_settings(sim.url, tmp_path, enabled=False)
    async with daily_services(settings, FakeClock(SLOT + timedelta(minutes=5))) as services:
        await services.daily.start()
        assert services.daily.scheduler.apscheduler is None
        assert services.store.list_jobs() == []


async def test_a_resumed_job_does_not_create_the_snapshot_twice(sim, tmp_path):
    settings = daily_settings(sim.url, tmp_path)
    async with daily_services(settings) as services:
        job = await services.runner.wait((await services.daily.fire("default")).id, timeout=30)
    # a second process finds the job interrupted in `creating` and resumes it
    async with daily_services(settings) as services:
        services.store.db.execute("update jobs set state = 'creating', finished = 0 where id = ?", [job.id])
        services.store.update_daily_run("default", SLOT, status="running")
        await services.runner.resume_all()
        resumed = await services.runner.wait(job.id, timeout=30)
        assert resumed.state == "done"
    creates = [e for e in sim.state.executions.values() if e["workflow_id"] == "create_snapshot"]
    assert len(creates) == 1
    assert list(sim.state.snapshots) == [SID]


async def test_a_first_start_after_the_slot_runs_nothing_and_a_restart_reports_nothing_missed(sim, tmp_path):
    notifier = RecordingNotifier()
    settings = daily_settings(sim.url, tmp_path)
    clock = FakeClock(SLOT + timedelta(minutes=5))  # within the grace time, but a fresh database
    async with daily_services(settings, clock, notifier) as services:
        await services.daily.start()
        assert services.store.list_jobs() == []
        job = await services.daily.run_now(None, Invocation(user="U_OPS", channel="C_OPS", source="slack"))
        await wait_jobs(services)
        await services.daily.stop()
    clock.advance(3 * 3600)
    async with daily_services(settings, clock, notifier) as services:  # the restart
        assert await services.daily.catch_up() == {}
        await services.daily.start()
        await services.daily.stop()
        assert services.store.daily_run("default", SLOT) is None
        assert not [t for t in notifier.texts("post") if "missed" in t], job
        # nothing for snapbot_daily_runs_total{outcome="missed"} to count
        assert services.store.daily_run_counts(("missed",)) == {}


async def test_a_slot_that_fell_due_while_scheduling_is_caught_up_after_a_restart(sim, tmp_path):
    notifier = RecordingNotifier()
    settings = daily_settings(sim.url, tmp_path)
    clock = FakeClock(SLOT - timedelta(hours=1))
    async with daily_services(settings, clock, notifier) as services:
        await services.daily.start()  # scheduling from an hour before the slot; then down
        await services.daily.stop()
    clock.advance(4 * 3600)  # back after the grace time
    async with daily_services(settings, clock, notifier) as services:
        assert await services.daily.catch_up() == {"default": "missed"}


async def test_a_slot_the_scheduler_missed_is_recorded_and_reported_once(sim, tmp_path):
    notifier = RecordingNotifier()
    settings = daily_settings(sim.url, tmp_path)
    async with daily_services(settings, FakeClock(SLOT + timedelta(hours=2)), notifier) as services:
        await services.daily._problem("default", "missed", SLOT)
        await services.daily._problem("default", "missed", SLOT)
        assert services.store.daily_run("default", SLOT).status == "missed"
        assert len([t for t in notifier.texts("post") if "missed" in t]) == 1


async def test_run_once_first_finishes_a_daily_run_left_half_done(sim, tmp_path):
    settings = daily_settings(sim.url, tmp_path)
    async with daily_services(settings) as services:
        job = await services.runner.wait((await services.daily.fire("default")).id, timeout=30)
        services.store.db.execute("update jobs set state = 'downloading', finished = 0 where id = ?", [job.id])
        services.store.update_daily_run("default", SLOT, status="running")
    async with daily_services(settings, FakeClock(SLOT + timedelta(hours=1))) as services:
        fresh = await services.daily.run_once("default")
        assert fresh.state == "done"
        assert services.store.get_job(job.id).state == "done"
        assert services.store.daily_run("default", SLOT).status == "ok"


async def test_the_registered_cron_job_runs_the_slot_of_the_injected_time(sim, tmp_path):
    settings = daily_settings(sim.url, tmp_path)
    clock = FakeClock(SLOT - timedelta(days=1, minutes=1))
    async with daily_services(settings, clock) as services:
        services.store.claim_daily_run("default", SLOT - timedelta(days=2), status="ok")  # not a first start
        await services.daily.start()
        aps_job = services.daily.scheduler.apscheduler.get_job("daily:default")
        # what APScheduler would compute from the injected now: 03:00 Paris = 02:00 UTC
        assert aps_job.trigger.get_next_fire_time(None, clock.now()) == SLOT - timedelta(days=1)
        clock.set(SLOT + timedelta(seconds=2))  # the timer goes off at 02:00 UTC
        job = await aps_job.func(*aps_job.args)
        job = await services.runner.wait(job.id, timeout=30)
        assert job.params["snapshot_id"] == SID and job.state == "done"
        await services.daily.stop()


async def test_the_daily_run_prunes_audit_entries_older_than_the_retention(sim, tmp_path):
    import dataclasses

    settings = daily_settings(sim.url, tmp_path)
    settings = dataclasses.replace(settings, retention=dataclasses.replace(settings.retention,
                                                                           keep_audit_days=30))
    clock = FakeClock(SLOT - timedelta(days=31))
    async with daily_services(settings, clock) as services:
        audit = services.dispatcher.audit
        audit.record(user="U1", source="slack", channel="C_OPS", what="snapshots list", outcome="ok")
        clock.advance(timedelta(days=2).total_seconds())  # 29 days before the run: kept
        audit.record(user="U2", source="slack", channel="C_OPS", what="jobs", outcome="ok")
        clock.advance(timedelta(days=29, seconds=1).total_seconds())
        job = await services.daily.fire("default")
        job = await services.runner.wait(job.id, timeout=30)
        assert job.state == "done", job.error
        assert job.result["audit_pruned"] == 1
        assert [e.user for e in audit.query()] == ["U2"]


def test_keep_audit_days_zero_keeps_everything(tmp_path):
    from bot.audit import AuditLog
    from bot.config.load import load_settings

    settings = load_settings({"CLOUDIFY_URL": "http://127.0.0.1:9", "SNAPBOT_KEEP_AUDIT_DAYS": "0"}, None)
    assert settings.retention.keep_audit_days == 0
    clock = FakeClock(SLOT)
    store = open_store(str(tmp_path / "a.db"), clock)
    try:
        audit = AuditLog(store)
        audit.record(user="U1", source="slack", channel="C", what="jobs", outcome="ok")
        clock.advance(timedelta(days=5000).total_seconds())
        assert audit.prune(0) == 0 and len(audit.query()) == 1
        assert audit.prune(1) == 1 and audit.query() == []
    finally:
        store.close()
