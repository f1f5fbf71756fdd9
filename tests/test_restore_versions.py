"""The restore runbook against each manager version's profile: what differs by version.

Facts each test stands on are named in bot/cloudify/versions.py, bot/jobs/scheduled_work.py,
bot/cloudify/cluster.py and the simulator's profiles (devtools/simulator/profiles.py)."""
from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

import httpx

from bot.clock import iso
from bot.notifier import plain_text
from devtools.simulator import SimulatorOptions
from tests.harness import FAST_SPEED, make_rig
from tests.restore_support import create_snapshot, posted_restore_job, sim_now


def no_safety_snapshot(settings):
    return dataclasses.replace(settings, runbook=dataclasses.replace(settings.runbook, safety_snapshot=False))


def opts(version: str, **kw) -> SimulatorOptions:
    return SimulatorOptions(speed=FAST_SPEED, manager_version=version, **kw)


async def approved(rig, text: str = "/cfy snapshots restore snap-1 --force", *, card_says: str = ""):
    """Request, check the request card says `card_says` (before approval replaces it), approve."""
    await rig.command(text)
    job = await posted_restore_job(rig)
    if card_says:
        await rig.wait_for(lambda: card_says in card(rig, job))
    await rig.click("restore_approve", job.id, user="U_LEAD1")
    return job


def thread(rig, job) -> str:
    return "\n".join(m.get("text", "") for m in rig.slack.messages("C_OPS", thread_ts=job.thread_ts))


def card(rig, job) -> str:
    return plain_text(rig.slack.message("C_OPS", rig.store.get_job(job.id).message_ts))


async def api(rig, method: str, path: str, *, auth=("admin", "admin"), **kw) -> httpx.Response:
    async with httpx.AsyncClient(base_url=rig.sim.url + "/api/v3.1", auth=auth,
                                 headers={"Tenant": "default_tenant"}) as c:
        return await c.request(method, path, **kw)


# --- 7.0.5 ----------------------------------------------------------------------------------------

async def test_705_a_restore_with_an_execution_running_at_activation_finishes(tmp_path: Path) -> None:
    # 7.0.5 answers POST /maintenance/activate with [[{...}]] (a list inside a list)
    async with make_rig(tmp_path, sim_options=opts("7.0.5"), settings_overrides=no_safety_snapshot) as rig:
        await create_snapshot(rig, "snap-1")
        running = await rig.sim_post("/_sim/executions", {"deployment_id": "dep-1", "workflow_id": "install",
                                                          "duration": None})
        job = await approved(rig)
        await rig.wait_for(lambda: f"waiting for 1 execution: {running['id']}" in thread(rig, job))
        assert rig.store.get_job(job.id).state == "maintenance_activating"
        await rig.sim_post(f"/_sim/executions/{running['id']}/finish", {"status": "terminated"})
        job = await rig.wait_job(job.id, timeout=60)
        assert job.state == "done", (job.state, job.error)
        assert (await rig.sim_state())["maintenance"]["status"] == "deactivated"


async def test_705_after_a_legacy_restore_the_snapshot_list_is_empty_and_the_report_says_so(tmp_path: Path) -> None:
    async with make_rig(tmp_path, sim_options=opts("7.0.5")) as rig:
        await create_snapshot(rig, "snap-1")
        job = await approved(rig, card_says="replaces everything")
        job = await rig.wait_job(job.id, timeout=60)
        assert job.state == "done", (job.state, job.error)
        assert (await rig.sim_state())["snapshots"] == []
        assert job.result["report"]["snapshots_after"] == 0
        await rig.wait_for(lambda: "snapshot list is now empty" in thread(rig, job))
        await rig.wait_for(lambda: "snapshot list is now empty" in card(rig, job))


async def test_705_a_restore_after_set_password_waits_for_credentials_and_finishes_once_they_work(tmp_path: Path) -> None:
    secret = tmp_path / "manager-password"
    secret.write_text("admin")
    env = {"CLOUDIFY_PASSWORD": "", "CLOUDIFY_PASSWORD_FILE": str(secret)}
    async with make_rig(tmp_path, sim_options=opts("7.0.5"), env_overrides=env) as rig:
        await create_snapshot(rig, "snap-1")
        # `cfy users set-password admin -p n3w-pass`, and snapbot's file follows it
        resp = await api(rig, "POST", "/users/admin", json={"password": "n3w-pass"})
        assert resp.status_code == 200
        secret.write_text("n3w-pass\n")
        job = await approved(rig, card_says="users, passwords and API tokens become the snapshot's")
        job = await rig.wait_job(job.id, states=("awaiting_credentials", "failed", "done"), timeout=60)
        assert job.state == "awaiting_credentials", (job.state, job.error)
        await rig.wait_for(lambda: "credentials" in card(rig, job) and "no longer work" in card(rig, job))
        await rig.wait_for(lambda: "still in maintenance mode" in card(rig, job))
        assert (await rig.sim_state())["maintenance"]["status"] == "activated"
        secret.write_text("admin")  # the snapshot's password
        job = await rig.wait_job(job.id, timeout=60)
        assert job.state == "done", (job.state, job.error)
        assert (await rig.sim_state())["maintenance"]["status"] == "deactivated"
        await rig.wait_for(lambda: "work again" in thread(rig, job))


async def test_705_a_schedule_whose_run_fell_inside_the_restore_window_is_named_in_the_report(tmp_path: Path) -> None:
    async with make_rig(tmp_path, sim_options=opts("7.0.5")) as rig:
        now = await sim_now(rig)
        due = now + timedelta(seconds=60)
        resp = await api(rig, "PUT", "/execution-schedules/nightly-heal", params={"deployment_id": "dep-1"},
                         json={"workflow_id": "install", "since": iso(due), "recurrence": "1d"})
        assert resp.status_code == 201, resp.text
        await create_snapshot(rig, "snap-1")
        await rig.sim_post("/_sim/clock", {"advance": 600})
        job = await approved(rig)
        job = await rig.wait_job(job.id, timeout=60)
        assert job.state == "done", (job.state, job.error)
        (skipped,) = job.result["report"]["skipped_schedules"]
        assert skipped["id"] == "nightly-heal" and skipped["skipped"] is True
        text = thread(rig, job)
        assert "`nightly-heal`" in text and "skips these runs" in text
        await rig.wait_for(lambda: "`nightly-heal`" in card(rig, job))


async def test_705_managers_have_no_is_active_and_a_down_node_is_named(tmp_path: Path) -> None:
    async with make_rig(tmp_path, sim_options=opts("7.0.5")) as rig:
        await rig.sim_post("/_sim/managers", {"count": 2, "down": ["manager-2"]})
        items = (await api(rig, "GET", "/managers")).json()["items"]
        assert items and all("is_active" not in m for m in items)
        await rig.command("/cfy cluster status")
        text = await rig.wait_for(lambda: next((plain_text(r) for r in rig.slack.responses()
                                                if "Cluster status" in plain_text(r)), None))
        assert "manager manager-2" in text


# --- HA refusals ----------------------------------------------------------------------------------

async def test_a_restore_request_during_a_split_brain_is_refused_with_the_runbook(tmp_path: Path) -> None:
    async with make_rig(tmp_path, sim_options=opts("5.1.4")) as rig:
        await create_snapshot(rig, "snap-1")
        await rig.sim_post("/_sim/managers", {"count": 2, "split_brain": True})
        await rig.command("/cfy snapshots restore snap-1 --force")
        text = await rig.wait_for(lambda: next((e.get("text", "") for e in rig.slack.ephemerals("U_OPS")
                                                if "split brain" in e.get("text", "")), None))
        assert "1. Do not restore" in text  # no runbook_base_url: the steps inline
        assert rig.store.list_jobs(kind="restore") == []


async def test_an_approver_can_force_a_restore_request_during_a_split_brain(tmp_path: Path) -> None:
    async with make_rig(tmp_path, sim_options=opts("5.1.4"),
                        env_overrides={"SNAPBOT_RUNBOOK_BASE_URL": "https://wiki.example.com/snapbot/README.md"}) as rig:
        await create_snapshot(rig, "snap-1")
        await rig.sim_post("/_sim/managers", {"count": 2, "split_brain": True})
        await rig.command("/cfy snapshots restore snap-1 --force --ignore-cluster-health")
        refused = await rig.wait_for(lambda: next((e.get("text", "") for e in rig.slack.ephemerals("U_OPS")
                                                   if "approver" in e.get("text", "")), None))
        assert "Only an approver may override" in refused and rig.store.list_jobs(kind="restore") == []
        await rig.command("/cfy snapshots restore snap-1 --force --ignore-cluster-health", user="U_LEAD1")
        job = await posted_restore_job(rig)
        text = card(rig, job)
        assert "split brain" in text and "<@U_LEAD1>" in text
        assert "https://wiki.example.com/snapbot/README.md#runbook-cluster-split-brain" in str(
            rig.slack.message("C_OPS", job.message_ts))


# --- 5.1.4 ----------------------------------------------------------------------------------------

async def test_514_the_guides_overdue_and_requeued_report_holds(tmp_path: Path) -> None:
    from tests.restore_support import stage_overdue
    async with make_rig(tmp_path, sim_options=opts("5.1.4")) as rig:
        overdue, future = await stage_overdue(rig, clear_live=True)
        job = await approved(rig)
        job = await rig.wait_job(job.id, timeout=60)
        assert job.state == "done", (job.state, job.error)
        report = job.result["report"]
        assert [e["id"] for e in report["overdue"]] == [overdue]
        assert [e["id"] for e in report["requeued"]] == [future]
        text = thread(rig, job)
        assert "Marked FAILED by the restore because overdue (1)" in text and "Re-queued" in text


async def test_705_a_new_format_restore_merges_and_lists_what_it_could_not_merge(tmp_path: Path) -> None:
    async with make_rig(tmp_path, sim_options=opts("7.0.5"),
                        env_overrides={"CLOUDIFY_SNAPSHOT_FORMAT": "new"}) as rig:
        await create_snapshot(rig, "snap-1")  # PUT with legacy: false
        await rig.command("/cfy snapshots restore snap-1 --force")
        job = await posted_restore_job(rig)
        request = await rig.wait_for(lambda: "merges" in card(rig, job) and card(rig, job))
        assert "users, passwords and API tokens become" not in request and "will reboot" not in request
        await rig.click("restore_approve", job.id, user="U_LEAD1")
        job = await rig.wait_job(job.id, timeout=60)
        assert job.state == "done", (job.state, job.error)
        assert job.params["restore_format"] == "new"
        errors = job.result["report"]["merge_errors"]
        assert errors and all("already exists" in e for e in errors)
        await rig.wait_for(lambda: "Not merged, already on the manager" in thread(rig, job))
        assert "snap-1" in {s["id"] for s in (await rig.sim_state())["snapshots"]}  # list kept
