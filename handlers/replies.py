"""Turning domain messages and errors into Slack reply kwargs (for ack/respond)."""
from __future__ import annotations

from typing import Any

from bot.errors import UsageError
from bot.messages.common import usage_error
from bot.messages.text import for_slack


def fields(message: dict[str, Any]) -> dict[str, Any]:
    """The keys ack()/respond() accept from a Block Kit message dict, escaped and cut to
    Slack's limits (bot.messages.text.for_slack)."""
    message = for_slack(message)
    return {k: v for k, v in message.items() if k in ("text", "blocks", "attachments")}


def usage_reply(exc: UsageError) -> dict[str, Any]:
    return fields(usage_error(exc))
