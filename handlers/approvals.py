"""Approval and restore-card buttons. Each click is acked at once, then handed to bot/: the
clicker gets an ephemeral answer (a refusal with its reason, or what happened); decisions update
the card itself through the job runner."""
from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable

from bot.errors import SnapbotError
from bot.invocation import Invocation, Reply
from bot.messages import restore as messages
from handlers.replies import fields

log = logging.getLogger(__name__)


def _click(body: dict) -> tuple[str, str, Invocation]:
    user = (body.get("user") or {}).get("id", "")
    channel = (body.get("channel") or {}).get("id", "") or (body.get("container") or {}).get("channel_id", "")
    action = (body.get("actions") or [{}])[0]
    inv = Invocation(user=user, channel=channel, source="slack",
                     idem_key=f"{action.get('action_id', '')}:{action.get('value', '')}:{action.get('action_ts', '')}")
    return user, action.get("value", ""), inv


def register(app: Any, services: Any) -> None:
    async def answer(respond: Any, reply: Reply) -> None:
        await respond(response_type="ephemeral" if reply.ephemeral else "in_channel",
                      replace_original=False, **fields(reply.message))

    def button(action_id: str, handle: Callable[[str, str, Invocation], Awaitable[Reply]]) -> None:
        async def listener(ack: Any, body: dict, respond: Any) -> None:
            await ack()
            user, job_id, inv = _click(body)
            try:
                reply = await handle(user, job_id, inv)
            except SnapbotError as exc:
                reply = Reply(messages.refusal(exc.user_message))
            except Exception:
                log.exception("%s on %s by %s failed", action_id, job_id, user)
                reply = Reply(messages.refusal("something went wrong; the error is in snapbot's log"))
            await answer(respond, reply)

        listener.__name__ = f"on_{action_id}"
        app.action(action_id)(listener)

    approvals = lambda: services.approvals  # noqa: E731 (looked up per click: set at install)
    restores = lambda: services.restores  # noqa: E731

    for action_id, approve in (("restore_approve", True), ("job_approve", True),
                               ("restore_reject", False), ("job_reject", False)):
        button(action_id, lambda u, j, inv, approve=approve: approvals().decide(j, u, approve, idem_key=inv.idem_key))
    button("restore_retry", lambda u, j, inv: restores().retry(j, inv))
    button("restore_deactivate", lambda u, j, inv: restores().deactivate(j, inv))
    button("restore_rollback", lambda u, j, inv: restores().rollback(j, inv))
    button("restore_agents", lambda u, j, inv: restores().post_upgrade(j, "agents", inv))
    button("restore_plugins", lambda u, j, inv: restores().post_upgrade(j, "plugins", inv))

    if services.settings.approvals.approver_groups and services.approvals is not None:
        async def resolve(group: str) -> list[str]:
            resp = await app.client.usergroups_users_list(usergroup=group)
            return list(resp.get("users") or [])

        services.approvals.group_resolver = resolve
