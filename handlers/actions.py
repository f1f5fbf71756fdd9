"""Every button. A click is acked at once, then handed to bot/: the clicker gets an ephemeral
answer (a refusal with its reason, or what happened); decisions update the card itself through
the job runner.

    job_cancel                      `/cfy jobs cancel ID` by the clicker (value: job id)
    daily_retry                     `/cfy snapshots schedule run-now --manager M` (value: manager)
    restore_approve/_reject,
    job_approve/_reject             the approval service's decision (value: job id)
    restore_retry, _rollback        the restore runbook's next step (value: job id)
    restore_deactivate/_agents/
    _plugins                        the command the card offers, on the job's manager, through
                                    the dispatcher (value: job id)

Buttons that stand for a command go through the dispatcher, so the same authorization and
approval rules apply as for the typed command.
"""
from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any, Awaitable, Callable

from slack_bolt.app.async_app import AsyncApp

from bot.commands.model import JobsCancel, SnapshotsScheduleRunNow
from bot.errors import SnapbotError
from bot.invocation import Invocation, Reply
from bot.messages import restore as messages
from bot.services import Services
from handlers.replies import fields

log = logging.getLogger(__name__)

RETRY_ACTION = "daily_retry"

#: What a click does: (clicker, button value, invocation) -> the clicker's answer.
Handle = Callable[[str, str, Invocation], Awaitable[Reply]]


def _click(body: dict[str, Any]) -> tuple[str, str, Invocation]:
    user = (body.get("user") or {}).get("id", "")
    channel = (body.get("channel") or {}).get("id", "") or (body.get("container") or {}).get("channel_id", "")
    action = (body.get("actions") or [{}])[0]
    inv = Invocation(user=user, channel=channel, source="slack",
                     idem_key=f"{action.get('action_id', '')}:{action.get('value', '')}:{action.get('action_ts', '')}")
    return user, action.get("value", ""), inv


def register(app: AsyncApp, services: Services) -> None:
    def button(action_id: str, handle: Handle) -> None:
        async def listener(ack: Any, body: dict[str, Any], respond: Any) -> None:
            await ack()
            user, value, inv = _click(body)
            try:
                reply = await handle(user, value, inv)
            except SnapbotError as exc:
                reply = Reply(messages.refusal(exc.user_message))
            except Exception:
                log.exception("%s on %s by %s failed", action_id, value, user)
                reply = Reply(messages.refusal("something went wrong; the error is in snapbot's log"))
            await respond(response_type="ephemeral" if reply.ephemeral else "in_channel",
                          replace_original=False, **fields(reply.message))

        listener.__name__ = f"on_{action_id}"
        app.action(action_id)(listener)

    dispatcher, approvals, restores = services.dispatcher, services.approvals, services.restores

    button("job_cancel", lambda u, job_id, inv: dispatcher.execute(JobsCancel(job_id=job_id), inv))
    button(RETRY_ACTION, lambda u, manager, inv: dispatcher.execute(
        SnapshotsScheduleRunNow(manager=manager or None), inv))
    for action_id, approve in (("restore_approve", True), ("job_approve", True),
                               ("restore_reject", False), ("job_reject", False)):
        button(action_id, lambda u, j, inv, approve=approve: approvals.decide(j, u, approve, idem_key=inv.idem_key))
    button("restore_retry", lambda u, j, inv: restores.retry(j, inv))
    button("restore_rollback", lambda u, j, inv: restores.rollback(j, inv))

    def followup(which: str) -> Handle:
        """A restore card's follow-up: the command it stands for, once per job and button."""
        async def handle(user: str, job_id: str, inv: Invocation) -> Reply:
            cmd = dispatcher.followup(job_id, which)
            return await dispatcher.execute(cmd, replace(inv, idem_key=f"restore_{which}:{job_id}"))
        return handle

    for which in ("deactivate", "agents", "plugins"):
        button(f"restore_{which}", followup(which))
