"""Restore safety on the faithful profiles: every wait bounded and cancellable, the manager left as
snapbot found it, and refusals before any change where the manager would refuse or break later.

Facts and their Cloudify source files: bot/jobs/restore/unwind.py and preflight.py."""
from __future__ import annotations

import base64
import dataclasses
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.clock import iso
from devtools.simulator import SimulatorOptions
from tests.harness import FAST_SPEED, make_rig
from tests.restore_support import approved_restore, create_snapshot, posted_restore_job, sim_now

VERSIONS = ("7.0.5", "6.4.2", "5.1.4")


def _runbook(**changes: Any) -> Any:
    def apply(settings: Any) -> Any:
        return dataclasses.replace(settings, runbook=dataclasses.replace(settings.runbook, **changes))
    return apply


def _ex(state: dict[str, Any], eid: str) -> dict[str, Any]:
    return next(e for e in state["executions"] if e["id"] == eid)


def _thread(rig: Any, job: Any) -> list[str]:
    return [m.get("text", "") for m in rig.slack.messages("C_OPS", thread_ts=job.thread_ts)]


async def _left_as_found(rig: Any, job: Any, live_id: str) -> None:
    """No restore started, maintenance off, snapbot's safety snapshot gone (its execution not
    live), the blocking execution untouched."""
    state = await rig.sim_state()
    assert state["restores"] == []
    assert state["maintenance"]["status"] == "deactivated"
    sid = f"safety-{job.id}"
    assert sid not in {s["id"] for s in state["snapshots"]}
    mine = [e for e in state["executions"] if e["workflow_id"] == "create_snapshot"
            and e["parameters"].get("snapshot_id") == sid]
    assert mine and all(e["status"] == "cancelled" for e in mine)
    assert _ex(state, live_id)["status"] == "started"


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_restore_behind_an_execution_that_never_ends_gives_up_within_its_bound_and_unwinds(
        tmp_path: Path, version: str) -> None:
    async with make_rig(tmp_path, sim_options=SimulatorOptions(speed=FAST_SPEED, manager_version=version),
                        settings_overrides=_runbook(queue_timeout_seconds=1.0)) as rig:
        await create_snapshot(rig, "snap-1")
        live = await rig.sim_post("/_sim/executions", {"deployment_id": "dep-1", "workflow_id": "install",
                                                       "duration": None})
        job = await approved_restore(rig, "/cfy snapshots restore snap-1 --force", timeout=60)
        assert job.state == "failed", job.error
        assert job.result["failed_step"] == "safety_snapshot"
        assert live["id"] in job.error and "queue_timeout_seconds" in job.error
        assert any(live["id"] in t and "install" in t and "dep-1" in t for t in _thread(rig, job))
        assert any("cancelled its safety snapshot" in u for u in job.result["unwound"])
        assert job.result["left"] == []
        await _left_as_found(rig, job, live["id"])


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_restore_refused_by_an_execution_that_slipped_in_unwinds_and_leaves_no_pending_restore(
        tmp_path: Path, version: str) -> None:
    """An execution starts between the verified maintenance mode and the restore request: the
    manager refuses the restore. 7.x keeps the refused request as a `pending` restore execution
    that never runs and would hold back every later system workflow: snapbot ends it."""
    async with make_rig(tmp_path, sim_options=SimulatorOptions(speed=FAST_SPEED, manager_version=version)) as rig:
        await create_snapshot(rig, "snap-1")
        await rig.sim_post("/_sim/config", {"restore_meets": "install"})
        job = await approved_restore(rig, "/cfy snapshots restore snap-1 --force", timeout=60)
        assert job.state == "failed", job.error
        assert job.result["failed_step"] == "restoring"
        state = await rig.sim_state()
        racer = next(e for e in state["executions"] if e["workflow_id"] == "install")
        assert racer["id"] in job.error and racer["status"] == "started"
        assert state["restores"] == [] and state["maintenance"]["status"] == "deactivated"
        refused = [e for e in state["executions"] if e["workflow_id"] == "restore_snapshot"]
        if version == "7.0.5":
            assert [e["status"] for e in refused] == ["cancelled"]
            assert any(refused[0]["id"] in t and "snapbot ended it" in t for t in _thread(rig, job))
        else:
            assert refused == []
        # once the execution that slipped in ends, the manager takes snapshots again
        await rig.sim_post(f"/_sim/executions/{racer['id']}/finish", {})
        await create_snapshot(rig, "snap-after")


async def test_a_refused_restore_execution_snapbot_cannot_end_is_named_with_how_to_end_it(tmp_path: Path) -> None:
    async with make_rig(tmp_path) as rig:
        await create_snapshot(rig, "snap-1")
        await rig.sim_post("/_sim/config", {"restore_meets": "install"})
        await rig.sim_post("/_sim/faults", {"path": "^/api/v3.1/executions/", "method": "PATCH", "status": 403,
                                            "error_code": "forbidden_error", "message": "not allowed"})
        job = await approved_restore(rig, "/cfy snapshots restore snap-1 --force", timeout=60)
        assert job.state == "failed", job.error
        state = await rig.sim_state()
        pending = [e for e in state["executions"] if e["workflow_id"] == "restore_snapshot"]
        assert [e["status"] for e in pending] == ["pending"]
        line = [t for t in _thread(rig, job) if pending[0]["id"] in t]
        assert line and "could not end it" in line[0] and f"cfy executions cancel --kill {pending[0]['id']}" in line[0]
        assert state["maintenance"]["status"] == "deactivated"


@pytest.mark.parametrize("who", ["U_OPS", "U_LEAD2"])
async def test_the_requester_or_an_approver_cancels_a_waiting_restore_and_it_unwinds(
        tmp_path: Path, who: str) -> None:
    async with make_rig(tmp_path) as rig:
        await create_snapshot(rig, "snap-1")
        live = await rig.sim_post("/_sim/executions", {"deployment_id": "dep-1", "workflow_id": "install",
                                                       "duration": None})
        await rig.command("/cfy snapshots restore snap-1 --force")
        job = await posted_restore_job(rig)
        await rig.click("restore_approve", job.id, user="U_LEAD1")
        # the card names what the safety snapshot is queued behind, and offers the cancel
        job = await rig.wait_for(lambda: (j := rig.store.get_job(job.id)).result.get("waiting_for") and j)
        assert live["id"] in job.result["waiting_for"]["ids"]
        await rig.click("job_cancel", job.id, user=who)
        job = await rig.wait_job(job.id, timeout=30)
        assert job.state == "cancelled"
        assert job.result["cancelled_by"] == who
        await _left_as_found(rig, job, live["id"])
        card = str(rig.slack.messages("C_OPS")[0])
        assert "No restore was started" in card


async def test_a_viewer_cannot_cancel_a_restore(tmp_path: Path) -> None:
    async with make_rig(tmp_path, env_overrides={"SNAPBOT_OPERATORS": "U_OPS,U_OTHER"}) as rig:
        await create_snapshot(rig, "snap-1")
        await rig.sim_post("/_sim/executions", {"deployment_id": "dep-1", "workflow_id": "install",
                                                "duration": None})
        await rig.command("/cfy snapshots restore snap-1 --force")
        job = await posted_restore_job(rig)
        await rig.click("restore_approve", job.id, user="U_LEAD1")
        await rig.wait_for(lambda: rig.store.get_job(job.id).result.get("waiting_for"))
        await rig.click("job_cancel", job.id, user="U_OTHER")
        await rig.wait_for(lambda: any("only the requester or an approver" in t
                                       for t in rig.slack.texts()))
        assert rig.store.get_job(job.id).state == "safety_snapshot"


async def _schedule_due_during_activation(rig: Any) -> str:
    """An execution schedule on dep-1 that comes due a minute from now (the manager's clock)."""
    now = await sim_now(rig)
    since = iso(now + timedelta(seconds=60))
    async with rig.http.put(rig.sim.url + "/api/v3.1/execution-schedules/nightly-heal",
                            params={"deployment_id": "dep-1"},
                            headers={"Tenant": "default_tenant",
                                     "Authorization": "Basic " + base64.b64encode(b"admin:admin").decode()},
                            json={"workflow_id": "heal", "since": since, "recurrence": "1d"}) as resp:
        assert resp.status == 201, await resp.text()
    return "nightly-heal"


async def test_a_scheduled_run_queued_behind_work_holds_maintenance_and_an_approver_cancels_it(
        tmp_path: Path) -> None:
    """7.0.5: the execution-scheduler runs a due schedule while maintenance is `activating`
    (queued behind dep-1's running execution); a queued execution never starts while maintenance
    is on, so it holds `activating`. The card names it and why; an approver's one button cancels
    it; the restore then goes on."""
    async with make_rig(tmp_path, settings_overrides=_runbook(safety_snapshot=False)) as rig:
        await create_snapshot(rig, "snap-1")
        live = await rig.sim_post("/_sim/executions", {"deployment_id": "dep-1", "workflow_id": "install",
                                                       "duration": None})
        await _schedule_due_during_activation(rig)
        await rig.command("/cfy snapshots restore snap-1 --force")
        job = await posted_restore_job(rig)
        await rig.click("restore_approve", job.id, user="U_LEAD1")
        await rig.wait_job(job.id, states=("maintenance_activating",))
        await rig.wait_for(lambda: rig.sim.state.maintenance["status"] == "activating")
        await rig.sim_post("/_sim/clock", {"advance": 75})  # the schedule comes due: queued
        queued = await rig.wait_for(lambda: [e for e in rig.sim.state.executions.values()
                                             if e["workflow_id"] == "heal" and e["status"] == "queued"])
        await rig.sim_post(f"/_sim/executions/{live['id']}/finish", {"status": "terminated"})
        held = await rig.wait_for(lambda: (j := rig.store.get_job(job.id)).result.get("waiting_for")
                                  and j.result["waiting_for"]["ids"] == [queued[0]["id"]] and j)
        assert "holds it" in " ".join(held.result["waiting_for"]["executions"])
        assert rig.sim.state.maintenance["status"] == "activating"
        assert _ex(await rig.sim_state(), queued[0]["id"])["status"] == "queued"  # not started
        # an operator may not cancel other people's executions; an approver may
        await rig.click("cancel_blockers", job.id, user="U_OPS")
        await rig.wait_for(lambda: any("approver" in t and "cancel" in t for t in rig.slack.texts()))
        await rig.click("cancel_blockers", job.id, user="U_LEAD2")
        qid = queued[0]["id"]
        await rig.wait_for(lambda: any(f"`{qid}` (heal) cancelled" in t for t in rig.slack.texts()))
        job = await rig.wait_job(job.id, timeout=60)
        assert job.state == "done", job.error  # (the legacy restore then replaced every execution)


async def test_queued_executions_are_refused_before_any_change_on_7(tmp_path: Path) -> None:
    async with make_rig(tmp_path) as rig:
        await create_snapshot(rig, "snap-1")
        await rig.sim_post("/_sim/executions", {"deployment_id": "dep-1", "workflow_id": "install",
                                                "duration": None})
        await _schedule_due_during_activation(rig)
        await rig.sim_post("/_sim/clock", {"advance": 75})
        queued = await rig.wait_for(lambda: [e for e in rig.sim.state.executions.values()
                                             if e["workflow_id"] == "heal" and e["status"] == "queued"])
        await rig.command("/cfy snapshots restore snap-1 --force")
        text = " ".join(await rig.wait_for(lambda: [t for t in rig.slack.texts() if "queued" in t]))
        assert queued[0]["id"] in text and "maintenance mode" in text and "cancel" in text
        assert rig.store.list_jobs(kind="restore") == []
        assert rig.sim.state.maintenance["status"] == "deactivated"


async def test_a_new_format_snapshot_holding_a_recurrence_schedule_is_refused_before_any_change(
        tmp_path: Path) -> None:
    async with make_rig(tmp_path, env_overrides={"CLOUDIFY_SNAPSHOT_FORMAT": "new"}) as rig:
        await _schedule_due_during_activation(rig)
        await rig.command("/cfy snapshots create snap-new")
        await rig.wait_for(lambda: [j for j in rig.store.list_jobs(kind="snapshot_create") if j.finished])
        await rig.command("/cfy snapshots download snap-new")
        await rig.wait_for(lambda: [j for j in rig.store.list_jobs(kind="snapshot_download") if j.finished])
        await rig.command("/cfy snapshots restore snap-new --force")
        text = " ".join(await rig.wait_for(lambda: [t for t in rig.slack.texts() if "rrule" in t]))
        assert "nightly-heal" in text and "dep-1" in text
        assert rig.store.list_jobs(kind="restore") == []
        state = await rig.sim_state()
        assert state["restores"] == [] and state["maintenance"]["status"] == "deactivated"


async def test_without_an_archived_copy_the_approved_runbook_downloads_it_and_refuses_at_preflight(
        tmp_path: Path) -> None:
    async with make_rig(tmp_path, env_overrides={"CLOUDIFY_SNAPSHOT_FORMAT": "new"}) as rig:
        await _schedule_due_during_activation(rig)
        await rig.command("/cfy snapshots create snap-new")
        await rig.wait_for(lambda: [j for j in rig.store.list_jobs(kind="snapshot_create") if j.finished])
        job = await approved_restore(rig, "/cfy snapshots restore snap-new --force", timeout=60)
        assert job.state == "failed" and job.result["failed_step"] == "preflight"
        assert "nightly-heal" in job.error and "rrule" in job.error
        state = await rig.sim_state()
        assert state["restores"] == [] and state["maintenance"]["status"] == "deactivated"
        assert f"safety-{job.id}" not in {s["id"] for s in state["snapshots"]}


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_legacy_restore_by_a_user_who_is_not_the_bootstrap_admin_is_refused_first(
        tmp_path: Path, version: str) -> None:
    """The manager names no user id in its API: `bootstrap_admin` (default `admin`, the
    installer's default) says who has id 0; snapbot compares it with `GET /user`."""
    opts = SimulatorOptions(speed=FAST_SPEED, manager_version=version, bootstrap_admin="root")
    async with make_rig(tmp_path, sim_options=opts,
                        env_overrides={"CLOUDIFY_BOOTSTRAP_ADMIN": "root"}) as rig:
        await create_snapshot(rig, "snap-1")
        await rig.command("/cfy snapshots restore snap-1 --force")
        text = " ".join(await rig.wait_for(lambda: [t for t in rig.slack.texts() if "bootstrap admin" in t]))
        assert "`root`" in text and "`admin`" in text
        assert rig.store.list_jobs(kind="restore") == []
        assert (await rig.sim_state())["restores"] == []


@pytest.mark.parametrize("version", VERSIONS)
async def test_the_simulator_fails_a_legacy_restore_by_a_non_bootstrap_admin(tmp_path: Path,
                                                                                version: str) -> None:
    """What preflight prevents: the workflow's own refusal, after the request went through."""
    opts = SimulatorOptions(speed=FAST_SPEED, manager_version=version, bootstrap_admin="root")
    async with make_rig(tmp_path, sim_options=opts) as rig:
        await create_snapshot(rig, "snap-1")
        client = rig.services.clients["default"]
        ex = await client.restore_snapshot("snap-1", force=True,
                                           recreate_deployments_envs=True if version == "5.1.4" else None)
        done = await rig.wait_for(lambda: (e := rig.sim.state.executions[ex.id])["status"] == "failed" and e)
        assert "Only the bootstrap admin" in done["error"]


async def test_a_legacy_restore_on_a_multi_manager_cluster_is_refused(tmp_path: Path) -> None:
    async with make_rig(tmp_path) as rig:
        await create_snapshot(rig, "snap-1")
        await rig.sim_post("/_sim/managers", {"count": 2})
        await rig.command("/cfy snapshots restore snap-1 --force")
        text = " ".join(await rig.wait_for(lambda: [t for t in rig.slack.texts() if "cluster of 2" in t]))
        assert "rest-security.conf" in text
        assert rig.store.list_jobs(kind="restore") == []


async def test_a_new_format_restore_on_a_community_manager_is_refused(tmp_path: Path) -> None:
    async with make_rig(tmp_path, env_overrides={"CLOUDIFY_SNAPSHOT_FORMAT": "new"}) as rig:
        await rig.command("/cfy snapshots create snap-new")
        await rig.wait_for(lambda: [j for j in rig.store.list_jobs(kind="snapshot_create") if j.finished])
        await rig.sim_post("/_sim/config", {"edition": "community"})
        await rig.command("/cfy snapshots restore snap-new --force")
        await rig.wait_for(lambda: [t for t in rig.slack.texts() if "community" in t])
        assert rig.store.list_jobs(kind="restore") == []


async def test_the_simulator_fails_a_new_format_create_at_once_in_community(tmp_path: Path) -> None:
    opts = SimulatorOptions(speed=FAST_SPEED, edition="community")
    async with make_rig(tmp_path, sim_options=opts) as rig:
        client = rig.services.clients["default"]
        assert (await client.version()).edition == "community"
        ex = await client.create_snapshot("s-new", legacy=False)
        done = await rig.wait_for(lambda: (e := rig.sim.state.executions[ex.id])["status"] == "failed" and e)
        assert "missing_premium" in done["error"] or "premium edition" in done["error"]


async def test_the_card_says_the_manager_ignores_tenant_name(tmp_path: Path) -> None:
    async with make_rig(tmp_path) as rig:
        await create_snapshot(rig, "snap-1")
        await rig.command("/cfy snapshots restore snap-1 --force --tenant-name other")
        job = await posted_restore_job(rig)
        card = str(rig.slack.messages("C_OPS")[0])
        assert "--tenant-name other` is ignored by the manager" in card
        assert "every tenant" in card
        assert job.params["tenant_name"] == "other"


@pytest.mark.parametrize("command", ["maintenance-mode activate", "maintenance-mode deactivate",
                                     "snapshots delete snap-1", "snapshots upload snap-9 --url https://example.com/s.zip",
                                     "agents install", "plugins update --all",
                                     "snapshots schedule run-now"])
async def test_every_changing_command_is_refused_during_a_split_brain(tmp_path: Path, command: str) -> None:
    opts = SimulatorOptions(speed=FAST_SPEED, manager_version="5.1.4")  # is_active: split brain
    async with make_rig(tmp_path, sim_options=opts) as rig:
        await create_snapshot(rig, "snap-1")
        await rig.sim_post("/_sim/managers", {"count": 2, "split_brain": True})
        before = rig.sim_requests("/maintenance/")
        await rig.command(f"/cfy {command}")
        text = " ".join(await rig.wait_for(lambda: [t for t in rig.slack.texts() if "split brain" in t]))
        assert "--ignore-cluster-health" in text
        assert rig.store.list_jobs() == []
        assert rig.sim_requests("/maintenance/") == before  # nothing toggled
        state = await rig.sim_state()
        assert "snap-1" in {x["id"] for x in state["snapshots"]} and state["maintenance"]["status"] == "deactivated"


async def test_an_approver_overrides_the_split_brain_guard_an_operator_cannot(tmp_path: Path) -> None:
    opts = SimulatorOptions(speed=FAST_SPEED, manager_version="5.1.4")
    async with make_rig(tmp_path, sim_options=opts) as rig:
        await rig.sim_post("/_sim/managers", {"count": 2, "split_brain": True})
        await rig.command("/cfy maintenance-mode activate --ignore-cluster-health")
        await rig.wait_for(lambda: [t for t in rig.slack.texts() if "Only an approver" in t])
        assert rig.store.list_jobs() == []
        await rig.command("/cfy maintenance-mode activate --ignore-cluster-health", user="U_LEAD1")
        job = await rig.wait_for(lambda: rig.store.list_jobs(kind="maintenance_activate"))
        assert (await rig.wait_job(job[0].id)).state == "done"


@pytest.mark.parametrize("version", ["7.0.5", "6.4.2"])
async def test_a_cluster_fail_refusal_names_the_node_and_why(tmp_path: Path, version: str) -> None:
    async with make_rig(tmp_path, sim_options=SimulatorOptions(speed=FAST_SPEED, manager_version=version)) as rig:
        await create_snapshot(rig, "snap-1")
        await rig.sim_post("/_sim/managers", {"count": 1, "no_metrics": ["manager-1"]})
        await rig.command("/cfy snapshots restore snap-1 --force")
        text = " ".join(await rig.wait_for(lambda: [t for t in rig.slack.texts() if "Fail" in t]))
        assert "manager-1" in text and "No metrics" in text and "not the same as down" in text
        assert rig.store.list_jobs(kind="restore") == []


async def test_a_maintenance_activate_job_held_by_a_queued_execution_times_out_and_turns_it_off(
        tmp_path: Path) -> None:
    async with make_rig(tmp_path, settings_overrides=_runbook(maintenance_timeout_seconds=1.0)) as rig:
        live = await rig.sim_post("/_sim/executions", {"deployment_id": "dep-1", "workflow_id": "install",
                                                       "duration": None})
        await rig.command("/cfy maintenance-mode activate")
        job = (await rig.wait_for(lambda: rig.store.list_jobs(kind="maintenance_activate")))[0]
        job = await rig.wait_job(job.id)
        assert job.state == "failed"
        assert live["id"] in job.error and "deactivated again" in job.error
        state = await rig.sim_state()
        assert state["maintenance"]["status"] == "deactivated"
        assert _ex(state, live["id"])["status"] == "started"


async def test_cancelling_a_maintenance_activate_job_turns_maintenance_off_again(tmp_path: Path) -> None:
    async with make_rig(tmp_path) as rig:
        await rig.sim_post("/_sim/executions", {"deployment_id": "dep-1", "workflow_id": "install",
                                                "duration": None})
        await rig.command("/cfy maintenance-mode activate")
        job = (await rig.wait_for(lambda: rig.store.list_jobs(kind="maintenance_activate")))[0]
        await rig.wait_for(lambda: rig.store.get_job(job.id).result.get("waiting_for"))
        await rig.command(f"/cfy jobs cancel {job.id}")
        await rig.wait_for(lambda: [t for t in rig.slack.texts() if "deactivated again" in t])
        assert rig.store.get_job(job.id).state == "cancelled"
        assert (await rig.sim_state())["maintenance"]["status"] == "deactivated"


async def test_the_end_of_a_restore_is_decided_from_its_execution_not_a_stuck_snapshot_status(
        tmp_path: Path) -> None:
    """7.0.5 keeps /snapshot-status `running` for good after an unreadable archive: the restore
    fails with the execution's error within the grace period instead of waiting it out."""
    async with make_rig(tmp_path, settings_overrides=_runbook(snapshot_status_grace_seconds=0.5,
                                                             safety_snapshot=False)) as rig:
        await create_snapshot(rig, "snap-1")
        with open(rig.sim.archive_path("snap-1"), "wb") as f:  # the archive goes bad on the manager
            f.write(b"not a zip")
        job = await approved_restore(rig, "/cfy snapshots restore snap-1 --force", timeout=60)
        assert job.state == "failed" and job.result["failed_step"] == "restoring"
        assert "not a zip" in job.error
        assert job.result.get("snapshot_status_stuck") is True
        assert any("still says running" in t for t in _thread(rig, job))
        assert (await rig.sim_state())["snapshot_status"] == "running"


async def test_snapshot_format_new_on_a_community_manager_is_said_at_start_and_refused_at_create(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    opts = SimulatorOptions(speed=FAST_SPEED, edition="community")
    with caplog.at_level("ERROR", logger="bot.bootstrap"):
        async with make_rig(tmp_path, sim_options=opts, env_overrides={"CLOUDIFY_SNAPSHOT_FORMAT": "new"}) as rig:
            assert any("premium edition" in r.getMessage() for r in caplog.records)
            await rig.command("/cfy snapshots create would-fail")
            job = (await rig.wait_for(lambda: rig.store.list_jobs(kind="snapshot_create")))[0]
            job = await rig.wait_job(job.id)
            assert job.state == "failed" and "premium edition" in job.error
            assert "would-fail" not in {s["id"] for s in (await rig.sim_state())["snapshots"]}


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_reboot_after_the_restore_leaves_snapshot_status_running_and_the_restore_still_ends(
        tmp_path: Path, version: str) -> None:
    """The post-restore commands run `shutdown -r now` before removing the flag file: the manager
    reboots after the execution ended and /snapshot-status reads running afterwards."""
    opts = SimulatorOptions(speed=FAST_SPEED, manager_version=version)
    async with make_rig(tmp_path, sim_options=opts) as rig:
        await create_snapshot(rig, "snap-1")
        job = await approved_restore(rig, "/cfy snapshots restore snap-1 --force --restore-certificates", timeout=90)
        assert job.state == "done", job.error
        assert job.result.get("snapshot_status_stuck") is True
        assert job.result["restore_status"] == "terminated"
        assert (await rig.sim_state())["snapshot_status"] == "running"
        assert any("still says running" in t for t in _thread(rig, job))


async def test_an_approver_cancels_what_a_maintenance_activate_job_waits_for(tmp_path: Path) -> None:
    async with make_rig(tmp_path) as rig:
        live = await rig.sim_post("/_sim/executions", {"deployment_id": "dep-1", "workflow_id": "install",
                                                       "duration": None})
        await rig.command("/cfy maintenance-mode activate")
        job = (await rig.wait_for(lambda: rig.store.list_jobs(kind="maintenance_activate")))[0]
        await rig.wait_for(lambda: (rig.store.get_job(job.id).result.get("waiting_for") or {}).get("ids"))
        await rig.wait_for(lambda: "cancel_blockers" in str(rig.slack.message("C_OPS", rig.store.get_job(job.id).message_ts)))
        await rig.click("cancel_blockers", job.id, user="U_LEAD1")
        job = await rig.wait_job(job.id)
        assert job.state == "done", job.error
        assert _ex(await rig.sim_state(), live["id"])["status"] == "cancelled"


@pytest.mark.parametrize("archived", [True, False], ids=["at-request", "at-preflight"])
async def test_a_community_managers_own_snapshot_is_refused_before_any_change(
        tmp_path: Path, archived: bool) -> None:
    """A community 7.x manager writes legacy metadata without the stage and composer revisions,
    so it would restore its own snapshot as the new format (end `terminated`, restore nothing):
    refused at the request when snapbot has a copy, else at preflight after downloading one."""
    await _community_restore_refused(tmp_path, archived=archived)


async def _community_restore_refused(tmp_path: Path, *, archived: bool) -> None:
    opts = SimulatorOptions(speed=FAST_SPEED, edition="community")
    async with make_rig(tmp_path, sim_options=opts) as rig:
        await create_snapshot(rig, "snap-own")
        if archived:
            await rig.command("/cfy snapshots download snap-own")
            await rig.wait_for(lambda: [j for j in rig.store.list_jobs(kind="snapshot_download")
                                        if j.finished])
            await rig.command("/cfy snapshots restore snap-own --force")
            text = " ".join(await rig.wait_for(
                lambda: [t for t in rig.slack.texts() if "community manager" in t]))
            assert "stage and composer" in text and "Nothing was changed" in text
            assert rig.store.list_jobs(kind="restore") == []
        else:
            job = await approved_restore(rig, "/cfy snapshots restore snap-own --force", timeout=60)
            assert job.state == "failed" and job.result["failed_step"] == "preflight", job.error
            assert "community manager" in job.error and "stage and composer" in job.error
        state = await rig.sim_state()
        assert state["restores"] == [] and state["maintenance"]["status"] == "deactivated"
        assert not [e for e in state["executions"] if e["workflow_id"] == "restore_snapshot"]
