"""Socket Mode: slack_bolt's AsyncSocketModeHandler against the stand-in's WebSocket."""
from __future__ import annotations

from tests.harness import make_rig
from tests.waiting import HELD


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
        assert "/cfy snapshots list" in str(posts[0]["blocks"])


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



async def test_button_click_over_socket_mode_is_acked_and_handled(tmp_path):
    async with make_rig(tmp_path, socket_mode=True, sim_options=HELD) as rig:
        await rig.slack.socket_command("snapshots create slow-sock", user="U_OPS")
        job = (await rig.wait_for(lambda: [j for j in rig.jobs() if j.state == "running"]))[0]
        await rig.wait_for(lambda: rig.slack.find_button("job_cancel", job.id))
        ack = await rig.slack.socket_click("job_cancel", job.id, user="U_OPS")
        assert ack["envelope_id"]
        assert (await rig.wait_job(job.id)).state == "cancelled"


async def test_snapbot_run_uses_socket_mode_when_an_app_token_is_set(tmp_path):
    import asyncio

    import aiohttp

    from devtools.simulator import SimulatorOptions, start_simulator
    from devtools.standin.slack import SlackStandin
    from snapbot.run import serve
    from tests.harness import APP_TOKEN, BOT_TOKEN, rig_env, settings_from_env
    from tests.waiting import until

    sim = await start_simulator("127.0.0.1", 0, SimulatorOptions(speed=200, data_dir=str(tmp_path / "sim")))
    slack = await SlackStandin(bot_token=BOT_TOKEN, app_token=APP_TOKEN).start()
    try:
        env = rig_env(sim_url=sim.url, slack_api_url=slack.api_url, tmp_path=tmp_path)
        env = {k: v for k, v in env.items() if k != "SLACK_SIGNING_SECRET"}  # not needed in Socket Mode
        settings = settings_from_env(dict(env, SLACK_APP_TOKEN=APP_TOKEN))
        ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        stop = asyncio.Event()
        task = asyncio.create_task(serve(settings, host="127.0.0.1", port=0, ready=ready.set_result, stop=stop))
        url = await asyncio.wait_for(ready, 30)
        ack = await slack.socket_command("help", user="U_OPS")
        assert ack["envelope_id"]
        responses = await until(slack.responses, what="the answer to /cfy help")
        assert responses[0]["response_type"] == "ephemeral"
        async with aiohttp.ClientSession() as http:
            async with http.get(url + "/healthz") as resp:
                assert resp.status == 200
            async with http.post(url + "/slack/events", data="x") as resp:
                assert resp.status == 404  # no HTTP events endpoint in Socket Mode
        stop.set()
        await asyncio.wait_for(task, 30)
    finally:
        await slack.close()
        await sim.close()
