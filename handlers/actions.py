"""Generic job buttons. `job_cancel` (value: job id) runs `/cfy jobs cancel ID` for the clicker,
so the dispatcher's rule (requester or approver) applies to the button too. Approve/reject
buttons live in handlers/approvals.py."""
from __future__ import annotations

import logging
from typing import Any

from bot.commands.model import JobsCancel
from bot.errors import SnapbotError
from bot.invocation import Invocation
from handlers.replies import error_reply, fields

log = logging.getLogger(__name__)


def register(app: Any, services: Any) -> None:
    @app.action("job_cancel")
    async def job_cancel(ack: Any, body: dict, respond: Any) -> None:
        await ack()
        user = (body.get("user") or {}).get("id", "")
        channel = (body.get("channel") or {}).get("id", "")
        action = (body.get("actions") or [{}])[0]
        job_id = action.get("value", "")
        inv = Invocation(user=user, channel=channel, source="slack",
                         idem_key=f"job_cancel:{job_id}:{action.get('action_ts', '')}")
        try:
            reply = await services.dispatcher.execute(JobsCancel(job_id=job_id), inv)
        except SnapbotError as exc:
            await respond(response_type="ephemeral", replace_original=False, **error_reply(exc))
            return
        except Exception as exc:
            log.exception("job_cancel %s by %s failed", job_id, user)
            await respond(response_type="ephemeral", replace_original=False, **error_reply(exc))
            return
        await respond(response_type="ephemeral" if reply.ephemeral else "in_channel",
                      replace_original=False, **fields(reply.message))
