"""The end-to-end rig: the simulator, the Slack stand-in and the real Bolt app over loopback HTTP.

    async with make_rig(tmp_path) as rig:
        resp = await rig.command("/cfy snapshots list")          # real signed slash command
        assert resp.status == 200
        await rig.wait_for(lambda: rig.slack.responses())
        await rig.click("restore_approve", job_id, user="U_LEAD1")  # signed block_actions
        rig.slack.messages("C_OPS"), rig.slack.ephemerals("U_OPS"), rig.slack.texts()
        rig.services.store.list_jobs()
        await rig.sim_state()                                    # the simulator's /_sim/state

Defaults: requester U_OPS, approvers U_LEAD1,U_LEAD2, channel C_OPS, one manager "default" (the
simulator, admin/admin), SQLite and the archive dir in tmp_path, the simulator at high speed,
runbook polling shortened. Settings are built in code from an env dict (`rig_env`), never from
os.environ; `env_overrides` adds or replaces keys (e.g. SNAPBOT_APPROVALS_REQUIRED), and
`settings_overrides(settings) -> settings` can change anything else.
"""
from __future__ import annotations

import asyncio
import dataclasses
import inspect
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable, Mapping

import aiohttp
from aiohttp import web

from bot import bootstrap
from bot.config import ApprovalPolicy, ManagerConfig, Settings, SlackConfig
from bot.simulator import SimulatorOptions, start_simulator
from bot.standin.slack import AppResponse, SlackStandin
from handlers.app import build_app, build_web_app, make_client
from handlers.demo import demo_env
from handlers.notifier import SlackNotifier

BOT_TOKEN = "xoxb-test-bot-token"
SIGNING_SECRET = "test-signing-secret"
APP_TOKEN = "xapp-test-app-token"
CHANNEL = "C_OPS"
REQUESTER = "U_OPS"
APPROVERS = ("U_LEAD1", "U_LEAD2")
FAST_SPEED = 200.0


def rig_env(*, sim_url: str, slack_api_url: str, tmp_path: Path) -> dict[str, str]:
    """The environment the rig's settings are built from (no Socket Mode: HTTP only): the demo's
    embedded defaults with test secrets, and no daily scheduler (tests that need it override)."""
    env = demo_env(sim_url=sim_url, slack_api_url=slack_api_url, workdir=tmp_path,
                   bot_token=BOT_TOKEN, signing_secret=SIGNING_SECRET)
    return {**env, "SNAPBOT_SCHEDULE": "off"}


def settings_from_env(env: Mapping[str, str]) -> Settings:
    """bot.config.load_settings on an explicit env dict (no file), fast runbook polling."""
    try:
        from bot.config import load_settings
    except ImportError:  # config loader not there yet: the same settings, by hand
        settings = Settings(
            managers=(ManagerConfig(name="default", url=env["CLOUDIFY_URL"], username=env["CLOUDIFY_USERNAME"],
                                    password=env["CLOUDIFY_PASSWORD"], tenant=env["CLOUDIFY_TENANT"]),),
            slack=SlackConfig(bot_token=env["SLACK_BOT_TOKEN"], signing_secret=env["SLACK_SIGNING_SECRET"],
                              app_token=env.get("SLACK_APP_TOKEN", ""), api_url=env["SLACK_API_URL"],
                              channel=env["SNAPBOT_CHANNEL"]),
            approvals=ApprovalPolicy(approvers=frozenset(env["SNAPBOT_APPROVERS"].split(","))),
            db_path=env["SNAPBOT_DB"], archive_dir=env["SNAPBOT_ARCHIVE_DIR"])
    else:
        settings = load_settings(dict(env), None, require_slack=True)
    return fast(settings)


def fast(settings: Settings) -> Settings:
    """Short real-time poll intervals, so jobs against a fast simulator finish quickly."""
    runbook = dataclasses.replace(settings.runbook, poll_interval_seconds=0.02,
                                  poll_max_interval_seconds=0.1)
    return dataclasses.replace(settings, runbook=runbook)


class Rig:
    def __init__(self, *, sim: Any, slack: SlackStandin, services: Any, app: Any, url: str,
                 settings: Settings, tmp_path: Path, http: aiohttp.ClientSession) -> None:
        self.sim = sim
        self.slack = slack
        self.services = services
        self.app = app
        self.base_url = url
        self.events_url = url + "/slack/events"
        self.settings = settings
        self.tmp_path = tmp_path
        self.http = http

    @property
    def store(self) -> Any:
        return self.services.store

    async def command(self, text: str, *, user: str = REQUESTER, channel: str = CHANNEL,
                      **kwargs: Any) -> AppResponse:
        """A signed `/cfy` slash command ("/cfy snapshots list" or just "snapshots list").
        kwargs go to SlackStandin.send_command (retry_num, body, timestamp, signature, ...)."""
        text = text.strip()
        if text.startswith("/cfy"):
            text = text[len("/cfy"):].strip()
        return await self.slack.send_command(self.events_url, text, user=user, channel=channel, **kwargs)

    async def click(self, action_id: str, value: str, user: str, **kwargs: Any) -> AppResponse:
        """A signed block_actions click on the newest message carrying that button."""
        return await self.slack.click(self.events_url, action_id, value, user=user, **kwargs)

    async def wait_for(self, predicate: Callable[[], Any] | Callable[[], Awaitable[Any]],
                       timeout: float = 15.0, interval: float = 0.02) -> Any:
        """Poll `predicate` (sync or async) until it returns something truthy; return it."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if inspect.isawaitable(value):
                value = await value
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {getattr(predicate, '__name__', predicate)}")
            await asyncio.sleep(interval)

    async def wait_response(self, n: int = 1, timeout: float = 15.0) -> list[dict[str, Any]]:
        """Wait until at least `n` response_url posts arrived; return them all."""
        return await self.wait_for(lambda: len(self.slack.responses()) >= n and self.slack.responses(), timeout)

    async def wait_job(self, job_id: str, states: tuple[str, ...] | None = None, timeout: float = 30.0) -> Any:
        """Wait until the job is finished (or in one of `states`); return it. For a finished job
        this also waits for its task to end, so its last card update and thread reply have landed."""
        def done() -> Any:
            job = self.store.get_job(job_id)
            if states:
                return job if job.state in states else None
            return job if job.finished and not self.services.runner.is_running(job_id) else None
        return await self.wait_for(done, timeout)

    def jobs(self, **kwargs: Any) -> list[Any]:
        return self.store.list_jobs(**kwargs)

    async def sim_state(self) -> dict[str, Any]:
        async with self.http.get(self.sim.url + "/_sim/state") as resp:
            return await resp.json()

    async def sim_post(self, path: str, body: dict[str, Any]) -> Any:
        async with self.http.post(self.sim.url + path, json=body) as resp:
            return await resp.json(content_type=None)

    def sim_requests(self, path_fragment: str = "") -> int:
        """How many requests (any method) the simulator saw on paths containing `path_fragment`."""
        counts = self.sim.state.request_counts
        return sum(n for path, n in counts.items() if path_fragment in path)


@asynccontextmanager
async def make_rig(tmp_path: Path, env_overrides: Mapping[str, str] | None = None,
                   sim_options: SimulatorOptions | None = None,
                   settings_overrides: Callable[[Settings], Settings] | None = None,
                   start_services: bool = True, socket_mode: bool = False) -> AsyncIterator[Rig]:
    """Start the simulator, the Slack stand-in and the Bolt app (HTTP, random ports).

    `socket_mode=True` also connects the app over Socket Mode to the stand-in's WebSocket
    (`rig.slack.socket_command(...)`, `rig.slack.socket_click(...)`)."""
    tmp_path = Path(tmp_path)
    options = sim_options or SimulatorOptions(speed=FAST_SPEED)
    if options.data_dir is None:
        options = dataclasses.replace(options, data_dir=str(tmp_path / "sim-data"))
    sim = await start_simulator("127.0.0.1", 0, options)
    slack = SlackStandin(bot_token=BOT_TOKEN, signing_secret=SIGNING_SECRET, app_token=APP_TOKEN)
    services = None
    runner: web.AppRunner | None = None
    http: aiohttp.ClientSession | None = None
    socket_handler: Any = None
    try:
        await slack.start()
        env = rig_env(sim_url=sim.url, slack_api_url=slack.api_url, tmp_path=tmp_path)
        if socket_mode:
            env["SLACK_APP_TOKEN"] = APP_TOKEN
        env.update(env_overrides or {})
        settings = settings_from_env(env)
        if settings_overrides is not None:
            settings = settings_overrides(settings)
        client = make_client(settings)
        services = await bootstrap.build_services(settings, notifier=SlackNotifier(client))
        app = build_app(services, client=client)
        if start_services:
            await bootstrap.start(services)
        runner = web.AppRunner(build_web_app(app, services), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        http = aiohttp.ClientSession()
        if socket_mode:
            from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
            socket_handler = AsyncSocketModeHandler(app, settings.slack.app_token or APP_TOKEN)
            await socket_handler.connect_async()
            await asyncio.wait_for(slack.socket_connected.wait(), 10)
        yield Rig(sim=sim, slack=slack, services=services, app=app, url=f"http://127.0.0.1:{port}",
                  settings=settings, tmp_path=tmp_path, http=http)
    finally:
        if socket_handler is not None:
            await socket_handler.close_async()
        if runner is not None:
            await runner.cleanup()
        if services is not None:
            await bootstrap.stop(services)
        if http is not None:
            await http.close()
        await slack.close()
        await sim.close()
