"""Approvals: who may approve a job, N-of-M, expiry after a TTL, exactly-once decisions.

Everything lives in SQLite (the job's state, the approvals table, the job's params/result), so a
pending card keeps working after a restart. A decision is a compare-and-swap on the job's state:
a double click, two approvers at once or a Slack retry starts exactly one job; the losers are
told who won.

Used for restores (state `requested`, buttons `restore_approve`/`restore_reject`) and for simple
jobs gated by config (state `awaiting_approval`, buttons `job_approve`/`job_reject`).
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import timedelta

from bot.clock import Clock
from bot.config.settings import ApprovalPolicy
from bot.errors import InvalidTransition, JobNotFound, NotAuthorized, StaleState
from bot.invocation import Reply
from bot.jobs import payload
from bot.jobs.runner import JobRunner
from bot.logs import field
from bot.messages import restore as messages
from bot.messages.blocks import when
from bot.messages.text import group_mention, mention
from bot.store import Job, Store
from bot.tasks import cancel_and_wait, ensure_running

log = logging.getLogger(__name__)

#: Resolves a user-group id (S...) to its members' user ids. Given by the Slack side
#: (`SlackNotifier.usergroup_members`) when the services are built.
GroupResolver = Callable[[str], Awaitable[Iterable[str]]]

#: kinds whose driver renders the request card itself (the others get the generic approval card)
PENDING = frozenset({"restore"})


class ApprovalService:
    def __init__(self, store: Store, runner: JobRunner, clock: Clock,
                 policy: ApprovalPolicy, *, channel: str, group_resolver: GroupResolver | None = None,
                 tick_seconds: float = 5.0, group_cache_seconds: float = 300.0,
                 other_groups: frozenset[str] = frozenset()) -> None:
        self.store = store
        self.runner = runner
        self.clock = clock
        self.policy = policy
        self.channel = channel  # where cards go when a job has no channel of its own
        self.group_resolver = group_resolver
        self.tick_seconds = tick_seconds
        self.group_cache_seconds = group_cache_seconds
        #: user groups resolved besides the approvers' (operators', viewers')
        self.other_groups = other_groups
        self._group_members: dict[str, set[str]] = {}
        self._groups_loaded_at: float | None = None
        self._task: asyncio.Task[None] | None = None

    # -- policy ------------------------------------------------------------------------------
    def is_approver(self, user: str) -> bool:
        if user in self.policy.approvers:
            return True
        return any(user in self._group_members.get(g, ()) for g in self.policy.approver_groups)

    def can_approve(self, user: str, job: Job) -> None:
        """Raise NotAuthorized unless `user` may decide on `job`."""
        if user == job.requester:
            raise NotAuthorized("you requested this, so someone else must approve it")
        if not self.is_approver(user):
            # who the approvers are is not told here (`/cfy help` tells viewers)
            raise NotAuthorized("not an approver: only configured approvers can approve or "
                                "reject this")

    def group_members(self, group: str) -> frozenset[str]:
        """A user group's members as last resolved (none until then)."""
        return frozenset(self._group_members.get(group, ()))

    def approver_names(self) -> str:
        names = [mention(u) for u in sorted(self.policy.approvers)]
        names += [group_mention(g) for g in sorted(self.policy.approver_groups)]
        return ", ".join(names)

    async def refresh_groups(self, *, force: bool = False) -> None:
        """Load the user groups' members (approvers', operators', viewers') through the injected
        resolver (cached for a while)."""
        groups = sorted(set(self.policy.approver_groups) | self.other_groups)
        if not groups or self.group_resolver is None:
            return
        loop = asyncio.get_running_loop()
        if not force and self._groups_loaded_at is not None \
                and loop.time() - self._groups_loaded_at < self.group_cache_seconds:
            return
        members: dict[str, set[str]] = {}
        for group in groups:
            try:
                members[group] = set(await self.group_resolver(group))
            except Exception:
                log.exception("could not resolve user group %s", group)
                members[group] = self._group_members.get(group, set())
        self._group_members = members
        self._groups_loaded_at = loop.time()

    # -- opening -----------------------------------------------------------------------------
    def terms(self) -> payload.SharedParams:
        """The approval terms of a request opened now: expiry after the TTL, N approvals."""
        return payload.SharedParams(expires_at=self.clock.now() + timedelta(seconds=self.policy.ttl_seconds),
                            required_approvals=max(1, int(self.policy.required)))

    async def open(self, job: Job) -> Job:
        """Post the request card (with Approve/Reject) for a job waiting for approval."""
        store = self.store
        if not payload.params_of(job).has_terms:  # terms already set (a restore's) are kept
            job = store.update_job(job.id, params={**self.terms().stored(), **job.params})
        if job.kind in PENDING:
            await self.runner.report(job, "")  # the driver renders the request card
            return store.get_job(job.id)
        channel = job.channel or self.channel
        if not channel:
            return job
        # The card goes through the outbox: from a terminal it waits there for the Slack app
        # (no message ts is invented); in the app it is delivered now if Slack answers.
        with store.transaction():
            job = store.update_job(job.id, channel=channel)
            self.runner.queue_card(job, messages.approval_card(job))
        await self.runner.deliver(job)
        return store.get_job(job.id)

    # -- deciding ----------------------------------------------------------------------------
    async def decide(self, job_id: str, user: str, approve: bool, *, idem_key: str | None = None) -> Reply:
        """One click. Returns the reply for the clicker (ephemeral); the card is updated for
        a decision. Exactly one click moves the job, whatever the concurrency."""
        store = self.store
        try:
            job = store.get_job(job_id)
        except JobNotFound:
            return Reply(messages.refusal(f"no request {job_id!r}"), refused=True)
        waiting, target = self._states(job)
        if job.state != waiting:
            return Reply(messages.refusal(self._already(job)), refused=True)
        if self._expired(job):
            await self._expire(job)
            return Reply(messages.refusal(self._already(store.get_job(job_id))), refused=True)
        await self.refresh_groups()
        try:
            self.can_approve(user, job)
        except NotAuthorized as exc:
            self._audit_refusal(job, user, approve, exc.user_message)
            return Reply(messages.refusal(f"you cannot {'approve' if approve else 'reject'} `{job.id}`: {exc.user_message}"), refused=True)
        # From here to the CAS there is no await: in this process nothing interleaves, and the
        # store's CAS settles races with other processes.
        if not store.record_approval(job.id, user, "approve" if approve else "reject",
                                     approved_by="approve" if approve else None):
            job = store.get_job(job_id)
            if job.state != waiting:
                return Reply(messages.refusal(self._already(job)), refused=True)
            return Reply(messages.refusal(f"you already {'approved' if self._decision_of(job, user) == 'approve' else 'rejected'} `{job.id}`"), refused=True)
        if not approve:
            try:
                self._check(job, waiting, "rejected")
                store_job = self._move(job, waiting, "rejected", actor=user,
                                       detail=f"rejected by {user}", finished=True)
            except StaleState:
                return Reply(messages.refusal(self._already(store.get_job(job_id))), refused=True)
            self.runner.forget(job.id)
            await self._report(store_job, f"rejected by {user}", user)
            return Reply(messages.decision_reply(f"you rejected `{job.id}`"))
        job = store.get_job(job.id)  # record_approval merged approved_by in its transaction
        approval = payload.approval_of(job)
        approvers, need = list(approval.approved_by), approval.need(self.policy.required)
        if len(approvers) < need:
            await self._refresh_card(job)
            return Reply(messages.decision_reply(
                f"you approved `{job.id}` ({len(approvers)} of {need}); waiting for {need - len(approvers)} more"))
        detail = "approved by " + ", ".join(approvers)
        try:
            self._check(job, waiting, target)
            moved = self._move(job, waiting, target, actor=user, detail=detail)
        except StaleState:
            return Reply(messages.refusal(self._already(store.get_job(job_id))), refused=True)
        await self._report(moved, detail, user)
        self.runner.start(moved.id)
        return Reply(messages.decision_reply(f"you approved `{job.id}`; it starts now"))

    def _states(self, job: Job) -> tuple[str, str]:
        """(the state the job waits in, the state approval moves it to), from its machine."""
        machine = self.runner.driver(job.kind).machine
        return machine.awaiting, machine.approved or machine.initial

    def _check(self, job: Job, current: str, target: str) -> None:
        """The job's own table must allow the move (raises InvalidTransition otherwise)."""
        self.runner.driver(job.kind).machine.check(current, target)

    def _decision_of(self, job: Job, user: str) -> str:
        for a in self.store.approvals(job.id):
            if a.user == user:
                return a.decision
        return ""

    def _already(self, job: Job) -> str:
        transitions = self.store.transitions(job.id)
        waiting, _ = self._states(job)
        decided = next((t for t in transitions if t.from_state == waiting), None)
        if job.state == "expired":
            return f"`{job.id}` expired at {when(payload.params_of(job).expires_at)} without a decision"
        if decided is None:
            return f"`{job.id}` is {job.state}"
        word = {"rejected": "rejected", "cancelled": "cancelled"}.get(decided.to_state, "approved")
        who = ", ".join(mention(u) for u in (payload.result_of(job).approved_by or [decided.actor])) \
            if word == "approved" else mention(decided.actor)
        return f"`{job.id}` was already {word} by {who} (now {job.state})"

    def _audit_refusal(self, job: Job, user: str, approve: bool, reason: str) -> None:
        log.info("refused %s of job %s by %s: %s", "approval" if approve else "rejection", job.id,
                 field(user), field(reason, 500))
        refused = [*payload.result_of(job).refused_clicks,
                   payload.RefusedClick(user=user, at=self.clock.now(), action="approve" if approve else "reject",
                                reason=reason)]
        self.store.merge_result(job.id, refused_clicks=payload.refused_clicks_stored(refused[-50:]))

    def _move(self, job: Job, current: str, target: str, *, actor: str, detail: str,
              finished: bool = False) -> Job:
        """The decision's state change; a restore's card update and thread reply are queued in
        the same transaction (a gated job's card is refreshed by _report)."""
        store = self.store
        with store.transaction():
            moved = store.transition(job.id, current, target, actor=actor, detail=detail,
                                     finished=finished)
            if job.kind in PENDING:
                self.runner.enqueue_progress(
                    moved, detail, key=f"state:{moved.id}:{store.version(moved.id)}")
        return moved

    async def _report(self, job: Job, detail: str, actor: str) -> None:
        if job.kind in PENDING:  # queued with the state change (_move)
            await self.runner.notify_listeners(job, detail)
            await self.runner.deliver(job)
            return
        await self._refresh_card(job, outcome=job.state, actor=actor)

    async def _refresh_card(self, job: Job, *, outcome: str | None = None, actor: str = "") -> None:
        if job.kind in PENDING:
            await self.runner.report(job, "")
            return
        if not job.channel:
            return
        msg = messages.approval_card(job) if outcome is None else \
            messages.job_decided_card(job, outcome, actor, self.clock.now())
        self.runner.queue_card(job, msg)
        await self.runner.deliver(job)

    # -- expiry ------------------------------------------------------------------------------
    def _expired(self, job: Job) -> bool:
        at = payload.params_of(job).expires_at
        return at is not None and self.clock.now() >= at

    async def _expire(self, job: Job) -> bool:
        waiting, _ = self._states(job)
        ttl = self.policy.ttl_seconds
        detail = f"no decision within {ttl // 60} min" if ttl >= 60 else f"no decision within {ttl} s"
        try:
            self._check(job, waiting, "expired")
            moved = self._move(job, waiting, "expired", actor="snapbot", detail=detail, finished=True)
        except (StaleState, InvalidTransition):
            return False
        self.runner.forget(job.id)
        await self._report(moved, detail, "snapbot")
        return True

    async def expire_due(self) -> list[str]:
        """Expire every pending request whose time is up (by the injected clock)."""
        expired = []
        for job in self.store.list_jobs(unfinished=True, limit=1000):
            waiting, _ = self._states(job)
            if job.state == waiting and self._expired(job) and await self._expire(job):
                expired.append(job.id)
        return expired

    async def announce_unposted(self) -> list[str]:
        """Post the cards of pending requests that have none yet (requested from the terminal,
        where nobody can click): they go to the configured channel, where approvers decide."""
        channel = self.channel
        if not channel:
            return []
        posted = []
        for job in self.store.list_jobs(unfinished=True, limit=1000):
            waiting, _ = self._states(job)
            if job.state != waiting or job.message_ts is not None or self._expired(job):
                continue
            if self.runner.has_queued(job.id):
                continue  # its card is queued (or was refused for good: logged there)
            job = self.store.update_job(job.id, channel=job.channel or channel)
            job = await self.open(job)
            if job.message_ts is not None:
                posted.append(job.id)
        return posted

    async def _loop(self) -> None:
        while True:
            try:
                await self.announce_unposted()
                await self.expire_due()
            except Exception:
                log.exception("approval expiry pass failed")
            await asyncio.sleep(self.tick_seconds)  # cadence in real time; expiry by the clock

    def start(self) -> None:
        self._task = ensure_running(self._task, self._loop, "approvals-expiry")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)
