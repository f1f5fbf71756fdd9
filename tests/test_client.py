"""CloudifyClient against the simulator over loopback HTTP: endpoints, headers, bodies, errors."""
from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import httpx
import pytest

from bot import errors
from bot.clock import iso
from bot.cloudify.client import CloudifyClient
from tests.client_support import sim_post, wait_execution, wait_snapshot
from tests.waiting import until

#: the simulator's speed for the `sim` fixture (conftest): simulated minutes in fractions of a second
SIM_SPEED = 100.0

WRONG_PASSWORD = "hunter2-not-the-password"


# --- transport: URL, auth, tenant -------------------------------------------------------------

async def test_calls_go_to_api_v3_1_under_the_base_url(client, recorder):
    await client.version()
    assert recorder.seen[-1].path == "/api/v3.1/version"


async def test_every_call_sends_the_tenant_header(client, recorder):
    await client.version()
    await client.list_snapshots()
    await client.maintenance()
    assert {s.headers.get("tenant") for s in recorder.seen} == {"default_tenant"}


async def test_basic_auth_is_sent_when_no_token(client, recorder):
    await client.version()
    assert recorder.seen[-1].headers["authorization"].startswith("Basic ")
    assert "authentication-token" not in recorder.seen[-1].headers


async def test_token_auth_sends_authentication_token_and_no_basic_auth(sim, recorder):
    async with httpx.AsyncClient(base_url=sim.url + "/api/v3.1", auth=("admin", "admin"),
                                 headers={"Tenant": "default_tenant"}) as http:
        token = (await http.post("/tokens", json={})).json()["value"]
    async with CloudifyClient(sim.url, token=token, transport=recorder) as c:
        assert (await c.version()).version == sim.options.version
    assert recorder.seen[-1].headers["authentication-token"] == token
    assert "authorization" not in recorder.seen[-1].headers


async def test_another_tenant_is_forbidden(sim):
    async with CloudifyClient(sim.url, password="admin", tenant="other_tenant") as c:
        with pytest.raises(errors.Forbidden):
            await c.version()


async def test_invalid_token_is_unauthorized(sim):
    async with CloudifyClient(sim.url, token="ctok-nope-nope") as c:
        with pytest.raises(errors.Unauthorized):
            await c.list_snapshots()


async def test_wrong_password_never_appears_in_the_error_or_the_logs(sim, caplog):
    caplog.set_level(logging.DEBUG)
    async with CloudifyClient(sim.url, username="admin", password=WRONG_PASSWORD) as c:
        with pytest.raises(errors.Unauthorized) as info:
            await c.list_snapshots()
        assert WRONG_PASSWORD not in repr(c)
    err = info.value
    assert err.status == 401 and err.error_code == "unauthorized_error"
    assert "GET /snapshots" in str(err)
    for text in (str(err), repr(err), err.user_message, caplog.text,
                 *(r.getMessage() for r in caplog.records)):
        assert WRONG_PASSWORD not in text
        assert "Authorization" not in text and "Basic " not in text


async def test_token_never_appears_in_the_error_or_the_logs(sim, caplog):
    caplog.set_level(logging.DEBUG)
    secret = "ctok-abcdefghij-SECRETSECRETSECRET"
    async with CloudifyClient(sim.url, token=secret) as c:
        with pytest.raises(errors.Unauthorized) as info:
            await c.version()
    for text in (str(info.value), repr(info.value), caplog.text):
        assert "SECRETSECRET" not in text


async def test_requests_are_logged_at_debug_with_method_path_and_status(client, caplog):
    caplog.set_level(logging.DEBUG, logger="bot.cloudify")
    await client.version()
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.cloudify"]
    assert any(line.startswith("GET /version -> 200 in ") for line in lines)


# --- manager ----------------------------------------------------------------------------------

async def test_version_reports_the_managers_version(client, sim):
    v = await client.version()
    assert v.version == sim.options.version and v.edition == "premium"
    assert v.tuple[:1] == (7,)


async def test_status_reports_ok(client):
    assert (await client.status())["status"] == "OK"


async def test_managers_lists_the_cluster_nodes(client, sim):
    await sim_post(sim, "/_sim/managers", {"count": 3})
    nodes = await client.managers()
    assert [n.hostname for n in nodes] == ["manager-1", "manager-2", "manager-3"]
    assert nodes[0].private_ip and nodes[0].version == sim.options.version


async def test_cluster_status_shows_a_node_down_as_degraded(client, sim):
    await sim_post(sim, "/_sim/managers", {"count": 2, "down": ["manager-2"]})
    status = await client.cluster_status()
    assert status["status"] == "Degraded"
    assert status["services"]["manager"]["nodes"]["manager-2"]["status"] == "Fail"
    assert (await client.cluster_status(summary=True))["status"] == "Degraded"


# --- snapshots --------------------------------------------------------------------------------

async def test_create_snapshot_returns_the_create_execution(client):
    ex = await client.create_snapshot("snap-1")
    assert ex.workflow_id == "create_snapshot"
    assert ex.parameters["snapshot_id"] == "snap-1"
    snap = await wait_snapshot(client, "snap-1")
    assert snap.usable


async def test_create_snapshot_sends_every_field_the_7x_client_sends(client, recorder):
    await client.create_snapshot("snap-1", include_logs=False, queue=True)
    put = next(s for s in recorder.seen if s.method == "PUT")
    assert put.path == "/api/v3.1/snapshots/snap-1"
    assert recorder.json_body(recorder.seen.index(put)) == {
        "include_credentials": True, "include_logs": False, "include_events": True,
        "queue": True, "tempdir_path": None, "legacy": True, "listener_timeout": None}


async def test_creating_an_existing_snapshot_is_a_conflict(client):
    await client.create_snapshot("snap-1")
    with pytest.raises(errors.Conflict) as info:
        await client.create_snapshot("snap-1")
    assert info.value.status == 409


async def test_list_snapshots_shows_created_ones(client):
    await client.create_snapshot("snap-a")
    # a second legacy create is refused while the first runs, unless queued (resource_manager.py)
    await client.create_snapshot("snap-b", queue=True)
    await wait_snapshot(client, "snap-b")
    assert {s.id for s in await client.list_snapshots()} >= {"snap-a", "snap-b"}


async def test_get_unknown_snapshot_is_not_found(client):
    with pytest.raises(errors.NotFound) as info:
        await client.get_snapshot("nope")
    assert info.value.error_code == "not_found_error" and "nope" in str(info.value)


async def test_delete_snapshot_returns_it_and_removes_it(client):
    await client.create_snapshot("snap-1")
    await wait_snapshot(client, "snap-1")
    deleted = await client.delete_snapshot("snap-1")
    assert deleted.id == "snap-1"
    with pytest.raises(errors.NotFound):
        await client.get_snapshot("snap-1")


async def test_failed_snapshot_cannot_be_restored(client, sim):
    await sim_post(sim, "/_sim/config", {"create_fails": "disk full"})
    await client.create_snapshot("bad")
    await wait_snapshot(client, "bad", status="failed")
    with pytest.raises(errors.IllegalAction) as info:
        await client.restore_snapshot("bad", force=True)
    assert info.value.error_code == "snapshot_action_error"


async def test_snapshot_status_is_not_running_when_idle(client):
    assert await client.snapshot_status() == "not-running"


# --- restore ----------------------------------------------------------------------------------

async def test_restore_always_sends_force_explicitly(client, recorder):
    await client.create_snapshot("snap-1")
    await wait_snapshot(client, "snap-1")
    await client.restore_snapshot("snap-1")
    post = next(i for i, s in enumerate(recorder.seen) if s.path.endswith("/restore"))
    assert recorder.json_body(post) == {"force": False, "restore_certificates": False,
                                        "no_reboot": False, "ignore_plugin_failure": False}


async def test_restore_sends_tenant_name_and_recreate_envs_only_when_given(client, recorder):
    await client.create_snapshot("snap-1")
    await wait_snapshot(client, "snap-1")
    await client.restore_snapshot("snap-1", force=True, tenant_name="t1",
                                  recreate_deployments_envs=False)
    post = next(i for i, s in enumerate(recorder.seen) if s.path.endswith("/restore"))
    body = recorder.json_body(post)
    assert body["force"] is True
    assert body["tenant_name"] == "t1" and body["recreate_deployments_envs"] is False


async def test_restore_without_force_on_a_manager_with_deployments_fails(client):
    await client.create_snapshot("snap-1")  # legacy (7.0.5's CLI default): the restore checks
    await wait_snapshot(client, "snap-1")
    ex = await client.restore_snapshot("snap-1", force=False)
    assert ex.id and ex.workflow_id == ""  # the restore answer is trimmed (no workflow_id)
    done = await wait_execution(client, ex.id)
    assert done.workflow_id == "restore_snapshot"
    assert done.status == "failed" and "--force" in done.error


async def test_no_reboot_without_restore_certificates_is_bad_parameters(client):
    await client.create_snapshot("snap-1")
    await wait_snapshot(client, "snap-1")
    with pytest.raises(errors.BadParameters):
        await client.restore_snapshot("snap-1", force=True, no_reboot=True)


def follower(sim) -> CloudifyClient:
    """A client to follow a restore: no retries (the loop is the retry) and a short timeout.

    The short timeout matters: a connection opened just as the REST service goes down can be
    accepted and then never answered (the simulator does this too), so waiting the default
    30 s per poll would stall the follow-through loop.
    """
    return CloudifyClient(sim.url, password="admin", retries=0, timeout=1.0)


async def follow_restore(client: CloudifyClient, restore_id: str, sim: Any) -> list[str]:
    """What a runbook does: poll through the outage until the restore execution has finished
    and /snapshot-status says not-running. Returns what each poll saw. On a manual clock the
    manager moves one timer per poll, after the poll: the outage lasts at least one poll."""
    seen: list[str] = []

    async def over():
        try:
            status = await client.snapshot_status()
            finished = (await client.get_execution(restore_id)).finished
        except errors.ManagerUnavailable:
            seen.append("unavailable")
            return False
        seen.append(status)
        return status == "not-running" and finished
    try:
        await until(over, timeout=30, interval=0.01, advancing=[sim])
    except AssertionError:
        raise AssertionError(f"restore not followed to its end; saw {seen[:5]}...{seen[-5:]}") from None
    return seen


@pytest.mark.sim_options(clock="manual")
async def test_outage_during_restore_is_unavailable_then_recovers(sim, client):
    await sim_post(sim, "/_sim/config", {"restore_outage_seconds": 150})
    await client.create_snapshot("snap-1")
    await wait_snapshot(client, "snap-1", advancing=[sim])
    ex = await client.restore_snapshot("snap-1", force=True)
    async with follower(sim) as f:
        seen = await follow_restore(f, ex.id, sim)
        assert "unavailable" in seen
        assert seen[-1] == "not-running"
        done = await f.get_execution(ex.id)
    assert done.status == "terminated"


@pytest.mark.sim_options(clock="manual")
@pytest.mark.parametrize("mode", ["502", "503"])
async def test_proxy_errors_during_restore_are_unavailable(sim, mode):
    await sim_post(sim, "/_sim/config", {"restore_outage_seconds": 100, "outage_mode": mode})
    async with follower(sim) as c:
        await c.create_snapshot("snap-1")
        await wait_snapshot(c, "snap-1", advancing=[sim])
        ex = await c.restore_snapshot("snap-1", force=True)
        seen = await follow_restore(c, ex.id, sim)
        assert "unavailable" in seen
        assert (await c.get_execution(ex.id)).status == "terminated"


async def test_get_snapshot_retries_through_an_outage(sim, fake_sleep):
    await sim_post(sim, "/_sim/faults", {"path": "/snapshots/snap-1$", "method": "GET",
                                         "drop": True, "count": 2})
    async with CloudifyClient(sim.url, password="admin", retries=3, backoff=0.5,
                              sleep=fake_sleep) as c:
        await c.create_snapshot("snap-1")
        snap = await c.get_snapshot("snap-1")
    assert snap.id == "snap-1"
    assert fake_sleep.delays == [0.5, 1.0]


async def test_gets_give_up_after_the_configured_retries(sim, fake_sleep):
    await sim_post(sim, "/_sim/outage", {"seconds": 3000, "mode": "503"})
    async with CloudifyClient(sim.url, password="admin", retries=2, backoff=1.0,
                              max_backoff=1.5, sleep=fake_sleep) as c:
        with pytest.raises(errors.ManagerUnavailable) as info:
            await c.snapshot_status()
    assert info.value.status == 503
    assert fake_sleep.delays == [1.0, 1.5]


async def test_posts_are_never_retried(client, sim, fake_sleep):
    await sim_post(sim, "/_sim/faults", {"path": "/maintenance/activate", "drop": True})
    with pytest.raises(errors.ManagerUnavailable):
        await client.activate_maintenance()
    assert fake_sleep.delays == []
    assert (await client.activate_maintenance()).status in ("activating", "activated")


async def test_puts_and_deletes_are_never_retried(client, sim, fake_sleep):
    await sim_post(sim, "/_sim/faults", {"path": "/snapshots/", "status": 503, "count": 2,
                                         "error_code": "x", "message": "y"})
    await sim_post(sim, "/_sim/faults", {"path": "/snapshots/", "drop": True, "count": 2})
    with pytest.raises(errors.ManagerUnavailable):
        await client.create_snapshot("s")
    with pytest.raises(errors.ManagerUnavailable):
        await client.delete_snapshot("s")
    assert fake_sleep.delays == []


async def test_connection_refused_is_unavailable():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with CloudifyClient(f"http://127.0.0.1:{port}", password="admin", retries=0) as c:
        with pytest.raises(errors.ManagerUnavailable) as info:
            await c.version()
    assert "cannot reach the manager" in str(info.value)


@pytest.mark.parametrize("code,cls", [
    ("bad_parameters_error", errors.BadParameters), ("unauthorized_error", errors.Unauthorized),
    ("forbidden_error", errors.Forbidden), ("not_found_error", errors.NotFound),
    ("conflict_error", errors.Conflict), ("illegal_action_error", errors.IllegalAction),
    ("existing_running_execution_error", errors.ExistingRunningExecution),
    ("maintenance_mode_active", errors.MaintenanceActive),
    ("entering_maintenance_mode", errors.EnteringMaintenance),
    ("internal_server_error", errors.ServerError)])
async def test_each_error_code_from_the_manager_raises_its_class(client, sim, code, cls):
    await sim_post(sim, "/_sim/faults", {"path": "/snapshots$", "status": 400,
                                         "error_code": code, "message": "told you so"})
    with pytest.raises(cls) as info:
        await client.list_snapshots()
    assert info.value.error_code == code
    assert "told you so" in str(info.value) and "GET /snapshots" in str(info.value)


async def test_a_500_with_a_cloudify_body_is_a_server_error_and_not_retried(client, sim, fake_sleep):
    await sim_post(sim, "/_sim/faults", {"path": "/version", "status": 500})
    with pytest.raises(errors.ServerError):
        await client.version()
    assert fake_sleep.delays == []


# --- maintenance ------------------------------------------------------------------------------

async def test_maintenance_is_deactivated_at_start(client):
    assert (await client.maintenance()).status == "deactivated"


async def test_activate_with_nothing_running_is_activated(client):
    await client.activate_maintenance()
    state = await until(lambda: _status_is(client, "activated"))
    assert state.activated_at is not None


async def _status_is(client, wanted):
    state = await client.maintenance()
    return state if state.status == wanted else None


async def test_activate_twice_returns_the_current_state_for_the_304(client, recorder):
    await client.activate_maintenance()
    await until(lambda: _status_is(client, "activated"))
    again = await client.activate_maintenance()
    assert again.status == "activated"
    assert any(s.path.endswith("/maintenance") and s.method == "GET" for s in recorder.seen[-2:])


async def test_deactivate_when_off_returns_the_current_state_for_the_304(client):
    assert (await client.deactivate_maintenance()).status == "deactivated"


async def test_deactivate_turns_maintenance_off(client):
    await client.activate_maintenance()
    assert (await client.deactivate_maintenance()).status == "deactivated"
    assert (await client.maintenance()).status == "deactivated"


async def test_activating_waits_for_running_executions_and_refuses_new_snapshots(client, sim):
    ex = await sim_post(sim, "/_sim/executions", {"deployment_id": "dep-1", "workflow_id": "install"})
    state = await client.activate_maintenance()
    assert state.status == "activating"
    assert [r["id"] for r in state.remaining_executions] == [ex["id"]]
    with pytest.raises(errors.EnteringMaintenance):
        await client.create_snapshot("during-activating")
    await sim_post(sim, f"/_sim/executions/{ex['id']}/finish", {"status": "terminated"})
    assert (await client.maintenance()).status == "activated"


async def test_in_maintenance_executions_and_events_are_503_unless_bypassed(client, sim, recorder):
    ex = await client.start_execution("dep-1", "install")
    await wait_execution(client, ex.id)
    await client.activate_maintenance()
    await until(lambda: _status_is(client, "activated"))
    with pytest.raises(errors.MaintenanceActive) as info:
        await client.list_executions()
    assert info.value.status == 503
    with pytest.raises(errors.MaintenanceActive):
        await client.list_events("some-id")
    executions = await client.list_executions(bypass_maintenance=True)
    assert recorder.seen[-1].headers["x-bypass-maintenance"] == "true"
    assert [e.id for e in executions] == [ex.id]
    assert (await client.get_execution(ex.id, bypass_maintenance=True)).status == "terminated"
    assert await client.list_events(ex.id, bypass_maintenance=True)


async def test_in_maintenance_snapshots_still_answer(client):
    await client.activate_maintenance()
    await until(lambda: _status_is(client, "activated"))
    await client.create_snapshot("in-maintenance")
    await wait_snapshot(client, "in-maintenance")
    assert await client.snapshot_status() == "not-running"


# --- executions, events -----------------------------------------------------------------------

async def test_list_executions_follows_pagination_to_the_end(client, recorder):
    started = [await client.start_execution(f"dep-{i % 3 + 1}", "install") for i in range(7)]
    got = await client.list_executions(workflow_id="install", size=3)
    assert {e.id for e in got} >= {e.id for e in started}
    pages = [s for s in recorder.seen if s.path == "/api/v3.1/executions" and s.method == "GET"]
    assert [p.params["_offset"] for p in pages] == [["0"], ["3"], ["6"]]
    assert all(p.params["_size"] == ["3"] for p in pages)


async def test_list_executions_sends_filters_and_system_workflow_flag(client, recorder):
    await client.list_executions(status=["scheduled", "failed"], deployment_id="dep-1")
    p = recorder.seen[-1].params
    assert p["status"] == ["scheduled", "failed"]
    assert p["deployment_id"] == ["dep-1"]
    assert p["_include_system_workflows"] == ["true"] and p["_sort"] == ["-created_at"]


async def test_system_workflows_are_listed_by_default(client):
    await client.create_snapshot("snap-1")
    assert any(e.workflow_id == "create_snapshot" for e in await client.list_executions())
    hidden = await client.list_executions(include_system_workflows=False)
    assert not any(e.workflow_id == "create_snapshot" for e in hidden)


async def test_start_execution_runs_a_workflow_to_terminated(client):
    ex = await client.start_execution("dep-1", "install_new_agents", parameters={"stop_old_agent": True})
    assert ex.deployment_id == "dep-1" and ex.parameters == {"stop_old_agent": True}
    assert (await wait_execution(client, ex.id)).status == "terminated"


async def test_start_execution_with_a_schedule_makes_an_execution_schedule_on_7x(client, sim):
    when = sim.now() + timedelta(hours=1)
    ex = await client.start_execution("dep-1", "install", scheduled_time=iso(when))
    assert (ex.id, ex.status) == ("", "scheduled")  # no execution: a schedule instead
    assert await client.list_executions(status="scheduled") == []
    (sched,) = await client.list_execution_schedules()
    assert sched.workflow_id == "install" and sched.deployment_id == "dep-1"
    assert abs((sched.next_occurrence - when).total_seconds()) < 1


@pytest.mark.sim_options(manager_version="5.1.4")
async def test_start_execution_with_a_schedule_is_a_scheduled_execution_on_5x(client, sim):
    when = sim.now() + timedelta(hours=1)
    ex = await client.start_execution("dep-1", "install", scheduled_time=iso(when))
    assert ex.status == "scheduled"
    assert abs((ex.scheduled_for - when).total_seconds()) < 1
    assert [e.id for e in await client.list_executions(status="scheduled")] == [ex.id]


async def test_get_unknown_execution_is_not_found(client):
    with pytest.raises(errors.NotFound):
        await client.get_execution("nope")


async def test_start_execution_on_unknown_deployment_is_not_found(client):
    with pytest.raises(errors.NotFound):
        await client.start_execution("no-such-dep", "install")


async def test_list_events_returns_the_workflows_log_lines(client):
    ex = await client.start_execution("dep-1", "install")
    await wait_execution(client, ex.id)
    events = await client.list_events(ex.id)
    assert [e.message for e in events][:1] == ["Starting 'install' workflow execution"]
    assert all(e.execution_id == ex.id and e.type == "cloudify_log" for e in events)


async def _ended(client, execution_id: str) -> bool:
    return (await client.get_execution(execution_id)).status not in ("scheduled", "pending", "started")


@pytest.mark.sim_options(manager_version="5.1.4")
async def test_restore_marks_overdue_scheduled_executions_failed(client, sim):
    """The vendor guide's overdue marking (5.x), seen through the client: executions + restore
    logs. (6.x/7.x: tests/test_restore_e2e.py, bot/jobs/scheduled_work.py.)"""
    soon = sim.now() + timedelta(minutes=10)
    later = sim.now() + timedelta(days=1)
    overdue = await client.start_execution("dep-1", "install", scheduled_time=iso(soon))
    future = await client.start_execution("dep-2", "install", scheduled_time=iso(later))
    await client.create_snapshot("snap-1")
    await wait_snapshot(client, "snap-1")
    await sim_post(sim, "/_sim/clock", {"advance": 3600})  # the overdue one runs on this manager
    await until(lambda: _ended(client, overdue.id), timeout=20)  # a restore waits for no one
    restore = await client.restore_snapshot("snap-1", force=True, recreate_deployments_envs=True)
    async with follower(sim) as f:
        await follow_restore(f, restore.id, sim)
    restore = await wait_execution(client, restore.id)

    failed = await client.list_executions(status="failed")
    marked = next(e for e in failed if e.id == overdue.id)
    assert marked.ended_at is not None and marked.ended_at >= restore.created_at
    assert future.id in {e.id for e in await client.list_executions(status="scheduled")}
    logs = await client.list_events(restore.id)
    overdue_lines = [e for e in logs if "is overdue. Marking as FAILED." in e.message]
    assert [e.level for e in overdue_lines] == ["warning"]
    assert overdue.id in overdue_lines[0].message


# --- deployments, blueprints, plugins ---------------------------------------------------------

async def test_list_deployments_and_blueprints(client, sim):
    deps = await client.list_deployments()
    assert len(deps) == sim.options.seed_deployments
    assert {d.blueprint_id for d in deps} <= {b["id"] for b in await client.list_blueprints()}


async def test_update_plugins_then_get_it_until_successful(client):
    bp = (await client.list_blueprints())[0]["id"]
    pu = await client.update_plugins(bp)
    assert pu.blueprint_id == bp and pu.execution_id

    async def done():
        got = await client.get_plugins_update(pu.id)
        return got if got.state == "successful" else None
    assert (await until(done)).id == pu.id


async def test_update_plugins_of_unknown_blueprint_is_not_found(client):
    with pytest.raises(errors.NotFound):
        await client.update_plugins("no-such-blueprint")


async def test_a_manager_that_never_answers_is_unavailable_after_the_timeout():
    import asyncio

    async def silent(reader, writer):  # accepts, reads, never answers (a hung REST service)
        await reader.read(-1)
        writer.close()
    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with CloudifyClient(f"http://127.0.0.1:{port}", password="admin", retries=0,
                                  timeout=0.2) as c:
            with pytest.raises(errors.ManagerUnavailable) as info:
                await c.snapshot_status()
    finally:
        server.close()
    assert "did not answer in time" in str(info.value)


@pytest.mark.sim_options(clock="manual")
async def test_restore_can_be_followed_with_per_call_retries_and_timeout(sim, client, fake_sleep):
    """The runbook's loop: the client's own defaults stay, each poll is one short attempt."""
    await sim_post(sim, "/_sim/config", {"restore_outage_seconds": 100})
    await client.create_snapshot("snap-1")
    await wait_snapshot(client, "snap-1", advancing=[sim])
    ex = await client.restore_snapshot("snap-1", force=True)
    seen: list[str] = []

    async def over():
        try:
            status = await client.snapshot_status(retries=0, timeout=1.0)
            finished = (await client.get_execution(ex.id, retries=0, timeout=1.0)).finished
        except errors.ManagerUnavailable:
            seen.append("unavailable")
            return False
        return status == "not-running" and finished
    await until(over, timeout=30, interval=0.01, advancing=[sim])  # one timer per poll, after it
    assert "unavailable" in seen
    assert fake_sleep.delays == []
    assert await client.list_snapshots() == []  # a legacy restore empties the manager's list
