"""The job runner: owns background tasks, persists every state change before acting on it,
reports progress through the notifier, and resumes unfinished jobs after a restart.

A job kind is a `JobDriver`: its state machine, a `run(ctx)` coroutine that drives the job from
whatever state it is in now (so the same code resumes after a crash), and `render` for its card.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Protocol

from bot.clock import Clock
from bot.errors import InvalidTransition, JobConflict, SnapbotError
from bot.jobs.machine import StateMachine
from bot.messages.common import error_text
from bot.notifier import Message, MessageRef, Notifier
from bot.store import Job, Store, Transition

log = logging.getLogger(__name__)


class JobDriver(Protocol):
    kind: str
    machine: StateMachine

    async def run(self, ctx: "JobContext") -> None:
        """Drive the job from ctx.job.state to a terminal state. Must be safe to call again on
        a job that was interrupted in any state (check the manager before repeating an action)."""

    def render(self, job: Job, transitions: list[Transition]) -> Message:
        """The job's status card (one message, updated in place)."""


@dataclass
class JobContext:
    job: Job
    runner: "JobRunner"

    @property
    def store(self) -> Store:
        return self.runner.store

    @property
    def clock(self) -> Clock:
        return self.runner.clock

    @property
    def services(self) -> Any:
        return self.runner.services

    def refresh(self) -> Job:
        self.job = self.store.get_job(self.job.id)
        return self.job

    async def move(self, target: str, detail: str = "", *, actor: str = "snapbot",
                   error: str | None = None, result: dict[str, Any] | None = None) -> Job:
        """Validate against the machine, persist (CAS), then report. Persist comes first: if the
        process dies after this line, resume sees the new state and checks before acting."""
        driver = self.runner.driver(self.job.kind)
        driver.machine.check(self.job.state, target)
        self.job = self.store.transition(self.job.id, self.job.state, target, actor=actor,
                                         detail=detail, finished=driver.machine.is_terminal(target),
                                         error=error, result=result)
        if self.job.finished:
            self.runner.volatile.pop(self.job.id, None)
        await self.runner.report(self.job, detail)
        return self.job

    def merge_result(self, **values: Any) -> Job:
        self.job = self.store.merge_result(self.job.id, **values)
        return self.job

    async def say(self, text: str) -> None:
        """A thread reply under the job's card (progress detail that is not a state change)."""
        await self.runner.say(self.job, text)


class JobRunner:
    def __init__(self, store: Store, clock: Clock, notifier: Notifier, *, services: Any = None,
                 min_update_interval: float = 1.0, card_retry_interval: float = 2.0,
                 card_retry_max_interval: float = 60.0, card_retry_attempts: int = 20) -> None:
        """`card_retry_*`: when Slack refuses a card post or update (down, rate limited), the
        card is brought up to date again later: first after `card_retry_interval` seconds
        (real time), doubling up to `card_retry_max_interval`, at most `card_retry_attempts`
        times. The job itself never waits for Slack."""
        self.store = store
        self.clock = clock
        self.notifier = notifier
        self.services = services
        self._drivers: dict[str, JobDriver] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._min_update_interval = min_update_interval
        self._last_update: dict[str, float] = {}
        self._pending_update: dict[str, asyncio.Task[None]] = {}
        self._listeners: list[Callable[[Job, str], Awaitable[None]]] = []
        #: Per-job values kept in memory only, never in SQLite (e.g. a presigned upload URL,
        #: whose query string is a credential). A job resumed in a new process finds none.
        self.volatile: dict[str, dict[str, Any]] = {}
        self.card_retry_interval = card_retry_interval
        self.card_retry_max_interval = card_retry_max_interval
        self.card_retry_attempts = card_retry_attempts
        self._card_retries: dict[str, asyncio.Task[None]] = {}
        self._card_locks: dict[str, asyncio.Lock] = {}

    # -- registry ---------------------------------------------------------------------------
    def register(self, driver: JobDriver) -> None:
        self._drivers[driver.kind] = driver

    def driver(self, kind: str) -> JobDriver:
        try:
            return self._drivers[kind]
        except KeyError:
            raise SnapbotError(f"no driver for job kind {kind!r}") from None

    def on_change(self, listener: Callable[[Job, str], Awaitable[None]]) -> None:
        """Extra observers of state changes (the demo's printer, tests)."""
        self._listeners.append(listener)

    # -- lifecycle --------------------------------------------------------------------------
    def start(self, job_id: str) -> asyncio.Task[None]:
        """Run (or continue) a job in the background. Starting a job that already has a live
        task returns that task: a retried request never runs a job twice in one process."""
        task = self._tasks.get(job_id)
        if task is not None and not task.done():
            return task
        task = asyncio.create_task(self._run(job_id), name=f"job:{job_id}")
        self._tasks[job_id] = task
        return task

    def is_running(self, job_id: str) -> bool:
        task = self._tasks.get(job_id)
        return task is not None and not task.done()

    async def wait(self, job_id: str, timeout: float | None = None) -> Job:
        task = self._tasks.get(job_id)
        if task is not None:
            await asyncio.wait_for(asyncio.shield(task), timeout)
        return self.store.get_job(job_id)

    async def resume_all(self) -> list[str]:
        """On start: continue every unfinished job that is not waiting for a person."""
        resumed = []
        for job in self.store.list_jobs(unfinished=True, limit=1000):
            driver = self._drivers.get(job.kind)
            if driver is None or job.state in driver.machine.waiting:
                continue
            log.info("resuming job %s (%s) from state %s", job.id, job.kind, job.state)
            self.start(job.id)
            resumed.append(job.id)
        return resumed

    async def cancel(self, job_id: str, actor: str) -> Job:
        job = self.store.get_job(job_id)
        driver = self.driver(job.kind)
        driver.machine.check(job.state, "cancelled")
        task = self._tasks.get(job_id)
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception:
                log.exception("job %s ended with an error while being cancelled", job_id)
        job = self.store.get_job(job_id)
        ctx = JobContext(job, self)
        return await ctx.move("cancelled", f"cancelled by <@{actor}>", actor=actor)

    async def shutdown(self) -> None:
        tasks = (list(self._tasks.values()) + list(self._pending_update.values())
                 + list(self._card_retries.values()))
        for task in tasks:
            task.cancel()
        for task in tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception:
                log.exception("task %s ended with an error at shutdown", task.get_name())

    def busy_on(self, manager: str, *, exclude: str | None = None) -> list[Job]:
        """Unfinished, non-waiting jobs on a manager (the per-manager lock is derived from this)."""
        out = []
        for job in self.store.list_jobs(unfinished=True, manager=manager, limit=1000):
            driver = self._drivers.get(job.kind)
            if job.id == exclude or (driver and job.state in driver.machine.waiting):
                continue
            out.append(job)
        return out

    def ensure_free(self, manager: str, *, exclude: str | None = None,
                    allow: Callable[[Job], bool] | None = None) -> None:
        others = [j for j in self.busy_on(manager, exclude=exclude) if not (allow and allow(j))]
        if others:
            j = others[0]
            raise JobConflict(f"manager {manager!r} is busy with job {j.id} ({j.kind}, {j.state})")

    async def _run(self, job_id: str) -> None:
        ctx = JobContext(self.store.get_job(job_id), self)
        driver = self.driver(ctx.job.kind)
        try:
            await self.report(ctx.job, "")
            await driver.run(ctx)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the job fails loudly; the process goes on
            log.exception("job %s failed in state %s", job_id, ctx.job.state)
            try:
                await self._fail(ctx, exc)
            except Exception:  # e.g. the database is gone: say so rather than lose it silently
                log.exception("job %s: could not record its failure", job_id)
        finally:
            await self._flush(job_id)

    async def _fail(self, ctx: JobContext, exc: Exception) -> None:
        job = ctx.refresh()
        driver = self.driver(job.kind)
        if driver.machine.is_terminal(job.state):
            return
        # Plain words naming the manager; the traceback is already in the log (_run).
        message = error_text(exc, manager=job.manager)
        try:
            await ctx.move("failed", f"{job.state}: {message}", error=message)
        except InvalidTransition:
            log.error("job %s: no failed transition from %s", job.id, job.state)

    # -- progress ---------------------------------------------------------------------------
    async def report(self, job: Job, detail: str) -> None:
        """Post the card on first report, then update it in place (throttled) and thread-reply
        each state change. Slack failures are logged, never fatal to the job."""
        for listener in self._listeners:
            try:
                await listener(job, detail)
            except Exception:
                log.exception("progress listener failed")
        if not job.channel:
            return
        try:
            job = self.store.get_job(job.id)
            if job.message_ts is None:
                job = await self._post_card(job)
            else:
                await self._update_card(job)
        except Exception:
            log.exception("could not post the card of job %s (%s) to Slack; retrying later",
                          job.id, job.state)
            self._retry_card_later(job.id)
            return
        if detail and job.thread_ts:
            try:
                await self.notifier.post(job.channel, _thread_text(job, detail), thread_ts=job.thread_ts)
            except Exception:
                log.exception("could not post progress of job %s to its thread in Slack "
                              "(the card keeps every step)", job.id)

    async def _post_card(self, job: Job) -> Job:
        """Post the job's card once (under the job's card lock, so a retry and a report never
        post two cards); returns the job with its message_ts."""
        async with self._card_locks.setdefault(job.id, asyncio.Lock()):
            job = self.store.get_job(job.id)
            if job.message_ts is not None:
                return job
            driver = self.driver(job.kind)
            ref = await self.notifier.post(job.channel, driver.render(job, self.store.transitions(job.id)))
            job = self.store.update_job(job.id, message_ts=ref.ts, thread_ts=ref.ts)
            self._last_update[job.id] = asyncio.get_running_loop().time()
            return job

    def _retry_card_later(self, job_id: str) -> None:
        task = self._card_retries.get(job_id)
        if task is not None and not task.done():
            return
        self._card_retries[job_id] = asyncio.create_task(self._retry_card(job_id),
                                                         name=f"card-retry:{job_id}")

    async def _retry_card(self, job_id: str) -> None:
        """Bring the card up to date once Slack answers again (see __init__)."""
        delay = self.card_retry_interval
        try:
            for attempt in range(1, self.card_retry_attempts + 1):
                await asyncio.sleep(delay)  # Slack's real clock, like the update throttle
                delay = min(delay * 2, self.card_retry_max_interval)
                job = self.store.get_job(job_id)
                try:
                    if job.message_ts is None:
                        await self._post_card(job)
                    else:
                        await self._send_update(job)
                except Exception as exc:
                    why = exc.user_message if isinstance(exc, SnapbotError) else type(exc).__name__
                    log.warning("card of job %s still not updated in Slack (attempt %d): %s",
                                job_id, attempt, why)
                    continue
                log.info("card of job %s is up to date in Slack again (%s)", job_id, job.state)
                return
            log.error("gave up updating the card of job %s in Slack after %d attempts; "
                      "`/cfy jobs show %s` shows its state", job_id, self.card_retry_attempts, job_id)
        finally:
            if self._card_retries.get(job_id) is asyncio.current_task():
                self._card_retries.pop(job_id, None)

    async def say(self, job: Job, text: str) -> None:
        job = self.store.get_job(job.id)
        if not job.channel or not job.thread_ts:
            for listener in self._listeners:
                try:
                    await listener(job, text)
                except Exception:  # a broken progress printer must not fail the job
                    log.exception("progress listener failed")
            return
        try:
            await self.notifier.post(job.channel, _thread_text(job, text), thread_ts=job.thread_ts)
        except Exception:
            log.exception("could not post to the thread of job %s", job.id)

    async def _update_card(self, job: Job) -> None:
        loop = asyncio.get_running_loop()
        last = self._last_update.get(job.id, 0.0)
        wait = self._min_update_interval - (loop.time() - last)
        terminal = self.driver(job.kind).machine.is_terminal(job.state)
        if wait <= 0 or terminal:
            pending = self._pending_update.pop(job.id, None)
            if pending is not None:
                pending.cancel()
            await self._do_update(job.id)
        elif job.id not in self._pending_update:
            self._pending_update[job.id] = asyncio.create_task(self._deferred_update(job.id, wait))

    async def _deferred_update(self, job_id: str, wait: float) -> None:
        await asyncio.sleep(wait)  # rate limiting against Slack's real clock, not domain time
        self._pending_update.pop(job_id, None)
        await self._do_update(job_id)

    async def _do_update(self, job_id: str) -> None:
        job = self.store.get_job(job_id)
        if job.message_ts is None:
            return
        try:
            await self._send_update(job)
        except Exception:
            log.exception("could not update the card of job %s (%s) in Slack; retrying later",
                          job_id, job.state)
            self._retry_card_later(job_id)

    async def _send_update(self, job: Job) -> None:
        """chat.update the card with the job's current state (re-read under the card lock)."""
        async with self._card_locks.setdefault(job.id, asyncio.Lock()):
            job = self.store.get_job(job.id)
            driver = self.driver(job.kind)
            self._last_update[job.id] = asyncio.get_running_loop().time()
            await self.notifier.update(MessageRef(job.channel, job.message_ts or ""),
                                       driver.render(job, self.store.transitions(job.id)))

    async def _flush(self, job_id: str) -> None:
        pending = self._pending_update.pop(job_id, None)
        if pending is not None:
            pending.cancel()
            await self._do_update(job_id)


def _thread_text(job: Job, detail: str) -> Message:
    text = f"`{job.id}` → *{job.state}*" + (f": {detail}" if detail else "")
    return {"text": text, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]}
