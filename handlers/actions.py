"""Every button: acked at once, then handed to bot.clicks.Buttons, which authorizes it as the
command it stands for (channel, role, approval) and takes it only on its own job's card. The
clicker gets an ephemeral answer (a refusal with its reason, or what happened); decisions update
the card itself through the job runner.
"""
from __future__ import annotations

import logging
from typing import Any

from slack_bolt.app.async_app import AsyncApp

from bot.clicks import ACTIONS, Click
from bot.invocation import Invocation
from bot.notifier import plain_text
from bot.services import Services
from handlers.replies import answer

log = logging.getLogger(__name__)


def _click(body: dict[str, Any]) -> Click:
    user = (body.get("user") or {}).get("id", "")
    container = body.get("container") or {}
    channel = (body.get("channel") or {}).get("id", "") or container.get("channel_id", "")
    action = (body.get("actions") or [{}])[0]
    action_id, value = str(action.get("action_id", "")), str(action.get("value", ""))
    inv = Invocation(user=user, channel=channel, source="slack",
                     idem_key=f"{action_id}:{value}:{action.get('action_ts', '')}",
                     message_ts=container.get("message_ts") or None)
    return Click(action_id, value, str(action.get("block_id", "")), inv)


def register(app: AsyncApp, services: Services) -> None:
    def button(action_id: str) -> None:
        async def listener(ack: Any, body: dict[str, Any], respond: Any) -> None:
            await ack()
            click = _click(body)
            reply = await services.buttons.click(click)
            if (body.get("container") or {}).get("type") == "view":
                # the App Home tab has no thread to answer in: its view shows what happened
                log.info("Home click %s by %s: %s", click.action, click.inv.user,
                         plain_text(reply.message)[:200])
                user = click.inv.user
                await services.posture.publish_home(
                    user, approver=services.approvals.is_approver(user),
                    viewer=services.dispatcher.access.may_read(user),
                    note=plain_text(reply.message)[:500])
                return
            inv = click.inv
            await answer(respond, reply.message, ephemeral=reply.ephemeral,
                         fallback=lambda message: services.outbox.ephemeral(inv.channel, inv.user, message))

        listener.__name__ = f"on_{action_id}"
        app.action(action_id)(listener)

    for action_id in ACTIONS:
        button(action_id)
