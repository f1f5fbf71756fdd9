"""Every row of the commands table end to end: a real signed `/cfy` request into the Bolt app over
HTTP, the Slack stand-in recording what the bot said, the simulator as the manager."""
from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import pytest

from bot import archive
from bot.commands.model import SnapshotsList
from devtools.standin.slack import render_text
from tests.harness import CHANNEL, make_rig
from tests.waiting import HELD

pytestmark = pytest.mark.slow


async def cfy(rig: Any, text: str, user: str = "U_OPS", **kwargs: Any) -> dict[str, Any]:
    """Send `/cfy text` and return the reply the app posted to the response_url."""
    before = len(rig.slack.responses())
    resp = await rig.command(text, user=user, **kwargs)
    assert resp.status == 200
    posts = await rig.wait_response(before + 1)
    return posts[before]


def reply_text(post: dict[str, Any]) -> str:
    return render_text(post)


def newest_job(rig: Any) -> Any:
    return rig.jobs(limit=1)[0]


async def card(rig: Any, job_id: str, until: str) -> str:
    """The job's card in the channel, once its text contains `until`."""
    def text() -> str | None:
        job = rig.store.get_job(job_id)
        if not job.message_ts:
            return None
        msg = rig.slack.message(CHANNEL, job.message_ts)
        rendered = render_text(msg) if msg else ""
        return rendered if until in rendered else None
    return await rig.wait_for(text, timeout=20)


async def run_job(rig: Any, text: str, user: str = "U_OPS") -> Any:
    post = await cfy(rig, text, user=user)
    assert post["response_type"] == "in_channel", reply_text(post)
    job = newest_job(rig)
    assert job.id in reply_text(post)
    return await rig.wait_job(job.id)


async def test_help_answers_privately_with_the_commands_and_managers(tmp_path: Path) -> None:
    async with make_rig(tmp_path) as rig:
        post = await cfy(rig, "/cfy help")
        assert post["response_type"] == "ephemeral"
        text = reply_text(post)
        assert "snapshots create" in text and "default" in text
        assert rig.slack.messages(CHANNEL) == []  # nothing in the channel


async def test_snapshots_create_posts_a_card_that_ends_created(tmp_path: Path) -> None:
    async with make_rig(tmp_path) as rig:
        post = await cfy(rig, "/cfy snapshots create e2e-1")
        assert "Started job" in reply_text(post) and post["response_type"] == "in_channel"
        job = await rig.wait_job(newest_job(rig).id)
        assert job.state == "done"
        text = await card(rig, job.id, "done")
        assert "created" in text and "e2e-1" in text
        assert rig.slack.calls_to("chat.update"), "the card was updated in place"
        thread = rig.slack.messages(CHANNEL, thread_ts=job.message_ts)
        assert any("running" in render_text(m) for m in thread)
        assert any("done" in render_text(m) for m in thread)
        assert "e2e-1" in rig.sim.state.snapshots


async def test_snapshots_create_failure_ends_the_card_with_the_managers_error(tmp_path: Path) -> None:
    async with make_rig(tmp_path) as rig:
        await rig.sim_post("/_sim/config", {"create_fails": "no space left on device"})
        job = await run_job(rig, "/cfy snapshots create e2e-bad")
        assert job.state == "failed"
        text = await card(rig, job.id, "failed")
        assert "no space left on device" in text


async def test_snapshots_download_leaves_a_verified_archive(tmp_path: Path) -> None:
    async with make_rig(tmp_path) as rig:
        await run_job(rig, "/cfy snapshots create e2e-1")
        job = await run_job(rig, "/cfy snapshots download e2e-1")
        assert job.state == "done", job.error
        path = archive.archive_path(rig.settings.archive_dir, "default", "e2e-1")
        info = archive.verify_archived(path)
        assert archive.sidecar_path(path).read_text().startswith(info.sha256)
        assert info.sha256 == job.result["sha256"]
        assert str(tmp_path / "archives") in job.result["archive_path"]
        text = await card(rig, job.id, "done")
        assert info.sha256 in text


async def test_snapshots_list_shows_the_manager_and_the_archive(tmp_path: Path) -> None:
    async with make_rig(tmp_path) as rig:
        await run_job(rig, "/cfy snapshots create e2e-1")
        await run_job(rig, "/cfy snapshots download e2e-1")
        await run_job(rig, "/cfy snapshots create e2e-2")
        post = await cfy(rig, "/cfy snapshots list")
        text = reply_text(post)
        assert post["response_type"] == "ephemeral"
        assert text.index("e2e-2") < text.index("e2e-1")
        assert "Archived copies" in text and text.count("e2e-1") >= 2


async def test_snapshots_status_reports_the_managers_status(tmp_path: Path) -> None:
    async with make_rig(tmp_path) as rig:
        text = reply_text(await cfy(rig, "/cfy snapshots status"))
        assert "not-running" in text


async def test_snapshots_delete_removes_it_on_the_manager(tmp_path: Path) -> None:
    async with make_rig(tmp_path) as rig:
        await run_job(rig, "/cfy snapshots create e2e-1")
        job = await run_job(rig, "/cfy snapshots delete e2e-1")
        assert job.state == "done", job.error
        assert "e2e-1" not in rig.sim.state.snapshots


@pytest.mark.parametrize("verb", ["download", "delete"])
async def test_a_mistyped_id_gets_a_private_answer_and_no_job(tmp_path: Path, verb: str) -> None:
    async with make_rig(tmp_path) as rig:
        post = await cfy(rig, f"/cfy snapshots {verb} no-such-snap")
        assert post["response_type"] == "ephemeral"
        assert "has no snapshot `no-such-snap`" in reply_text(post)
        assert rig.jobs() == []
        assert rig.slack.messages(CHANNEL) == []  # no card, no failure card


async def test_snapshots_upload_from_archive_restores_a_deleted_snapshot(tmp_path: Path) -> None:
    async with make_rig(tmp_path) as rig:
        await run_job(rig, "/cfy snapshots create e2e-1")
        await run_job(rig, "/cfy snapshots download e2e-1")
        await run_job(rig, "/cfy snapshots delete e2e-1")
        job = await run_job(rig, "/cfy snapshots upload e2e-1 --from-archive")
        assert job.state == "done", job.error
        assert rig.sim.state.snapshots["e2e-1"]["status"] == "uploaded"


async def test_snapshots_upload_of_a_tampered_archive_is_refused_before_any_request(tmp_path: Path) -> None:
    async with make_rig(tmp_path) as rig:
        await run_job(rig, "/cfy snapshots create e2e-1")
        job = await run_job(rig, "/cfy snapshots download e2e-1")
        await run_job(rig, "/cfy snapshots delete e2e-1")
        path = Path(job.result["archive_path"])
        data = bytearray(path.read_bytes())
        data[-10] ^= 0x55
        path.write_bytes(bytes(data))
        before, jobs = rig.sim_requests(), len(rig.jobs())
        post = await cfy(rig, "/cfy snapshots upload e2e-1 --from-archive")
        assert post["response_type"] == "ephemeral"
        assert "e2e-1.zip" in reply_text(post)
        assert rig.sim_requests() == before and len(rig.jobs()) == jobs


async def test_maintenance_mode_activate_status_deactivate(tmp_path: Path) -> None:
    async with make_rig(tmp_path) as rig:
        job = await run_job(rig, "/cfy maintenance-mode activate")
        assert job.state == "done", job.error
        assert "activated" in reply_text(await cfy(rig, "/cfy maintenance-mode status"))
        job = await run_job(rig, "/cfy maintenance-mode deactivate")
        assert job.state == "done", job.error
        assert "deactivated" in reply_text(await cfy(rig, "/cfy maintenance-mode status"))


async def test_agents_install_reports_every_deployment(tmp_path: Path) -> None:
    async with make_rig(tmp_path) as rig:
        job = await run_job(rig, "/cfy agents install")
        assert job.state == "done", job.error
        text = await card(rig, job.id, "done")
        assert "3/3 succeeded" in text


async def test_plugins_update_follows_the_update_to_its_end(tmp_path: Path) -> None:
    async with make_rig(tmp_path) as rig:
        job = await run_job(rig, "/cfy plugins update bp-1")
        assert job.state == "done", job.error
        assert job.result["blueprints"]["bp-1"]["status"] == "successful"


async def test_cluster_status_lists_the_nodes(tmp_path: Path) -> None:
    async with make_rig(tmp_path) as rig:
        await rig.sim_post("/_sim/managers", {"count": 2})
        text = reply_text(await cfy(rig, "/cfy cluster status"))
        assert "manager-1" in text and "manager-2" in text


async def test_jobs_list_and_show_give_the_history(tmp_path: Path) -> None:
    async with make_rig(tmp_path) as rig:
        job = await run_job(rig, "/cfy snapshots create e2e-1")
        assert job.id in reply_text(await cfy(rig, "/cfy jobs list"))
        text = reply_text(await cfy(rig, f"/cfy jobs show {job.id}"))
        assert "queued" in text and "running" in text and "done" in text and "U_OPS" in text


async def test_jobs_cancel_by_someone_else_is_refused_and_by_the_requester_works(tmp_path: Path) -> None:
    slow = HELD
    async with make_rig(tmp_path, sim_options=slow) as rig:
        await cfy(rig, "/cfy snapshots create slow-1")
        job = newest_job(rig)
        refused = reply_text(await cfy(rig, f"/cfy jobs cancel {job.id}", user="U_OTHER"))
        assert "requester or an approver" in refused
        assert not rig.store.get_job(job.id).finished
        await cfy(rig, f"/cfy jobs cancel {job.id}")
        job = await rig.wait_job(job.id)
        assert job.state == "cancelled"


async def test_the_cancel_button_on_the_card_cancels_the_job(tmp_path: Path) -> None:
    slow = HELD
    async with make_rig(tmp_path, sim_options=slow) as rig:
        await cfy(rig, "/cfy snapshots create slow-1")
        job = newest_job(rig)
        await card(rig, job.id, "Cancel")
        resp = await rig.click("job_cancel", job.id, user="U_LEAD1")
        assert resp.status == 200
        job = await rig.wait_job(job.id)
        assert job.state == "cancelled"
        assert rig.store.transitions(job.id)[-1].actor == "U_LEAD1"
        await rig.wait_response(2)  # the click is answered: its handling is over


async def test_a_second_long_command_on_a_busy_manager_is_refused(tmp_path: Path) -> None:
    slow = HELD
    async with make_rig(tmp_path, sim_options=slow) as rig:
        await cfy(rig, "/cfy snapshots create slow-1")
        first = newest_job(rig)
        post = await cfy(rig, "/cfy maintenance-mode activate")
        assert post["response_type"] == "ephemeral"
        assert "busy" in reply_text(post) and first.id in reply_text(post)
        assert [j.id for j in rig.jobs()] == [first.id]
        assert rig.sim_requests("/maintenance/activate") == 0


async def test_a_duplicate_trigger_id_starts_one_job(tmp_path: Path) -> None:
    async with make_rig(tmp_path) as rig:
        await rig.command("/cfy snapshots create dup-1", trigger_id="T-SAME")
        await rig.command("/cfy snapshots create dup-1", trigger_id="T-SAME")
        job = await rig.wait_for(lambda: rig.jobs())
        await rig.wait_job(job[0].id)
        assert len(rig.jobs()) == 1
        creates = [e for e in rig.sim.state.executions.values() if e["workflow_id"] == "create_snapshot"]
        assert len(creates) == 1


async def test_a_usage_error_is_answered_privately_and_sends_nothing(tmp_path: Path) -> None:
    async with make_rig(tmp_path) as rig:
        before = rig.sim_requests()
        resp = await rig.command("/cfy snapshots create ../etc")
        assert resp.status == 200
        assert rig.sim_requests() == before and rig.jobs() == []


async def test_an_unknown_subcommand_is_answered_in_the_ack_and_nothing_reaches_the_manager(tmp_path: Path) -> None:
    async with make_rig(tmp_path) as rig:
        before = rig.sim_requests()
        resp = await rig.command("/cfy snapshots frobnicate")
        assert resp.status == 200
        body = resp.json()
        assert body["response_type"] == "ephemeral" and "frobnicate" in body["text"]
        assert rig.sim_requests() == before
        assert rig.jobs() == []


async def test_an_invalid_snapshot_id_is_refused_in_the_ack(tmp_path: Path) -> None:
    async with make_rig(tmp_path) as rig:
        before = rig.sim_requests()
        resp = await rig.command("/cfy snapshots download ../etc/passwd")
        assert resp.json()["response_type"] == "ephemeral"
        assert rig.sim_requests() == before


async def test_snapshots_restore_asks_the_approvers_first(tmp_path: Path) -> None:
    async with make_rig(tmp_path) as rig:
        await run_job(rig, "/cfy snapshots create e2e-1")
        before = rig.sim_requests("/restore")
        await cfy(rig, "/cfy snapshots restore e2e-1 --force")
        await rig.wait_for(lambda: rig.slack.find_button("restore_approve"))
        job = newest_job(rig)
        assert job.kind == "restore" and not job.finished
        assert rig.sim_requests("/restore") == before


async def test_snapshots_schedule_describes_the_daily_job(tmp_path: Path) -> None:
    async with make_rig(tmp_path) as rig:
        post = await cfy(rig, "/cfy snapshots schedule")
        assert post["response_type"] == "ephemeral"
        assert "0 3 * * *" in reply_text(post)  # the default 03:00 slot


async def test_snapshots_schedule_run_now_starts_a_daily_run(tmp_path: Path) -> None:
    async with make_rig(tmp_path) as rig:
        await cfy(rig, "/cfy snapshots schedule run-now")
        job = await rig.wait_for(lambda: rig.jobs())
        assert job[0].kind == "daily"


async def test_a_gated_command_runs_only_after_an_approver_approves(tmp_path: Path) -> None:
    async with make_rig(tmp_path, env_overrides={"SNAPBOT_GATED": "snapshots.delete"}) as rig:
        await run_job(rig, "/cfy snapshots create e2e-1")
        post = await cfy(rig, "/cfy snapshots delete e2e-1")
        job = newest_job(rig)
        assert job.kind == "snapshot_delete" and job.state == "awaiting_approval"
        assert "approval" in reply_text(post)
        await rig.wait_for(lambda: rig.slack.find_button("job_approve", job.id))
        await rig.click("job_approve", job.id, user="U_OPS")  # the requester cannot approve
        assert rig.store.get_job(job.id).state == "awaiting_approval"
        assert "e2e-1" in rig.sim.state.snapshots
        await rig.click("job_approve", job.id, user="U_LEAD1")
        job = await rig.wait_job(job.id)
        assert job.state == "done", job.error
        assert "e2e-1" not in rig.sim.state.snapshots


async def test_snapshots_upload_from_a_url_lets_the_manager_fetch_it(tmp_path: Path, file_server) -> None:
    root, base = file_server
    async with make_rig(tmp_path) as rig:
        await run_job(rig, "/cfy snapshots create e2e-1")
        job = await run_job(rig, "/cfy snapshots download e2e-1")
        shutil.copy(job.result["archive_path"], root / "e2e-1.zip")
        up = await run_job(rig, f"/cfy snapshots upload e2e-copy --url {base}/e2e-1.zip")
        assert up.state == "done", up.error
        assert rig.sim.state.snapshots["e2e-copy"]["status"] == "uploaded"


# -- the Slack surface: errors, buttons, health, secrets ------------------------------------------

async def test_domain_error_is_an_ephemeral_message(tmp_path):
    async with make_rig(tmp_path) as rig:
        await rig.command("/cfy jobs show j-000000")
        posts = await rig.wait_response(1)
        assert posts[0]["response_type"] == "ephemeral"
        assert "j-000000" in posts[0]["text"] + str(posts[0].get("blocks"))


async def test_unexpected_error_is_logged_with_traceback_and_told_without_details(tmp_path, caplog):
    async with make_rig(tmp_path) as rig:
        async def boom(cmd, inv):
            raise RuntimeError("internal detail xoxb-should-not-leak")
        rig.services.dispatcher._handlers[SnapshotsList] = boom  # a bug deep in a command
        with caplog.at_level(logging.ERROR, logger="bot.dispatch"):
            await rig.command("/cfy snapshots list")
            posts = await rig.wait_response(1)
        assert posts[0]["response_type"] == "ephemeral"
        assert "xoxb-should-not-leak" not in str(posts[0])
        assert any(r.exc_info for r in caplog.records if r.name == "bot.dispatch")


async def test_cancel_button_by_a_bystander_is_refused(tmp_path):
    async with make_rig(tmp_path, sim_options=HELD) as rig:
        await rig.command("/cfy snapshots create slow-1")
        job = (await rig.wait_for(lambda: [j for j in rig.jobs() if j.state == "running"]))[0]
        await rig.wait_for(lambda: rig.slack.find_button("job_cancel", job.id))
        resp = await rig.click("job_cancel", job.id, user="U_RANDOM")
        assert resp.status == 200
        await rig.wait_for(lambda: rig.slack.ephemerals("U_RANDOM"))
        assert rig.store.get_job(job.id).state == "running"


async def test_cancel_button_by_the_requester_cancels_the_job(tmp_path):
    async with make_rig(tmp_path, sim_options=HELD) as rig:
        await rig.command("/cfy snapshots create slow-2")
        job = (await rig.wait_for(lambda: [j for j in rig.jobs() if j.state == "running"]))[0]
        await rig.wait_for(lambda: rig.slack.find_button("job_cancel", job.id))
        await rig.click("job_cancel", job.id, user="U_OPS")
        cancelled = await rig.wait_job(job.id)
        assert cancelled.state == "cancelled"
        await rig.wait_response(2)  # the click is answered: its handling is over


async def test_healthz_reports_the_database(tmp_path):
    async with make_rig(tmp_path) as rig:
        async with rig.http.get(rig.base_url + "/healthz") as resp:
            assert resp.status == 200
            body = await resp.json()
        assert body == {"ok": True, "status": "ok", "db": "ok"}  # unauthenticated: no manager names


async def test_tokens_and_signing_secret_never_reach_the_logs(tmp_path, caplog):
    from tests.harness import BOT_TOKEN, SIGNING_SECRET
    with caplog.at_level(logging.DEBUG):
        async with make_rig(tmp_path) as rig:
            rig.slack.fail_next("chat.postMessage", 1, status=429, retry_after=0)
            await rig.command("/cfy snapshots create quiet-1")
            await rig.wait_job((await rig.wait_for(rig.jobs))[0].id)
            await rig.command("/cfy snapshots list")
            await rig.wait_response(2)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert text, "expected some debug logging"
    assert BOT_TOKEN not in text and SIGNING_SECRET not in text
