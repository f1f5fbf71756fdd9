"""Turning domain messages and errors into Slack reply kwargs (for ack/respond), and answering
through a response_url without losing the answer (`answer`)."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import aiohttp

from bot.errors import UsageError
from bot.messages.errors import usage_error
from bot.messages.text import for_slack

log = logging.getLogger(__name__)


def fields(message: dict[str, Any]) -> dict[str, Any]:
    """The keys ack()/respond() accept from a Block Kit message dict, escaped and cut to
    Slack's limits (bot.messages.text.for_slack)."""
    message = for_slack(message)
    return {k: v for k, v in message.items() if k in ("text", "blocks", "attachments")}


def usage_reply(exc: UsageError) -> dict[str, Any]:
    return fields(usage_error(exc))


#: waits (seconds) between attempts at a response_url answer: a blip is ridden out, an outage
#: falls back to the channel quickly
RESPOND_DELAYS = (0.5, 2.0)

Respond = Callable[..., Awaitable[Any]]
Fallback = Callable[[dict[str, Any]], object]


async def answer(respond: Respond | None, message: dict[str, Any], *, ephemeral: bool,
                 fallback: Fallback, delays: Sequence[float] | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> bool:
    """Answer through the request's response_url, retrying a 429, a 5xx, a timeout or a lost
    connection after each of `delays`. When the answer cannot be given (no response_url, Slack
    refuses it, the retries run out), say so in the log and hand the message to `fallback` (an
    ephemeral message in the channel, through the outbox). True when the response_url took it."""
    delays = RESPOND_DELAYS if delays is None else delays
    kwargs = dict(response_type="ephemeral" if ephemeral else "in_channel",
                  replace_original=False, **fields(message))
    why = "the request had no response_url"
    for attempt in range(len(delays) + 1):
        if respond is None or getattr(respond, "response_url", "") is None:
            break
        if attempt:
            await sleep(delays[attempt - 1])
        try:
            resp = await respond(**kwargs)
        except (TimeoutError, OSError, aiohttp.ClientError) as exc:
            why = f"response_url unreachable ({type(exc).__name__})"
            continue
        status = int(getattr(resp, "status_code", 200) or 200)
        if status < 300:
            return True
        why = f"response_url answered HTTP {status}"
        if status != 429 and status < 500:
            break  # the URL expired or refused the message: retrying cannot help
    log.warning("reply lost: %s; sending it as an ephemeral message in the channel instead", why)
    try:
        fallback(message)
    except Exception:
        log.exception("reply lost: the ephemeral fallback could not be queued either")
    return False
