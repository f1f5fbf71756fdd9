"""Turning domain messages and errors into Slack reply kwargs (for ack/respond)."""
from __future__ import annotations

from typing import Any

try:
    from bot.messages.common import error_message, usage_error
except ImportError:  # pragma: no cover - only while bot.messages.common is being written
    def _plain(text: str) -> dict[str, Any]:
        return {"text": text, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]}

    def error_message(exc: BaseException) -> dict[str, Any]:  # type: ignore[misc]
        text = getattr(exc, "user_message", None) or "Something went wrong; the details are in the bot's log."
        return _plain(f":x: {text}")

    def usage_error(exc: BaseException) -> dict[str, Any]:  # type: ignore[misc]
        return _plain(f":warning: {exc}")


def fields(message: dict[str, Any]) -> dict[str, Any]:
    """The keys ack()/respond() accept from a Block Kit message dict."""
    return {k: v for k, v in message.items() if k in ("text", "blocks", "attachments")}


def error_reply(exc: BaseException) -> dict[str, Any]:
    return fields(error_message(exc))


def usage_reply(exc: BaseException) -> dict[str, Any]:
    return fields(usage_error(exc))
