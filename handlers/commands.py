"""`/cfy`: parse, ack within Slack's 3 seconds, hand the command to the dispatcher, respond.

A usage error is answered inside the ack (ephemeral). Everything else is acked empty at once and
answered through `respond` (the command's response_url), ephemeral or in channel as the
dispatcher's Reply says; that work runs on the handlers' background backlog, never on the ack
path. The command's trigger_id is the request's idempotency key, so a Slack retry
(`X-Slack-Retry-Num`) of a command already received never starts a second job.
"""
from __future__ import annotations

import logging
from typing import Any

from slack_bolt.app.async_app import AsyncApp

from bot.commands.model import Command
from bot.commands.parser import parse
from bot.errors import UsageError
from bot.invocation import Invocation, Reply
from bot.logs import field
from bot.services import Services
from handlers.backlog import Backlog
from handlers.replies import answer, usage_reply

log = logging.getLogger(__name__)

COMMAND = "/cfy"


def _strip_command(text: str) -> str:
    text = (text or "").strip()
    return text[len(COMMAND):].strip() if text.startswith(COMMAND + " ") or text == COMMAND else text


def _retry_num(request: Any) -> int:
    """Slack's retry counter for this delivery (0 on the first one)."""
    headers = getattr(request, "headers", None) or {}
    values = headers.get("x-slack-retry-num") or []
    try:
        return int(values[0]) if values else 0
    except (TypeError, ValueError):
        return 0


def register(app: AsyncApp, services: Services) -> None:
    # trigger_ids already accepted by this process: a retry that arrives while the first
    # delivery is still running is dropped here; after a restart the store's idem_key lookup
    # (in the dispatcher) answers for it.
    seen: dict[str, None] = {}
    backlog = Backlog()

    @app.middleware
    async def acking(next: Any) -> Any:
        # every request (commands, buttons) counts while it is being acked: the backlog's
        # workers wait for a quiet moment before starting the next piece of work
        backlog.request_started()
        try:
            return await next()
        finally:
            backlog.request_acked()

    @app.command(COMMAND)
    async def cfy(ack: Any, body: dict[str, Any], respond: Any, request: Any) -> None:
        text = _strip_command(body.get("text", ""))
        user = body.get("user_id", "")
        channel = body.get("channel_id", "")
        trigger_id = body.get("trigger_id") or None
        try:
            cmd = parse(text)
        except UsageError as exc:
            await ack(response_type="ephemeral", **usage_reply(exc))
            # audited like any refusal (the dispatcher redacts and cuts the text)
            services.dispatcher.record(Invocation(user=user, channel=channel, source="slack"),
                                       text or "(empty)", "refused", exc.problem)
            return
        if trigger_id and trigger_id in seen:
            log.info("dropping retry %s of /cfy from %s", _retry_num(request), field(user))
            await ack()
            return
        if not backlog.has_room():
            await ack(response_type="ephemeral",
                      text=":hourglass: snapbot is busy with earlier commands; try again in a minute.")
            return
        if trigger_id:
            seen[trigger_id] = None
            if len(seen) > 10_000:  # bounded: the oldest keys go first
                for key in list(seen)[:5_000]:
                    seen.pop(key, None)
        await ack()
        inv = Invocation(user=user, channel=channel, source="slack", idem_key=trigger_id,
                         user_name=body.get("user_name", ""))
        # everything after the ack runs in the background, so the next command's ack never
        # waits behind this one's work
        backlog.submit(lambda: _execute(services, cmd, inv, respond))


async def _execute(services: Services, cmd: Command, inv: Invocation, respond: Any) -> None:
    reply: Reply = await services.dispatcher.execute(cmd, inv)  # never raises: errors are replies
    await answer(respond, reply.message, ephemeral=reply.ephemeral,
                 fallback=lambda message: services.outbox.ephemeral(inv.channel, inv.user, message))
