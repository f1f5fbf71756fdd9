"""Shared set-up for the dispatcher / job / CLI tests: the simulator over loopback, real SQLite in
tmp_path, a RecordingNotifier instead of Slack, and the real composition root."""
from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bot.bootstrap import build_services, stop
from bot.commands.parser import parse
from bot.config.settings import (
    AccessConfig,
    ApprovalPolicy,
    ManagerConfig,
    RunbookConfig,
    Settings,
    SlackConfig,
)
from bot.dispatch import Dispatcher
from bot.invocation import Invocation, Reply
from bot.notifier import plain_text
from bot.services import Services
from devtools.simulator import SimulatorOptions, start_simulator
from tests.fakes import RecordingNotifier
from tests.waiting import until

FAST_RUNBOOK = RunbookConfig(poll_interval_seconds=0.01, poll_max_interval_seconds=0.05,
                             maintenance_timeout_seconds=30, snapshot_timeout_seconds=30,
                             restore_timeout_seconds=30, snapshot_status_grace_seconds=1.0)
APPROVERS = frozenset({"U_LEAD1", "U_LEAD2"})
#: who may change a manager in these tests (snapbot is read-only without operators)
OPERATORS = frozenset({"U_OPS", "U1", "U2", "U3"})


def make_settings(tmp_path: Path, urls: dict[str, str], **overrides: Any) -> Settings:
    managers = tuple(ManagerConfig(name=name, url=url, username="admin", password="admin")
                     for name, url in urls.items())
    base = Settings(managers=managers, slack=SlackConfig(channel="C_OPS"),
                    approvals=ApprovalPolicy(approvers=APPROVERS),
                    access=AccessConfig(operators=OPERATORS), runbook=FAST_RUNBOOK,
                    db_path=str(tmp_path / "snapbot.db"), archive_dir=str(tmp_path / "archives"))
    return dataclasses.replace(base, **overrides)


@dataclass
class Domain:
    services: Services
    notifier: RecordingNotifier
    sims: dict[str, Any]
    tmp_path: Path
    _n: int = 0

    @property
    def sim(self) -> Any:
        return next(iter(self.sims.values()))

    def inv(self, user: str = "U_OPS", *, key: str | None = None, channel: str = "C_OPS") -> Invocation:
        self._n += 1
        return Invocation(user=user, channel=channel, idem_key=key or f"trigger-{self._n}")

    async def run(self, text: str, user: str = "U_OPS", *, key: str | None = None) -> Reply:
        return await self.services.dispatcher.execute(parse(text), self.inv(user, key=key))

    def dispatcher_with(self, *, restores: Any) -> Dispatcher:
        """A dispatcher over these services whose restore service is `restores` (a fake)."""
        s = self.services
        return Dispatcher(s.settings, s.store, s.runner, s.clients, s.clock, s.approvals, restores, s.daily,
                          s.archives, s.dispatcher.audit, s.dispatcher.access)

    def text(self, reply: Reply) -> str:
        return plain_text(reply.message)

    def last_job(self) -> Any:
        return self.services.store.list_jobs(limit=1)[0]

    async def finish(self, job_id: str | None = None, timeout: float = 20, *, advance: bool = False) -> Any:
        """Wait for the job's end. `advance`: simulators on a manual clock move on meanwhile."""
        job_id = job_id or self.last_job().id
        if advance:
            await until(lambda: self.services.store.get_job(job_id).finished, timeout=timeout,
                        advancing=self.sims.values(), what=f"job {job_id} to finish")
        return await self.services.runner.wait(job_id, timeout)

    async def sim_post(self, path: str, body: dict[str, Any], manager: str | None = None) -> Any:
        sim = self.sims[manager] if manager else self.sim
        async with httpx.AsyncClient() as c:
            r = await c.post(sim.url + path, json=body)
            r.raise_for_status()
            return r.json()

    async def sim_state(self, manager: str | None = None) -> dict[str, Any]:
        sim = self.sims[manager] if manager else self.sim
        async with httpx.AsyncClient() as c:
            return (await c.get(sim.url + "/_sim/state")).json()

    def card_texts(self) -> list[str]:
        """Texts of the job cards as last posted/updated."""
        return [plain_text(msg) for kind, _, msg in self.notifier.calls if kind in ("post", "update")]


@contextlib.asynccontextmanager
async def domain(tmp_path: Path, *, managers: tuple[str, ...] = ("default",),
                 sim_options: SimulatorOptions | None = None, **overrides: Any) -> AsyncIterator[Domain]:
    sims = {}
    try:
        for name in managers:
            sims[name] = await start_simulator(
                options=dataclasses.replace(sim_options or SimulatorOptions(), speed=200)
                if sim_options is None else sim_options)
        settings = make_settings(tmp_path, {n: s.url for n, s in sims.items()}, **overrides)
        notifier = RecordingNotifier()
        services = await build_services(settings, notifier=notifier)
        try:
            yield Domain(services, notifier, sims, tmp_path)
        finally:
            await stop(services)
    finally:
        for sim in sims.values():
            await sim.close()
