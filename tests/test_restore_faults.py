"""Restore faults: REST outage during the restore, the restore failing on the manager, maintenance
mode stuck in activating, Slack rate limits during progress; and the failure buttons."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from bot.cloudify.client import CloudifyClient
from devtools.simulator import SimulatorOptions
from tests.harness import make_rig
from tests.restore_support import create_snapshot, posted_restore_job


async def _approved(rig, text: str = "/cfy snapshots restore snap-1 --force"):
    await create_snapshot(rig, "snap-1")
    await rig.command(text)
    job = await posted_restore_job(rig)
    await rig.click("restore_approve", job.id, user="U_LEAD1")
    return job


def _card(rig, job) -> str:
    return str(rig.slack.message("C_OPS", rig.store.get_job(job.id).message_ts))


@pytest.mark.parametrize("mode", ["refuse", "502", "503"])
async def test_restore_follows_a_20s_rest_outage_to_done(tmp_path: Path, mode: str) -> None:
    options = SimulatorOptions(clock="manual", restore_outage_seconds=20, outage_mode=mode)
    async with make_rig(tmp_path, sim_options=options) as rig:
        # no client-level retries: the runbook's own polling must ride out the outage
        old = rig.services.clients["default"]
        rig.services.clients["default"] = CloudifyClient(rig.sim.url, username="admin", password="admin", retries=0)
        await old.aclose()
        job = await _approved(rig)

        def thread() -> list[str]:
            job_now = rig.store.get_job(job.id)
            return [m.get("text", "") for m in rig.slack.messages("C_OPS", thread_ts=job_now.thread_ts)]
        # the manager's time runs until its REST service stops, then holds while the bot polls
        await rig.wait_for(rig.sim.in_outage, advance=True)
        await rig.wait_for(lambda: any("manager not answering" in t for t in thread()))
        assert rig.store.get_job(job.id).state == "restoring"
        job = await rig.wait_job(job.id, timeout=60, advance=True)
        assert job.state == "done", job.error
        assert len((await rig.sim_state())["restores"]) == 1
        assert any("the manager answers again" in t for t in thread())


async def test_restore_failing_on_the_manager_ends_failed_with_the_error_and_next_actions(tmp_path: Path) -> None:
    async with make_rig(tmp_path) as rig:
        await rig.sim_post("/_sim/config", {"restore_fails": "Restore failed: database is corrupt"})
        job = await _approved(rig)
        job = await rig.wait_job(job.id, timeout=30)
        assert job.state == "failed"
        assert job.result["failed_step"] == "restoring"
        assert "database is corrupt" in job.error
        assert job.result["manager_state"] == "still in maintenance mode"
        card = await rig.wait_for(lambda: "restore_retry" in _card(rig, job) and _card(rig, job))
        assert "restore_deactivate" in card and "restore_rollback" in card and "still in maintenance mode" in card
        assert len((await rig.sim_state())["restores"]) == 1
        # the offered action: deactivate maintenance mode
        await rig.click("restore_deactivate", job.id, user="U_LEAD1")
        await rig.wait_for(lambda: rig.sim.state.maintenance["status"] == "deactivated", timeout=20)


async def test_retry_after_a_failed_restore_runs_again_from_the_failed_step(tmp_path: Path) -> None:
    async with make_rig(tmp_path) as rig:
        await rig.sim_post("/_sim/config", {"restore_fails": "transient failure"})
        job = await _approved(rig)
        job = await rig.wait_job(job.id, timeout=30)
        assert job.state == "failed"
        await rig.sim_post("/_sim/config", {"restore_fails": None})
        # Retry is a new restore request by the clicker: it waits for fresh approval
        await rig.click("restore_retry", job.id, user="U_OPS")
        retry = (await rig.wait_for(lambda: [j for j in rig.store.list_jobs(kind="restore")
                                             if j.params.get("retry_of") == job.id and j.message_ts]))[0]
        assert retry.state == "requested" and retry.requester == "U_OPS"
        assert len((await rig.sim_state())["restores"]) == 1
        await rig.click("restore_approve", retry.id, user="U_OPS")  # never the requester
        await rig.wait_for(lambda: any("someone else" in e.get("text", "") for e in rig.slack.ephemerals("U_OPS")))
        await rig.click("restore_approve", retry.id, user="U_LEAD2")
        retry = await rig.wait_job(retry.id, timeout=30)
        assert retry.state == "done", retry.error
        assert retry.result["safety_snapshot_id"] == job.result["safety_snapshot_id"]
        assert len((await rig.sim_state())["restores"]) == 2


async def test_rollback_opens_an_approval_gated_restore_of_the_safety_snapshot(tmp_path: Path) -> None:
    async with make_rig(tmp_path) as rig:
        await rig.sim_post("/_sim/config", {"restore_fails": "boom"})
        job = await _approved(rig)
        job = await rig.wait_job(job.id, timeout=30)
        await rig.sim_post("/_sim/config", {"restore_fails": None})
        await rig.click("restore_rollback", job.id, user="U_LEAD1")
        rb = await rig.wait_for(lambda: [j for j in rig.store.list_jobs(kind="restore") if j.params.get("rollback_of") == job.id and j.message_ts])
        rb = rb[0]
        assert rb.state == "requested" and rb.params["snapshot_id"] == job.result["safety_snapshot_id"]
        await rig.click("restore_approve", rb.id, user="U_LEAD2")
        rb = await rig.wait_job(rb.id, timeout=30)
        assert rb.state == "done", rb.error


async def test_maintenance_stuck_in_activating_fails_naming_the_running_execution(tmp_path: Path) -> None:
    def short(settings):
        # no safety snapshot: it would be queued behind the running execution (a legacy create
        # without queue is refused while one runs)
        return dataclasses.replace(settings, runbook=dataclasses.replace(settings.runbook,
                                                                         maintenance_timeout_seconds=0.5,
                                                                         safety_snapshot=False))
    async with make_rig(tmp_path, settings_overrides=short) as rig:
        await create_snapshot(rig, "snap-1")
        live = await rig.sim_post("/_sim/executions", {"deployment_id": "dep-1", "workflow_id": "install",
                                                       "duration": None})
        await rig.command("/cfy snapshots restore snap-1 --force")
        job = await posted_restore_job(rig)
        await rig.click("restore_approve", job.id, user="U_LEAD1")
        job = await rig.wait_job(job.id, timeout=30)
        assert job.state == "failed"
        assert job.result["failed_step"] == "maintenance_activating"
        assert "stuck in activating" in job.error and live["id"] in job.error
        assert "1 execution still running" in job.error
        # the unwind turned maintenance off (snapbot had turned it on); the execution runs on
        assert job.result["manager_state"] == "out of maintenance mode"
        assert any("deactivated maintenance mode" in u for u in job.result["unwound"])
        state = await rig.sim_state()
        assert state["restores"] == []
        assert state["maintenance"]["status"] == "deactivated"
        live_now = [e for e in state["executions"] if e["id"] == live["id"]] \
            if isinstance(state["executions"], list) else [state["executions"][live["id"]]]
        assert live_now[0]["status"] == "started"
        thread = [m.get("text", "") for m in rig.slack.messages("C_OPS", thread_ts=job.thread_ts)]
        assert any("waiting for 1 execution" in t and live["id"] in t for t in thread)


async def test_slack_rate_limits_during_progress_do_not_stop_the_restore(tmp_path: Path) -> None:
    async with make_rig(tmp_path) as rig:
        await create_snapshot(rig, "snap-1")
        await rig.command("/cfy snapshots restore snap-1 --force")
        job = await posted_restore_job(rig)
        rig.slack.fail_next("chat.update", 2, status=429, retry_after=0)
        rig.slack.fail_next("chat.postMessage", 6, status=429, retry_after=0)
        await rig.click("restore_approve", job.id, user="U_LEAD1")
        job = await rig.wait_job(job.id, timeout=60)
        assert job.state == "done", job.error
        assert any(c.status == 429 for c in rig.slack.calls)
        await rig.wait_for(lambda: ":white_check_mark: done" in _card(rig, job), timeout=20)
