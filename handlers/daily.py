"""The daily report's **Retry now** button (`daily_retry`, value: manager name).

A click is `/cfy snapshots schedule run-now --manager M` by the clicker, through the dispatcher,
so the same authorization and approval rules apply as for the typed command.
"""
from __future__ import annotations

import logging
from typing import Any

from bot.commands.model import SnapshotsScheduleRunNow
from bot.errors import SnapbotError
from bot.invocation import Invocation
from handlers.replies import error_reply, fields

log = logging.getLogger(__name__)

RETRY_ACTION = "daily_retry"


def register(app: Any, services: Any) -> None:
    @app.action(RETRY_ACTION)
    async def daily_retry(ack: Any, body: dict, respond: Any) -> None:
        await ack()
        user = (body.get("user") or {}).get("id", "")
        channel = (body.get("channel") or {}).get("id", "")
        action = (body.get("actions") or [{}])[0]
        manager = action.get("value") or None
        inv = Invocation(user=user, channel=channel, source="slack",
                         idem_key=f"daily_retry:{manager}:{action.get('action_ts', '')}")
        try:
            reply = await services.dispatcher.execute(SnapshotsScheduleRunNow(manager=manager), inv)
        except Exception as exc:
            if not isinstance(exc, SnapbotError):
                log.exception("daily_retry of %s by %s failed", manager, user)
            await respond(response_type="ephemeral", replace_original=False, **error_reply(exc))
            return
        await respond(response_type="ephemeral" if reply.ephemeral else "in_channel",
                      replace_original=False, **fields(reply.message))
