"""Real signed requests into the Bolt app over HTTP: Slack's v0 signature and its 5-minute window."""
from __future__ import annotations

import time

from tests.harness import make_rig


async def test_signed_snapshots_list_is_acked_and_answered_via_response_url(tmp_path):
    async with make_rig(tmp_path) as rig:
        resp = await rig.command("/cfy snapshots list")
        assert resp.status == 200
        posts = await rig.wait_response(1)
        assert posts[0]["user"] == "U_OPS"
        assert posts[0]["text"].startswith("Snapshots on default: 0 on the manager, 0 archived."), posts[0]


async def test_forged_signature_gets_401_and_nothing_runs(tmp_path):
    async with make_rig(tmp_path) as rig:
        before, slack_calls = rig.sim_requests(), len(rig.slack.calls)  # auth.test at start
        resp = await rig.command("/cfy snapshots list", signature="v0=" + "0" * 64)
        assert resp.status == 401
        assert rig.slack.calls[slack_calls:] == []
        assert rig.slack.responses() == []
        assert rig.sim_requests() == before


async def test_request_signed_with_another_secret_gets_401(tmp_path):
    async with make_rig(tmp_path) as rig:
        resp = await rig.command("/cfy snapshots list", secret="not-the-signing-secret")
        assert resp.status == 401
        assert rig.slack.responses() == []


async def test_six_minute_old_timestamp_gets_401(tmp_path):
    async with make_rig(tmp_path) as rig:
        before = rig.sim_requests()
        resp = await rig.command("/cfy snapshots list", timestamp=int(time.time()) - 6 * 60)
        assert resp.status == 401
        assert rig.slack.responses() == []
        assert rig.sim_requests() == before


async def test_slack_retry_of_a_create_does_not_start_a_second_job(tmp_path):
    async with make_rig(tmp_path) as rig:
        body = rig.slack.command_body("snapshots create retry-1", user="U_OPS", channel="C_OPS")
        first = await rig.command("", body=body)
        retry = await rig.command("", body=body, retry_num=1)
        assert (first.status, retry.status) == (200, 200)
        jobs = await rig.wait_for(lambda: rig.jobs())
        await rig.wait_job(jobs[0].id)
        creates = [j for j in rig.jobs() if j.kind == "snapshot_create"]
        assert len(creates) == 1
        assert rig.sim_requests("/snapshots/retry-1") >= 1
        assert len([s for s in rig.sim.state.snapshots if "retry-1" in str(s)]) == 1
