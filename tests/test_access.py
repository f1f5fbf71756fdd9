"""Who may do what, from where (bot.access, checked once in the dispatcher for every surface).

Real signed slash commands and clicks into the Bolt app, the manager simulator and the Slack
stand-in. A refusal is asserted on what the simulator saw: not one request more.
"""
from __future__ import annotations

import asyncio

import pytest

from bot.commands.model import SnapshotsList, SnapshotsRestore
from bot.notifier import plain_text
from tests.harness import CHANNEL, make_rig

VIEWER = "U_VIEW"  # in the channel, not an operator
OTHER_CHANNEL = "C_RANDOM"
DM = "D_DIRECT"

CHANGING = [
    "snapshots create snap-new",
    "snapshots delete snap-1",
    "snapshots download snap-1",
    "snapshots upload snap-1 --from-archive",
    "snapshots upload snap-2 --url https://files.example/snap-2.zip",
    "snapshots restore snap-1 --force",
    "maintenance-mode activate",
    "maintenance-mode deactivate",
    "agents install",
    "plugins update --all",
    "snapshots schedule run-now",
]


def _ephemeral_texts(rig, user: str) -> list[str]:
    return [plain_text(e) for e in rig.slack.ephemerals(user)]


async def _refused(rig, text: str, user: str, channel: str, expect: str) -> None:
    before = rig.sim_requests()
    seen = len(rig.slack.ephemerals(user))
    resp = await rig.command(text, user=user, channel=channel)
    assert resp.status == 200
    answers = await rig.wait_for(lambda: rig.slack.ephemerals(user)[seen:])
    said = plain_text(answers[0])
    assert expect in said, (text, said)
    assert rig.sim_requests() == before, f"{text!r} reached the manager"
    assert [j for j in rig.jobs() if j.params.get("snapshot_id") in ("snap-new", "snap-2")] == []


async def _snapshot(rig, sid: str = "snap-1") -> None:
    await rig.command(f"/cfy snapshots create {sid}")
    job = await rig.wait_for(lambda: [j for j in rig.jobs() if j.params.get("snapshot_id") == sid])
    assert (await rig.wait_job(job[0].id)).state == "done"


async def test_every_changing_command_by_a_non_operator_is_refused_before_the_manager(tmp_path):
    async with make_rig(tmp_path) as rig:
        for text in CHANGING:
            await _refused(rig, text, VIEWER, CHANNEL, "needs an operator")


async def test_every_changing_command_from_another_channel_or_a_dm_is_refused_naming_the_channel(tmp_path):
    async with make_rig(tmp_path) as rig:
        for channel in (OTHER_CHANNEL, DM):
            for text in CHANGING + ["snapshots list", "jobs"]:
                await _refused(rig, text, "U_OPS", channel, "takes commands in <#C_OPS> only")
        # refusals are private, and nothing was posted to any channel
        assert rig.slack.messages(OTHER_CHANNEL) == [] and rig.slack.messages(DM) == []


async def test_without_operators_snapbot_is_read_only_for_all_but_approvers(tmp_path):
    async with make_rig(tmp_path, env_overrides={"SNAPBOT_OPERATORS": ""}) as rig:
        await _refused(rig, "snapshots create snap-new", "U_OPS", CHANNEL, "snapbot is read-only")
        await rig.command("help", user="U_OPS")
        help_text = (await rig.wait_for(lambda: _ephemeral_texts(rig, "U_OPS")[-1:]))[0]
        assert "read-only" in help_text
        await rig.command("snapshots create by-lead", user="U_LEAD1")  # approvers are operators
        job = await rig.wait_for(lambda: rig.jobs())
        assert (await rig.wait_job(job[0].id)).state == "done"


def test_start_up_says_when_snapbot_is_read_only(caplog):
    import logging

    from bot.config.load import load_settings
    from snapbot.run import log_access

    base = {"CLOUDIFY_URL": "http://127.0.0.1:9", "SNAPBOT_CHANNEL": "C_OPS"}
    with caplog.at_level(logging.INFO, logger="snapbot"):
        log_access(load_settings(base, None))
    warned = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1 and "read-only" in warned[0].getMessage()
    assert any("commands are taken in C_OPS" in r.getMessage() for r in caplog.records), caplog.records
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="snapbot"):
        log_access(load_settings({**base, "SNAPBOT_OPERATORS": "U_OPS"}, None))
    assert [r for r in caplog.records if r.levelno == logging.WARNING] == []


async def test_configured_viewers_alone_read_and_jobs_answer_only_them(tmp_path):
    async with make_rig(tmp_path, env_overrides={"SNAPBOT_VIEWERS": VIEWER}) as rig:
        for text in ("snapshots list", "jobs", "jobs show j-000000", "cluster status"):
            await _refused(rig, text, "U_STRANGER", CHANNEL, "needs a viewer")
        await rig.command("snapshots list", user=VIEWER)
        assert await rig.wait_for(lambda: rig.slack.ephemerals(VIEWER))


async def test_help_for_viewers_names_the_approvers_and_refusals_do_not(tmp_path):
    async with make_rig(tmp_path) as rig:
        await rig.command("help", user=VIEWER)
        help_text = (await rig.wait_for(lambda: _ephemeral_texts(rig, VIEWER)))[0]
        assert "<@U_LEAD1>" in help_text and "<@U_LEAD2>" in help_text


# --- buttons -------------------------------------------------------------------------------------

async def _failed_restore(rig) -> object:
    """A restore that failed at the restore step (the manager refused it): its card has
    Retry, Deactivate and Rollback."""
    await _snapshot(rig)
    await rig.sim_post("/_sim/config", {"restore_fails": "the database is on fire"})
    await rig.command("/cfy snapshots restore snap-1 --force")
    job = (await rig.wait_for(lambda: [j for j in rig.jobs() if j.kind == "restore" and j.message_ts]))[0]
    await rig.click("restore_approve", job.id, user="U_LEAD1")
    job = await rig.wait_job(job.id, timeout=60)
    assert job.state == "failed", job.state
    await rig.sim_post("/_sim/config", {"restore_fails": None})
    await rig.wait_for(lambda: rig.slack.find_button("restore_retry", job.id))
    return job


@pytest.mark.slow
async def test_restore_card_buttons_by_a_non_operator_or_from_elsewhere_are_refused(tmp_path):
    async with make_rig(tmp_path, env_overrides={"SNAPBOT_VIEWERS": ""}) as rig:
        job = await _failed_restore(rig)
        card = rig.slack.message(CHANNEL, job.message_ts)
        restores = len(rig.jobs())
        for action in ("restore_retry", "restore_rollback", "restore_deactivate",
                       "restore_agents", "restore_plugins", "job_cancel"):
            denied = "requester or an approver" if action == "job_cancel" else "needs an operator"
            for user, channel, why in ((VIEWER, CHANNEL, denied),
                                       ("U_OPS", OTHER_CHANNEL, "takes commands in"),
                                       ("U_OPS", DM, "takes commands in")):
                before = rig.sim_requests()
                seen = len(rig.slack.ephemerals(user))
                await rig.click(action, job.id, user=user, channel=channel, message=card)
                said = plain_text((await rig.wait_for(lambda user=user, seen=seen: rig.slack.ephemerals(user)[seen:]))[0])
                assert why in said, (action, user, channel, said)
                assert rig.sim_requests() == before, (action, user, channel)
        # the daily report's Retry (its block names the manager) needs an operator too
        seen = len(rig.slack.ephemerals(VIEWER))
        await rig.click("daily_retry", "default", user=VIEWER, block_id="daily_retry:default")
        assert "needs an operator" in plain_text((await rig.wait_for(lambda: rig.slack.ephemerals(VIEWER)[seen:]))[0])
        # and an operator's click is taken only on that manager's report
        seen = len(rig.slack.ephemerals("U_OPS"))
        await rig.click("daily_retry", "default", user="U_OPS", block_id="daily_retry:other")
        said = plain_text((await rig.wait_for(lambda: rig.slack.ephemerals("U_OPS")[seen:]))[0])
        assert "not on that manager's daily report" in said
        assert len(rig.jobs()) == restores  # nothing started


@pytest.mark.slow
async def test_retry_is_a_new_restore_request_that_needs_fresh_approval(tmp_path):
    async with make_rig(tmp_path, env_overrides={"SNAPBOT_APPROVALS_REQUIRED": "2"}) as rig:
        # the first restore needed two approvals; give it both, then make it fail
        await _snapshot(rig)
        await rig.sim_post("/_sim/config", {"restore_fails": "boom"})
        await rig.command("/cfy snapshots restore snap-1 --force")
        job = (await rig.wait_for(lambda: [j for j in rig.jobs() if j.kind == "restore" and j.message_ts]))[0]
        await rig.click("restore_approve", job.id, user="U_LEAD1")
        await rig.click("restore_approve", job.id, user="U_LEAD2")
        assert (await rig.wait_job(job.id, timeout=60)).state == "failed"
        await rig.sim_post("/_sim/config", {"restore_fails": None})
        restores = len((await rig.sim_state())["restores"])
        await rig.wait_for(lambda: rig.slack.find_button("restore_retry", job.id))
        await rig.click("restore_retry", job.id, user="U_OPS")
        retry = (await rig.wait_for(lambda: [j for j in rig.jobs() if j.params.get("retry_of") == job.id]))[0]
        assert retry.state == "requested" and retry.requester == "U_OPS"
        await asyncio.sleep(0)  # nothing runs without approval
        assert len((await rig.sim_state())["restores"]) == restores
        retry = await rig.wait_for(lambda: (j := rig.store.get_job(retry.id)).message_ts and j)
        await rig.click("restore_approve", retry.id, user="U_LEAD1")
        await rig.wait_for(lambda: rig.store.approvals(retry.id))
        assert rig.store.get_job(retry.id).state == "requested"  # 1 of 2
        await rig.click("restore_approve", retry.id, user="U_LEAD2")
        assert (await rig.wait_job(retry.id, timeout=60)).state == "done"
        assert len((await rig.sim_state())["restores"]) == restores + 1


@pytest.mark.slow
async def test_rollback_uploads_nothing_before_it_is_approved(tmp_path):
    async with make_rig(tmp_path) as rig:
        job = await _failed_restore(rig)
        safety = job.result["safety_snapshot_id"]
        # the manager lost the safety snapshot (a restore replaces its database)
        await rig.services.clients["default"].delete_snapshot(safety)
        uploads = rig.sim_requests(f"/snapshots/{safety}/archive")
        await rig.click("restore_rollback", job.id, user="U_OPS")
        rb = (await rig.wait_for(lambda: [j for j in rig.jobs() if j.params.get("rollback_of") == job.id]))[0]
        assert rb.state == "requested" and rb.params["upload_before_restore"] == "default"
        assert rig.sim_requests(f"/snapshots/{safety}/archive") == uploads
        rb = await rig.wait_for(lambda: (j := rig.store.get_job(rb.id)).message_ts and j)
        await rig.click("restore_approve", rb.id, user="U_LEAD1")
        assert (await rig.wait_job(rb.id, timeout=60)).state == "done", rig.store.get_job(rb.id).error
        assert rig.sim_requests(f"/snapshots/{safety}/archive") > uploads


async def _gated_delete(rig) -> object:
    """`snapshots delete snap-1` (gated), its approval card posted."""
    await _snapshot(rig)
    await rig.command("/cfy snapshots delete snap-1")
    return (await rig.wait_for(lambda: [j for j in rig.jobs()
                                        if j.kind == "snapshot_delete" and j.message_ts]))[0]


async def test_a_button_on_card_a_cannot_act_on_job_b(tmp_path):
    env = {"SNAPBOT_GATED": "snapshots.delete,maintenance-mode.activate"}
    async with make_rig(tmp_path, env_overrides=env) as rig:
        a = await _gated_delete(rig)
        await rig.command("/cfy jobs cancel " + a.id)  # frees the manager for a second request
        await rig.wait_for(lambda: rig.store.get_job(a.id).finished)
        await rig.command("/cfy maintenance-mode activate")
        b = (await rig.wait_for(lambda: [j for j in rig.jobs() if j.kind == "maintenance_activate" and j.message_ts]))[0]
        card_a = rig.slack.message(CHANNEL, a.message_ts)
        before = rig.sim_requests()
        await rig.click("job_approve", b.id, user="U_LEAD1", message=card_a)
        said = plain_text((await rig.wait_for(lambda: rig.slack.ephemerals("U_LEAD1")))[-1])
        assert "not on the card of job" in said
        assert rig.store.get_job(b.id).state == "awaiting_approval" and rig.store.approvals(b.id) == []
        assert rig.sim_requests() == before


# --- one identity across surfaces ----------------------------------------------------------------

async def test_a_terminal_request_by_a_mapped_login_cannot_be_approved_by_the_same_slack_user(tmp_path):
    from snapbot.terminal import run_command
    async with make_rig(tmp_path, env_overrides={"SNAPBOT_TERMINAL_USERS": "alice=U_LEAD1"}) as rig:
        await _snapshot(rig)
        out: list[str] = []
        rc = await run_command(rig.services, SnapshotsRestore(snapshot_id="snap-1", force=True),
                               confirmed=True, out=out.append, user="local:alice")
        assert rc == 0
        job = rig.store.list_jobs(kind="restore")[0]
        assert job.requester == "U_LEAD1" and job.state == "requested"
        await rig.services.approvals.announce_unposted()
        job = await rig.wait_for(lambda: (j := rig.store.get_job(job.id)).message_ts and j)
        await rig.click("restore_approve", job.id, user="U_LEAD1")
        said = plain_text((await rig.wait_for(lambda: rig.slack.ephemerals("U_LEAD1")))[-1])
        assert "someone else must approve" in said
        assert rig.store.get_job(job.id).state == "requested"


async def test_an_unmapped_login_reads_and_runs_ungated_commands_but_cannot_request_approval(tmp_path):
    from snapbot.terminal import run_command
    async with make_rig(tmp_path) as rig:
        await _snapshot(rig)
        assert await run_command(rig.services, SnapshotsList(), out=lambda _: None,
                                 user="local:bob") == 0
        before = rig.sim_requests()
        rc = await run_command(rig.services, SnapshotsRestore(snapshot_id="snap-1", force=True),
                               confirmed=True, out=lambda _: None, user="local:bob")
        assert rc == 1 and rig.store.list_jobs(kind="restore") == []
        assert rig.sim_requests() == before


async def test_every_click_is_audited_once_accepted_or_refused(tmp_path):
    async with make_rig(tmp_path, env_overrides={"SNAPBOT_GATED": "snapshots.delete"}) as rig:
        job = await _gated_delete(rig)
        await rig.click("job_approve", job.id, user=VIEWER)  # not an approver
        await rig.wait_for(lambda: rig.slack.ephemerals(VIEWER))
        await rig.click("job_approve", job.id, user="U_LEAD1", channel=DM)  # not in the channel
        await rig.wait_for(lambda: rig.slack.ephemerals("U_LEAD1"))
        await rig.click("job_approve", job.id, user="U_LEAD1")
        assert (await rig.wait_job(job.id)).state == "done"
        clicks = [(e.user, e.what, e.outcome) for e in rig.services.dispatcher.audit.query()
                  if e.what.startswith("approve")]
        assert sorted(clicks) == sorted([(VIEWER, f"approve {job.id}", "refused"),
                                         ("U_LEAD1", f"approve {job.id}", "refused"),
                                         ("U_LEAD1", f"approve {job.id}", "ok")])


@pytest.mark.slow
async def test_a_button_that_stands_for_a_command_is_audited_once_as_that_command(tmp_path):
    async with make_rig(tmp_path) as rig:
        job = await _failed_restore(rig)
        await rig.click("restore_deactivate", job.id, user="U_OPS")
        audit = rig.services.dispatcher.audit
        await rig.wait_for(lambda: [e for e in audit.query()
                                    if e.what.startswith("maintenance-mode deactivate")])
        assert [e.what for e in audit.query() if "restore_deactivate" in e.what] == []
        await rig.click("restore_retry", job.id, user=VIEWER)
        entry = (await rig.wait_for(lambda: [e for e in audit.query() if e.user == VIEWER]))[0]
        assert (entry.what, entry.outcome) == (f"retry restore {job.id}", "refused")
