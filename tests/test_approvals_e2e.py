"""Approval of gated simple jobs through Slack: the job_approve / job_reject card, end to end."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.notifier import plain_text
from tests.fakes import FakeClock
from tests.harness import make_rig

GATED = {"SNAPBOT_GATED": "maintenance-mode.activate"}


async def _gated_job(rig):
    await rig.command("/cfy maintenance-mode activate")
    return (await rig.wait_for(lambda: [j for j in rig.store.list_jobs(kind="maintenance_activate")
                                        if j.message_ts]))[0]


def _ephemerals(rig, user: str) -> list[str]:
    return [plain_text(e) for e in rig.slack.ephemerals(user)]


async def test_gated_job_runs_only_after_an_approver_clicks_approve(tmp_path: Path) -> None:
    async with make_rig(tmp_path, env_overrides=GATED) as rig:
        job = await _gated_job(rig)
        assert job.state == "awaiting_approval"
        card = plain_text(rig.slack.message("C_OPS", job.message_ts))
        assert "[Approve] [Reject]" in card and "Expires at" in card
        assert rig.sim.state.maintenance["status"] == "deactivated"
        await rig.click("job_approve", job.id, user="U_OPS")
        await rig.wait_for(lambda: any("someone else must approve" in t for t in _ephemerals(rig, "U_OPS")))
        await rig.click("job_approve", job.id, user="U_LEAD1")
        job = await rig.wait_job(job.id, timeout=30)
        assert job.state == "done", job.error
        assert rig.sim.state.maintenance["status"] in ("activating", "activated")


async def test_gated_job_reject_never_touches_the_manager(tmp_path: Path) -> None:
    async with make_rig(tmp_path, env_overrides=GATED) as rig:
        job = await _gated_job(rig)
        await rig.click("job_reject", job.id, user="U_LEAD2")
        job = await rig.wait_job(job.id)
        assert job.state == "rejected"
        await rig.wait_for(lambda: "Rejected by <@U_LEAD2>" in plain_text(rig.slack.message("C_OPS", job.message_ts)))
        assert rig.sim.state.maintenance["status"] == "deactivated"


async def test_gated_job_expires_and_its_card_says_so(tmp_path: Path) -> None:
    clock = FakeClock(datetime.now(UTC))
    async with make_rig(tmp_path, env_overrides=GATED, clock=clock) as rig:
        job = await _gated_job(rig)
        clock.advance(timedelta(minutes=31).total_seconds())
        assert await rig.services.approvals.expire_due() == [job.id]
        assert rig.store.get_job(job.id).state == "expired"
        await rig.wait_for(lambda: "Expired" in plain_text(rig.slack.message("C_OPS", job.message_ts)))


async def test_member_of_an_approver_group_may_approve_a_restore(tmp_path: Path) -> None:
    from tests.restore_support import create_snapshot, posted_restore_job
    async with make_rig(tmp_path, env_overrides={"SNAPBOT_APPROVER_GROUPS": "S_LEADS"}) as rig:
        rig.slack.usergroups["S_LEADS"] = ["U_GROUPIE"]
        await create_snapshot(rig, "snap-1")
        await rig.command("/cfy snapshots restore snap-1 --force")
        job = await posted_restore_job(rig)
        await rig.click("restore_approve", job.id, user="U_GROUPIE")
        job = await rig.wait_job(job.id, timeout=30)
        assert job.state == "done", job.error
        assert rig.store.transitions(job.id)[1].actor == "U_GROUPIE"
        assert rig.slack.calls_to("usergroups.users.list")
