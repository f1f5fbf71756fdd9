"""/cfy and the generic job buttons, end to end: signed requests -> Bolt -> dispatcher -> simulator,
answers observed on the Slack stand-in."""
from __future__ import annotations

import logging

from bot.archive import verify_archived
from bot.commands.model import SnapshotsList
from bot.notifier import plain_text
from devtools.simulator import SimulatorOptions
from tests.harness import make_rig


async def test_usage_error_is_answered_in_the_ack_and_nothing_reaches_the_manager(tmp_path):
    async with make_rig(tmp_path) as rig:
        before = rig.sim_requests()
        resp = await rig.command("/cfy snapshots frobnicate")
        assert resp.status == 200
        body = resp.json()
        assert body["response_type"] == "ephemeral" and "frobnicate" in body["text"]
        assert rig.sim_requests() == before
        assert rig.jobs() == []


async def test_invalid_snapshot_id_is_refused_before_the_manager_sees_it(tmp_path):
    async with make_rig(tmp_path) as rig:
        before = rig.sim_requests()
        resp = await rig.command("/cfy snapshots download ../etc/passwd")
        assert resp.json()["response_type"] == "ephemeral"
        assert rig.sim_requests() == before


async def test_help_is_answered_ephemeral_through_the_response_url(tmp_path):
    async with make_rig(tmp_path) as rig:
        await rig.command("/cfy help")
        posts = await rig.wait_response(1)
        assert posts[0]["response_type"] == "ephemeral"
        assert "/cfy snapshots create" in posts[0]["text"] + str(posts[0].get("blocks"))
        assert rig.slack.messages("C_OPS") == []


async def test_snapshot_create_card_is_updated_in_place_until_created(tmp_path):
    async with make_rig(tmp_path) as rig:
        await rig.command("/cfy snapshots create nightly-1")
        job = await rig.wait_job((await rig.wait_for(rig.jobs))[0].id)
        assert job.state == "done"
        cards = rig.slack.messages("C_OPS", top_level=True)
        card = rig.slack.message("C_OPS", job.message_ts)
        assert card in cards and "created" in plain_text(card)
        assert rig.slack.calls_to("chat.update"), "the card was updated in place"
        assert rig.slack.messages("C_OPS", thread_ts=job.message_ts), "state changes are thread replies"
        assert "nightly-1" in rig.sim.state.snapshots


async def test_snapshot_download_leaves_a_verified_archive(tmp_path):
    async with make_rig(tmp_path) as rig:
        await rig.command("/cfy snapshots create dl-1")
        await rig.wait_job((await rig.wait_for(rig.jobs))[0].id)
        await rig.command("/cfy snapshots download dl-1")
        download = await rig.wait_for(lambda: [j for j in rig.jobs() if j.kind == "snapshot_download"])
        job = await rig.wait_job(download[0].id)
        assert job.state == "done"
        info = verify_archived(job.result["archive_path"])
        assert info.sha256 == job.result["sha256"]
        assert str(tmp_path / "archives") in job.result["archive_path"]


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
    async with make_rig(tmp_path, sim_options=SimulatorOptions(speed=1, create_seconds=600)) as rig:
        await rig.command("/cfy snapshots create slow-1")
        job = (await rig.wait_for(lambda: [j for j in rig.jobs() if j.state == "running"]))[0]
        await rig.wait_for(lambda: rig.slack.find_button("job_cancel", job.id))
        resp = await rig.click("job_cancel", job.id, user="U_RANDOM")
        assert resp.status == 200
        await rig.wait_for(lambda: rig.slack.ephemerals("U_RANDOM"))
        assert rig.store.get_job(job.id).state == "running"


async def test_cancel_button_by_the_requester_cancels_the_job(tmp_path):
    async with make_rig(tmp_path, sim_options=SimulatorOptions(speed=1, create_seconds=600)) as rig:
        await rig.command("/cfy snapshots create slow-2")
        job = (await rig.wait_for(lambda: [j for j in rig.jobs() if j.state == "running"]))[0]
        await rig.wait_for(lambda: rig.slack.find_button("job_cancel", job.id))
        await rig.click("job_cancel", job.id, user="U_OPS")
        cancelled = await rig.wait_job(job.id)
        assert cancelled.state == "cancelled"


async def test_healthz_reports_the_database(tmp_path):
    async with make_rig(tmp_path) as rig:
        async with rig.http.get(rig.base_url + "/healthz") as resp:
            assert resp.status == 200
            body = await resp.json()
        assert body["ok"] is True and body["db"] == "ok" and body["managers"] == ["default"]


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
