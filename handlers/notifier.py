"""`bot.notifier.Notifier` over the Slack Web API.

The client's retry handlers absorb 429s (honouring Retry-After) and transient 5xx; what is left
is logged and raised as SnapbotError. Slack's error code goes into the message, the token never
does (slack_sdk errors carry the response, not the request headers, and we do not echo either).
"""
from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable

from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import SnapbotError
from bot.notifier import Message, MessageRef

log = logging.getLogger(__name__)


class SlackNotifier:
    def __init__(self, client: AsyncWebClient, *,
                 on_error: Callable[[str], None] | None = None) -> None:
        self.client = client
        self.on_error = on_error or (lambda method: None)  # e.g. the Slack API error counter

    async def post(self, channel: str, message: Message, *, thread_ts: str | None = None) -> MessageRef:
        kwargs: dict[str, Any] = _fields(message)
        if thread_ts:
            kwargs["thread_ts"] = thread_ts
        resp = await self._call("chat.postMessage", self.client.chat_postMessage(channel=channel, **kwargs))
        return MessageRef(resp.get("channel") or channel, resp["ts"])

    async def update(self, ref: MessageRef, message: Message) -> None:
        await self._call("chat.update", self.client.chat_update(channel=ref.channel, ts=ref.ts, **_fields(message)))

    async def ephemeral(self, channel: str, user: str, message: Message) -> None:
        await self._call("chat.postEphemeral",
                         self.client.chat_postEphemeral(channel=channel, user=user, **_fields(message)))

    async def usergroup_members(self, group: str) -> list[str]:
        """The user ids in a Slack user group (S...): how approver groups are resolved."""
        resp = await self._call("usergroups.users.list", self.client.usergroups_users_list(usergroup=group))
        return list(resp.get("users") or [])

    async def _call(self, method: str, call: Awaitable[Any]) -> Any:
        try:
            return await call
        except SlackApiError as exc:
            self.on_error(method)
            code = _error_code(exc)
            log.warning("Slack %s failed: %s", method, code)
            raise SnapbotError(f"Slack {method} failed: {code}") from None
        except SlackClientError as exc:
            self.on_error(method)
            log.warning("Slack %s failed: %s", method, type(exc).__name__)
            raise SnapbotError(f"Slack {method} failed: {type(exc).__name__}") from None
        except OSError as exc:
            self.on_error(method)
            log.warning("Slack %s unreachable: %s", method, type(exc).__name__)
            raise SnapbotError(f"Slack {method} unreachable") from None


def _error_code(exc: SlackApiError) -> str:
    """Slack's error code, or the HTTP status when the body was not Slack's JSON (a proxy or an
    outage page answering 5xx)."""
    resp = exc.response
    data = getattr(resp, "data", None)
    if isinstance(data, dict) and data.get("error"):
        return str(data["error"])
    status = getattr(resp, "status_code", None)
    return f"HTTP {status}" if status else "unknown_error"


def _fields(message: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"text": message.get("text") or " "}
    if message.get("blocks"):
        out["blocks"] = message["blocks"]
    return out
