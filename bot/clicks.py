"""Every button, authorized as the command it stands for.

A click is taken only in a configured channel, only on the card of the job its value names
(Slack's `container.message_ts`; the daily report's Retry: the block it sits in), and only by
someone who may run the command the button stands for:

    job_cancel                      `/cfy jobs cancel ID` (the requester or an approver)
    cancel_blockers                 cancel the executions a job's card says it waits for
                                    (approvers only)
    daily_retry                     `/cfy snapshots schedule run-now --manager M` (an operator)
    restore_approve/_reject,
    job_approve/_reject             a decision: approvers only, never the requester
    restore_retry, _rollback        a new restore request (an operator), approved afresh N-of-M;
                                    nothing is sent to the manager before that
    restore_deactivate/_agents/
    _plugins                        the command the card offers, on the job's manager (operator)
"""
from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Protocol

from bot.approvals import ApprovalService
from bot.commands import model as m
from bot.dispatch import Dispatcher
from bot.errors import JobNotFound, NotAuthorized, SnapbotError, UsageError
from bot.invocation import Invocation, Reply
from bot.jobs.restore.payload import params_of, result_of
from bot.logs import field
from bot.messages import restore as rm
from bot.messages.posture import HOME_APPROVE, HOME_REJECT
from bot.notifier import plain_text
from bot.store import Job, Store

log = logging.getLogger(__name__)

#: approve/reject buttons: action -> approve?
APPROVAL_ACTIONS = {"restore_approve": True, "job_approve": True,
                    "restore_reject": False, "job_reject": False}
#: a restore card's follow-ups: action -> the command it stands for on the job's manager
FOLLOWUPS: dict[str, Callable[[str], m.Command]] = {"restore_deactivate": lambda manager: m.MaintenanceDeactivate(manager=manager),
             "restore_agents": lambda manager: m.AgentsInstall(manager=manager),
             "restore_plugins": lambda manager: m.PluginsUpdate(all_blueprints=True,
                                                                manager=manager)}
RESTORE_REQUESTS = ("restore_retry", "restore_rollback")
DAILY_RETRY = "daily_retry"
CANCEL_BLOCKERS = "cancel_blockers"
#: the App Home tab's approve/reject (no channel there: approvers only, on the request's block)
HOME_ACTIONS = {HOME_APPROVE: True, HOME_REJECT: False}
ACTIONS = ("job_cancel", CANCEL_BLOCKERS, DAILY_RETRY, *APPROVAL_ACTIONS, *RESTORE_REQUESTS,
           *FOLLOWUPS, *HOME_ACTIONS)


#: how a click that ran no command reads in the audit log
_WHAT = {"restore_approve": "approve", "job_approve": "approve", "restore_reject": "reject",
         "job_reject": "reject", HOME_APPROVE: "approve (Home)", HOME_REJECT: "reject (Home)",
         "restore_retry": "retry restore", "restore_rollback": "roll back restore",
         CANCEL_BLOCKERS: "cancel the executions waited for by"}


def _what(click: Click) -> str:
    return f"{_WHAT.get(click.action, 'button ' + click.action[:40])} {click.value[:80]}".strip()


@dataclasses.dataclass
class _Ran:
    command: bool = False  # the click ran a command through the dispatcher


class Restores(Protocol):
    async def retry(self, job_id: str, inv: Invocation) -> Reply: ...

    async def rollback(self, job_id: str, inv: Invocation) -> Reply: ...


@dataclasses.dataclass(frozen=True)
class Click:
    """One click: which button, its value, the block it sat in, who and where (`inv`, with
    `message_ts`: the message the button was on)."""

    action: str
    value: str
    block_id: str
    inv: Invocation


class Buttons:
    def __init__(self, dispatcher: Dispatcher, approvals: ApprovalService, restores: Restores,
                 store: Store) -> None:
        self.dispatcher = dispatcher
        self.approvals = approvals
        self.restores = restores
        self.store = store

    async def click(self, click: Click) -> Reply:
        """Never raises: the clicker gets what happened, or why not. Every click is in the audit
        log: as the command it ran (recorded by the dispatcher), else as the click itself."""
        inv, ran = click.inv, _Ran()
        try:
            reply = await self._click(click, ran)
        except SnapbotError as exc:
            log.info("%s on %s by %s refused: %s", field(click.action), field(click.value),
                     field(inv.user), field(exc.user_message, 500))
            reply = Reply(rm.refusal(exc.user_message), refused=True)
            if not ran.command:
                refused = isinstance(exc, (NotAuthorized, UsageError))
                self.dispatcher.record(inv, _what(click), "refused" if refused else "failed",
                                       exc.user_message)
            return reply
        except Exception:
            log.exception("%s on %s by %s failed", field(click.action), field(click.value), field(inv.user))
            if not ran.command:
                self.dispatcher.record(inv, _what(click), "failed", "unexpected error")
            return Reply(rm.refusal("something went wrong; the error is in snapbot's log"))
        if not ran.command:
            self.dispatcher.record(inv, _what(click), "refused" if reply.refused else "ok",
                                   plain_text(reply.message) if reply.refused else "")
        return reply

    async def _run(self, cmd: m.Command, inv: Invocation, ran: _Ran) -> Reply:
        """The command a button stands for, through the dispatcher (which records it)."""
        ran.command = True
        return await self.dispatcher.run(cmd, inv)

    def _card_job(self, click: Click, *, kind: str | None = None) -> Job:
        """The job the button names, if the button was on that job's own card."""
        try:
            job = self.store.get_job(click.value)
        except JobNotFound:
            raise NotAuthorized("this button does not belong to a job snapbot knows") from None
        if kind is not None and job.kind != kind:
            raise NotAuthorized(f"this button does not apply to job {job.id}")
        if not job.message_ts or click.inv.message_ts != job.message_ts:
            raise NotAuthorized(f"this button is not on the card of job {job.id}; use the "
                                "buttons on that job's own card")
        return job

    async def _home_decision(self, click: Click) -> Reply:
        """Approve or reject from the App Home tab: the button sits in the request's own block
        (`home:<job>`), shown to approvers only; the clicker must be an approver now too."""
        try:
            job = self.store.get_job(click.value)
        except JobNotFound:
            raise NotAuthorized("this button does not belong to a job snapbot knows") from None
        if click.block_id != f"home:{job.id}":
            raise NotAuthorized(f"this button is not the Home tab's button for job {job.id}")
        await self.approvals.refresh_groups()
        if not self.approvals.is_approver(click.inv.user):
            raise NotAuthorized("not an approver: only configured approvers can approve or reject this")
        return await self.approvals.decide(job.id, click.inv.user, HOME_ACTIONS[click.action],
                                           idem_key=click.inv.idem_key)

    async def _click(self, click: Click, ran: _Ran) -> Reply:
        action, inv, access = click.action, click.inv, self.dispatcher.access
        if action in HOME_ACTIONS:
            return await self._home_decision(click)
        access.check_channel(inv)
        if action == DAILY_RETRY:
            if click.block_id != f"{DAILY_RETRY}:{click.value}":
                raise NotAuthorized("this button is not on that manager's daily report")
            return await self._run(m.SnapshotsScheduleRunNow(manager=click.value or None), inv,
                                   ran)
        if action == "job_cancel":
            job = self._card_job(click)
            return await self._run(m.JobsCancel(job_id=job.id), inv, ran)
        if action == CANCEL_BLOCKERS:
            return await self.dispatcher.cancel_blockers(self._card_job(click), inv)
        if action in APPROVAL_ACTIONS:
            job = self._card_job(click)
            await self.approvals.refresh_groups()
            if inv.user != job.requester:  # the requester hears "someone else must approve"
                access.require_approver(inv, "approve or reject this")
            return await self.approvals.decide(job.id, inv.user, APPROVAL_ACTIONS[action],
                                               idem_key=inv.idem_key)
        if action in FOLLOWUPS:
            job = self._card_job(click, kind="restore")
            keyed = dataclasses.replace(inv, idem_key=f"{action}:{job.id}")
            return await self._run(FOLLOWUPS[action](job.manager), keyed, ran)
        if action in RESTORE_REQUESTS:
            # a new restore request by the clicker: authorized as one, approved afresh
            job = self._card_job(click, kind="restore")
            snapshot = params_of(job).snapshot_id if action == "restore_retry" \
                else result_of(job).safety.snapshot_id or ""
            await self.dispatcher.authorize(
                m.SnapshotsRestore(snapshot_id=snapshot or "-", manager=job.manager), inv)
            if action == "restore_retry":
                return await self.restores.retry(job.id, inv)
            return await self.restores.rollback(job.id, inv)
        raise UsageError(f"unknown button {action!r}")
