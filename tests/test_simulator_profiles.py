"""Version profiles of the manager simulator: what differs between 7.0.5, 6.4.2 and 5.1.4.

Every fact is read from Cloudify's public sources: cloudify-cosmo/cloudify-manager at branch
`<version>-build` (paths under rest-service/manager_rest unless said; the snapshot workflows are
mgmtworker/cloudify_system_workflows/snapshots/ on 7.0.x and workflows/cloudify_system_workflows/
snapshots/ before) and cloudify-cosmo/cloudify-common (cloudify_rest_client) at the same branch.
Each test names the file it follows.
"""
from __future__ import annotations

import contextlib
import io
import json
import zipfile
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.clock import iso
from devtools.simulator import Simulator, SimulatorOptions, start_simulator
from devtools.simulator.profiles import COMPAT_FLAT_MAINTENANCE_ANSWER, PROFILES, SIMPLIFIED
from tests.waiting import until

VERSIONS = ("7.0.5", "6.4.2", "5.1.4")


class Rig:
    def __init__(self, sim: Simulator, api: httpx.AsyncClient, control: httpx.AsyncClient) -> None:
        self.sim, self.api, self.control = sim, api, control

    async def eventually(self, check: Any) -> Any:
        """Wait for `check`, the manager's time passing meanwhile (a manual clock)."""
        return await until(check, timeout=30.0, advancing=[self.sim])

    async def idle(self) -> None:
        """Wait until the manager's workflows are over (their tasks ended: a failed restore's
        cleanup too)."""
        await until(lambda: not self.sim.working, advancing=[self.sim])

    async def wait_execution(self, execution_id: str) -> dict[str, Any]:
        async def done() -> dict[str, Any] | None:
            try:
                resp = await self.api.get(f"/executions/{execution_id}",
                                          headers={"X-BYPASS-MAINTENANCE": "true"})
                ex = resp.json()
            except (httpx.TransportError, ValueError):
                return None
            return ex if ex.get("status") in ("terminated", "failed", "cancelled") else None
        return await self.eventually(done)

    async def create(self, snapshot_id: str, **body: Any) -> dict[str, Any]:
        resp = await self.api.put(f"/snapshots/{snapshot_id}", json=body)
        assert resp.status_code == 201, resp.text
        await self.wait_execution(resp.json()["id"])
        return resp.json()

    async def restore(self, snapshot_id: str, **body: Any) -> dict[str, Any]:
        body.setdefault("force", True)
        if self.sim.profile.restore_needs_recreate_envs:
            body.setdefault("recreate_deployments_envs", True)
        resp = await self.api.post(f"/snapshots/{snapshot_id}/restore", json=body)
        assert resp.status_code == 200, resp.text
        return await self.wait_execution(resp.json()["id"])

    async def logs(self, execution_id: str) -> list[tuple[str, str]]:
        items = (await self.api.get("/events", params={"execution_id": execution_id})).json()
        return [(e["level"], e["message"]) for e in items["items"]]

    async def stage_scheduled(self, when: Any, workflow: str = "backup") -> str:
        resp = await self.control.post("/executions", json={
            "deployment_id": "dep-1", "workflow_id": workflow, "status": "scheduled",
            "scheduled_for": iso(when)})
        return resp.json()["id"]


@contextlib.asynccontextmanager
async def manager(tmp_path: Path, version: str, **options: Any) -> AsyncIterator[Rig]:
    sim = await start_simulator(port=0, options=SimulatorOptions(
        clock="manual", manager_version=version, data_dir=str(tmp_path / f"sim-{version}"),
        **options))
    try:
        async with httpx.AsyncClient(base_url=sim.url + "/api/v3.1", auth=("admin", "admin"),
                                     headers={"Tenant": "default_tenant"}, timeout=10) as api, \
                httpx.AsyncClient(base_url=sim.url + "/_sim", timeout=10) as control:
            yield Rig(sim, api, control)
    finally:
        await sim.close()


# --- the profiles ---------------------------------------------------------------------------
def test_there_is_one_profile_per_supported_version() -> None:
    assert sorted(PROFILES) == sorted(VERSIONS)
    assert {p.branch for p in PROFILES.values()} == {f"{v}-build" for v in VERSIONS}


@pytest.mark.parametrize("version", VERSIONS)
async def test_the_manager_reports_its_profiles_version(tmp_path: Path, version: str) -> None:
    async with manager(tmp_path, version) as m:
        assert (await m.api.get("/version")).json()["version"] == version
        assert (await m.control.get("/state")).json()["profile"]["version"] == version


async def test_an_unknown_version_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown manager version"):
        await start_simulator(port=0, options=SimulatorOptions(manager_version="4.6"))


# --- maintenance mode --------------------------------------------------------------------
@pytest.mark.parametrize("version", VERSIONS)
async def test_activate_answer_nests_remaining_executions_in_a_list(tmp_path: Path,
                                                                    version: str) -> None:
    # resources_v2_1/maintenance_mode.py MaintenanceModeAction.post, identical on 5.1.4, 6.4.2
    # and 7.0.5: `state['remaining_executions'] = remaining_executions,` makes a 1-tuple
    async with manager(tmp_path, version) as m:
        ex = (await m.control.post("/executions", json={"deployment_id": "dep-1",
                                                        "workflow_id": "install"})).json()
        answer = (await m.api.post("/maintenance/activate")).json()
        assert answer["status"] == "activating"
        assert [[r["id"] for r in answer["remaining_executions"][0]]] == [[ex["id"]]]
        polled = (await m.api.get("/maintenance")).json()
        assert [r["id"] for r in polled["remaining_executions"]] == [ex["id"]]


async def test_activate_with_nothing_running_answers_a_list_holding_an_empty_list(
        tmp_path: Path) -> None:
    async with manager(tmp_path, "7.0.5") as m:
        answer = (await m.api.post("/maintenance/activate")).json()
        assert (answer["status"], answer["remaining_executions"]) == ("activated", [[]])


async def test_maintenance_waits_for_queued_and_scheduled_executions(tmp_path: Path) -> None:
    # maintenance.py get_running_executions: every execution not in END_STATES counts
    async with manager(tmp_path, "5.1.4") as m:
        scheduled = await m.stage_scheduled(m.sim.now() + timedelta(days=1))
        answer = (await m.api.post("/maintenance/activate")).json()
        assert answer["status"] == "activating"
        polled = (await m.api.get("/maintenance")).json()
        assert [(r["id"], r["status"]) for r in polled["remaining_executions"]] == \
            [(scheduled, "scheduled")]


async def test_maintenance_get_has_null_remaining_executions_unless_activating(
        tmp_path: Path) -> None:
    # MaintenanceMode.get: no stored state -> None; activated -> the stored state's to_dict()
    # (storage/management_models.py MaintenanceMode), which has no remaining_executions
    async with manager(tmp_path, "7.0.5") as m:
        assert (await m.api.get("/maintenance")).json()["remaining_executions"] is None
        await m.api.post("/maintenance/activate")
        polled = (await m.api.get("/maintenance")).json()
        assert (polled["status"], polled["remaining_executions"]) == ("activated", None)


# --- snapshot formats ---------------------------------------------------------------------
async def _metadata(m: Rig, snapshot_id: str) -> dict[str, Any]:
    archive = (await m.api.get(f"/snapshots/{snapshot_id}/archive")).content
    return json.loads(zipfile.ZipFile(io.BytesIO(archive)).read("metadata.json"))


async def test_7_0_5_format_is_what_the_create_request_asked_for(tmp_path: Path) -> None:
    # resources_v2/snapshots.py SnapshotsId.put: `legacy` defaults to False on the server;
    # snapshot_create_legacy.py writes schema revisions into metadata.json, snapshot_create.py
    # (new format) does not; snapshot_restore.py _is_legacy_snapshot reads them back
    async with manager(tmp_path, "7.0.5") as m:
        await m.create("old-style", legacy=True)
        await m.create("new-style", legacy=False)
        await m.create("default")
        assert "schema_revision" in await _metadata(m, "old-style")
        assert "schema_revision" not in await _metadata(m, "new-style")
        assert "schema_revision" not in await _metadata(m, "default")


@pytest.mark.parametrize("version", ("6.4.2", "5.1.4"))
async def test_before_7_0_every_snapshot_is_a_database_dump(tmp_path: Path, version: str) -> None:
    # 6.4.2/5.1.4 resources_v2/snapshots.py: no `legacy` parameter, one snapshot_create.py
    async with manager(tmp_path, version) as m:
        ex = await m.create("s1", legacy=False)
        assert "legacy" not in ex["parameters"]
        assert "schema_revision" in await _metadata(m, "s1")


async def test_new_format_restore_merges_and_logs_existing_items_as_errors(tmp_path: Path) -> None:
    # snapshot_restore.py _new_restore: items re-created through the REST API; the client's
    # restore() logs "Error restoring <kind> <id>: <error>" and carries on; no _assert_clean_db,
    # no version check, no services stop; ends terminated
    async with manager(tmp_path, "7.0.5") as m:
        await m.create("s1", legacy=False)
        del m.sim.state.deployments["dep-3"]
        m.sim.state.deployments["dep-new"] = dict(m.sim.state.deployments["dep-1"], id="dep-new")
        before = set(m.sim.state.snapshots)
        done = await m.restore("s1", force=False)
        assert done["status"] == "terminated"
        assert set(m.sim.state.deployments) == {"dep-1", "dep-2", "dep-3", "dep-new"}
        errors = [msg for level, msg in await m.logs(done["id"]) if level == "error"]
        assert ("Error restoring blueprint bp-1: 409: <Blueprint id=`bp-1` tenant=`default_tenant`>"
                " already exists on <Tenant name=`default_tenant`> or with global visibility") in errors
        assert any(msg.startswith("Error restoring deployment dep-1: 409") for msg in errors)
        assert not any("dep-3" in msg for msg in errors)
        # snapshot list unchanged; the manager never went away
        assert set(m.sim.state.snapshots) == before
        assert m.sim.state.request_counts.get("/api/v3.1/version", 0) == 0
        assert (await m.api.get("/version")).status_code == 200


async def test_new_format_restore_clears_snapshot_status_before_it_ends(tmp_path: Path) -> None:
    # restore(): the new format path returns inside `try`; `finally` removes the flag file
    async with manager(tmp_path, "7.0.5", snapshot_status_linger_seconds=4000) as m:
        await m.create("s1", legacy=False)
        await m.restore("s1")
        assert (await m.api.get("/snapshot-status")).json() == {"status": "not-running"}


async def test_legacy_restore_refuses_a_newer_managers_snapshot(tmp_path: Path) -> None:
    # snapshot_restore.py SnapshotRestoreValidator: snapshot version > manager version
    async with manager(tmp_path, "6.4.2") as m:
        await m.control.post("/config", json={"version": "7.0.5"})
        await m.create("s1")
        await m.control.post("/config", json={"version": "6.4.2"})
        done = await m.restore("s1")
        assert (done["status"], done["error"]) == (
            "failed", "Cannot restore a newer manager's snapshot on this manager [7.0.5 > 6.4.2]")


# --- credentials after a legacy restore ------------------------------------------------------
async def test_set_password_changes_the_admin_password(tmp_path: Path) -> None:
    # cloudify_rest_client users.py set_password: POST /users/<name> {"password"};
    # resources_v3/users.py UsersId.post
    async with manager(tmp_path, "7.0.5") as m:
        resp = await m.api.post("/users/admin", json={"password": "s3cret"})
        assert resp.status_code == 200 and resp.json()["username"] == "admin"
        assert (await m.api.get("/version")).status_code == 401
        async with httpx.AsyncClient(base_url=m.sim.url + "/api/v3.1",
                                     auth=("admin", "s3cret")) as fresh:
            assert (await fresh.get("/version")).status_code == 200


@pytest.mark.parametrize("version", ("7.0.5", "6.4.2"))
async def test_legacy_restore_brings_back_the_snapshots_users_and_tokens(tmp_path: Path,
                                                                         version: str) -> None:
    # snapshot_restore.py _restore_db / postgres.py: users (admin included) and the tokens table
    # come from the dump, so a newer password or token stops working
    async with manager(tmp_path, version) as m:
        early = (await m.api.post("/tokens", json={})).json()["value"]
        await m.create("s1", legacy=True)
        late = (await m.api.post("/tokens", json={})).json()["value"]
        await m.api.post("/users/admin", json={"password": "changed"})
        async with httpx.AsyncClient(base_url=m.sim.url + "/api/v3.1",
                                     auth=("admin", "changed"), timeout=10) as new_pw:
            resp = await new_pw.post("/snapshots/s1/restore", json={"force": True})
            ex_id = resp.json()["id"]

            async def finished() -> bool:
                try:
                    status = (await m.api.get(f"/executions/{ex_id}")).json().get("status")
                except (httpx.TransportError, ValueError):
                    return False
                return status == "terminated"
            await m.eventually(finished)  # the *old* password works again
            assert (await new_pw.get("/version")).status_code == 401
        for token, code in ((early, 200), (late, 401)):
            resp = await m.api.get("/version", auth=None, headers={"Authentication-Token": token})
            assert resp.status_code == code


async def test_new_format_restore_keeps_current_credentials(tmp_path: Path) -> None:
    # _new_restore skips the admin user and leaves rest-security.conf alone
    async with manager(tmp_path, "7.0.5") as m:
        await m.create("s1", legacy=False)
        token = (await m.api.post("/tokens", json={})).json()["value"]
        await m.restore("s1")
        resp = await m.api.get("/version", auth=None, headers={"Authentication-Token": token})
        assert resp.status_code == 200


async def test_5_1_tokens_survive_a_restore(tmp_path: Path) -> None:
    # 5.1.4 has no tokens table (storage/management_models.py): tokens derive from the user
    async with manager(tmp_path, "5.1.4") as m:
        await m.create("s1")
        token = (await m.api.get("/tokens")).json()["value"]
        await m.restore("s1")
        resp = await m.api.get("/version", auth=None, headers={"Authentication-Token": token})
        assert resp.status_code == 200


# --- snapshot list after restore ---------------------------------------------------------------
@pytest.mark.parametrize("version", VERSIONS)
async def test_legacy_restore_empties_the_snapshot_list(tmp_path: Path, version: str) -> None:
    # postgres.py _TABLES_TO_EXCLUDE_ON_DUMP has 'snapshots' on all three branches
    async with manager(tmp_path, version) as m:
        await m.create("s1", legacy=True)
        await m.create("s2", legacy=True)
        assert (await m.restore("s1"))["status"] == "terminated"
        assert (await m.api.get("/snapshots")).json()["items"] == []


# --- scheduled work ---------------------------------------------------------------------------
@pytest.mark.parametrize("version", ("7.0.5", "6.4.2"))
async def test_6x_legacy_restore_fails_scheduled_executions_and_reschedules_future_ones(
        tmp_path: Path, version: str) -> None:
    # snapshot_restore.py _restore_scheduled_executions (6.4.2 workflows/, 7.0.5 mgmtworker/)
    async with manager(tmp_path, version) as m:
        now = m.sim.now()
        past, future = now + timedelta(hours=1), now + timedelta(days=1)
        overdue = await m.stage_scheduled(past)
        later = await m.stage_scheduled(future, "heal")
        await m.create("s1", legacy=True)
        await m.control.post("/clock", json={"advance": 2 * 3600})
        m.sim.state.executions.pop(overdue)  # ran meanwhile: irrelevant to the restored DB
        done = await m.restore("s1")
        warnings = [msg for level, msg in await m.logs(done["id"]) if level == "warning"]
        for ex_id, when in ((overdue, past), (later, future)):
            assert m.sim.state.executions[ex_id]["status"] == "failed"
            assert f"Marking original execution {ex_id} scheduled for {iso(when)} as FAILED." \
                in warnings
        assert not any("is overdue" in w for w in warnings)
        [sched] = (await m.api.get("/execution-schedules")).json()["items"]
        assert sched["id"].startswith("heal_restored_") and len(sched["id"]) == 14 + 32
        assert (sched["next_occurrence"], sched["rule"]) == (iso(future), {"count": 1})


async def test_5_1_legacy_restore_marks_overdue_failed_and_requeues_future(tmp_path: Path) -> None:
    # 5.1.4 workflows/cloudify_system_workflows/snapshots/snapshot_restore.py
    async with manager(tmp_path, "5.1.4") as m:
        now = m.sim.now()
        past, future = now + timedelta(hours=1), now + timedelta(days=1)
        overdue = await m.stage_scheduled(past)
        later = await m.stage_scheduled(future)
        await m.create("s1")
        await m.control.post("/clock", json={"advance": 2 * 3600})
        m.sim.state.executions.pop(overdue)  # ran meanwhile: irrelevant to the restored DB
        done = await m.restore("s1")
        warnings = [msg for level, msg in await m.logs(done["id"]) if level == "warning"]
        assert m.sim.state.executions[overdue]["status"] == "failed"
        assert f"Execution {overdue} scheduled for {iso(past)} is overdue. Marking as FAILED." \
            in warnings
        assert m.sim.state.executions[later]["status"] == "scheduled"
        assert len([w for w in warnings if "scheduled for" in w]) == 1


async def test_5_1_scheduled_time_makes_a_scheduled_execution(tmp_path: Path) -> None:
    # 5.1.4 resources_v1/executions.py: a `scheduled` execution; no /execution-schedules yet
    async with manager(tmp_path, "5.1.4") as m:
        when = iso(m.sim.now() + timedelta(hours=1))
        ex = (await m.api.post("/executions", json={"deployment_id": "dep-1",
                                                    "workflow_id": "heal",
                                                    "scheduled_time": when})).json()
        assert (ex["status"], ex["scheduled_for"]) == ("scheduled", when) and ex["id"]
        assert (await m.api.get("/execution-schedules")).status_code == 404


async def test_schedule_runs_that_fell_due_during_a_legacy_restore_are_skipped(
        tmp_path: Path) -> None:
    # schedules come back with the DB; execution-scheduler/execution_scheduler/main.py
    # should_run: an occurrence more than slip minutes + 60 s late is skipped silently
    async with manager(tmp_path, "7.0.5") as m:
        since = m.sim.now() + timedelta(minutes=30)
        resp = await m.api.put("/execution-schedules/nightly", params={"deployment_id": "dep-1"},
                               json={"workflow_id": "heal", "since": iso(since),
                                     "recurrence": "1 day"})
        assert resp.status_code == 201 and resp.json()["next_occurrence"] == iso(since)
        await m.create("s1", legacy=True)
        await m.control.post("/clock", json={"advance": 3600})  # the run is now 30 min late
        await m.restore("s1")

        async def scheduler_passed() -> dict[str, Any] | None:
            state = (await m.control.get("/state")).json()
            [sched] = state["execution_schedules"]
            return state if sched["skipped_occurrences"] else None
        state = await m.eventually(scheduler_passed)
        [sched] = state["execution_schedules"]
        assert sched["skipped_occurrences"] == [iso(since)]
        assert sched["next_occurrence"] == iso(since + timedelta(days=1))
        assert not [e for e in state["executions"] if e["workflow_id"] == "heal"]


# --- HA ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("version,has_is_active", (("7.0.5", False), ("6.4.2", False),
                                                   ("5.1.4", True)))
async def test_is_active_on_managers_only_in_the_guides_5_1_model(tmp_path: Path, version: str,
                                                                  has_is_active: bool) -> None:
    # storage/management_models.py Manager has no is_active on 7.0.5 and 6.4.2 (nor on 5.1.4:
    # the 5.1.4 profile keeps it because the vendor guide defines split brain with it)
    async with manager(tmp_path, version) as m:
        await m.control.post("/managers", json={"count": 2, "split_brain": True})
        items = (await m.api.get("/managers")).json()["items"]
        if has_is_active:
            assert [i["is_active"] for i in items] == [True, True]
        else:
            assert all("is_active" not in i for i in items)


# --- refusals and stuck states ------------------------------------------------------------------
@pytest.mark.parametrize("version,message", (
    ("7.0.5", "Cannot start execution because there are other executions running e.g.: {0}"),
    ("6.4.2", "Cannot start execution because there are other executions running: {0}"),
    ("5.1.4", "You cannot start a system-wide execution if there are other executions running. "
              "Currently running executions: ['{0}']")))
async def test_restore_is_refused_while_an_execution_is_active(tmp_path: Path, version: str,
                                                               message: str) -> None:
    # resource_manager.py: 7.0.5/6.4.2 prepare_executions -> _check_for_running_executions
    # (queue=False); 5.1.4 _execute_system_workflow -> _check_for_any_active_executions
    async with manager(tmp_path, version) as m:
        await m.create("s1", legacy=True)
        ex = (await m.control.post("/executions", json={"deployment_id": "dep-1",
                                                        "workflow_id": "install"})).json()
        body = {"force": True, "recreate_deployments_envs": True}
        resp = await m.api.post("/snapshots/s1/restore", json=body)
        assert resp.status_code == 400
        assert resp.json()["error_code"] == "existing_running_execution_error"
        assert resp.json()["message"] == message.format(ex["id"])


async def test_legacy_create_without_queue_is_refused_and_new_format_is_not(tmp_path: Path) -> None:
    # resource_manager.py is_blocking_execution: create_snapshot blocks only when legacy
    async with manager(tmp_path, "7.0.5") as m:
        await m.control.post("/executions", json={"deployment_id": "dep-1",
                                                  "workflow_id": "install"})
        legacy = await m.api.put("/snapshots/a", json={"legacy": True})
        assert (legacy.status_code, legacy.json()["error_code"]) == \
            (400, "existing_running_execution_error")
        assert (await m.api.get("/snapshots/a")).status_code == 404
        queued = await m.api.put("/snapshots/b", json={"legacy": True, "queue": True})
        assert queued.json()["status"] == "queued"
        new = await m.api.put("/snapshots/c", json={"legacy": False})
        assert new.json()["status"] == "pending"


async def test_snapshot_status_stays_running_after_a_broken_archive(tmp_path: Path) -> None:
    # snapshot_restore.py restore(): `finally` calls _is_legacy_snapshot() with no metadata,
    # which raises, so the flag file is never removed
    async with manager(tmp_path, "7.0.5", snapshot_status_linger_seconds=0) as m:
        await m.api.put("/snapshots/junk/archive", content=b"not a zip")
        done = await m.restore("junk")
        assert done["status"] == "failed"
        await m.idle()
        assert (await m.api.get("/snapshot-status")).json() == {"status": "running"}


async def test_5_1_restore_requires_recreate_deployments_envs(tmp_path: Path) -> None:
    # 5.1.4 resources_v2/snapshots.py SnapshotsIdRestore.post
    async with manager(tmp_path, "5.1.4") as m:
        await m.create("s1")
        missing = await m.api.post("/snapshots/s1/restore", json={"force": True})
        assert missing.status_code == 400
        assert missing.json()["message"] == "Missing recreate_deployments_envs in json request body"


async def test_an_upload_has_no_uploading_state(tmp_path: Path) -> None:
    # cloudify/models_states.py SnapshotState: created, failed, creating, uploaded;
    # SnapshotsIdArchive.put stores the archive, then creates the record as uploaded
    async with manager(tmp_path, "7.0.5") as m:
        seen: list[int] = []

        async def body() -> AsyncIterator[bytes]:
            yield b"PK" + b"\0" * 1000
            seen.append((await m.api.get("/snapshots/up")).status_code)
            yield b"\0" * 1000
        resp = await m.api.put("/snapshots/up/archive", content=body())
        assert seen == [404] and resp.json()["status"] == "uploaded"


# --- compatibility flags ------------------------------------------------------------------------
async def test_simplified_compat_switches_every_simplification_on(tmp_path: Path) -> None:
    async with manager(tmp_path, "7.0.5", compat=SIMPLIFIED) as m:
        await m.control.post("/executions", json={"deployment_id": "dep-1",
                                                  "workflow_id": "install"})
        answer = (await m.api.post("/maintenance/activate")).json()
        assert isinstance(answer["remaining_executions"][0], dict)
        await m.control.post("/managers", json={"count": 2, "split_brain": True})
        assert [i["is_active"] for i in (await m.api.get("/managers")).json()["items"]] == \
            [True, True]
        assert (await m.api.get("/brokers")).json()["items"][0]["host"] == "10.0.0.3"


async def test_compat_flags_can_be_set_through_the_control_surface(tmp_path: Path) -> None:
    async with manager(tmp_path, "7.0.5") as m:
        resp = await m.control.post("/config", json={"compat": [COMPAT_FLAT_MAINTENANCE_ANSWER]})
        assert resp.json()["compat"] == [COMPAT_FLAT_MAINTENANCE_ANSWER]
        assert (await m.api.post("/maintenance/activate")).json()["remaining_executions"] == []
        bad = await m.control.post("/config", json={"compat": ["nope"]})
        assert bad.status_code == 400


async def test_manager_version_can_be_switched_through_the_control_surface(tmp_path: Path) -> None:
    async with manager(tmp_path, "7.0.5") as m:
        await m.control.post("/config", json={"manager_version": "5.1.4"})
        assert (await m.api.get("/version")).json()["version"] == "5.1.4"
        assert (await m.api.get("/execution-schedules")).status_code == 404


def test_the_command_line_takes_a_manager_version(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    proc = subprocess.Popen([sys.executable, "-m", "devtools.simulator", "--port", "0",
                             "--manager-version", "6.4.2", "--data-dir", str(tmp_path)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert "6.4.2" in first
        url = first.split()[-1]
        version = httpx.get(url + "/api/v3.1/version", auth=("admin", "admin")).json()
        assert version["version"] == "6.4.2"
    finally:
        proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0


@pytest.mark.parametrize("version", ["6.4.2", "5.1.4"])
async def test_snapshot_status_clears_after_a_broken_archive_before_7(tmp_path: Path, version: str) -> None:
    # 6.4.2/5.1.4 snapshot_restore.py restore(): the `finally` always runs
    # _trigger_post_restore_commands, which removes the flag file
    async with manager(tmp_path, version, snapshot_status_linger_seconds=0) as m:
        await m.api.put("/snapshots/junk/archive", content=b"not a zip")
        done = await m.restore("junk")
        assert done["status"] == "failed"
        await m.idle()
        assert (await m.api.get("/snapshot-status")).json() == {"status": "not-running"}


@pytest.mark.parametrize("version,banned", [("5.1.4", True), ("6.4.2", True), ("7.0.5", False)])
async def test_cluster_status_during_a_restore(tmp_path: Path, version: str, banned: bool) -> None:
    # 5.1.4/6.4.2 ClusterStatus is a SecuredResourceBannedSnapshotRestore: 503
    # in_snapshot_restore_error while the restore flag exists; 7.0.5's is a plain SecuredResource
    async with manager(tmp_path, version, snapshot_status_linger_seconds=0) as m:
        await m.api.put("/snapshots/junk/archive", content=b"not a zip")
        m.sim._restore_stuck = True  # the flag file is there
        resp = await m.api.get("/cluster-status")
        assert resp.status_code == (503 if banned else 200)
        if banned:
            assert resp.json()["error_code"] == "in_snapshot_restore_error"


@pytest.mark.parametrize("version,status", [("5.1.4", 409), ("6.4.2", 409), ("7.0.5", 201)])
async def test_an_upload_over_an_existing_id(tmp_path: Path, version: str, status: int) -> None:
    # 5.1.4/6.4.2 upload_manager.py: the record's put conflicts before the archive is moved in;
    # 7.0.5 replaces the archive and answers a null Snapshot
    async with manager(tmp_path, version) as m:
        await m.create("s1")
        resp = await m.api.put("/snapshots/s1/archive", content=b"PK" + b"\0" * 100)
        assert resp.status_code == status
        if status == 409:
            assert resp.json()["error_code"] == "conflict_error"


@pytest.mark.parametrize("change,survives", [("nothing", True), ("key", False), ("password", False)])
async def test_5_1_tokens_die_when_the_snapshot_brings_another_key_or_password_hash(
        tmp_path: Path, change: str, survives: bool) -> None:
    # 5.1.4 security/authentication.py: a token is signed with rest-security.conf's secret_key
    # and carries a hash of the user's password hash; a legacy restore brings both back
    async with manager(tmp_path, "5.1.4", restore_outage_seconds=0) as m:
        await m.create("s1")
        token = (await m.api.get("/tokens")).json()["value"]
        if change == "key":
            m.sim.state.secret_key = "a-key-this-manager-got-since"
        elif change == "password":
            await m.api.post("/users/admin", json={"password": "changed"})
            m.api.auth = httpx.BasicAuth("admin", "changed")
        resp = await m.api.post("/snapshots/s1/restore", json={"force": True, "recreate_deployments_envs": True})
        m.api.auth = httpx.BasicAuth("admin", "admin")  # the snapshot's password from now on
        done = await m.wait_execution(resp.json()["id"])
        assert done["status"] == "terminated"
        await m.idle()
        answer = await m.api.get("/snapshots", headers={"Authentication-Token": token}, auth=None)
        assert (answer.status_code == 200) is survives, answer.text
