"""Who asked for a command, from where, and what they get back. Shared by the Slack handlers and
the terminal (`snapbot cfy`), so the dispatcher never needs to know which one called it."""
from __future__ import annotations

from dataclasses import dataclass

from bot.notifier import Message


@dataclass(frozen=True)
class Invocation:
    user: str  # Slack user id (U...), or "local:<login>" from the terminal
    channel: str  # where jobs post their cards
    source: str = "slack"  # slack | terminal | schedule
    #: stable per request (Slack: the command's trigger_id). The same key twice is one request,
    #: so a Slack retry or a double submit never starts a second job.
    idem_key: str | None = None
    user_name: str = ""
    confirmed: bool = False  # terminal `--yes` for destructive commands
    #: a click: the message its button was on (Slack's container.message_ts); a click is taken
    #: only on the card of the job its button names
    message_ts: str | None = None

    def job_channel(self, default: str) -> str:
        """Where a job started by this request posts its card: the channel it came from, else
        the configured one. A terminal has no channel: its jobs report to stdout, and a request
        that needs approval gets its card posted by the Slack app (ApprovalService)."""
        if self.source == "terminal":
            return self.channel
        return self.channel or default


@dataclass(frozen=True)
class Reply:
    message: Message
    ephemeral: bool = True  # only the caller sees it (errors, help, lists); False: in channel
    refused: bool = False  # the command was refused and nothing was started (terminal: exit 1)
