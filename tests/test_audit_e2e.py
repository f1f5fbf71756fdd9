"""The audit log through the real Slack surface: signed slash commands and clicks into the Bolt
app over loopback, the Slack stand-in recording what the bot said, the simulator as the manager."""
from __future__ import annotations

from pathlib import Path

import pytest

from devtools.standin.slack import render_text
from tests.harness import CHANNEL, make_rig

pytestmark = pytest.mark.slow


def audit_rows(rig) -> list:
    return rig.services.dispatcher.audit.query()


async def test_a_command_that_does_not_parse_is_recorded_as_refused_without_secrets(tmp_path: Path) -> None:
    async with make_rig(tmp_path) as rig:
        resp = await rig.command("/cfy snapshots upload s1 --url "
                                 "https://ops:hunter2@files.example/a.zip?X-Amz-Signature=abc123")
        assert resp.status == 200
        assert "credentials" in str(rig.slack.ephemerals("U_OPS"))  # answered in the ack
        entry = (await rig.wait_for(lambda: audit_rows(rig)))[0]
        assert (entry.user, entry.source, entry.channel, entry.outcome) == \
            ("U_OPS", "slack", CHANNEL, "refused")
        assert entry.what == "snapshots upload s1 --url https://…@files.example/a.zip?…"
        assert "credentials" in entry.detail
        rig.store.db.execute("pragma wal_checkpoint(truncate)")
        raw = Path(rig.settings.db_path).read_bytes()
        assert b"hunter2" not in raw and b"abc123" not in raw


async def test_a_refused_approval_click_is_recorded(tmp_path: Path) -> None:
    async with make_rig(tmp_path, env_overrides={"SNAPBOT_GATED": "snapshots.delete"}) as rig:
        await rig.command("/cfy snapshots create gone-1")
        await rig.wait_job((await rig.wait_for(lambda: rig.jobs()))[0].id)
        await rig.command("/cfy snapshots delete gone-1")
        job = (await rig.wait_for(lambda: rig.jobs(kind="snapshot_delete")))[0]
        await rig.wait_for(lambda: rig.slack.find_button("job_approve", job.id))
        await rig.click("job_approve", job.id, user="U_OPS")  # the requester cannot approve
        entry = await rig.wait_for(
            lambda: next((e for e in audit_rows(rig) if e.what == f"approve {job.id}"), None))
        assert (entry.user, entry.outcome, entry.channel) == ("U_OPS", "refused", CHANNEL)
        assert "someone else must approve" in entry.detail
        assert rig.store.get_job(job.id).state == "awaiting_approval"
        requested = next(e for e in audit_rows(rig) if e.what == "snapshots delete gone-1")
        assert requested.outcome == "ok" and requested.detail == f"job {job.id}"


async def test_the_audit_command_answers_privately_newest_first(tmp_path: Path) -> None:
    async with make_rig(tmp_path) as rig:
        await rig.command("/cfy snapshots list")
        await rig.wait_response(1)
        await rig.command("/cfy jobs show j-000000", user="U_LEAD2")
        await rig.wait_response(2)
        await rig.command("/cfy audit", user="U_LEAD1")
        post = (await rig.wait_response(3))[2]
        assert post["response_type"] == "ephemeral"
        text = render_text(post)
        assert text.index("jobs show j-000000") < text.index("snapshots list")
        assert "<@U_OPS>" in str(post) and "<@U_LEAD2>" in str(post)
        assert "failed" in text and "no job" in text
        assert rig.slack.messages(CHANNEL) == []  # nothing in the channel
        await rig.command("/cfy audit --user <@U_LEAD2> --since 1h", user="U_LEAD1")
        post = (await rig.wait_response(4))[3]
        text = render_text(post)
        assert "jobs show j-000000" in text and "snapshots list" not in text
