"""The restore runbook end to end: signed Slack requests into Bolt, the Slack stand-in, the
simulator over loopback, SQLite in tmp_path. Every test runs on each manager version's profile
(7.0.5, 6.4.2, 5.1.4)."""
from __future__ import annotations

import asyncio
from datetime import UTC
from pathlib import Path

import pytest

from bot.archive import verify_archived
from devtools.simulator import SimulatorOptions
from tests import harness
from tests.harness import FAST_SPEED, make_rig
from tests.restore_support import create_snapshot, posted_restore_job, stage_overdue


@pytest.fixture(autouse=True, params=harness.PROFILES)
def manager_version(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every rig of this module is that manager version."""
    monkeypatch.setattr(harness, "MANAGER_VERSION", request.param)
    return request.param


async def test_restore_happy_path_reports_what_the_restore_did_to_scheduled_work(tmp_path: Path,
                                                                               manager_version: str) -> None:
    async with make_rig(tmp_path) as rig:
        # the snapshot holds a scheduled execution due soon and one due tomorrow; the live ones are
        # cancelled (a scheduled execution keeps maintenance mode activating), the restore brings
        # them back
        overdue, future = await stage_overdue(rig, clear_live=True)
        await rig.command("/cfy snapshots restore snap-1 --force")
        job = await posted_restore_job(rig)
        assert job.state == "requested"
        assert "replaces everything" in str(rig.slack.message("C_OPS", job.message_ts))
        await rig.click("restore_approve", job.id, user="U_LEAD1")
        job = await rig.wait_job(job.id, timeout=30)
        assert job.state == "done", (job.state, job.error)
        state = await rig.sim_state()
        assert len(state["restores"]) == 1
        report = job.result["report"]
        thread = [m.get("text", "") for m in rig.slack.messages("C_OPS", thread_ts=job.thread_ts)]
        report_text = next(t for t in thread if "Scheduled work report" in t)
        card = str(rig.slack.message("C_OPS", job.message_ts))
        if manager_version.startswith("5."):  # the vendor guide's report
            assert [e["id"] for e in report["overdue"]] == [overdue]
            assert report["overdue"][0]["deployment_id"] == "dep-1"
            assert [e["id"] for e in report["requeued"]] == [future]
            before_requeued = report_text.split("Re-queued")[0]
            assert overdue in before_requeued and future not in before_requeued
            assert "1 overdue execution marked FAILED" in card
        else:  # 6.x/7.x: every original FAILED, the future one re-created as a schedule
            originals = {e["id"]: e["schedule_id"] for e in report["failed_originals"]}
            assert originals[overdue] is None
            assert originals[future].startswith("scale_restored_")
            assert f"`{future}`" in report_text and f"`{originals[future]}`" in report_text
            assert "2 scheduled executions marked FAILED (1 re-created as schedules)" in card
        assert report["snapshots_after"] == 0 and "snapshot list is now empty" in report_text
        verify_archived(job.result["safety_archive_path"])
        assert state["maintenance"]["status"] == "deactivated"
        history = [(t.from_state, t.to_state) for t in rig.store.transitions(job.id)]
        assert [b for _, b in history] == ["requested", "approved", "preflight", "safety_snapshot",
                                           "maintenance_activating", "maintenance_active", "restoring",
                                           "restored", "reporting", "maintenance_deactivating", "done"]


async def _requested(rig, text: str = "/cfy snapshots restore snap-1 --force"):
    await create_snapshot(rig, "snap-1")
    await rig.command(text)
    return await posted_restore_job(rig)


def _ephemeral_texts(rig, user: str) -> list[str]:
    return [e.get("text", "") for e in rig.slack.ephemerals(user)]


async def test_restore_requester_cannot_approve_own_request(tmp_path: Path) -> None:
    async with make_rig(tmp_path, env_overrides={"SNAPBOT_APPROVERS": "U_OPS,U_LEAD1"}) as rig:
        job = await _requested(rig)
        await rig.click("restore_approve", job.id, user="U_OPS")
        await rig.wait_for(lambda: any("someone else must approve" in t for t in _ephemeral_texts(rig, "U_OPS")))
        assert rig.store.get_job(job.id).state == "requested"
        assert (await rig.sim_state())["restores"] == []


async def test_restore_non_approver_cannot_approve(tmp_path: Path) -> None:
    async with make_rig(tmp_path) as rig:
        job = await _requested(rig)
        await rig.click("restore_approve", job.id, user="U_SOMEONE")
        await rig.wait_for(lambda: any("only configured approvers" in t for t in _ephemeral_texts(rig, "U_SOMEONE")))
        assert rig.store.get_job(job.id).state == "requested"


async def test_restore_reject_ends_request_without_touching_the_manager(tmp_path: Path) -> None:
    async with make_rig(tmp_path) as rig:
        job = await _requested(rig)
        await rig.click("restore_reject", job.id, user="U_LEAD2")
        job = await rig.wait_job(job.id)
        assert job.state == "rejected"
        await rig.wait_for(lambda: "Rejected by <@U_LEAD2>" in str(rig.slack.message("C_OPS", job.message_ts)))
        state = await rig.sim_state()
        assert state["restores"] == [] and state["maintenance"]["status"] == "deactivated"


async def test_restore_request_expires_after_the_ttl(tmp_path: Path) -> None:
    from datetime import datetime, timedelta

    from tests.fakes import FakeClock
    clock = FakeClock(datetime.now(UTC))
    async with make_rig(tmp_path, clock=clock) as rig:
        job = await _requested(rig)
        clock.advance(timedelta(minutes=31).total_seconds())
        assert await rig.services.approvals.expire_due() == [job.id]
        job = rig.store.get_job(job.id)
        assert job.state == "expired"
        await rig.wait_for(lambda: "Expired" in str(rig.slack.message("C_OPS", job.message_ts)))
        # a screen that still shows the old card: the click comes from that same message
        await rig.click("restore_approve", job.id, user="U_LEAD1",
                        message=rig.slack.message("C_OPS", job.message_ts))
        await rig.wait_for(lambda: any("expired" in t for t in _ephemeral_texts(rig, "U_LEAD1")))
        assert (await rig.sim_state())["restores"] == []


async def test_twenty_concurrent_approve_clicks_start_one_restore(tmp_path: Path) -> None:
    async with make_rig(tmp_path) as rig:
        job = await _requested(rig)
        users = ["U_LEAD1", "U_LEAD2"] * 10
        await asyncio.gather(*(rig.click("restore_approve", job.id, user=u) for u in users))
        job = await rig.wait_job(job.id, timeout=30)
        assert job.state == "done", job.error
        assert len((await rig.sim_state())["restores"]) == 1
        assert len([t for t in rig.store.transitions(job.id) if t.to_state == "approved"]) == 1
        await rig.wait_for(lambda: len(rig.slack.ephemerals()) >= 20)
        assert sum("already approved by" in e.get("text", "") for e in rig.slack.ephemerals()) == 19


async def test_restore_without_force_on_a_manager_with_deployments_is_refused_before_anything_changes(tmp_path: Path) -> None:
    async with make_rig(tmp_path) as rig:
        await create_snapshot(rig, "snap-1")
        before = await rig.sim_state()
        await rig.command("/cfy snapshots restore snap-1")
        texts = await rig.wait_for(lambda: [t for t in _ephemeral_texts(rig, "U_OPS") if "--force" in t])
        assert "has 3 deployments; add --force to overwrite them" in texts[0]
        assert rig.store.list_jobs(kind="restore") == []
        after = await rig.sim_state()
        assert after["restores"] == [] and after["maintenance"] == before["maintenance"]
        assert after["snapshots"] == before["snapshots"]


async def test_restore_of_an_unknown_snapshot_is_refused(tmp_path: Path) -> None:
    async with make_rig(tmp_path) as rig:
        await rig.command("/cfy snapshots restore nope --force")
        await rig.wait_for(lambda: any("does not exist" in t for t in _ephemeral_texts(rig, "U_OPS")))
        assert rig.store.list_jobs(kind="restore") == []


async def test_restore_jobs_show_prints_the_full_history(tmp_path: Path) -> None:
    async with make_rig(tmp_path) as rig:
        job = await _requested(rig)
        await rig.click("restore_approve", job.id, user="U_LEAD2")
        job = await rig.wait_job(job.id, timeout=30)
        await rig.command(f"/cfy jobs show {job.id}")
        from bot.notifier import plain_text
        text = await rig.wait_for(lambda: next((plain_text(e) for e in rig.slack.ephemerals("U_OPS")
                                                if "History" in plain_text(e)), None))
        assert "requested by <@U_OPS>" in text and "approved by <@U_LEAD2>" in text
        for state in ("preflight", "safety_snapshot", "maintenance_activating", "restoring", "reporting", "done"):
            assert f"*{state}*" in text


async def test_a_retried_restore_command_opens_one_request(tmp_path: Path) -> None:
    async with make_rig(tmp_path) as rig:
        await create_snapshot(rig, "snap-1")
        body = rig.slack.command_body("snapshots restore snap-1 --force", user="U_OPS", channel="C_OPS")
        await rig.command("", body=body)
        await rig.command("", body=body, retry_num=1)
        # the listener drops the retry before acking it, so once both are acked and the first
        # one answered, nothing else can come of them
        await rig.wait_response(1)
        assert len(rig.store.list_jobs(kind="restore")) == 1 and len(rig.slack.responses()) == 1


OLDER = {"7.0.5": "6.4.2", "6.4.2": "5.1.4", "5.1.4": "5.0.5"}


async def test_restore_of_an_older_snapshot_offers_agents_and_plugins_buttons_that_run_jobs(
        tmp_path: Path, manager_version: str) -> None:
    from bot.archive import archive_path, write_sidecar
    async with make_rig(tmp_path) as rig:
        await rig.sim_post("/_sim/config", {"version": OLDER[manager_version]})  # what it reports
        await rig.services.clients["default"].create_snapshot("snap-old", legacy=True)
        await create_snapshot(rig, "snap-old")
        dest = archive_path(rig.settings.archive_dir, "default", "snap-old")
        dest.parent.mkdir(parents=True, exist_ok=True)
        info = await rig.services.clients["default"].download_snapshot("snap-old", dest)
        write_sidecar(dest, info.sha256)
        await rig.sim_post("/_sim/config", {"version": manager_version})
        await rig.command("/cfy snapshots restore snap-old --force")
        job = await posted_restore_job(rig)
        assert job.params["snapshot_version"] == OLDER[manager_version]
        await rig.click("restore_approve", job.id, user="U_LEAD1")
        job = await rig.wait_job(job.id, timeout=30)
        assert job.state == "done" and job.result["upgrade"] is True
        await rig.wait_for(lambda: "restore_agents" in str(rig.slack.message("C_OPS", job.message_ts)))
        await rig.click("restore_agents", job.id, user="U_OPS")
        agents = await rig.wait_for(lambda: rig.store.list_jobs(kind="agents_install"))
        agents = await rig.wait_job(agents[0].id, timeout=30)
        assert agents.state == "done", agents.error
        await rig.click("restore_plugins", job.id, user="U_OPS")
        plugins = await rig.wait_for(lambda: rig.store.list_jobs(kind="plugins_update"))
        plugins = await rig.wait_job(plugins[0].id, timeout=30)
        assert plugins.state == "done", plugins.error
        assert plugins.params.get("all_blueprints") is True


async def test_no_reboot_without_restore_certificates_is_refused_before_anything_changes(tmp_path: Path) -> None:
    async with make_rig(tmp_path) as rig:
        await create_snapshot(rig, "snap-1")
        await rig.command("/cfy snapshots restore snap-1 --force --no-reboot")
        await rig.wait_for(lambda: any("--no-reboot only applies" in t for t in _ephemeral_texts(rig, "U_OPS")))
        assert rig.store.list_jobs(kind="restore") == []


async def test_restore_onto_an_empty_manager_needs_no_force(tmp_path: Path) -> None:
    async with make_rig(tmp_path, sim_options=SimulatorOptions(speed=FAST_SPEED, seed_deployments=0)) as rig:
        await create_snapshot(rig, "snap-1")
        await rig.command("/cfy snapshots restore snap-1")
        job = await posted_restore_job(rig)
        assert "overwrites" not in str(rig.slack.message("C_OPS", job.message_ts))
        await rig.click("restore_approve", job.id, user="U_LEAD1")
        job = await rig.wait_job(job.id, timeout=30)
        assert job.state == "done", job.error
        restore = next(iter(rig.sim.state.executions[e] for e in (await rig.sim_state())["restores"]))
        assert restore["parameters"]["force"] is False


async def test_restore_without_safety_snapshot_goes_from_preflight_to_maintenance(tmp_path: Path) -> None:
    import dataclasses

    def no_safety(settings):
        return dataclasses.replace(settings, runbook=dataclasses.replace(settings.runbook, safety_snapshot=False))

    async with make_rig(tmp_path, settings_overrides=no_safety) as rig:
        job = await _requested(rig)
        assert "no safety snapshot will be taken" in str(rig.slack.message("C_OPS", job.message_ts))
        await rig.click("restore_approve", job.id, user="U_LEAD1")
        job = await rig.wait_job(job.id, timeout=30)
        assert job.state == "done", job.error
        states = [t.to_state for t in rig.store.transitions(job.id)]
        assert "safety_snapshot" not in states
        assert states[states.index("preflight") + 1] == "maintenance_activating"
        assert not any(s.startswith("safety-") for s in rig.sim.state.snapshots)


async def test_restore_requested_from_the_terminal_is_posted_to_the_channel_for_approval(tmp_path: Path) -> None:
    from bot.commands.model import SnapshotsRestore
    from snapbot.terminal import run_command

    # the login `ops` is U_LEAD1 in Slack: one identity on both surfaces
    async with make_rig(tmp_path, env_overrides={"SNAPBOT_TERMINAL_USERS": "ops=U_LEAD1"}) as rig:
        await create_snapshot(rig, "snap-1")
        lines: list[str] = []
        rc = await run_command(rig.services, SnapshotsRestore(snapshot_id="snap-1", force=True),
                               confirmed=True, out=lines.append, user="local:ops")
        assert rc == 0 and any("once approved in Slack" in line for line in lines)
        job = rig.store.list_jobs(kind="restore")[0]
        assert job.state == "requested" and job.message_ts is None and job.requester == "U_LEAD1"
        assert await rig.services.approvals.announce_unposted() == [job.id]
        job = rig.store.get_job(job.id)
        card = rig.slack.message("C_OPS", job.message_ts)
        assert "<@U_LEAD1> asks to restore" in str(card) and "local:ops" not in str(card)
        # the same person, now in Slack, cannot approve their own terminal request
        await rig.click("restore_approve", job.id, user="U_LEAD1")
        await rig.wait_for(lambda: any("someone else" in e.get("text", "")
                                       for e in rig.slack.ephemerals("U_LEAD1")))
        assert rig.store.get_job(job.id).state == "requested"
        await rig.click("restore_approve", job.id, user="U_LEAD2")
        job = await rig.wait_job(job.id, timeout=30)
        assert job.state == "done", (job.state, job.error)
        assert len((await rig.sim_state())["restores"]) == 1
        assert await rig.services.approvals.announce_unposted() == []


async def test_an_unmapped_terminal_login_cannot_request_a_restore(tmp_path: Path) -> None:
    from bot.commands.model import SnapshotsRestore
    from snapbot.terminal import run_command

    async with make_rig(tmp_path, env_overrides={"SNAPBOT_TERMINAL_USERS": "ops=U_LEAD1"}) as rig:
        await create_snapshot(rig, "snap-1")
        before = rig.sim_requests()
        lines: list[str] = []
        rc = await run_command(rig.services, SnapshotsRestore(snapshot_id="snap-1", force=True),
                               confirmed=True, out=lines.append, user="local:stranger")
        assert rc == 1
        assert rig.store.list_jobs(kind="restore") == []
        assert rig.sim_requests() == before  # refused before any request left
