"""`/cfy jobs cancel` also cancels the manager execution the job started (POST /executions/<id>
{"action": "cancel"}, cloudify_rest_client executions.cancel), and says what it left running."""
from __future__ import annotations

from pathlib import Path

from tests.jobs_support import domain
from tests.waiting import HELD, until


async def _slow_create(d):
    await d.run("snapshots create snap-slow")
    job = d.last_job()
    # the job records the create execution right after the PUT; the manager's clock holds it
    await until(lambda: d.services.store.get_job(job.id).result.get("execution_id"))
    return d.services.store.get_job(job.id)


async def test_cancelling_a_create_job_cancels_its_create_execution_on_the_manager(tmp_path: Path) -> None:
    async with domain(tmp_path, sim_options=HELD) as d:
        job = await _slow_create(d)
        exec_id = job.result["execution_id"]
        reply = await d.run(f"jobs cancel {job.id}", user="U_OPS")
        text = d.text(reply)
        assert f"manager execution `{exec_id}` (create_snapshot) cancelled" in text
        state = await d.sim_state()
        (ex,) = [e for e in state["executions"] if e["id"] == exec_id]
        assert ex["status"] in ("cancelling", "cancelled")


async def test_a_cancel_the_manager_refuses_is_reported_as_left_running(tmp_path: Path) -> None:
    async with domain(tmp_path, sim_options=HELD) as d:
        job = await _slow_create(d)
        exec_id = job.result["execution_id"]
        await d.sim_post("/_sim/faults", {"path": f"/executions/{exec_id}$", "method": "POST",
                                          "status": 400, "error_code": "illegal_action_error",
                                          "message": "Can't cancel this execution now"})
        text = d.text(await d.run(f"jobs cancel {job.id}", user="U_OPS"))
        assert d.services.store.get_job(job.id).state == "cancelled"
        assert f"`{exec_id}` (create_snapshot) *left running*" in text
        assert "Can't cancel this execution now" in text
        state = await d.sim_state()
        (ex,) = [e for e in state["executions"] if e["id"] == exec_id]
        assert ex["status"] not in ("cancelling", "cancelled")
