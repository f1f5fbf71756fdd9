"""Socket Mode: slack_bolt's AsyncSocketModeHandler against the stand-in's WebSocket."""
from __future__ import annotations

from tests.harness import make_rig


async def test_socket_mode_connection_is_opened_with_the_app_token(tmp_path):
    async with make_rig(tmp_path, socket_mode=True) as rig:
        opens = rig.slack.calls_to("apps.connections.open")
        assert opens and opens[0].ok


async def test_help_over_socket_mode_is_acked_and_answered(tmp_path):
    async with make_rig(tmp_path, socket_mode=True) as rig:
        ack = await rig.slack.socket_command("help", user="U_OPS")
        assert ack["envelope_id"] in {a["envelope_id"] for a in rig.slack.socket_acks}
        posts = await rig.wait_response(1)
        assert posts[0]["user"] == "U_OPS"
        assert posts[0].get("response_type") == "ephemeral"
        assert "snapshots" in (posts[0].get("text") or str(posts[0].get("blocks")))


async def test_usage_error_over_socket_mode_is_answered_in_the_ack(tmp_path):
    async with make_rig(tmp_path, socket_mode=True) as rig:
        ack = await rig.slack.socket_command("snapshots frobnicate", user="U_OPS")
        assert "frobnicate" in str(ack.get("payload"))
        assert rig.slack.ephemerals("U_OPS")


async def test_snapshot_create_over_socket_mode_posts_a_card_that_ends_created(tmp_path):
    async with make_rig(tmp_path, socket_mode=True) as rig:
        await rig.slack.socket_command("snapshots create sock-1", user="U_OPS")
        jobs = await rig.wait_for(lambda: rig.jobs())
        job = await rig.wait_job(jobs[0].id)
        assert job.state == "done"
        card = rig.slack.message("C_OPS", job.message_ts)
        assert "sock-1" in card["text"] + str(card["blocks"])

