"""Behaviour of the Cloudify Manager simulator, through real HTTP on loopback.

Facts the simulator relies on, checked in Cloudify's public sources (cloudify-cosmo/cloudify-manager
at its newest snapshot, paths under rest-service/manager_rest unless said otherwise):
- Error bodies are `{"message", "error_code", "server_traceback": None}` (manager_exceptions.py
  ManagerException.to_response); UnauthorizedError prefixes "User unauthorized: ";
  NoAuthProvided says "No authentication info provided"; bad basic credentials say
  "Authentication failed for <User username=`x`>. Wrong credentials or locked account"
  (security/user_handler.py).
- Unknown `Tenant` header -> 403 forbidden_error "Authorization failed: Tried to authenticate with
  invalid tenant name: X" (security/authorization.py).
- `/snapshot-status` is a plain Resource (no auth) answering `{"status": "running"|"not-running"}`
  (rest/resources_v3_1/snapshots.py); `/version` is a SecuredResource, also mounted unversioned
  at `/api/version` (rest/endpoint_mapper.py), which `cfy snapshots upload` calls through
  cloudify_rest_client manager.get_version(), followed by `GET /license-check` ("OK", 200).
- Not found: "Requested `Snapshot` with ID `x` was not found" (storage/storage_manager.py).
- Snapshot create: PUT returns 201 with the create_snapshot execution (is_system_workflow, status
  pending, parameters.snapshot_id); the snapshot starts `creating` (resource_manager.py
  create_snapshot / create_snapshot_model). Download of a failed snapshot and delete with an
  active snapshot execution raise snapshot_action_error (400) (resources_v2/snapshots.py).
- Upload: PUT /snapshots/<id>/archive, 201 with the snapshot `uploaded`; an existing id only gets
  its archive replaced and the body is `{}` (resources_v2/snapshots.py SnapshotsIdArchive).
  The manager does not validate the zip on upload; a bad archive fails the restore instead.
- metadata.json key `snapshot_version` (= manager version) and `execution_id`
  (mgmtworker/cloudify_system_workflows/snapshots/constants.py, snapshot_create.py _dump_metadata).
- Restore: POST reads `request_dict['force']` unguarded (missing -> 500), 400 when `no_reboot`
  without `restore_certificates`, 200 with the execution marshalled as a Snapshot (id, created_at,
  status, error, ...); 7.x checks emptiness in the workflow, so without force on a non-empty
  manager the restore *execution* fails with "Snapshot restoration on a non-empty manager is not
  permitted. Pass the --force flag ..." (snapshot_restore.py _assert_clean_db), not the POST.
- Scheduled executions in a restore differ by version: tests/test_simulator_profiles.py (5.1.4
  overdue -> FAILED + "... is overdue. Marking as FAILED.", future requeued; 6.4.2/7.0.5 every one
  FAILED + "Marking original execution ... as FAILED.", future ones re-created as schedules).
- The non-empty-manager refusal is in the restore workflow on both 5.1.0 and 7.0.0 (same text).
- Queueing (resource_manager.py check_for_executions): while a system-wide execution is active,
  new executions are queued and started afterwards.
- Maintenance activate/deactivate (resources_v2_1/maintenance_mode.py): activate when a state
  exists -> 304; activate stores `activating` or directly `activated` when nothing runs;
  deactivate without a state -> 304; other actions -> 400 "Invalid action: ...".
- Cluster status (cluster_status_manager.py get_cluster_status): {"services": {"manager"|"db"|
  "broker": {"status", "is_external", "nodes": {name: {"status", "version", "public_ip",
  "private_ip", "services"}}}}, "status"}; overall Fail if any service fails, else Degraded if
  any is degraded, else OK.
- cloudify_rest_client 7.0.5 tokens: GET /tokens lists, POST /tokens creates (answered 200,
  resources_v3_1/tokens.py). The 7.0.5 profile does the same (secrets masked in the list); the
  older profiles' GET /tokens *issues* a token (`value`), as the 5.x client expects.
- Maintenance (maintenance.py, constants.py): states deactivated/activating/activated;
  `activating` becomes `activated` once no execution is outside END_STATES; while activating,
  PUT/POST/PATCH on snapshots/<id>, anything on snapshots/<id>/restore, POST executions and
  writes to deployments/<id> get 503 entering_maintenance_mode; while activated everything but
  ALLOWED_MAINTENANCE_ENDPOINTS (brokers, managers, db-nodes, cluster, config, status, version,
  license, maintenance, cluster-status, file-server-auth, ok, snapshots, snapshot-status) gets
  503 maintenance_mode_active, message "Your request was rejected since Cloudify manager is
  currently in maintenance mode"; an `X-BYPASS-MAINTENANCE` header with any non-empty value from
  an admin skips the check (utils.py is_bypass_maintenance_mode).
  Every execution outside END_STATES counts as running (queued and scheduled too).
"""
from __future__ import annotations

import asyncio
import io
import json
import os
import socket
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from bot.clock import iso
from devtools.simulator import Simulator
from tests.waiting import until

# the manager runs on a manual clock (conftest `sim`): it stays in each phase until a wait moves it
SIM_CLOCK = "manual"
ERROR_KEYS = {"message", "error_code", "server_traceback"}


async def snapshot_status(api: httpx.AsyncClient, snapshot_id: str) -> str:
    return (await api.get(f"/snapshots/{snapshot_id}")).json()["status"]


async def create_snapshot(api: httpx.AsyncClient, sim: Simulator, snapshot_id: str,
                          legacy: bool = True) -> dict[str, Any]:
    """Create and wait, the manager's time passing meanwhile; legacy (database-dump) format
    unless said, as `cfy snapshots create`."""
    resp = await api.put(f"/snapshots/{snapshot_id}", json={"include_logs": True,
                                                            "legacy": legacy})
    assert resp.status_code == 201
    await until(lambda: _status_is(api, snapshot_id, "created"), advancing=[sim])
    return resp.json()


async def _status_is(api: httpx.AsyncClient, snapshot_id: str, status: str) -> bool:
    return await snapshot_status(api, snapshot_id) == status


async def execution(api: httpx.AsyncClient, execution_id: str) -> dict[str, Any]:
    return (await api.get(f"/executions/{execution_id}",
                          headers={"X-BYPASS-MAINTENANCE": "true"})).json()


async def wait_execution(api: httpx.AsyncClient, sim: Simulator, execution_id: str,
                         statuses: tuple[str, ...] = ("terminated", "failed", "cancelled")
                         ) -> dict[str, Any]:
    """Wait for the execution's end (or one of `statuses`), the manager's time passing."""
    async def done() -> dict[str, Any] | None:
        try:
            ex = await execution(api, execution_id)
        except (httpx.TransportError, ValueError):  # refused, or nginx's 502 page
            return None
        return ex if ex.get("status") in statuses else None
    return await until(done, timeout=30.0, advancing=[sim])


async def restore(api: httpx.AsyncClient, snapshot_id: str, **body: Any) -> dict[str, Any]:
    body.setdefault("force", True)
    resp = await api.post(f"/snapshots/{snapshot_id}/restore", json=body)
    assert resp.status_code == 200, resp.text
    return resp.json()


# --- auth -------------------------------------------------------------------------------
async def test_basic_auth_reads_version(api: httpx.AsyncClient) -> None:
    resp = await api.get("/version")
    assert resp.status_code == 200
    assert resp.json()["version"] == "7.0.5"


async def test_unversioned_version_endpoint_answers(sim: Simulator) -> None:
    async with httpx.AsyncClient(auth=("admin", "admin")) as http:
        resp = await http.get(sim.url + "/api/version")
    assert resp.json()["edition"] == "premium"


async def test_token_from_get_tokens_authenticates(api: httpx.AsyncClient, sim: Simulator) -> None:
    token = (await api.post("/tokens", json={})).json()["value"]
    async with httpx.AsyncClient(base_url=sim.url + "/api/v3.1") as http:
        resp = await http.get("/snapshots", headers={"Authentication-Token": token,
                                                     "Tenant": "default_tenant"})
    assert resp.status_code == 200


async def test_wrong_password_gets_401_unauthorized_error(sim: Simulator) -> None:
    async with httpx.AsyncClient(base_url=sim.url + "/api/v3.1", auth=("admin", "nope")) as http:
        resp = await http.get("/snapshots")
    assert resp.status_code == 401
    body = resp.json()
    assert set(body) == ERROR_KEYS and body["error_code"] == "unauthorized_error"
    assert body["server_traceback"] is None
    assert "nope" not in body["message"]


async def test_no_credentials_gets_401(sim: Simulator) -> None:
    async with httpx.AsyncClient(base_url=sim.url + "/api/v3.1") as http:
        resp = await http.get("/version")
    assert resp.json()["message"] == "User unauthorized: No authentication info provided"


async def test_unknown_tenant_gets_403_forbidden_error(api: httpx.AsyncClient) -> None:
    resp = await api.get("/snapshots", headers={"Tenant": "other"})
    assert resp.status_code == 403
    assert resp.json()["error_code"] == "forbidden_error"


async def test_snapshot_status_needs_no_auth(sim: Simulator) -> None:
    async with httpx.AsyncClient() as http:
        resp = await http.get(sim.url + "/api/v3.1/snapshot-status")
    assert resp.json() == {"status": "not-running"}


# --- snapshots --------------------------------------------------------------------------
async def test_unknown_snapshot_is_404_not_found_error(api: httpx.AsyncClient) -> None:
    resp = await api.get("/snapshots/missing")
    assert resp.status_code == 404
    assert resp.json() == {"message": "Requested `Snapshot` with ID `missing` was not found",
                           "error_code": "not_found_error", "server_traceback": None}


async def test_create_returns_201_with_create_snapshot_execution(api: httpx.AsyncClient) -> None:
    resp = await api.put("/snapshots/s1", json={})
    assert resp.status_code == 201
    ex = resp.json()
    assert ex["workflow_id"] == "create_snapshot" and ex["is_system_workflow"] is True
    assert ex["parameters"]["snapshot_id"] == "s1"
    assert ex["status"] == "pending"


async def test_create_moves_snapshot_from_creating_to_created(api: httpx.AsyncClient,
                                                               sim: Simulator) -> None:
    ex = (await api.put("/snapshots/s1", json={})).json()
    assert await snapshot_status(api, "s1") == "creating"
    await until(lambda: _status_is(api, "s1", "created"), advancing=[sim])
    assert (await execution(api, ex["id"]))["status"] == "terminated"


async def test_create_existing_id_is_409_conflict(api: httpx.AsyncClient) -> None:
    await api.put("/snapshots/s1", json={})
    resp = await api.put("/snapshots/s1", json={})
    assert resp.status_code == 409 and resp.json()["error_code"] == "conflict_error"


async def test_create_fails_when_configured(api: httpx.AsyncClient,
                                            control: httpx.AsyncClient, sim: Simulator) -> None:
    await control.post("/config", json={"create_fails": "disk full"})
    ex = (await api.put("/snapshots/s1", json={})).json()
    done = await wait_execution(api, sim, ex["id"])
    snap = (await api.get("/snapshots/s1")).json()
    assert (done["status"], snap["status"], snap["error"]) == ("failed", "failed", "disk full")


async def test_failed_snapshot_cannot_be_downloaded(api: httpx.AsyncClient,
                                                    control: httpx.AsyncClient, sim: Simulator) -> None:
    await control.post("/config", json={"create_fails": "boom"})
    ex = (await api.put("/snapshots/s1", json={})).json()
    await wait_execution(api, sim, ex["id"])
    resp = await api.get("/snapshots/s1/archive")
    assert resp.status_code == 400 and resp.json()["error_code"] == "snapshot_action_error"


async def test_archive_is_zip_with_metadata_json(api: httpx.AsyncClient, sim: Simulator) -> None:
    ex = await create_snapshot(api, sim, "s1")
    resp = await api.get("/snapshots/s1/archive")
    assert resp.headers["content-type"] == "application/octet-stream"
    with zipfile.ZipFile(io.BytesIO(resp.content)) as zf:
        metadata = json.loads(zf.read("metadata.json"))
        state = json.loads(zf.read("state.json"))
    assert metadata["snapshot_version"] == "7.0.5"
    assert metadata["execution_id"] == ex["id"]
    assert {d["id"] for d in state["deployments"]} == {"dep-1", "dep-2", "dep-3"}


async def test_archive_is_padded_to_archive_size(api: httpx.AsyncClient,
                                                 control: httpx.AsyncClient, sim: Simulator) -> None:
    await control.post("/config", json={"archive_size": 3_000_000})
    await create_snapshot(api, sim, "big")
    resp = await api.get("/snapshots/big/archive")
    assert 2_900_000 <= len(resp.content) <= 3_000_000
    assert zipfile.ZipFile(io.BytesIO(resp.content)).testzip() is None


async def test_delete_removes_snapshot(api: httpx.AsyncClient, sim: Simulator) -> None:
    await create_snapshot(api, sim, "s1")
    resp = await api.delete("/snapshots/s1")
    assert resp.json()["id"] == "s1"
    assert (await api.get("/snapshots/s1")).status_code == 404


async def test_delete_during_creation_is_snapshot_action_error(api: httpx.AsyncClient) -> None:
    await api.put("/snapshots/s1", json={})
    resp = await api.delete("/snapshots/s1")
    assert resp.status_code == 400 and resp.json()["error_code"] == "snapshot_action_error"


async def test_upload_raw_chunked_body_makes_uploaded_snapshot(api: httpx.AsyncClient, sim: Simulator) -> None:
    await create_snapshot(api, sim, "s1")
    data = (await api.get("/snapshots/s1/archive")).content

    async def chunks() -> Any:
        for i in range(0, len(data), 1000):
            yield data[i:i + 1000]
    resp = await api.put("/snapshots/up/archive", content=chunks())
    assert resp.status_code == 201
    assert resp.json()["status"] == "uploaded"
    assert (await api.get("/snapshots/up/archive")).content == data


async def test_upload_by_url_fetches_the_archive(api: httpx.AsyncClient, sim: Simulator,
                                                 file_server) -> None:
    await create_snapshot(api, sim, "s1")
    # the simulator fetches from a loopback URL: its own archive endpoint needs auth, so the
    # bytes are served by a plain second server
    root, base = file_server
    data = (await api.get("/snapshots/s1/archive")).content
    (root / "a.zip").write_bytes(data)
    resp = await api.put("/snapshots/fromurl/archive",
                         params={"snapshot_archive_url": f"{base}/a.zip"})
    assert resp.status_code == 201 and resp.json()["status"] == "uploaded"
    assert (await api.get("/snapshots/fromurl/archive")).content == data


async def test_upload_without_archive_is_400(api: httpx.AsyncClient) -> None:
    resp = await api.put("/snapshots/empty/archive", content=b"")
    assert resp.status_code == 400 and resp.json()["error_code"] == "bad_parameters_error"
    assert (await api.get("/snapshots/empty")).status_code == 404


# --- restore ----------------------------------------------------------------------------
async def test_restore_without_force_key_is_500(api: httpx.AsyncClient, sim: Simulator) -> None:
    await create_snapshot(api, sim, "s1")
    resp = await api.post("/snapshots/s1/restore", json={})
    assert resp.status_code == 500 and resp.json()["error_code"] == "internal_server_error"


async def test_no_reboot_without_restore_certificates_is_400(api: httpx.AsyncClient, sim: Simulator) -> None:
    await create_snapshot(api, sim, "s1")
    resp = await api.post("/snapshots/s1/restore", json={"force": True, "no_reboot": True})
    assert resp.status_code == 400 and resp.json()["error_code"] == "bad_parameters_error"


async def test_restore_answers_trimmed_pending_execution(api: httpx.AsyncClient, sim: Simulator) -> None:
    await create_snapshot(api, sim, "s1")
    body = await restore(api, "s1")
    # marshalled with the Snapshot model's fields: no workflow_id, no parameters
    assert body["status"] == "pending"
    assert "parameters" not in body and "workflow_id" not in body


async def test_restore_without_force_fails_on_non_empty_manager(api: httpx.AsyncClient,
                                                                sim: Simulator) -> None:
    await create_snapshot(api, sim, "s1")
    ex = await restore(api, "s1", force=False)
    done = await wait_execution(api, sim, ex["id"])
    assert done["status"] == "failed"
    assert "non-empty manager is not permitted" in done["error"]
    assert len(sim.state.deployments) == 3


async def test_legacy_restore_outage_is_nginx_502_html(api: httpx.AsyncClient,
                                                       control: httpx.AsyncClient,
                                                       sim: Simulator) -> None:
    # services stop during a legacy restore (snapshot_restore.py _pause_services) while nginx
    # keeps answering: 502 with an HTML page, no error_code
    await create_snapshot(api, sim, "s1")
    await control.post("/config", json={"restore_outage_seconds": 400})
    ex = await restore(api, "s1")

    async def bad_gateway() -> bool:
        resp = await api.get("/version")
        return resp.status_code == 502 and "error_code" not in resp.text
    await until(bad_gateway, advancing=[sim])
    assert sim.clock.left(sim._outage_until) > 0  # the manager's clock holds: still down
    assert (await api.get("/version")).status_code == 502
    done = await wait_execution(api, sim, ex["id"])
    assert done["status"] == "terminated"


async def test_restore_with_certificates_reboots_refusing_connections(
        api: httpx.AsyncClient, control: httpx.AsyncClient, sim: Simulator) -> None:
    # _restore_certificate appends `sudo shutdown -r now` unless no_reboot
    await create_snapshot(api, sim, "s1")
    await control.post("/config", json={"reboot_outage_seconds": 40})
    ex = await restore(api, "s1", restore_certificates=True)

    def refused() -> bool:
        try:
            socket.create_connection(("127.0.0.1", sim.port), timeout=0.5).close()
        except ConnectionRefusedError:
            return True
        return False

    async def check() -> bool:
        return refused()
    await until(check, advancing=[sim])
    done = await wait_execution(api, sim, ex["id"])
    assert done["status"] == "terminated"


async def test_outage_503_mode_answers_html_503(api: httpx.AsyncClient,
                                                control: httpx.AsyncClient) -> None:
    await control.post("/outage", json={"seconds": 400, "mode": "503"})  # on when answered
    resp = await api.get("/version")
    assert resp.status_code == 503 and "error_code" not in resp.text


async def test_restore_replaces_state_with_the_snapshots(api: httpx.AsyncClient,
                                                         sim: Simulator) -> None:
    await create_snapshot(api, sim, "s1")
    del sim.state.deployments["dep-3"]
    await create_snapshot(api, sim, "later")
    ex = await restore(api, "s1")
    done = await wait_execution(api, sim, ex["id"])
    assert done["status"] == "terminated"
    assert set(sim.state.deployments) == {"dep-1", "dep-2", "dep-3"}
    # postgres.py leaves the snapshots table out of the dump: the list comes back empty, and
    # the restored snapshot's directory is deleted (RD-3294)
    assert sim.state.snapshots == {}
    assert not os.path.exists(sim.archive_path("s1"))
    # the restore execution stays visible with its final status
    assert sim.state.executions[ex["id"]]["status"] == "terminated"
    assert sim.state.restores == [ex["id"]]


async def test_snapshot_status_running_during_restore(api: httpx.AsyncClient,
                                                      control: httpx.AsyncClient,
                                                      sim: Simulator) -> None:
    await create_snapshot(api, sim, "s1")
    await control.post("/config", json={"outage_mode": "503"})
    await restore(api, "s1")
    resp = await api.get("/snapshot-status")
    assert resp.json() == {"status": "running"}


async def test_snapshot_status_lingers_after_restore_ends(api: httpx.AsyncClient,
                                                          control: httpx.AsyncClient, sim: Simulator) -> None:
    await create_snapshot(api, sim, "s1")
    await control.post("/config", json={"snapshot_status_linger_seconds": 4000})
    ex = await restore(api, "s1")
    await wait_execution(api, sim, ex["id"])
    assert (await api.get("/snapshot-status")).json()["status"] == "running"


async def test_restore_failure_leaves_state_unchanged(api: httpx.AsyncClient,
                                                      control: httpx.AsyncClient,
                                                      sim: Simulator) -> None:
    await create_snapshot(api, sim, "s1")
    await create_snapshot(api, sim, "s2")
    await control.post("/config", json={"restore_fails": "db restore failed"})
    ex = await restore(api, "s1")
    done = await wait_execution(api, sim, ex["id"])
    assert (done["status"], done["error"]) == ("failed", "db restore failed")
    assert set(sim.state.snapshots) == {"s1", "s2"}


async def test_invalid_uploaded_archive_fails_the_restore(api: httpx.AsyncClient, sim: Simulator) -> None:
    await api.put("/snapshots/junk/archive", content=b"not a zip at all")
    ex = await restore(api, "junk")
    done = await wait_execution(api, sim, ex["id"])
    assert done["status"] == "failed" and "zip" in done["error"]


async def _stage_scheduled(control: httpx.AsyncClient, when: datetime) -> str:
    resp = await control.post("/executions", json={"deployment_id": "dep-1",
                                                   "workflow_id": "backup",
                                                   "status": "scheduled",
                                                   "scheduled_for": iso(when)})
    return resp.json()["id"]


# --- executions -------------------------------------------------------------------------
async def test_execution_moves_pending_started_terminated(api: httpx.AsyncClient, sim: Simulator) -> None:
    resp = await api.post("/executions", json={"deployment_id": "dep-1",
                                               "workflow_id": "install_new_agents",
                                               "parameters": {}})
    assert resp.status_code == 201 and resp.json()["status"] == "pending"
    done = await wait_execution(api, sim, resp.json()["id"])
    assert done["status"] == "terminated" and done["started_at"] and done["ended_at"]


@pytest.mark.sim_options(workflow_seconds=10)
async def test_on_a_manual_clock_an_execution_moves_only_when_time_is_moved(
        api: httpx.AsyncClient, control: httpx.AsyncClient, sim: Simulator) -> None:
    ex_id = (await api.post("/executions", json={"deployment_id": "dep-1",
                                                 "workflow_id": "install"})).json()["id"]

    async def status() -> str:
        return str((await api.get(f"/executions/{ex_id}")).json()["status"])
    await until(lambda: sim.clock.next_due() is not None)  # its first phase waits on the clock
    start = sim.now()
    assert await status() == "pending"
    assert (await control.post("/clock", json={"advance": 0.5})).json()["next_due"] == 0.5
    assert await status() == "pending"  # 0.5 of its 1 s pending phase left
    await control.post("/clock", json={"next": True})
    await until(lambda: _is(status, "started"))
    assert sim.now() - start == timedelta(seconds=1)
    await until(lambda: sim.clock.next_due() == 9)
    await control.post("/clock", json={"next": True})
    await until(lambda: _is(status, "terminated"))
    assert sim.now() - start == timedelta(seconds=10)
    assert (await control.post("/clock", json={})).json()["next_due"] is None


async def _is(read: Any, value: str) -> bool:
    return bool(await read() == value)


async def test_execution_for_unknown_deployment_is_404(api: httpx.AsyncClient) -> None:
    resp = await api.post("/executions", json={"deployment_id": "nope", "workflow_id": "install"})
    assert resp.status_code == 404


async def test_scheduled_execution_becomes_an_execution_schedule(
        api: httpx.AsyncClient, control: httpx.AsyncClient, sim: Simulator) -> None:
    # 6.x on (resources_v1/executions.py): a schedule `<workflow>_<hex>`, rule {"count": 1};
    # the answer is an unsaved execution: status scheduled and no id
    when = iso(sim.now() + timedelta(hours=3))
    resp = await api.post("/executions", json={"deployment_id": "dep-1", "workflow_id": "heal",
                                               "scheduled_time": when})
    assert resp.status_code == 201
    assert (resp.json()["status"], resp.json()["id"]) == ("scheduled", None)
    [sched] = (await api.get("/execution-schedules")).json()["items"]
    assert sched["id"].startswith("heal_") and sched["next_occurrence"] == when
    assert sched["rule"] == {"count": 1} and sched["deployment_id"] == "dep-1"
    await control.post("/clock", json={"advance": 3 * 3600 + 1})

    async def ran() -> list[dict[str, Any]]:
        return [e for e in sim.state.executions.values() if e["workflow_id"] == "heal"]
    [run] = await until(ran, advancing=[sim])
    assert (await wait_execution(api, sim, run["id"]))["status"] == "terminated"
    sched = (await api.get(f"/execution-schedules/{sched['id']}",
                           params={"deployment_id": "dep-1"})).json()
    assert sched["latest_execution_status"] == "terminated" and sched["next_occurrence"] is None


async def test_executions_hide_system_workflows_unless_asked(api: httpx.AsyncClient, sim: Simulator) -> None:
    await create_snapshot(api, sim, "s1")
    hidden = (await api.get("/executions")).json()
    shown = (await api.get("/executions", params={"_include_system_workflows": "true"})).json()
    assert hidden["items"] == []
    assert [e["workflow_id"] for e in shown["items"]] == ["create_snapshot"]


async def test_executions_paginate_sort_and_include(api: httpx.AsyncClient,
                                                    control: httpx.AsyncClient) -> None:
    for _ in range(3):
        await control.post("/executions", json={"deployment_id": "dep-1", "workflow_id": "w"})
    body = (await api.get("/executions", params={"_size": 2, "_offset": 1, "_sort": "-created_at",
                                                 "_include": "id,status"})).json()
    assert body["metadata"]["pagination"] == {"total": 3, "size": 2, "offset": 1}
    assert all(set(item) == {"id", "status"} for item in body["items"])


async def test_plugins_update_runs_to_successful(api: httpx.AsyncClient, sim: Simulator) -> None:
    pu = (await api.post("/plugins-updates/bp-1/update/initiate", json={})).json()
    assert pu["blueprint_id"] == "bp-1" and pu["deployments_to_update"] == ["dep-1"]

    async def successful() -> bool:
        return (await api.get(f"/plugins-updates/{pu['id']}")).json()["state"] == "successful"
    await until(successful, advancing=[sim])


# --- maintenance ------------------------------------------------------------------------
async def test_activate_without_executions_is_activated(api: httpx.AsyncClient) -> None:
    resp = await api.post("/maintenance/activate")
    assert resp.json()["status"] == "activated"
    assert (await api.get("/maintenance")).json()["status"] == "activated"


async def test_activate_with_live_execution_is_activating_then_activated(
        api: httpx.AsyncClient, control: httpx.AsyncClient) -> None:
    ex = (await control.post("/executions", json={"deployment_id": "dep-1",
                                                  "workflow_id": "install"})).json()
    state = (await api.post("/maintenance/activate")).json()
    assert state["status"] == "activating"
    # the activate answer nests the list one level deeper (a stray comma in
    # maintenance_mode.py); GET /maintenance has the plain list
    assert [r["id"] for r in state["remaining_executions"][0]] == [ex["id"]]
    polled = (await api.get("/maintenance")).json()
    assert [r["id"] for r in polled["remaining_executions"]] == [ex["id"]]
    await control.post(f"/executions/{ex['id']}/finish", json={"status": "terminated"})
    assert (await api.get("/maintenance")).json()["status"] == "activated"


async def test_activating_refuses_snapshot_create_and_executions(
        api: httpx.AsyncClient, control: httpx.AsyncClient) -> None:
    await control.post("/executions", json={"deployment_id": "dep-1", "workflow_id": "install"})
    await api.post("/maintenance/activate")
    create = await api.put("/snapshots/s1", json={})
    start = await api.post("/executions", json={"deployment_id": "dep-1", "workflow_id": "x"})
    listing = await api.get("/executions")
    assert (create.status_code, create.json()["error_code"]) == (503, "entering_maintenance_mode")
    assert start.json()["error_code"] == "entering_maintenance_mode"
    assert listing.status_code == 200


async def test_activated_blocks_executions_and_events(api: httpx.AsyncClient) -> None:
    await api.post("/maintenance/activate")
    for path in ("/executions", "/events", "/deployments"):
        resp = await api.get(path)
        assert resp.status_code == 503
        assert resp.json()["error_code"] == "maintenance_mode_active"


async def test_activated_still_serves_snapshots_status_and_version(api: httpx.AsyncClient) -> None:
    await api.post("/maintenance/activate")
    for path in ("/snapshots", "/snapshot-status", "/maintenance", "/version", "/managers"):
        assert (await api.get(path)).status_code == 200, path


async def test_snapshot_create_and_restore_allowed_while_activated(
        api: httpx.AsyncClient, sim: Simulator) -> None:
    await api.post("/maintenance/activate")
    await create_snapshot(api, sim, "s1")
    resp = await api.post("/snapshots/s1/restore", json={"force": True})
    assert resp.status_code == 200


async def test_bypass_header_reads_executions_while_activated(api: httpx.AsyncClient) -> None:
    await api.post("/maintenance/activate")
    resp = await api.get("/executions", headers={"X-BYPASS-MAINTENANCE": "true"})
    assert resp.status_code == 200


async def test_activate_twice_is_304_with_empty_body(api: httpx.AsyncClient) -> None:
    await api.post("/maintenance/activate")
    resp = await api.post("/maintenance/activate")
    assert resp.status_code == 304 and resp.content == b""


async def test_deactivate_when_deactivated_is_304(api: httpx.AsyncClient) -> None:
    resp = await api.post("/maintenance/deactivate")
    assert resp.status_code == 304 and resp.content == b""


async def test_deactivate_returns_deactivated(api: httpx.AsyncClient) -> None:
    await api.post("/maintenance/activate")
    resp = await api.post("/maintenance/deactivate")
    assert resp.json()["status"] == "deactivated"
    assert (await api.get("/executions")).status_code == 200


# --- faults, clock, managers -------------------------------------------------------------
async def test_fault_answers_configured_error_count_times(api: httpx.AsyncClient,
                                                          control: httpx.AsyncClient) -> None:
    await control.post("/faults", json={"path": "/snapshots$", "method": "GET", "status": 503,
                                        "error_code": "maintenance_mode_active", "count": 2})
    codes = [(await api.get("/snapshots")).status_code for _ in range(3)]
    assert codes == [503, 503, 200]


async def test_fault_can_drop_the_connection(api: httpx.AsyncClient,
                                             control: httpx.AsyncClient) -> None:
    await control.post("/faults", json={"path": "/version", "drop": True})
    with pytest.raises(httpx.TransportError):
        await api.get("/version")
    assert (await api.get("/version")).status_code == 200


async def test_fault_cuts_archive_download(api: httpx.AsyncClient,
                                           control: httpx.AsyncClient, sim: Simulator) -> None:
    await control.post("/config", json={"archive_size": 2_000_000})
    await create_snapshot(api, sim, "s1")
    await control.post("/faults", json={"path": "/archive$", "cut_after_bytes": 100_000})
    received = 0
    with pytest.raises(httpx.TransportError):
        async with api.stream("GET", "/snapshots/s1/archive") as resp:
            async for chunk in resp.aiter_bytes():
                received += len(chunk)
    assert received == 100_000


async def test_faults_can_be_cleared(api: httpx.AsyncClient, control: httpx.AsyncClient) -> None:
    await control.post("/faults", json={"path": "/version", "status": 500, "count": 5})
    await control.delete("/faults")
    assert (await api.get("/version")).status_code == 200


async def test_clock_advance_moves_manager_time(control: httpx.AsyncClient,
                                                sim: Simulator) -> None:
    before = sim.now()
    now = (await control.post("/clock", json={"advance": 86400})).json()["now"]
    assert datetime.fromisoformat(now) - before >= timedelta(days=1)


async def test_managers_have_no_is_active_and_advertise_the_simulators_host(
        api: httpx.AsyncClient, control: httpx.AsyncClient) -> None:
    # storage/management_models.py Manager (7.0.5): no is_active; every manager is active
    await control.post("/managers", json={"count": 3})
    managers = (await api.get("/managers")).json()["items"]
    assert [m["hostname"] for m in managers] == ["manager-1", "manager-2", "manager-3"]
    assert all("is_active" not in m for m in managers)
    # a real CLI fails over to these addresses: they must stay on loopback
    assert {m["public_ip"] for m in managers} == {"127.0.0.1"}
    assert (await api.get("/brokers")).json()["items"][0]["host"] == "127.0.0.1"


async def test_split_brain_staging_makes_the_cluster_degraded(
        api: httpx.AsyncClient, control: httpx.AsyncClient) -> None:
    await control.post("/managers", json={"count": 3, "split_brain": True})
    cluster = (await api.get("/cluster-status")).json()
    assert cluster["status"] == "Degraded"
    assert set(cluster["services"]["manager"]["nodes"]) == {"manager-1", "manager-2", "manager-3"}


async def test_cluster_status_summary_is_http_500_when_the_cluster_fails(
        api: httpx.AsyncClient, control: httpx.AsyncClient) -> None:
    # resources_v3_1/cluster_status.py: status_code = 500 if short_status == FAIL
    await control.post("/managers", json={"count": 1, "down": ["manager-1"]})
    resp = await api.get("/cluster-status", params={"summary": "true"})
    assert resp.status_code == 500 and resp.json() == {"status": "Fail", "services": {}}


async def test_manager_down_shows_fail_node(api: httpx.AsyncClient,
                                            control: httpx.AsyncClient) -> None:
    await control.post("/managers", json={"count": 2, "down": ["manager-2"]})
    nodes = (await api.get("/cluster-status")).json()["services"]["manager"]["nodes"]
    assert nodes["manager-2"]["status"] == "Fail" and nodes["manager-1"]["status"] == "OK"


async def test_state_counts_requests_and_unknown_paths(api: httpx.AsyncClient,
                                                       control: httpx.AsyncClient) -> None:
    await api.get("/snapshots")
    await api.get("/no-such-thing")
    state = (await control.get("/state")).json()
    assert state["request_counts"]["/api/v3.1/snapshots"] == 1
    assert state["unknown_requests"] == ["GET /api/v3.1/no-such-thing"]


async def test_reset_restores_the_seeded_state(api: httpx.AsyncClient,
                                               control: httpx.AsyncClient,
                                               sim: Simulator) -> None:
    await create_snapshot(api, sim, "s1")
    await control.post("/reset")
    assert sim.state.snapshots == {} and len(sim.state.deployments) == 3


async def test_outage_refuse_mode_closes_and_reopens_the_port(control: httpx.AsyncClient,
                                                              api: httpx.AsyncClient,
                                                              sim: Simulator) -> None:
    resp = await control.post("/outage", json={"seconds": 20, "mode": "refuse"})
    assert resp.status_code == 200

    async def refused() -> bool:
        try:
            await api.get("/version")
        except httpx.ConnectError:
            return True
        except httpx.TransportError:  # a kept-alive connection cut as the port closed
            return False
        return False
    await until(refused)

    async def back() -> bool:
        try:
            return (await api.get("/version")).status_code == 200
        except httpx.TransportError:
            return False
    assert not await back()  # the clock holds: the port stays closed
    await until(back, advancing=[sim])


async def test_executions_started_during_a_system_workflow_are_queued(
        api: httpx.AsyncClient, sim: Simulator) -> None:
    first = (await api.put("/snapshots/s1", json={"legacy": True})).json()
    second = (await api.put("/snapshots/s2", json={"legacy": True, "queue": True})).json()
    run = (await api.post("/executions", json={"deployment_id": "dep-1",
                                               "workflow_id": "install"})).json()
    assert (first["status"], second["status"], run["status"]) == ("pending", "queued", "queued")
    assert (await wait_execution(api, sim, second["id"]))["status"] == "terminated"
    assert (await wait_execution(api, sim, run["id"]))["status"] == "terminated"


async def test_unknown_maintenance_action_is_400(api: httpx.AsyncClient) -> None:
    resp = await api.post("/maintenance/pause")
    assert resp.status_code == 400 and resp.json()["error_code"] == "bad_parameters_error"


async def test_config_version_changes_version_and_new_archives(api: httpx.AsyncClient,
                                                               control: httpx.AsyncClient, sim: Simulator) -> None:
    await control.post("/config", json={"version": "6.4.0"})
    await create_snapshot(api, sim, "old")
    await control.post("/config", json={"version": "7.0.0"})
    assert (await api.get("/version")).json()["version"] == "7.0.0"
    archive = (await api.get("/snapshots/old/archive")).content
    metadata = json.loads(zipfile.ZipFile(io.BytesIO(archive)).read("metadata.json"))
    assert metadata["snapshot_version"] == "6.4.0"


def test_python_m_bot_simulator_serves_until_sigterm(tmp_path: Any) -> None:
    import signal
    import subprocess
    import sys
    proc = subprocess.Popen([sys.executable, "-m", "devtools.simulator", "--port", "0",
                             "--data-dir", str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split()[-1]
        assert "admin/admin" in proc.stdout.readline()
        assert httpx.get(url + "/api/v3.1/version", auth=("admin", "admin")).status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0


@pytest.mark.parametrize("snapshot_id", ["1st", "has%20space", "a" * 257])
async def test_create_validates_the_snapshot_id(api: httpx.AsyncClient, snapshot_id: str) -> None:
    # rest_utils.validate_inputs: starts with a letter, URL-safe characters, at most 256
    resp = await api.put(f"/snapshots/{snapshot_id}", json={})
    assert resp.status_code == 400 and resp.json()["error_code"] == "bad_parameters_error"
    assert (await api.get("/snapshots")).json()["items"] == []


async def test_create_rejects_a_non_boolean_flag_without_a_snapshot(api: httpx.AsyncClient) -> None:
    resp = await api.put("/snapshots/s1", json={"include_logs": "maybe"})
    assert resp.status_code == 400
    assert (await api.get("/snapshots/s1")).status_code == 404


async def _staged(api: httpx.AsyncClient, status: str) -> str:
    resp = await api.post("/executions", json={"deployment_id": "", "workflow_id": "held",
                                                "force_status": status})
    assert resp.status_code == 201 and resp.json()["status"] == status
    assert resp.json()["deployment_id"] is None and resp.json()["error"] is None
    return str(resp.json()["id"])


async def test_a_forced_status_execution_stays_in_it_until_a_status_update(
        api: httpx.AsyncClient, control: httpx.AsyncClient) -> None:
    # resources_v1/executions.py: force_status stores it, nothing runs it
    ex_id = await _staged(api, "pending")
    await control.post("/clock", json={"advance": 3600})  # an hour passes; the simulator ticks
    assert (await api.get(f"/executions/{ex_id}")).json()["status"] == "pending"
    resp = await api.patch(f"/executions/{ex_id}", json={"status": "cancelled"})
    assert resp.status_code == 200 and resp.json()["status"] == "cancelled"
    assert resp.json()["error"] == "" and resp.json()["ended_at"]
    # resource_manager.py _validate_execution_update: an ended execution stays ended
    resp = await api.patch(f"/executions/{ex_id}", json={"status": "started"})
    assert resp.status_code == 400 and resp.json()["error_code"] == "invalid_exception_status_update"


async def test_a_restore_refused_while_an_execution_runs_leaves_its_execution_pending(
        api: httpx.AsyncClient, sim: Simulator) -> None:
    # resource_manager.py restore_snapshot stores the execution before prepare_executions refuses
    await create_snapshot(api, sim, "s1")
    blocker = await _staged(api, "pending")
    resp = await api.post("/snapshots/s1/restore", json={"force": True})
    assert resp.status_code == 400 and resp.json()["error_code"] == "existing_running_execution_error"
    left = (await api.get("/executions", params={"workflow_id": "restore_snapshot",
                                                 "_include_system_workflows": "true"})).json()
    assert [e["status"] for e in left["items"]] == ["pending"]
    await api.patch(f"/executions/{blocker}", json={"status": "cancelled"})
    # the leftover alone still refuses the next restore and holds maintenance mode activating
    resp = await api.post("/snapshots/s1/restore", json={"force": True})
    assert resp.json()["error_code"] == "existing_running_execution_error"
    await api.post("/maintenance/activate")
    assert (await api.get("/maintenance")).json()["status"] == "activating"


# --- the clock (devtools/simulator/clock.py) ----------------------------------------------
async def test_a_manual_clock_wakes_sleepers_in_order_and_counts_deadlines_as_timers() -> None:
    from devtools.simulator.clock import ManualClock
    clock = ManualClock()
    woke: list[str] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append(name)
    tasks = [asyncio.ensure_future(sleeper(n, s)) for n, s in (("late", 5), ("early", 2), ("gone", 1))]
    await asyncio.sleep(0)
    tasks[2].cancel()
    outage_end = clock.deadline(3)
    await asyncio.sleep(0)
    assert clock.next_due() == 2 and woke == []  # the cancelled one is no timer
    assert clock.advance_to_next() and clock.elapsed == 2
    await asyncio.sleep(0)
    assert woke == ["early"] and clock.left(outage_end) == 1 and clock.next_due() == 1
    clock.advance(10)  # everything due wakes, in order
    await asyncio.gather(*tasks[:2])
    assert woke == ["early", "late"] and clock.left(outage_end) < 0
    assert clock.next_due() is None and not clock.advance_to_next()


async def test_a_clock_given_to_the_simulator_is_the_one_its_manager_runs_on(tmp_path: Any) -> None:
    from devtools.simulator import SimulatorOptions, start_simulator
    from devtools.simulator.clock import ManualClock
    clock = ManualClock(datetime(2030, 1, 1, tzinfo=UTC))
    sim = await start_simulator(options=SimulatorOptions(data_dir=str(tmp_path)), clock=clock)
    try:
        assert sim.clock is clock and sim.now() == datetime(2030, 1, 1, tzinfo=UTC)
        clock.advance(90)
        async with httpx.AsyncClient(base_url=sim.url + "/_sim") as control:
            assert (await control.get("/state")).json()["now"].startswith("2030-01-01T00:01:30")
    finally:
        await sim.close()
