"""/metrics: backup freshness and the rest, right after a restart, on a registry per process."""
from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import logging

import aiohttp
from prometheus_client.parser import text_string_to_metric_families
from slack_sdk.web.async_client import AsyncWebClient

from bot import logs
from bot.clock import parse_time
from bot.config.settings import ManagerConfig
from bot.errors import SnapbotError
from bot.metrics import ManagerProbe, Metrics
from tests.daily_support import daily_services, daily_settings
from tests.process_state import kept_logging
from tests.waiting import until


def samples(text: bytes | str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    if isinstance(text, bytes):
        text = text.decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


async def test_daily_figures_come_from_the_store_and_survive_a_restart(sim, tmp_path):
    settings = daily_settings(sim.url, tmp_path)
    async with daily_services(settings) as services:
        job = await services.daily.run_once("default")
        assert job.state == "done"
        row = services.store.daily_runs("default", limit=1)[0]
        first = samples(services.metrics.render())
    m = (("manager", "default"),)
    assert first[("snapbot_last_successful_snapshot_timestamp_seconds", m)] == row.ended_at.timestamp()
    assert first[("snapbot_last_successful_snapshot_size_bytes", m)] == row.size > 0
    assert first[("snapbot_daily_runs_total", (("manager", "default"), ("outcome", "ok")))] == 1
    assert first[("snapbot_daily_runs_total", (("manager", "default"), ("outcome", "failed")))] == 0
    assert first[("snapbot_jobs_total", (("kind", "daily"), ("state", "done")))] == 1
    # a new process on the same database: same figures before anything runs
    async with daily_services(settings) as services:
        again = samples(services.metrics.render())
    for key in ("snapbot_last_successful_snapshot_timestamp_seconds",
                "snapbot_last_successful_snapshot_size_bytes"):
        assert again[(key, m)] == first[(key, m)]
    assert again[("snapbot_jobs_total", (("kind", "daily"), ("state", "done")))] == 1


async def test_a_failed_daily_run_is_counted_and_leaves_the_last_success_alone(sim, tmp_path):
    settings = daily_settings(sim.url, tmp_path)
    async with daily_services(settings) as services:
        assert (await services.daily.run_once("default")).state == "done"
        ok = samples(services.metrics.render())
        await sim.close()  # the manager is gone for the next run
        services.clock.advance(86400)
        assert (await services.daily.run_once("default")).state == "failed"
        after = samples(services.metrics.render())
    m = (("manager", "default"),)
    assert after[("snapbot_daily_runs_total", (("manager", "default"), ("outcome", "failed")))] == 1
    assert after[("snapbot_last_successful_snapshot_timestamp_seconds", m)] == \
        ok[("snapbot_last_successful_snapshot_timestamp_seconds", m)]


async def test_restore_duration_is_observed_from_the_store(tmp_path, sim):
    settings = daily_settings(sim.url, tmp_path)
    async with daily_services(settings) as services:
        store = services.store
        job = store.create_job("restore", "default", "requested", params={"snapshot_id": "s"},
                               requester="U1", channel="C", actor="U1")
        store.transition(job.id, "requested", "approved", actor="U2")
        store.transition(job.id, "approved", "preflight")
        services.clock.advance(420)
        store.transition(job.id, "preflight", "failed", finished=True, error="x")
        got = samples(services.metrics.render())
    assert got[("snapbot_restore_duration_seconds_count", ())] == 1
    assert got[("snapbot_restore_duration_seconds_sum", ())] == 420
    assert got[("snapbot_restore_duration_seconds_bucket", (("le", "300.0"),))] == 0
    assert got[("snapbot_restore_duration_seconds_bucket", (("le", "600.0"),))] == 1
    assert got[("snapbot_jobs_total", (("kind", "restore"), ("state", "failed")))] == 1


def test_each_process_has_its_own_registry():
    a, b = Metrics(), Metrics()
    a.slack_error("chat.postMessage")
    assert samples(a.render())[("snapbot_slack_api_errors_total", (("method", "chat.postMessage"),))] == 1
    assert ("snapbot_slack_api_errors_total", (("method", "chat.postMessage"),)) not in samples(b.render())


async def test_slack_api_errors_are_counted_by_method():
    from devtools.standin.slack import SlackStandin
    from handlers.notifier import SlackNotifier

    metrics = Metrics()
    async with SlackStandin(bot_token="xoxb-standin") as slack:
        notifier = SlackNotifier(AsyncWebClient(token="xoxb-standin", base_url=slack.api_url),
                                 on_error=metrics.slack_error)
        slack.fail_next("chat.postMessage", status=500)
        try:
            await notifier.post("C_OPS", {"text": "hello"})
        except SnapbotError:
            pass
        else:
            raise AssertionError("the post should have failed")
        await notifier.post("C_OPS", {"text": "hello again"})
    got = samples(metrics.render())
    assert got[("snapbot_slack_api_errors_total", (("method", "chat.postMessage"),))] == 1
    assert got[("snapbot_outbox_backlog", ())] == 0


async def test_manager_up_is_probed_per_manager(sim, tmp_path):
    import socket
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    settings = daily_settings(sim.url, tmp_path)
    settings = dataclasses.replace(settings, managers=(
        settings.managers[0], ManagerConfig(name="lost", url=dead, password="admin")))
    async with daily_services(settings) as services:
        probe = ManagerProbe(services.metrics, services.clients, services.clock, timeout=2)
        assert await probe.probe_once() == {"default": True, "lost": False}
        got = samples(services.metrics.render())
    assert got[("snapbot_manager_up", (("manager", "default"),))] == 1
    assert got[("snapbot_manager_up", (("manager", "lost"),))] == 0


async def test_snapbot_run_serves_metrics_on_its_http_port(tmp_path):
    from devtools.simulator import SimulatorOptions, start_simulator
    from devtools.standin.slack import SlackStandin
    from snapbot.run import serve
    from tests.harness import BOT_TOKEN, rig_env, settings_from_env

    sim = await start_simulator("127.0.0.1", 0, SimulatorOptions(speed=200, data_dir=str(tmp_path / "sim")))
    slack = await SlackStandin(bot_token=BOT_TOKEN).start()
    try:
        settings = settings_from_env(rig_env(sim_url=sim.url, slack_api_url=slack.api_url,
                                             tmp_path=tmp_path))
        ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        stop = asyncio.Event()
        task = asyncio.create_task(serve(settings, host="127.0.0.1", port=0,
                                         ready=ready.set_result, stop=stop))
        url = await asyncio.wait_for(ready, 30)
        async with aiohttp.ClientSession() as http:
            async def probed() -> dict[tuple[str, tuple[tuple[str, str], ...]], float] | None:  # the probe runs right after start
                async with http.get(url + "/metrics") as resp:
                    assert resp.status == 200
                    assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
                    found = samples(await resp.text())
                return found if ("snapbot_manager_up", (("manager", "default"),)) in found else None
            got = await until(probed, what="the manager probe in /metrics")
        assert got[("snapbot_manager_up", (("manager", "default"),))] == 1
        assert got[("snapbot_daily_runs_total", (("manager", "default"), ("outcome", "ok")))] == 0
        stop.set()
        await asyncio.wait_for(task, 30)
    finally:
        await slack.close()
        await sim.close()


def test_json_logs_are_one_object_per_line_without_secrets():
    out = io.StringIO()
    with kept_logging():  # the process's logging as it was afterwards
        logs.configure("INFO", "json", secrets=["xoxb-very-secret-token"], stream=out)
        logging.getLogger("snapbot.test").info("posting with %s", "xoxb-very-secret-token")
        logging.getLogger("httpx").info("HTTP Request: GET http://m/api/v3.1/version 200")
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("snapbot.test").exception("it failed")
        lines = out.getvalue().splitlines()
        records = [json.loads(line) for line in lines]
        assert [r["message"] for r in records] == ["posting with ***", "it failed"]
        assert records[0]["level"] == "INFO" and records[0]["logger"] == "snapbot.test"
        assert parse_time(records[0]["time"]) is not None
        assert "ValueError: boom" in records[1]["exception"]
        assert "xoxb-very-secret-token" not in out.getvalue()

        out.truncate(0), out.seek(0)
        logs.configure("DEBUG", "text", stream=out)
        logging.getLogger("httpx").info("HTTP Request: GET http://m/api/v3.1/version 200")
        assert "DEBUG httpx: HTTP Request" in out.getvalue()
