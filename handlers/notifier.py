"""`bot.notifier.Notifier` over the Slack Web API.

Failures are raised as `bot.outbox.DeliveryFailed`, saying what the outbox sender should do:
429 carries Slack's Retry-After; 5xx, timeouts, unreachable and auth problems are worth retrying
(the message stays queued); a 5xx, a timeout or a lost connection also says that Slack may
have taken the call (`unknown`: a post is looked up before it is sent again); errors about the message itself (channel_not_found, invalid_blocks,
msg_too_long, ...) are permanent. Slack's error code goes into the message, the token never
does (slack_sdk errors carry the response, not the request headers, and we do not echo either).
"""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.messages.text import for_slack
from bot.notifier import Message, MessageRef
from bot.outbox import DeliveryFailed

log = logging.getLogger(__name__)


class SlackNotifier:
    local = False

    def __init__(self, client: AsyncWebClient, *,
                 on_error: Callable[[str], None] | None = None) -> None:
        self.client = client
        self.on_error = on_error or (lambda method: None)  # e.g. the Slack API error counter

    async def post(self, channel: str, message: Message, *, thread_ts: str | None = None,
                   key: str | None = None) -> MessageRef:
        """`key` rides along as message metadata, so `find_posted` can tell later whether a
        post whose answer was lost (the process died) reached Slack."""
        kwargs: dict[str, Any] = _fields(message)
        if thread_ts:
            kwargs["thread_ts"] = thread_ts
        if key:
            kwargs["metadata"] = {"event_type": METADATA_EVENT, "event_payload": {"key": key}}
        resp = await self._call("chat.postMessage", self.client.chat_postMessage(channel=channel, **kwargs))
        return MessageRef(resp.get("channel") or channel, resp["ts"])

    async def find_posted(self, channel: str, key: str, *, thread_ts: str | None = None,
                          oldest: float = 0.0) -> str | None:
        """The ts of the message this app posted with `key` (in `thread_ts`'s thread, or at the
        top of the channel since `oldest`), None if there is none."""
        if thread_ts:
            call = self.client.conversations_replies(channel=channel, ts=thread_ts, limit=200,
                                                     include_all_metadata=True)
            resp = await self._call("conversations.replies", call)
        else:
            call = self.client.conversations_history(channel=channel, oldest=f"{oldest:.6f}", limit=200,
                                                     include_all_metadata=True)
            resp = await self._call("conversations.history", call)
        for m in resp.get("messages") or []:
            meta = m.get("metadata") or {}
            if meta.get("event_type") == METADATA_EVENT and (meta.get("event_payload") or {}).get("key") == key:
                return str(m.get("ts"))
        return None

    async def update(self, ref: MessageRef, message: Message) -> None:
        await self._call("chat.update", self.client.chat_update(channel=ref.channel, ts=ref.ts, **_fields(message)))

    async def ephemeral(self, channel: str, user: str, message: Message) -> None:
        await self._call("chat.postEphemeral",
                         self.client.chat_postEphemeral(channel=channel, user=user, **_fields(message)))

    async def publish_home(self, user: str, view: Message) -> None:
        """The user's App Home tab (views.publish)."""
        await self._call("views.publish", self.client.views_publish(user_id=user, view=view))

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
            status = getattr(exc.response, "status_code", None) or 0
            log.warning("Slack %s failed: %s", method, code)
            retry_after = _retry_after(exc) if status == 429 or code == "ratelimited" else None
            permanent = retry_after is None and status < 500 and code not in TRANSIENT
            # a 5xx (or Slack's own internal error) came after the request was sent: Slack may
            # have stored the post all the same, so the next attempt looks it up first
            unknown = retry_after is None and (status >= 500 or code in AMBIGUOUS)
            raise DeliveryFailed(f"Slack {method} failed: {code}", retry_after=retry_after,
                                 permanent=permanent, unknown=unknown) from None
        except SlackClientError as exc:
            self.on_error(method)
            log.warning("Slack %s failed: %s", method, type(exc).__name__)
            raise DeliveryFailed(f"Slack {method} failed: {type(exc).__name__}", unknown=True) from None
        except (TimeoutError, OSError) as exc:
            self.on_error(method)
            log.warning("Slack %s unreachable: %s", method, type(exc).__name__)
            raise DeliveryFailed(f"Slack {method} unreachable", unknown=True) from None


#: The metadata event type of snapbot's posts (carrying the outbox key).
METADATA_EVENT = "snapbot_outbox"

#: Slack error codes that say Slack itself failed while handling the call: whether the post
#: was stored is not known.
AMBIGUOUS = frozenset({"internal_error", "fatal_error", "service_unavailable", "request_timeout",
                       "unknown_error"})

#: Slack error codes worth retrying: Slack's own trouble, or the app's credentials (fixed by an
#: operator while the messages wait). Anything else is about the message and will not change.
TRANSIENT = frozenset({"ratelimited", "internal_error", "fatal_error", "service_unavailable",
                       "request_timeout", "invalid_auth", "not_authed", "account_inactive",
                       "token_revoked", "token_expired", "team_added_to_org", "unknown_error"})


def _retry_after(exc: SlackApiError) -> float:
    headers = getattr(exc.response, "headers", None) or {}
    value = headers.get("Retry-After") or headers.get("retry-after")
    if isinstance(value, list):
        value = value[0] if value else None
    if value is None:
        return 1.0
    try:
        return max(float(value), 0.0)
    except (TypeError, ValueError):
        return 1.0


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
    message = for_slack(message)  # escaped, snapbot's own mentions kept, cut to Slack's limits
    out: dict[str, Any] = {"text": message.get("text") or " "}
    if message.get("blocks"):
        out["blocks"] = message["blocks"]
    return out
