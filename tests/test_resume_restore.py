"""Resume decisions of the restore driver, in process: a job found in a state whose side effect
may or may not have happened checks the manager instead of repeating it. The manager runs on a
manual clock that moves only while a test waits for the job (tests.waiting)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.cloudify.models import Execution
from tests.jobs_support import domain
from tests.waiting import HELD, until


async def _snapshot(d: Any, sid: str = "snap-1") -> None:
    client = d.services.clients["default"]
    await client.create_snapshot(sid)

    async def created() -> bool:
        return (await client.get_snapshot(sid)).status == "created"
    await until(created, advancing=d.sims.values(), what=f"snapshot {sid} created")


def _job_in(d: Any, state: str, **result: Any) -> Any:
    store = d.services.store
    job = store.create_job("restore", "default", state,
                           params={"snapshot_id": "snap-1", "force": True, "safety_snapshot": False},
                           requester="U_OPS", channel="C_OPS")
    if result:
        job = store.merge_result(job.id, **result)
    return job


async def _run(d: Any, job: Any) -> Any:
    d.services.runner.start(job.id)
    return await d.finish(job.id, 30, advance=True)


async def test_resume_in_restoring_follows_a_restore_posted_before_the_crash(tmp_path: Path) -> None:
    async with domain(tmp_path, sim_options=HELD) as d:
        await _snapshot(d)
        client = d.services.clients["default"]
        await client.activate_maintenance()
        # the dead process recorded what existed, posted the restore, and died before saving its id
        job = _job_in(d, "restoring", restore_known_ids=[], restore_posted_at="2026-01-01T00:00:00.000Z")
        await client.restore_snapshot("snap-1", force=True)
        job = await _run(d, job)
        assert job.state == "done", job.error
        assert len((await d.sim_state())["restores"]) == 1


async def test_resume_in_restoring_posts_when_the_earlier_attempt_never_reached_the_manager(tmp_path: Path) -> None:
    async with domain(tmp_path, sim_options=HELD) as d:
        await _snapshot(d)
        await d.services.clients["default"].activate_maintenance()
        job = _job_in(d, "restoring", restore_known_ids=[], restore_posted_at="2026-01-01T00:00:00.000Z")
        job = await _run(d, job)
        assert job.state == "done", job.error
        assert len((await d.sim_state())["restores"]) == 1


async def test_resume_in_restoring_with_a_finished_recorded_execution_does_not_restore_again(tmp_path: Path) -> None:
    async with domain(tmp_path, sim_options=HELD) as d:
        await _snapshot(d)
        client = d.services.clients["default"]
        await client.activate_maintenance()
        ex = await client.restore_snapshot("snap-1", force=True)

        # read in process: the restore's REST outage lasts until the clock moves on
        await until(lambda: d.sim.state.executions[ex.id]["status"] in ("terminated", "failed"),
                    advancing=d.sims.values())
        assert (await client.get_execution(ex.id, bypass_maintenance=True)).finished
        job = _job_in(d, "restoring", restore_known_ids=[], restore_execution_id=ex.id)
        job = await _run(d, job)
        assert job.state == "done", job.error
        assert len((await d.sim_state())["restores"]) == 1


async def test_resume_in_maintenance_activating_when_already_activated_moves_on(tmp_path: Path) -> None:
    async with domain(tmp_path, sim_options=HELD) as d:
        await _snapshot(d)
        await d.services.clients["default"].activate_maintenance()
        job = await _run(d, _job_in(d, "maintenance_activating"))
        assert job.state == "done", job.error
        assert (await d.sim_state())["maintenance"]["status"] == "deactivated"


async def test_resume_in_safety_snapshot_reuses_the_snapshot_already_created(tmp_path: Path) -> None:
    async with domain(tmp_path, sim_options=HELD) as d:
        await _snapshot(d)
        job = _job_in(d, "safety_snapshot")
        sid = f"safety-{job.id}"
        await _snapshot(d, sid)
        creates: list[int] = []

        async def after_safety(j: Any, detail: str) -> None:
            if j.id == job.id and j.state == "maintenance_activating":
                creates.append(sum(1 for e in d.sim.state.executions.values()
                                   if e.get("workflow_id") == "create_snapshot"
                                   and (e.get("parameters") or {}).get("snapshot_id") == sid))

        d.services.runner.on_change(after_safety)
        job = await _run(d, job)
        assert job.state == "done", job.error
        assert creates == [1]
        assert job.result["safety_snapshot_id"] == sid and job.result["safety_sha256"]


async def test_resume_refuses_to_guess_when_a_restore_ran_but_cannot_be_found(tmp_path: Path) -> None:
    """Unit-level: an execution list that never shows our restore while snapshot-status says
    running, then not-running: the job fails asking a person to check, never posts a second one."""
    async with domain(tmp_path, sim_options=HELD) as d:
        await _snapshot(d)
        client = d.services.clients["default"]
        calls = {"status": 0, "posts": 0}

        async def no_execs(**kw: Any) -> list[Execution]:
            return []

        async def status() -> str:
            calls["status"] += 1
            return "running" if calls["status"] < 3 else "not-running"

        async def post(*a: Any, **kw: Any) -> Execution:
            calls["posts"] += 1
            raise AssertionError("must not post")

        client.list_executions = no_execs  # type: ignore[method-assign]
        client.snapshot_status = status  # type: ignore[method-assign]
        client.restore_snapshot = post  # type: ignore[method-assign]
        job = await _run(d, _job_in(d, "restoring", restore_known_ids=[], restore_posted_at="2026-01-01T00:00:00.000Z"))
        assert job.state == "failed" and "cannot be found" in job.error
        assert calls["posts"] == 0


async def test_resume_without_a_view_of_executions_fails_safe_instead_of_restoring_twice(tmp_path: Path) -> None:
    """A manager that hides executions in maintenance mode (no bypass): a restore whose POST
    may have happened is not posted again; the job fails asking a person to check."""
    from bot.errors import MaintenanceActive
    async with domain(tmp_path, sim_options=HELD) as d:
        await _snapshot(d)
        client = d.services.clients["default"]
        await client.activate_maintenance()

        async def hidden(**kw: Any) -> list[Execution]:
            raise MaintenanceActive("maintenance mode is active")

        client.list_executions = hidden  # type: ignore[method-assign]
        job = await _run(d, _job_in(d, "restoring", restore_known_ids=None, restore_posted_at="2026-01-01T00:00:00.000Z"))
        assert job.state == "failed" and "cannot tell whether the restore already started" in job.error
        assert (await d.sim_state())["restores"] == []


async def test_resume_in_awaiting_credentials_tries_the_new_secret_once_and_finishes(tmp_path: Path) -> None:
    # the previous process lost its credentials after the restore and died waiting; this one
    # starts with the right secret (the operator's restart): one try, then the rest of the runbook
    async with domain(tmp_path, sim_options=HELD) as d:
        await d.services.clients["default"].activate_maintenance()
        job = _job_in(d, "awaiting_credentials", credentials_resume_state="maintenance_deactivating",
                      restore_execution_id="ex-restore")
        job = await _run(d, job)
        assert job.state == "done", job.error
        assert (await d.sim_state())["maintenance"]["status"] == "deactivated"
        assert [t.to_state for t in d.services.store.transitions(job.id)][-2:] == ["maintenance_deactivating", "done"]


async def test_resume_in_unwinding_finishes_the_unwind_once(tmp_path: Path) -> None:
    """A process that died while undoing a cancelled restore: the resumed job cancels the queued
    safety snapshot and turns maintenance mode off (snapbot turned it on), once, and ends
    cancelled; the other execution is untouched and no restore ever starts."""
    async with domain(tmp_path, sim_options=HELD) as d:
        client = d.services.clients["default"]
        live = await d.sim_post("/_sim/executions", {"deployment_id": "dep-1", "workflow_id": "install",
                                                     "duration": None})
        await client.create_snapshot("safety-x", queue=True)  # queued behind the install
        await client.activate_maintenance()  # activating: the install runs
        job = _job_in(d, "unwinding", safety_snapshot_id="safety-x", maintenance_before="deactivated",
                      unwind_for="cancelled", cancelled_by="U_OPS")
        job = await _run(d, job)
        assert job.state == "cancelled", job.error
        assert any("cancelled its safety snapshot `safety-x`" in u for u in job.result["unwound"])
        assert any("deactivated maintenance mode" in u for u in job.result["unwound"])
        state = await d.sim_state()
        assert state["maintenance"]["status"] == "deactivated" and state["restores"] == []
        assert "safety-x" not in {s["id"] for s in state["snapshots"]}
        assert next(e for e in state["executions"] if e["id"] == live["id"])["status"] == "started"
        # resumed again after the end: nothing more happens
        assert (await _run(d, job)).state == "cancelled"


async def test_resume_in_unwinding_leaves_maintenance_on_when_snapbot_found_it_on(tmp_path: Path) -> None:
    async with domain(tmp_path, sim_options=HELD) as d:
        await d.services.clients["default"].activate_maintenance()
        job = _job_in(d, "unwinding", maintenance_before="activated", unwind_for="failed",
                      unwind_error="maintenance mode stuck", failed_step="maintenance_activating")
        job = await _run(d, job)
        assert job.state == "failed"
        assert job.result["left"] == ["maintenance mode activated, as snapbot found it"]
        assert (await d.sim_state())["maintenance"]["status"] == "activated"
