"""Approval policy and exactly-once decisions, on a real SQLite store with an injected clock."""
from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import pytest

from bot.approvals import ApprovalService
from bot.config.settings import ApprovalPolicy, ManagerConfig, Settings, SlackConfig
from bot.errors import NotAuthorized
from bot.jobs.machine import SIMPLE
from bot.jobs.restore.machine import RESTORE
from bot.jobs.runner import JobContext, JobDriver, JobRunner
from bot.messages import restore as messages
from bot.notifier import plain_text
from bot.schema import open_store
from bot.store import Store
from tests.fakes import FakeClock, RecordingNotifier
from tests.waiting import until


class Recorder(JobDriver):
    """A driver that only records that it ran (the approval layer is under test, not restores)."""

    def __init__(self, kind: str, machine: Any) -> None:
        self.kind, self.machine, self.ran = kind, machine, []

    async def run(self, ctx: JobContext) -> None:
        self.ran.append(ctx.job.id)

    def render(self, job, transitions):
        return messages.render(job, transitions) if self.kind == "restore" else {"text": job.state, "blocks": []}


@dataclasses.dataclass
class Parts:
    """The approval service and the collaborators it was built with."""
    settings: Settings
    store: Store
    clock: FakeClock
    notifier: RecordingNotifier
    runner: JobRunner
    approvals: ApprovalService


def build(tmp_path: Path, clock: FakeClock | None = None, **policy: Any) -> tuple[Parts, dict[str, Recorder]]:
    clock = clock or FakeClock()
    policy.setdefault("approvers", frozenset({"U_LEAD1", "U_LEAD2", "U_OPS"}))
    settings = Settings(managers=(ManagerConfig(name="default", url="http://127.0.0.1:1"),),
                        slack=SlackConfig(channel="C_OPS"), approvals=ApprovalPolicy(**policy),
                        db_path=str(tmp_path / "db.sqlite"))
    store = open_store(settings.db_path, clock)
    notifier = RecordingNotifier()
    runner = JobRunner(store, clock, notifier)
    drivers = {"restore": Recorder("restore", RESTORE), "snapshot_delete": Recorder("snapshot_delete", SIMPLE)}
    for d in drivers.values():
        runner.register(d)
    approvals = ApprovalService(store, runner, clock, settings.approvals, channel=settings.slack.channel)
    return Parts(settings, store, clock, notifier, runner, approvals), drivers


async def open_restore(services: Parts, requester: str = "U_OPS") -> Any:
    job = services.store.create_job("restore", "default", "requested", params={"snapshot_id": "s1"},
                                    requester=requester, channel="C_OPS")
    return await services.approvals.open(job)


def text(reply) -> str:
    return plain_text(reply.message)


async def test_requester_cannot_approve_even_when_an_approver(tmp_path: Path) -> None:
    services, _drivers = build(tmp_path)
    job = await open_restore(services)
    reply = await services.approvals.decide(job.id, "U_OPS", True)
    assert "someone else must approve" in text(reply)
    assert services.store.get_job(job.id).state == "requested"
    assert services.store.get_job(job.id).result["refused_clicks"][0]["user"] == "U_OPS"


async def test_non_approver_cannot_approve(tmp_path: Path) -> None:
    services, _ = build(tmp_path)
    job = await open_restore(services)
    reply = await services.approvals.decide(job.id, "U_RANDOM", True)
    assert "only configured approvers" in text(reply)
    assert services.store.get_job(job.id).state == "requested"


async def test_non_approver_cannot_reject(tmp_path: Path) -> None:
    services, _ = build(tmp_path)
    job = await open_restore(services)
    await services.approvals.decide(job.id, "U_RANDOM", False)
    assert services.store.get_job(job.id).state == "requested"


async def test_approval_moves_to_approved_and_starts_the_job(tmp_path: Path) -> None:
    services, drivers = build(tmp_path)
    job = await open_restore(services)
    reply = await services.approvals.decide(job.id, "U_LEAD1", True)
    assert "starts now" in text(reply)
    await services.runner.wait(job.id, 5)
    assert services.store.get_job(job.id).state == "approved"
    assert drivers["restore"].ran == [job.id]
    t = services.store.transitions(job.id)[-1]
    assert (t.from_state, t.to_state, t.actor) == ("requested", "approved", "U_LEAD1")


async def test_the_audit_log_stores_user_ids_and_the_thread_mentions_them(tmp_path: Path) -> None:
    services, _ = build(tmp_path)
    job = await open_restore(services)
    await services.approvals.decide(job.id, "U_LEAD2", False)
    assert services.store.transitions(job.id)[-1].detail == "rejected by U_LEAD2"
    replies = [plain_text(r.message) for r in services.runner.outbox.rows() if r.kind == "reply"
               and r.job_id == job.id]
    assert any("rejected by <@U_LEAD2>" in r for r in replies), replies


async def test_reject_ends_the_request_and_updates_the_card(tmp_path: Path) -> None:
    services, drivers = build(tmp_path)
    job = await open_restore(services)
    await services.approvals.decide(job.id, "U_LEAD2", False)
    job = services.store.get_job(job.id)
    assert job.state == "rejected" and job.finished
    assert drivers["restore"].ran == []
    updates = [plain_text(m) for k, _, m in services.notifier.calls if k == "update"]
    assert any("Rejected by <@U_LEAD2>" in u for u in updates)
    later = await services.approvals.decide(job.id, "U_LEAD1", True)
    assert "already rejected by <@U_LEAD2>" in text(later)


async def test_two_of_three_needs_two_distinct_approvers(tmp_path: Path) -> None:
    services, _drivers = build(tmp_path, required=2)
    job = services.store.create_job("restore", "default", "requested", params={"snapshot_id": "s1"},
                                    requester="U_OPS", channel="C_OPS")
    job = await services.approvals.open(job)
    first = await services.approvals.decide(job.id, "U_LEAD1", True)
    assert "1 of 2" in text(first)
    again = await services.approvals.decide(job.id, "U_LEAD1", True)
    assert "you already approved" in text(again)
    assert services.store.get_job(job.id).state == "requested"
    await services.approvals.decide(job.id, "U_LEAD2", True)
    assert services.store.get_job(job.id).state == "approved"
    assert services.store.get_job(job.id).result["approved_by"] == ["U_LEAD1", "U_LEAD2"]


async def test_request_expires_by_the_clock(tmp_path: Path) -> None:
    clock = FakeClock()
    services, _ = build(tmp_path, clock, ttl_seconds=1800)
    job = await open_restore(services)
    clock.advance(1799)
    assert await services.approvals.expire_due() == []
    clock.advance(1)
    assert await services.approvals.expire_due() == [job.id]
    job = services.store.get_job(job.id)
    assert job.state == "expired"
    assert services.store.transitions(job.id)[-1].detail == "no decision within 30 min"
    late = await services.approvals.decide(job.id, "U_LEAD1", True)
    assert "expired" in text(late)


async def test_a_click_after_the_ttl_expires_the_request_instead(tmp_path: Path) -> None:
    clock = FakeClock()
    services, drivers = build(tmp_path, clock, ttl_seconds=60)
    job = await open_restore(services)
    clock.advance(61)
    reply = await services.approvals.decide(job.id, "U_LEAD1", True)
    assert "expired" in text(reply)
    assert services.store.get_job(job.id).state == "expired"
    assert drivers["restore"].ran == []


async def test_twenty_concurrent_approvals_start_exactly_one_job(tmp_path: Path) -> None:
    services, drivers = build(tmp_path)
    job = await open_restore(services)
    users = ["U_LEAD1", "U_LEAD2"] * 10
    replies = await asyncio.gather(*(services.approvals.decide(job.id, u, True) for u in users))
    await services.runner.wait(job.id, 5)
    assert drivers["restore"].ran == [job.id]
    approvals = [t for t in services.store.transitions(job.id) if t.to_state == "approved"]
    assert len(approvals) == 1
    winners = [r for r in replies if "starts now" in text(r)]
    assert len(winners) == 1
    assert all("already approved by" in text(r) for r in replies if r not in winners)


async def test_pending_request_survives_a_restart(tmp_path: Path) -> None:
    services, _ = build(tmp_path)
    job = await open_restore(services)
    services.store.close()
    services2, drivers2 = build(tmp_path)
    await services2.approvals.decide(job.id, "U_LEAD1", True)
    await services2.runner.wait(job.id, 5)
    assert services2.store.get_job(job.id).state == "approved"
    assert drivers2["restore"].ran == [job.id]


async def test_group_members_may_approve_through_the_resolver(tmp_path: Path) -> None:
    services, _ = build(tmp_path, approvers=frozenset(), approver_groups=frozenset({"S_LEADS"}))

    async def resolve(group: str):
        return {"U_GROUPIE"} if group == "S_LEADS" else set()

    services.approvals.group_resolver = resolve
    job = await open_restore(services)
    await services.approvals.decide(job.id, "U_GROUPIE", True)
    assert services.store.get_job(job.id).state == "approved"


def test_can_approve_raises_not_authorized(tmp_path: Path) -> None:
    services, _ = build(tmp_path)
    job = services.store.create_job("restore", "default", "requested", requester="U_LEAD1")
    with pytest.raises(NotAuthorized):
        services.approvals.can_approve("U_LEAD1", job)
    with pytest.raises(NotAuthorized):
        services.approvals.can_approve("U_X", job)
    services.approvals.can_approve("U_LEAD2", job)


async def test_gated_simple_job_gets_its_own_card_and_is_queued_on_approval(tmp_path: Path) -> None:
    services, drivers = build(tmp_path)
    job = services.store.create_job("snapshot_delete", "default", "awaiting_approval",
                                    params={"snapshot_id": "old"}, requester="U_OPS", channel="C_OPS")
    job = await services.approvals.open(job)
    posted = services.notifier.calls[0][2]
    ids = [e["action_id"] for b in posted["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert ids == ["job_approve", "job_reject"]
    assert "Expires at" in plain_text(posted)
    await services.approvals.decide(job.id, "U_LEAD1", True)
    await services.runner.wait(job.id, 5)
    assert services.store.get_job(job.id).state == "queued"
    assert drivers["snapshot_delete"].ran == [job.id]


async def test_expiry_loop_runs_in_start_and_stops(tmp_path: Path) -> None:
    clock = FakeClock()
    services, _ = build(tmp_path, clock, ttl_seconds=60)
    services.approvals.tick_seconds = 0.01
    job = await open_restore(services)
    clock.advance(120)
    services.approvals.start()
    await until(lambda: services.store.get_job(job.id).state == "expired", what="the expiry loop")
    await services.approvals.stop()
