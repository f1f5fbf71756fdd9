"""Simple job drivers: resuming after a restart checks the manager before repeating anything;
polling backs off on the injected clock and gives up at the runbook's timeout; the card."""
from __future__ import annotations

import dataclasses
import itertools
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot import archive
from bot.config.settings import RunbookConfig
from bot.errors import ManagerUnavailable, WaitTimeout
from bot.jobs.poll import poll
from bot.jobs.runner import JobContext, JobRunner
from bot.jobs.simple import SIMPLE_KINDS
from bot.messages.jobs import job_card
from bot.notifier import plain_text
from bot.schema import open_store
from tests.fakes import FakeClock, RecordingNotifier
from tests.jobs_support import FAST_RUNBOOK, domain
from tests.waiting import HELD


def crashed_job(d, kind: str, params: dict, state: str = "running", **result):
    """A job as a restart finds it: persisted in `state`, no task running."""
    job = d.services.store.create_job(kind, "default", state, params=params, requester="U_OPS",
                                      channel="C_OPS")
    if result:
        job = d.services.store.update_job(job.id, result=result)
    return job


async def resume(d, job_id: str):
    resumed = await d.services.runner.resume_all()
    assert job_id in resumed
    return await d.finish(job_id)


def executions(state: dict, workflow: str) -> list[dict]:
    return [e for e in state["executions"] if e["workflow_id"] == workflow]


async def test_every_simple_kind_has_a_registered_driver(tmp_path: Path) -> None:
    async with domain(tmp_path) as d:
        for kind in SIMPLE_KINDS:
            assert d.services.runner.driver(kind).machine.initial == "queued"


async def test_resumed_create_whose_put_went_through_waits_instead_of_creating_again(tmp_path: Path) -> None:
    async with domain(tmp_path) as d:
        await d.run("snapshots create snap-a")
        await d.finish()
        job = crashed_job(d, "snapshot_create", {"snapshot_id": "snap-a"})
        job = await resume(d, job.id)
        assert job.state == "done", job.error
        assert len(executions(await d.sim_state(), "create_snapshot")) == 1


async def test_resumed_create_whose_put_never_happened_creates(tmp_path: Path) -> None:
    async with domain(tmp_path) as d:
        job = crashed_job(d, "snapshot_create", {"snapshot_id": "snap-new"})
        job = await resume(d, job.id)
        assert job.state == "done", job.error
        assert len(executions(await d.sim_state(), "create_snapshot")) == 1


async def test_a_queued_job_is_resumed_from_the_start(tmp_path: Path) -> None:
    async with domain(tmp_path) as d:
        job = crashed_job(d, "snapshot_create", {"snapshot_id": "snap-q"}, state="queued")
        job = await resume(d, job.id)
        assert [t.to_state for t in d.services.store.transitions(job.id)] == ["queued", "running", "done"]


async def test_a_job_awaiting_approval_is_not_resumed(tmp_path: Path) -> None:
    async with domain(tmp_path) as d:
        job = crashed_job(d, "snapshot_delete", {"snapshot_id": "x"}, state="awaiting_approval")
        assert job.id not in await d.services.runner.resume_all()


async def test_resumed_download_starts_over_and_clears_the_stale_partial(tmp_path: Path) -> None:
    async with domain(tmp_path) as d:
        await d.run("snapshots create snap-a")
        await d.finish()
        dest = archive.archive_path(d.services.settings.archive_dir, "default", "snap-a")
        dest.parent.mkdir(parents=True)
        stale = dest.with_name(f".{dest.name}.part-deadbeef")
        stale.write_bytes(b"half an archive")
        job = crashed_job(d, "snapshot_download", {"snapshot_id": "snap-a"})
        job = await resume(d, job.id)
        assert job.state == "done", job.error
        assert not stale.exists()
        assert archive.verify_archived(dest).sha256 == job.result["sha256"]


async def test_resumed_delete_of_an_already_deleted_snapshot_is_done(tmp_path: Path) -> None:
    async with domain(tmp_path) as d:
        job = crashed_job(d, "snapshot_delete", {"snapshot_id": "gone"})
        job = await resume(d, job.id)
        assert job.state == "done", job.error


async def test_resumed_upload_of_an_already_uploaded_snapshot_does_not_send_it_again(tmp_path: Path) -> None:
    async with domain(tmp_path) as d:
        await d.run("snapshots create snap-a")
        await d.finish()
        await d.run("snapshots download snap-a")
        dl = await d.finish()
        before = (await d.sim_state())["request_counts"].get("/api/v3.1/snapshots/snap-a/archive", 0)
        job = crashed_job(d, "snapshot_upload", {"snapshot_id": "snap-a",
                                                 "archive_path": dl.result["archive_path"]})
        job = await resume(d, job.id)
        assert job.state == "done", job.error
        after = (await d.sim_state())["request_counts"].get("/api/v3.1/snapshots/snap-a/archive", 0)
        assert after == before


async def test_resumed_maintenance_activation_of_an_activated_manager_is_done(tmp_path: Path) -> None:
    async with domain(tmp_path) as d:
        await d.run("maintenance-mode activate")
        await d.finish()
        job = crashed_job(d, "maintenance_activate", {})
        job = await resume(d, job.id)
        assert job.state == "done", job.error
        assert (await d.sim_state())["maintenance"]["status"] == "activated"


async def test_resumed_agents_install_does_not_start_executions_twice(tmp_path: Path) -> None:
    async with domain(tmp_path) as d:
        ex = await d.sim_post("/_sim/executions", {"deployment_id": "dep-1",
                                                   "workflow_id": "install_new_agents", "duration": 0.5})
        job = crashed_job(d, "agents_install", {}, deployment_ids=["dep-1", "dep-2"],
                          deployments={"dep-1": {"execution_id": ex["id"], "status": "started", "ok": False}})
        job = await resume(d, job.id)
        assert job.state == "done", job.error
        runs = executions(await d.sim_state(), "install_new_agents")
        assert sorted(e["deployment_id"] for e in runs) == ["dep-1", "dep-2"]


async def test_agents_install_fails_when_an_agent_install_fails(tmp_path: Path) -> None:
    async with domain(tmp_path) as d:
        ex = await d.sim_post("/_sim/executions", {"deployment_id": "dep-1",
                                                   "workflow_id": "install_new_agents", "duration": None})
        job = crashed_job(d, "agents_install", {}, deployment_ids=["dep-1"],
                          deployments={"dep-1": {"execution_id": ex["id"], "status": "started", "ok": False}})
        await d.services.runner.resume_all()
        await d.sim_post(f"/_sim/executions/{ex['id']}/finish", {"status": "failed"})
        job = await d.finish(job.id)
        assert job.state == "failed"
        assert "dep-1" in job.error and "1 of 1" in job.error


async def test_a_job_that_cannot_reach_the_manager_fails_with_a_readable_error(tmp_path: Path) -> None:
    async with domain(tmp_path) as d:
        await d.sim.close()
        await d.run("snapshots create snap-a")
        job = await d.finish(timeout=60)
        assert job.state == "failed"
        assert "cannot reach manager `default`" in job.error, job.error


# -- polling on a fake clock --------------------------------------------------------------------

def fake_ctx(tmp_path: Path) -> JobContext:
    clock = FakeClock(datetime(2026, 1, 1, tzinfo=UTC))
    store = open_store(tmp_path / "db.sqlite", clock)
    runner = JobRunner(store, clock, RecordingNotifier())
    job = store.create_job("snapshot_create", "default", "running", params={"snapshot_id": "x"})
    return JobContext(job, runner)


async def test_poll_keeps_the_first_interval_while_the_manager_answers(tmp_path: Path) -> None:
    ctx = fake_ctx(tmp_path)
    pacing = RunbookConfig(poll_interval_seconds=2, poll_max_interval_seconds=15)
    seen = []

    async def check():
        seen.append(ctx.clock.now())
        return "ok" if len(seen) == 7 else None

    assert await poll(ctx, check, pacing=pacing, timeout=600, what="x") == "ok"
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(seen)]
    assert gaps == [2, 2, 2, 2, 2, 2]  # a change on the manager is seen within one interval
    ctx.store.close()


async def test_poll_backs_off_doubling_up_to_the_maximum_only_while_unreachable(tmp_path: Path) -> None:
    ctx = fake_ctx(tmp_path)
    pacing = RunbookConfig(poll_interval_seconds=2, poll_max_interval_seconds=15)
    seen = []

    async def check():
        seen.append(ctx.clock.now())
        if len(seen) <= 5:
            raise ManagerUnavailable("connection refused")
        return "ok" if len(seen) == 8 else None

    assert await poll(ctx, check, pacing=pacing, timeout=600, what="x") == "ok"
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(seen)]
    assert gaps == [2, 4, 8, 15, 15, 2, 2]
    ctx.store.close()


async def test_a_long_wait_refreshes_the_card_at_least_every_minute(tmp_path: Path) -> None:
    ctx = fake_ctx(tmp_path)
    touched = []

    async def touch_card() -> None:
        touched.append(ctx.clock.now())

    ctx.touch_card = touch_card  # type: ignore[method-assign]
    pacing = RunbookConfig(poll_interval_seconds=7, poll_max_interval_seconds=15)
    calls = []

    async def check():
        calls.append(1)
        return "ok" if len(calls) == 60 else None  # about 7 minutes

    await poll(ctx, check, pacing=pacing, timeout=3600, what="x")
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(touched)]
    assert len(touched) >= 6 and all(g <= 60 for g in gaps)
    ctx.store.close()


async def test_poll_gives_up_at_the_timeout(tmp_path: Path) -> None:
    ctx = fake_ctx(tmp_path)
    pacing = RunbookConfig(poll_interval_seconds=1, poll_max_interval_seconds=10)

    async def never():
        return None

    with pytest.raises(WaitTimeout, match="gave up waiting for the thing"):
        await poll(ctx, never, pacing=pacing, timeout=60, what="the thing")
    ctx.store.close()


async def test_poll_says_once_that_the_manager_stopped_answering_and_once_that_it_is_back(tmp_path: Path) -> None:
    ctx = fake_ctx(tmp_path)
    said: list[str] = []

    async def say(text: str) -> None:
        said.append(text)

    ctx.say = say  # type: ignore[method-assign]
    answers = iter([ManagerUnavailable("connection refused"), ManagerUnavailable("connection refused"),
                    None, "ok"])

    async def check():
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    pacing = RunbookConfig(poll_interval_seconds=1, poll_max_interval_seconds=1)
    assert await poll(ctx, check, pacing=pacing, timeout=60, what="x") == "ok"
    assert said == ["manager not answering (connection refused); still polling", "the manager answers again"]
    ctx.store.close()


# -- the card -----------------------------------------------------------------------------------

async def test_the_card_of_a_running_job_has_a_cancel_button_and_a_done_one_has_none(tmp_path: Path) -> None:
    async with domain(tmp_path) as d:
        job = crashed_job(d, "snapshot_create", {"snapshot_id": "snap-a"})
        running = job_card(job, d.services.store.transitions(job.id))
        buttons = [e for b in running["blocks"] if b["type"] == "actions" for e in b["elements"]]
        assert [(b["action_id"], b["value"]) for b in buttons] == [("job_cancel", job.id)]
        done = dataclasses.replace(job, state="done", result={"snapshot_id": "snap-a", "status": "created",
                                                              "duration_s": 12})
        text = plain_text(job_card(done, d.services.store.transitions(job.id)))
        assert "created" in text and "12s" in text and "Cancel" not in text


async def test_the_card_of_a_failed_job_shows_its_error(tmp_path: Path) -> None:
    async with domain(tmp_path) as d:
        job = crashed_job(d, "snapshot_create", {"snapshot_id": "snap-a"})
        failed = dataclasses.replace(job, state="failed", error="the manager said no")
        assert "the manager said no" in plain_text(job_card(failed, []))


async def test_an_approved_job_that_finds_its_manager_busy_fails_saying_so(tmp_path: Path) -> None:
    async with domain(tmp_path, sim_options=HELD) as d:
        waiting = crashed_job(d, "snapshot_delete", {"snapshot_id": "x"}, state="awaiting_approval")
        await d.run("snapshots create slow")
        busy = d.last_job()
        d.services.store.transition(waiting.id, "awaiting_approval", "queued", actor="U_LEAD1")
        d.services.runner.start(waiting.id)
        job = await d.finish(waiting.id)
        assert job.state == "failed" and busy.id in job.error and "busy" in job.error
        await d.services.runner.cancel(busy.id, "U_OPS")


async def test_maintenance_activation_that_times_out_says_what_state_the_manager_is_in(tmp_path: Path) -> None:
    import dataclasses as dc
    async with domain(tmp_path, runbook=dc.replace(FAST_RUNBOOK, maintenance_timeout_seconds=0.3)) as d:
        ex = await d.sim_post("/_sim/executions", {"deployment_id": "dep-1", "workflow_id": "install",
                                                   "duration": None})
        await d.run("maintenance-mode activate")
        job = await d.finish()
        assert job.state == "failed"
        # it turned maintenance on, so it turns it off again (`activating` refuses new work)
        assert "activated" in job.error and ex["id"] in job.error and "deactivated again" in job.error
        assert (await d.sim_state())["maintenance"]["status"] == "deactivated"
        await d.sim_post(f"/_sim/executions/{ex['id']}/finish", {"status": "terminated"})


async def test_a_resumed_maintenance_activate_asks_the_manager_first_and_says_its_wait_once(
        tmp_path: Path) -> None:
    from tests.waiting import until

    async with domain(tmp_path) as d:
        ex = await d.sim_post("/_sim/executions", {"deployment_id": "dep-1", "workflow_id": "install",
                                                   "duration": None})
        await d.run("maintenance-mode activate")
        job = d.last_job()
        await until(lambda: any("activating: waiting for" in t for t in d.notifier.texts("reply")), timeout=15)
        await d.services.runner.shutdown()  # the process stops while the manager is activating
        polls = d.sim.state.request_counts["/api/v3.1/maintenance"]
        assert await d.services.runner.resume_all() == [job.id]
        await until(lambda: d.sim.state.request_counts["/api/v3.1/maintenance"] > polls + 1, timeout=15)
        await d.sim_post(f"/_sim/executions/{ex['id']}/finish", {"status": "terminated"})
        job = await d.finish(job.id)
        assert job.state == "done", job.error
        assert d.sim.state.request_counts["/api/v3.1/maintenance/activate"] == 1  # not sent again
        waiting = [t for t in d.notifier.texts("reply") if "activating: waiting for" in t]
        assert len(waiting) == 1, waiting
