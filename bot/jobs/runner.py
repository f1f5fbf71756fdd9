"""The job runner: owns background tasks, persists every state change before acting on it
(with the card update and thread reply it causes: the outbox), has the sender deliver them,
resumes unfinished jobs after a restart, and holds a job while the database refuses writes.

A job kind is a `JobDriver`: its state machine, a `run(ctx)` coroutine that drives the job from
whatever state it is in now (so the same code resumes after a crash), and `render` for its card.
"""
from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from bot.clock import Clock
from bot.delivery import OutboxSender
from bot.errors import InvalidTransition, JobConflict, SnapbotError, StoreUnavailable
from bot.jobs import payload
from bot.jobs.machine import StateMachine
from bot.messages import jobs as messages
from bot.messages.errors import error_text
from bot.notifier import Message, Notifier
from bot.outbox import Outbox, job_lane
from bot.partials import CURRENT_JOB, remove_job_partials
from bot.store import Job, Store, Transition

log = logging.getLogger(__name__)


class JobDriver(Protocol):
    kind: str
    machine: StateMachine

    async def run(self, ctx: JobContext) -> None:
        """Drive the job from ctx.job.state to a terminal state. Must be safe to call again on
        a job that was interrupted in any state (check the manager before repeating an action)."""

    def render(self, job: Job, transitions: list[Transition]) -> Message:
        """The job's status card (one message, updated in place)."""

    def cancel_state(self, state: str) -> str:
        """Where a cancel moves a job in `state`: `cancelled`, or a state from which the driver
        first undoes what the job did (then `run` drives it on)."""
        return "cancelled"

    def unwind_record(self, actor: str) -> dict[str, Any]:
        """What a cancel that unwinds records in the job's result: who cancelled, and why."""
        return {}


@dataclass
class JobContext:
    job: Job
    runner: JobRunner
    store_failure: StoreUnavailable | None = None

    @property
    def store(self) -> Store:
        return self.runner.store

    @property
    def clock(self) -> Clock:
        return self.runner.clock

    def refresh(self) -> Job:
        self.job = self.store.get_job(self.job.id)
        return self.job

    async def move(self, target: str, detail: str = "", *, actor: str = "snapbot",
                   error: str | None = None, result: dict[str, Any] | None = None) -> Job:
        """Validate, then persist the state change with the card update and thread reply it
        causes (one transaction: the outbox), then report. Persist comes first: resume sees the
        new state and checks before acting, and the outbox still delivers the messages."""
        driver = self.runner.driver(self.job.kind)
        driver.machine.check(self.job.state, target)
        self._check_store()
        store, job_id, expected = self.store, self.job.id, self.job.state
        try:
            with store.transaction():
                job = store.transition(job_id, expected, target, actor=actor, detail=detail,
                                       finished=driver.machine.is_terminal(target), error=error,
                                       result=result)
                self.runner.enqueue_progress(job, detail, key=f"state:{job_id}:{store.version(job_id)}")
        except sqlite3.Error as exc:
            raise self._store_failed(exc, f"record {job_id} -> {target}") from None
        self.job = job
        if self.job.finished:
            self.runner.forget(self.job.id)
        await self.runner.notify_listeners(self.job, detail)
        await self.runner.deliver(self.job)
        return self.job

    def merge_result(self, **values: Any) -> Job:
        self._check_store()
        try:
            self.job = self.store.merge_result(self.job.id, **values)
        except sqlite3.Error as exc:
            raise self._store_failed(exc, f"record results of {self.job.id}") from None
        return self.job

    async def say(self, text: str, *, key: str | None = None) -> None:
        """A thread reply under the job's card; `key` makes it once-only across resumes."""
        self._check_store()
        try:
            await self.runner.say(self.job, text, key=key)
        except sqlite3.Error as exc:
            raise self._store_failed(exc, f"queue a message of {self.job.id}") from None

    async def touch_card(self) -> None:
        """Re-render the card (a long step's elapsed time); no thread reply."""
        await self.runner.report(self.job, "")

    async def record_and_say(self, text: str, *, key: str, **values: Any) -> Job:
        """Merge `values` and queue `text` as a thread reply in one transaction (found recorded
        on resume: the message is on its way too)."""
        self._check_store()
        try:
            with self.store.transaction():
                self.job = self.store.merge_result(self.job.id, **values)
                if self.job.channel:
                    self.runner.enqueue_reply(self.job, text, key=key)
        except sqlite3.Error as exc:
            raise self._store_failed(exc, f"record results of {self.job.id}") from None
        if not self.job.channel:
            await self.runner.notify_listeners(self.job, text)
        await self.runner.deliver(self.job)
        return self.job

    def _store_failed(self, exc: sqlite3.Error, what: str) -> StoreUnavailable:
        self.store_failure = StoreUnavailable(f"could not {what}: {exc}")
        return self.store_failure

    def _check_store(self) -> None:
        """After a failed write this run records nothing more (not even its failure): the runner
        waits for the database and resumes from the recorded state."""
        if self.store_failure is not None:
            raise self.store_failure


class JobRunner:
    def __init__(self, store: Store, clock: Clock, notifier: Notifier, *,
                 outbox: Outbox | None = None, sender: OutboxSender | None = None,
                 scratch_roots: Sequence[Path] = (),
                 store_retry_interval: float = 0.5, store_retry_max_interval: float = 10.0) -> None:
        """Progress goes to Slack through the outbox and its `sender` (none for a local
        notifier, e.g. a terminal's console). `scratch_roots`: the directories where jobs keep
        partial files (bot.partials): a job removes its own when it (re)starts and when it ends.
        `store_retry_*`: while the database refuses writes a job waits (doubling, real time),
        then resumes from its recorded state."""
        self.store = store
        self.clock = clock
        self.notifier = notifier
        self.outbox = outbox or Outbox(store)
        if sender is None and not notifier.local:
            sender = OutboxSender(store, self.outbox, notifier)
        self.sender = sender
        self.scratch_roots: tuple[Path, ...] = tuple(scratch_roots)
        self.store_retry_interval = store_retry_interval
        self.store_retry_max_interval = store_retry_max_interval
        self._drivers: dict[str, JobDriver] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._listeners: list[Callable[[Job, str], Awaitable[None]]] = []
        self._volatile: dict[str, dict[str, Any]] = {}

    # -- what a job keeps in memory only ----------------------------------------------------
    def keep_in_memory(self, job_id: str, values: dict[str, Any]) -> None:
        """Values of a job kept in this process only, never in SQLite (e.g. a presigned upload
        URL, whose query string is a credential): a job resumed in a new process finds none."""
        self._volatile[job_id] = dict(values)

    def in_memory(self, job_id: str) -> dict[str, Any]:
        """What `keep_in_memory` kept for the job ({} after a restart or once it ended)."""
        return dict(self._volatile.get(job_id, {}))

    def forget(self, job_id: str) -> None:
        """Drop what the job kept in memory (it ended, or was rejected)."""
        self._volatile.pop(job_id, None)

    # -- the outbox, for those who queue a job's messages themselves ------------------------
    def queue_card(self, job: Job, message: Message) -> None:
        """Queue `job`'s card (call inside the transaction of the change it shows)."""
        self.outbox.card(job, message)

    def has_queued(self, job_id: str) -> bool:
        """Does the outbox hold messages of the job (queued, or refused for good)?"""
        return bool(self.outbox.rows(lane=job_lane(job_id)))

    # -- registry ---------------------------------------------------------------------------
    def register(self, driver: JobDriver) -> None:
        self._drivers[driver.kind] = driver

    def driver(self, kind: str) -> JobDriver:
        try:
            return self._drivers[kind]
        except KeyError:
            raise SnapbotError(f"no driver for job kind {kind!r}") from None

    def on_change(self, listener: Callable[[Job, str], Awaitable[None]]) -> None:  # demo, tests
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
        return (task := self._tasks.get(job_id)) is not None and not task.done()

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
        """Stop the job's task; move it to `cancelled`, or to where its driver undoes its work
        first (`driver.cancel_state(state)`), then driven."""
        job = self.store.get_job(job_id)
        driver = self.driver(job.kind)
        target = driver.cancel_state(job.state)
        driver.machine.check(job.state, target)
        await self._stop_task(job_id)
        ctx = JobContext(self.store.get_job(job_id), self)
        unwind = not driver.machine.is_terminal(target)
        try:
            job = await ctx.move(target, f"cancelled by {actor}", actor=actor,
                                 result={**ctx.job.result, **driver.unwind_record(actor)} if unwind else None)
        finally:  # unwinding, or moved on meanwhile (InvalidTransition, StaleState): drive it on
            if not ctx.refresh().finished:
                self.start(job_id)
        return job

    async def _stop_task(self, job_id: str) -> None:
        if self.is_running(job_id):
            self._tasks[job_id].cancel()
            await _ended(self._tasks[job_id])

    async def shutdown(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            await _ended(task)

    def busy_on(self, manager: str, *, exclude: str | None = None) -> list[Job]:
        """Unfinished, non-waiting jobs on a manager (the per-manager lock is derived from this),
        but `exclude` and its parent (the drill a restore runs for)."""
        skip = {exclude, payload.params_of(self.store.get_job(exclude)).parent_job} if exclude else set()
        return [job for job in self.store.list_jobs(unfinished=True, manager=manager, limit=1000)
                if job.id not in skip and not ((driver := self._drivers.get(job.kind))
                                               and job.state in driver.machine.waiting)]

    def ensure_free(self, manager: str, *, exclude: str | None = None,
                    allow: Callable[[Job], bool] | None = None) -> None:
        others = [j for j in self.busy_on(manager, exclude=exclude) if not (allow and allow(j))]
        if others:
            j = others[0]
            raise JobConflict(f"manager {manager!r} is busy with job {j.id} ({j.kind}, {j.state})")

    async def _run(self, job_id: str) -> None:
        CURRENT_JOB.set(job_id)  # this task's context: partial files are named after the job
        self._remove_partials(job_id)  # a resumed job's leftovers from the attempt that died
        try:
            await self._drive(job_id)
        finally:
            try:
                finished = self.store.get_job(job_id).finished
            except Exception:
                finished = False
            if finished:
                self._remove_partials(job_id)

    def _remove_partials(self, job_id: str) -> None:
        try:
            remove_job_partials(self.scratch_roots, job_id)
        except OSError:
            log.exception("job %s: could not look for its partial files", job_id)

    async def _drive(self, job_id: str) -> None:
        ctx = JobContext(self.store.get_job(job_id), self)
        driver = self.driver(ctx.job.kind)
        while True:
            try:
                await self.report(ctx.job, "")
                await driver.run(ctx)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if ctx.store_failure is not None or _is_store_error(exc):
                    # Nothing more is done on a state the database did not take: wait until it
                    # takes writes, then carry on from what it recorded (as after a restart).
                    await self._wait_for_store(ctx.job, ctx.store_failure or exc)
                    ctx = JobContext(self.store.get_job(job_id), self)
                    continue
                j, bug = ctx.job, not isinstance(exc, SnapbotError)  # expected: one line; a bug: traceback
                log.log(logging.ERROR if bug else logging.WARNING, "job %s failed in state %s (%s on %s): %s",
                        job_id, j.state, j.kind, j.manager, error_text(exc, manager=j.manager), exc_info=bug)
                try:
                    await self._fail(ctx, exc)
                except Exception as exc2:
                    if ctx.store_failure is not None or _is_store_error(exc2):
                        await self._wait_for_store(ctx.job, ctx.store_failure or exc2)
                        ctx = JobContext(self.store.get_job(job_id), self)
                        continue
                    log.exception("job %s: could not record its failure", job_id)
                return

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

    # -- the database failing ----------------------------------------------------------------
    async def _wait_for_store(self, job: Job, exc: BaseException) -> None:
        """An incident: say it (log, /healthz, the thread), probe until a write works, say that."""
        reason = self.store.write_error or str(exc)
        log.error("job %s: the database does not take writes (%s); holding in %s until it does",
                  job.id, reason, job.state)
        await self._say_directly(job, f":warning: snapbot cannot record progress of `{job.id}` "
                                      f"({reason}). It holds in *{job.state}* and takes no further "
                                      "step until the database takes writes again; then it carries on.")
        delay = self.store_retry_interval
        while not self.store.probe_write():
            await asyncio.sleep(delay)  # real time: the operator fixing a disk, not domain time
            delay = min(delay * 2, self.store_retry_max_interval)
        try:
            fresh = self.store.get_job(job.id)
            log.info("job %s: the database takes writes again; carrying on from %s", job.id, fresh.state)
            with self.store.transaction():
                self.enqueue_reply(fresh, "the database takes writes again; carrying on")
            await self.deliver(fresh)
        except Exception:
            log.exception("job %s: could not queue the recovery note", job.id)

    async def _say_directly(self, job: Job, text: str) -> None:
        """Bypass the outbox (it lives in the database that is failing): best effort."""
        if self.sender is None or not job.channel:
            return
        try:
            await self.notifier.post(job.channel, messages.text_message(text), thread_ts=job.thread_ts)
        except Exception:
            log.exception("job %s: could not tell Slack that the database is failing", job.id)

    # -- progress ---------------------------------------------------------------------------
    def enqueue_progress(self, job: Job, detail: str, *, key: str | None = None) -> None:
        """Queue the job's card (rendered now, at its state version) and, with `detail`, a thread
        reply. Call inside the transaction of the change that causes them."""
        if not job.channel:
            return
        driver = self.driver(job.kind)
        self.outbox.card(job, driver.render(job, self.store.transitions(job.id)))
        if detail:
            self.enqueue_reply(job, detail, key=key)

    def enqueue_reply(self, job: Job, detail: str, *, key: str | None = None) -> None:  # ids: mentions
        if job.channel:
            transitions = self.store.transitions(job.id)
            actor = transitions[-1].actor if transitions else ""
            text = messages.with_mentions(detail, messages.people(job, actor))
            self.outbox.reply(job, messages.thread_reply(job, text), key=key)

    async def notify_listeners(self, job: Job, detail: str) -> None:
        for listener in self._listeners:
            try:
                await listener(job, detail)
            except Exception:  # a broken progress printer must not fail the job
                log.exception("progress listener failed")

    async def deliver(self, job: Job) -> None:
        """Deliver the job's lane now if this process delivers (never raises nor waits)."""
        if self.sender is not None and job.channel:
            await self.sender.kick(job_lane(job.id))

    async def report(self, job: Job, detail: str, *, key: str | None = None) -> None:  # + deliver
        job = self.store.get_job(job.id)
        with self.store.transaction():
            self.enqueue_progress(job, detail, key=key)
        await self.notify_listeners(job, detail)
        await self.deliver(job)

    async def say(self, job: Job, text: str, *, key: str | None = None) -> None:
        job = self.store.get_job(job.id)
        if not job.channel:
            await self.notify_listeners(job, text)
            return
        with self.store.transaction():
            self.enqueue_reply(job, text, key=key)
        await self.deliver(job)


async def _ended(task: asyncio.Task[None]) -> None:
    try:
        await task
    except asyncio.CancelledError:
        pass
    except Exception:
        log.exception("task %s ended with an error while being stopped", task.get_name())


def _is_store_error(exc: BaseException) -> bool:
    return isinstance(exc, (StoreUnavailable, sqlite3.OperationalError))
