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
runbook polling shortened. With `sim_options=SimulatorOptions(clock="manual")` the simulator's
time stands still unless a wait says `advance=True`: a workflow stays in its phase while the test
acts on the bot, then runs on at no pace of its own (tests.waiting). Settings are built in code from an env dict (`rig_env`), never from
os.environ; `env_overrides` adds or replaces keys (e.g. SNAPBOT_APPROVALS_REQUIRED), and
`settings_overrides(settings) -> settings` can change anything else.

Several managers: `make_rig(tmp_path, managers={"prod": SimulatorOptions(...), "dr": ...})`
starts one simulator per name and configures them through a real YAML file
(`tmp_path/snapbot.yaml`, named by SNAPBOT_CONFIG; each password through its own `password_env`
variable, CLOUDIFY_* unset). The first name is the default manager and `rig.sim`;
`rig.sims[name]` is each simulator, `rig.sim_state(name)` / `rig.sim_post(path, body, name)` /
`rig.sim_requests(fragment, name)` address one, and `await rig.lose(name)` closes one (a lost
manager).
"""
from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from bot import bootstrap
from bot.clock import Clock
from bot.config.load import load_settings
from bot.config.settings import Settings
from devtools.demo import demo_env
from devtools.simulator import SimulatorOptions, start_simulator
from devtools.standin.slack import AppResponse, SlackStandin
from handlers.app import SlackApp, make_client, start_slack_app
from handlers.notifier import SlackNotifier
from tests.waiting import until

BOT_TOKEN = "xoxb-test-bot-token"
SIGNING_SECRET = "test-signing-secret"
APP_TOKEN = "xapp-test-app-token"
CHANNEL = "C_OPS"
REQUESTER = "U_OPS"
APPROVERS = ("U_LEAD1", "U_LEAD2")
FAST_SPEED = 200.0
#: the simulator profile every rig uses when set (None: each test's own options); see make_rig
MANAGER_VERSION: str | None = None
PROFILES = ("7.0.5", "6.4.2", "5.1.4")


def rig_env(*, sim_url: str, slack_api_url: str, tmp_path: Path) -> dict[str, str]:
    """The environment the rig's settings are built from (no Socket Mode: HTTP only): the demo's
    embedded defaults with test secrets, and no daily scheduler (tests that need it override)."""
    env = demo_env(sim_url=sim_url, slack_api_url=slack_api_url, workdir=tmp_path,
                   bot_token=BOT_TOKEN, signing_secret=SIGNING_SECRET)
    return {**env, "SNAPBOT_SCHEDULE": "off"}


def settings_from_env(env: Mapping[str, str]) -> Settings:
    """bot.config.load.load_settings on an explicit env dict (no file), fast runbook polling."""
    return fast(load_settings(dict(env), None, require_slack=True))


def fast(settings: Settings) -> Settings:
    """Short real-time poll intervals, so jobs against a fast simulator finish quickly."""
    runbook = dataclasses.replace(settings.runbook, poll_interval_seconds=0.02,
                                  poll_max_interval_seconds=0.1, snapshot_status_grace_seconds=1.0)
    return dataclasses.replace(settings, runbook=runbook)


def password_env_name(manager: str) -> str:
    """The environment variable a multi-manager rig's YAML names for `manager`'s password."""
    return "SNAPBOT_TEST_" + re.sub(r"[^A-Za-z0-9]", "_", manager).upper() + "_PASSWORD"


def password_file_path(config: Path, manager: str) -> Path:
    """Where a rig with `password_files=True` keeps `manager`'s password (beside the YAML file)."""
    return config.parent / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', manager)}.password"


def write_managers_yaml(path: Path, sims: Mapping[str, Any],
                        options: Mapping[str, SimulatorOptions], *,
                        password_files: bool = False,
                        extra: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, str]:
    """Write a SNAPBOT_CONFIG file listing one manager per simulator; return the env it needs
    (SNAPBOT_CONFIG and each password_env variable). `password_files`: each password in a file
    (`password_file`, re-read on 401; `password_file_path`) instead. `extra`: more keys of a
    manager's entry by name (e.g. `{"scratch": {"scratch": True}}`)."""
    env = {"SNAPBOT_CONFIG": str(path)}
    managers = []
    for name, sim in sims.items():
        opts = options[name]
        entry = {"name": name, "url": sim.url, "username": opts.username, "tenant": opts.tenant}
        if password_files:
            secret = password_file_path(path, name)
            secret.write_text(opts.password)
            entry["password_file"] = str(secret)
        else:
            var = password_env_name(name)
            env[var] = opts.password
            entry["password_env"] = var
        entry.update((extra or {}).get(name, {}))
        managers.append(entry)
    path.write_text(yaml.safe_dump({"managers": managers}, sort_keys=False))
    return env


class Rig:
    def __init__(self, *, sim: Any, slack: SlackStandin, services: Any, app: Any, url: str,
                 settings: Settings, tmp_path: Path, http: aiohttp.ClientSession,
                 sims: Mapping[str, Any] | None = None) -> None:
        self.sim = sim
        self.sims: dict[str, Any] = dict(sims or {"default": sim})
        self.lost: set[str] = set()
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
                       timeout: float = 15.0, interval: float = 0.02, *, advance: bool = False) -> Any:
        """Poll `predicate` (sync or async) until it returns something truthy; return it.
        `advance`: simulators on a manual clock (`SimulatorOptions(clock="manual")`) move on to
        their next timer at each poll meanwhile (tests.waiting); without it they stand still."""
        return await until(predicate, timeout=timeout, interval=interval,
                           advancing=self.sims.values() if advance else ())

    async def wait_response(self, n: int = 1, timeout: float = 15.0) -> list[dict[str, Any]]:
        """Wait until at least `n` response_url posts arrived; return them all."""
        return await self.wait_for(lambda: len(self.slack.responses()) >= n and self.slack.responses(), timeout)

    async def wait_job(self, job_id: str, states: tuple[str, ...] | None = None, timeout: float = 30.0,
                       *, advance: bool = False) -> Any:
        """Wait until the job is finished (or in one of `states`); return it. For a finished job
        this also waits for its task to end, so its last card update and thread reply have landed.
        `advance`: as for `wait_for`, the manager's time passes meanwhile."""
        def done() -> Any:
            job = self.store.get_job(job_id)
            if states:
                return job if job.state in states else None
            return job if job.finished and not self.services.runner.is_running(job_id) else None
        return await self.wait_for(done, timeout, advance=advance)

    def jobs(self, **kwargs: Any) -> list[Any]:
        return self.store.list_jobs(**kwargs)

    def _sim(self, manager: str | None) -> Any:
        return self.sim if manager is None else self.sims[manager]

    async def sim_state(self, manager: str | None = None) -> dict[str, Any]:
        async with self.http.get(self._sim(manager).url + "/_sim/state") as resp:
            return await resp.json()

    async def sim_post(self, path: str, body: dict[str, Any], manager: str | None = None) -> Any:
        async with self.http.post(self._sim(manager).url + path, json=body) as resp:
            return await resp.json(content_type=None)

    def sim_requests(self, path_fragment: str = "", manager: str | None = None) -> int:
        """How many requests (any method) the simulator saw on paths containing `path_fragment`."""
        counts = self._sim(manager).state.request_counts
        return sum(n for path, n in counts.items() if path_fragment in path)

    async def lose(self, manager: str) -> None:
        """Close that manager's simulator for good (its port refuses from now on)."""
        if manager not in self.lost:
            self.lost.add(manager)
            await self.sims[manager].close()


@asynccontextmanager
async def make_rig(tmp_path: Path, env_overrides: Mapping[str, str] | None = None,
                   sim_options: SimulatorOptions | None = None,
                   settings_overrides: Callable[[Settings], Settings] | None = None,
                   start_services: bool = True, socket_mode: bool = False,
                   managers: Mapping[str, SimulatorOptions | None] | None = None,
                   clock: Clock | None = None, password_files: bool = False,
                   slack_setup: Callable[[SlackStandin], Any] | None = None,
                   manager_url: str | None = None,
                   manager_extra: Mapping[str, Mapping[str, Any]] | None = None) -> AsyncIterator[Rig]:
    """Start the simulator, the Slack stand-in and the Bolt app (HTTP, random ports).

    `socket_mode=True` also connects the app over Socket Mode to the stand-in's WebSocket
    (`rig.slack.socket_command(...)`, `rig.slack.socket_click(...)`).

    `managers={name: SimulatorOptions | None, ...}` starts one simulator per name (None: the
    default fast options) configured through a YAML file instead of CLOUDIFY_*; `sim_options`
    must then be left out.

    `clock` (e.g. a FakeClock) is the bot's clock: schedules, expiry and daily slots without
    sleeping. `password_files=True` (with `managers`): passwords in files, `password_file_path`.
    `manager_extra={name: {key: value}}` (with `managers`): more keys of a manager's YAML entry.

    `slack_setup(stand_in)` runs once the stand-in listens, before the app starts (and asks
    auth.test): e.g. an Enterprise Grid id, or `fail_next("auth.test")`.

    `MANAGER_VERSION` (module global, set by a test module's fixture) makes every simulator that
    profile (tests that run on every version).

    `manager_url`: a manager already running (e.g. `snapbot realmanager`, admin/admin,
    default_tenant) instead of a simulator; then `rig.sim` is None and no simulator starts."""
    tmp_path = Path(tmp_path)
    if managers is not None and (not managers or sim_options is not None):
        raise ValueError("give either sim_options or a non-empty managers mapping")
    if manager_url is not None and (managers is not None or sim_options is not None):
        raise ValueError("manager_url replaces the simulators: no sim_options or managers")
    named: dict[str, SimulatorOptions] = {}
    for name, opts in (managers or {"default": sim_options}).items():
        opts = opts or SimulatorOptions(speed=FAST_SPEED)
        if MANAGER_VERSION is not None:
            opts = dataclasses.replace(opts, manager_version=MANAGER_VERSION)
        if opts.data_dir is None:
            data = "sim-data" if managers is None else f"sim-data-{name}"
            opts = dataclasses.replace(opts, data_dir=str(tmp_path / data))
        named[name] = opts
    sims: dict[str, Any] = {}
    slack = SlackStandin(bot_token=BOT_TOKEN, signing_secret=SIGNING_SECRET, app_token=APP_TOKEN)
    services = None
    running: SlackApp | None = None
    http: aiohttp.ClientSession | None = None
    rig: Rig | None = None
    try:
        if manager_url is None:
            for name, opts in named.items():
                sims[name] = await start_simulator("127.0.0.1", 0, opts)
        sim = next(iter(sims.values())) if sims else None
        await slack.start()
        if slack_setup is not None:
            slack_setup(slack)
        url = manager_url if manager_url is not None else sim.url  # type: ignore[union-attr]
        env = rig_env(sim_url=url, slack_api_url=slack.api_url, tmp_path=tmp_path)
        if managers is not None:
            for key in ("CLOUDIFY_URL", "CLOUDIFY_USERNAME", "CLOUDIFY_PASSWORD", "CLOUDIFY_TENANT"):
                env.pop(key, None)
            env.update(write_managers_yaml(tmp_path / "snapbot.yaml", sims, named,
                                           password_files=password_files, extra=manager_extra))
        if socket_mode:
            env["SLACK_APP_TOKEN"] = APP_TOKEN
        env.update(env_overrides or {})
        settings = settings_from_env(env)
        if settings_overrides is not None:
            settings = settings_overrides(settings)
        client = make_client(settings)
        notifier = SlackNotifier(client)
        # The outbox sender retries by itself (Retry-After, backoff): its client does not.
        services = await bootstrap.build_services(
            settings, notifier=notifier, clock=clock, group_resolver=notifier.usergroup_members,
            delivery=SlackNotifier(make_client(settings, retries=False)))
        if start_services:
            await bootstrap.start(services)
        running = await start_slack_app(services, client,
                                        app_token=settings.slack.app_token if socket_mode else None)
        http = aiohttp.ClientSession()
        if socket_mode:
            await asyncio.wait_for(slack.socket_connected.wait(), 10)
        rig = Rig(sim=sim, slack=slack, services=services, app=running.app, url=running.url,
                  settings=settings, tmp_path=tmp_path, http=http, sims=sims or None)
        yield rig
    finally:
        if running is not None:
            await running.close()
        if services is not None:
            await bootstrap.stop(services)
        if http is not None:
            await http.close()
        await slack.close()
        lost = rig.lost if rig is not None else set()
        for name, sim_ in sims.items():
            if name not in lost:
                await sim_.close()
