"""The lead's JobRunner and Store, with toy drivers on the SIMPLE machine (no manager needed)."""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from bot.errors import InvalidTransition, JobConflict, SnapbotError, StaleState
from bot.jobs.machine import SIMPLE
from bot.jobs.runner import JobContext, JobDriver, JobRunner
from bot.messages.jobs import job_card
from bot.schema import open_store
from bot.store import Store
from tests.fakes import FakeClock, RecordingNotifier


class Toy(JobDriver):
    """A driver whose work is a coroutine the test controls."""

    machine = SIMPLE

    def __init__(self, kind: str = "toy", work: Any = None) -> None:
        self.kind = kind
        self.work = work
        self.release = asyncio.Event()

    def render(self, job, transitions):
        return job_card(job, transitions)

    async def run(self, ctx: JobContext) -> None:
        if ctx.job.state == "queued":
            await ctx.move("running", "working")
        if self.work is not None:
            await self.work(ctx)
        else:
            await self.release.wait()
        await ctx.move("done", "finished", result={"ok": True})


class FailingNotifier(RecordingNotifier):
    async def post(self, *a, **k):
        raise RuntimeError("slack is down")

    async def update(self, *a, **k):
        raise RuntimeError("slack is down")


@pytest.fixture
def store(tmp_path: Path):
    s = open_store(tmp_path / "db.sqlite", FakeClock())
    yield s
    s.close()


def make_runner(store: Store, notifier=None, **drivers: Any) -> JobRunner:
    runner = JobRunner(store, store.clock, notifier or RecordingNotifier())
    for d in drivers.values():
        runner.register(d)
    return runner


def new_job(store: Store, kind: str = "toy", manager: str = "m1", state: str = "queued", **kw: Any):
    return store.create_job(kind, manager, state, requester="U_OPS", channel="C_OPS", **kw)


async def test_every_state_change_is_persisted_before_it_is_reported(store: Store) -> None:
    toy = Toy()
    runner = make_runner(store, toy=toy)
    seen = []

    async def listener(job, detail):
        seen.append((job.state, store.get_job(job.id).state))

    runner.on_change(listener)
    job = new_job(store)
    runner.start(job.id)
    toy.release.set()
    await runner.wait(job.id, 5)
    assert [a for a, _ in seen] == ["queued", "running", "done"]
    assert all(a == b for a, b in seen)


async def test_the_card_is_posted_once_then_updated_and_each_change_threaded(store: Store) -> None:
    notifier = RecordingNotifier()
    toy = Toy()
    runner = make_runner(store, notifier, toy=toy)
    job = new_job(store)
    runner.start(job.id)
    toy.release.set()
    job = await runner.wait(job.id, 5)
    kinds = [k for k, _, _ in notifier.calls]
    assert kinds.count("post") == 1
    assert "update" in kinds
    replies = notifier.texts("reply")
    assert any("running" in r for r in replies) and any("done" in r for r in replies)
    assert job.message_ts and job.thread_ts == job.message_ts


async def test_a_slack_outage_does_not_fail_the_job(store: Store) -> None:
    toy = Toy()
    runner = make_runner(store, FailingNotifier(), toy=toy)
    job = new_job(store)
    runner.start(job.id)
    toy.release.set()
    assert (await runner.wait(job.id, 5)).state == "done"


async def test_an_unexpected_exception_fails_the_job_without_its_text(store: Store) -> None:
    async def boom(ctx):
        raise RuntimeError("password=hunter2")

    runner = make_runner(store, toy=Toy(work=boom))
    job = new_job(store)
    runner.start(job.id)
    job = await runner.wait(job.id, 5)
    assert job.state == "failed"
    assert "hunter2" not in job.error and "RuntimeError" in job.error


async def test_a_snapbot_error_fails_the_job_with_its_message(store: Store) -> None:
    async def refuse(ctx):
        raise SnapbotError("the manager said no")

    runner = make_runner(store, toy=Toy(work=refuse))
    job = new_job(store)
    runner.start(job.id)
    job = await runner.wait(job.id, 5)
    assert job.state == "failed" and job.error == "the manager said no"
    assert store.transitions(job.id)[-1].detail.startswith("running:")


async def test_cancel_stops_the_task_and_records_who(store: Store) -> None:
    toy = Toy()
    runner = make_runner(store, toy=toy)
    job = new_job(store)
    runner.start(job.id)
    await asyncio.sleep(0.01)
    job = await runner.cancel(job.id, "U_LEAD1")
    assert job.state == "cancelled" and not runner.is_running(job.id)
    last = store.transitions(job.id)[-1]
    assert last.actor == "U_LEAD1" and last.from_state == "running"


async def test_a_finished_job_cannot_be_cancelled(store: Store) -> None:
    toy = Toy()
    runner = make_runner(store, toy=toy)
    job = new_job(store)
    runner.start(job.id)
    toy.release.set()
    await runner.wait(job.id, 5)
    with pytest.raises(InvalidTransition):
        await runner.cancel(job.id, "U_OPS")


async def test_starting_a_running_job_again_returns_the_same_task(store: Store) -> None:
    toy = Toy()
    runner = make_runner(store, toy=toy)
    job = new_job(store)
    assert runner.start(job.id) is runner.start(job.id)
    toy.release.set()
    await runner.wait(job.id, 5)


async def test_a_job_waiting_for_approval_does_not_hold_the_managers_lock(store: Store) -> None:
    runner = make_runner(store, toy=Toy())
    new_job(store, state="awaiting_approval")
    runner.ensure_free("m1")
    busy = new_job(store)
    with pytest.raises(JobConflict, match=busy.id):
        runner.ensure_free("m1")
    runner.ensure_free("m2")
    runner.ensure_free("m1", exclude=busy.id)


async def test_resume_all_restarts_unfinished_jobs_but_not_waiting_or_finished_ones(store: Store) -> None:
    toy = Toy()
    toy.release.set()
    runner = make_runner(store, toy=toy)
    running = new_job(store, state="running")
    queued = new_job(store, state="queued", manager="m2")
    new_job(store, state="awaiting_approval", manager="m3")
    done = new_job(store, state="running", manager="m4")
    store.transition(done.id, "running", "done", finished=True)
    resumed = await runner.resume_all()
    assert set(resumed) == {running.id, queued.id}
    for job_id in resumed:
        assert (await runner.wait(job_id, 5)).state == "done"


def test_a_transition_from_a_state_the_job_left_is_refused(store: Store) -> None:
    job = new_job(store)
    store.transition(job.id, "queued", "running")
    with pytest.raises(StaleState):
        store.transition(job.id, "queued", "running")
    assert [t.to_state for t in store.transitions(job.id)] == ["queued", "running"]


def test_the_same_idempotency_key_twice_finds_the_first_job(store: Store) -> None:
    first = new_job(store, idem_key="T1")
    again, created = store.create_job_once("toy", "m1", "queued", requester="U_OPS", idem_key="T1")
    assert (again.id, created) == (first.id, False)
    with pytest.raises(JobConflict, match=first.id):
        new_job(store, idem_key="T1")
    assert len(store.list_jobs()) == 1


def test_merge_result_keeps_earlier_values(store: Store) -> None:
    job = new_job(store)
    store.merge_result(job.id, a=1)
    assert store.merge_result(job.id, b=2).result == {"a": 1, "b": 2}
