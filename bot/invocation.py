"""Who asked for a command, from where, and what they get back. Shared by the Slack handlers and
the terminal (`snapbot cfy`), so the dispatcher never needs to know which one called it."""
from __future__ import annotations

from dataclasses import dataclass

from bot.notifier import Message


@dataclass(frozen=True)
class Invocation:
    user: str  # Slack user id (U...), or "local:<login>" from the terminal
    channel: str  # where jobs post their cards
    source: str = "slack"  # slack | terminal
    #: stable per request (Slack: the command's trigger_id). The same key twice is one request,
    #: so a Slack retry or a double submit never starts a second job.
    idem_key: str | None = None
    user_name: str = ""
    confirmed: bool = False  # terminal `--yes` for destructive commands


@dataclass(frozen=True)
class Reply:
    message: Message
    ephemeral: bool = True  # only the caller sees it (errors, help, lists); False: in channel
