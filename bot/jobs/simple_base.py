"""The base of the simple one-shot jobs (SIMPLE machine: queued -> running -> done | failed)."""
from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import ClassVar

from bot.archive_store import ArchiveStore
from bot.cloudify.client import CloudifyClient
from bot.commands.model import Command
from bot.commands.registry import kind_of
from bot.config.settings import Settings
from bot.jobs.machine import SIMPLE, StateMachine
from bot.jobs.runner import JobContext, JobDriver
from bot.jobs.simple_payload import SimpleResult
from bot.messages.jobs import job_card
from bot.notifier import Message
from bot.store import Job, Transition

log = logging.getLogger(__name__)


class ArchiveJobDriver(JobDriver):
    """What every driver of a job on a manager's snapshots holds (the managers' clients, the
    settings, the archive store), and the generic job card."""

    def __init__(self, clients: Mapping[str, CloudifyClient], settings: Settings,
                 archives: ArchiveStore) -> None:
        self.clients = clients
        self.settings = settings
        self.archives = archives
        self.runbook = settings.runbook

    def render(self, job: Job, transitions: list[Transition]) -> Message:
        return job_card(job, transitions)


class SimpleDriver(ArchiveJobDriver):
    """Base of the simple drivers: the machine, the card, and queued -> running -> done.

    A driver names the command that starts it, `class Frob(SimpleDriver, command=m.ThingsFrob)`,
    and takes its job kind from that command's spec (`bot.commands.registry`); the card's title
    comes from the spec too. Its module lists it in its `DRIVERS` (`bot.jobs.simple` registers
    those with the runner).
    """

    kind: str = ""  # set from the command's spec
    command: ClassVar[type[Command]]
    machine: StateMachine = SIMPLE

    def __init_subclass__(cls, *, command: type[Command], **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        cls.command = command
        cls.kind = kind_of(command)

    async def run(self, ctx: JobContext) -> None:
        job = ctx.refresh()
        if self.machine.is_terminal(job.state) or job.state in self.machine.waiting:
            return
        resumed = job.state == "running"
        if job.state == "queued":
            # A job approved after a wait may find another job on its manager by now. Only jobs
            # that already started count: of two queued ones, the first to start wins (the check
            # and the move to running happen with no await in between).
            ctx.runner.ensure_free(job.manager, exclude=job.id, allow=lambda j: j.state == "queued")
            await ctx.move("running", self.starting_detail(job))
        started = ctx.clock.now()
        result = await self.work(ctx, resumed=resumed)
        if result.duration_s is None:
            result = replace(result, duration_s=round((ctx.clock.now() - started).total_seconds(), 3))
        merged = {**ctx.job.result, **result.stored()}  # over what the job recorded as it ran
        if result.failure:
            await ctx.move("failed", result.failure, error=result.failure, result=merged)
        else:
            await ctx.move("done", self.done_detail(ctx.job, SimpleResult.from_stored(merged)),
                           result=merged)

    # -- for subclasses --------------------------------------------------------------------
    def starting_detail(self, job: Job) -> str:
        return ""

    def done_detail(self, job: Job, result: SimpleResult) -> str:
        return ""

    async def work(self, ctx: JobContext, *, resumed: bool) -> SimpleResult:
        raise NotImplementedError

    def client(self, ctx: JobContext) -> CloudifyClient:
        return self.clients[ctx.job.manager]
