"""One row of the audit log (`bot.audit`): read by the log and by its message
(`bot.messages.audit`), which the log renders, so it lives apart from both."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class AuditEntry:
    """One row of `audit` (bot.audit): a command or click, accepted or refused."""
    at: datetime
    user: str  # Slack user id, or `local:<login>` from the terminal
    source: str  # slack | terminal | schedule
    channel: str
    what: str  # the command with its arguments, secrets redacted
    outcome: str  # ok | refused | failed
    detail: str = ""  # why (refused, failed), or the job it started
