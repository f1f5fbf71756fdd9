"""How the domain talks to people without knowing Slack.

Messages are Block Kit-shaped dicts built by `bot.messages` (`{"text": fallback, "blocks": [...]}`).
`handlers.notifier.SlackNotifier` implements this with the Slack Web API; `ConsoleNotifier`
prints to a terminal (`snapbot cfy`, `snapbot daily --once`).
Jobs, approvals and the daily report do not call a notifier directly: they queue messages in the
outbox (`bot.outbox`), whose sender (`bot.delivery`) delivers them through one.
"""
from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from bot.messages.text import unwrap  # snapbot's own mentions, for reading

Message = dict[str, Any]


@dataclass(frozen=True)
class MessageRef:
    channel: str
    ts: str


class Notifier(Protocol):
    """What the domain asks of a way to reach people: the runner, the daily report and the
    outbox's sender are its callers."""

    @property
    def local(self) -> bool:
        """True when it never stands for Slack (a terminal's console): it only echoes, and
        whatever is queued stays in the outbox for a process that delivers to Slack."""

    async def post(self, channel: str, message: Message, *, thread_ts: str | None = None,
                   key: str | None = None) -> MessageRef:
        """Post in a channel (or as a thread reply). Returns where it landed. `key` (the
        outbox row's) travels with the post, so `find_posted` can find it later."""

    async def find_posted(self, channel: str, key: str, *, thread_ts: str | None = None,
                          oldest: float = 0.0) -> str | None:
        """The ts of a post made earlier with `key` (in `thread_ts`'s thread, or at the top of
        the channel since `oldest`); None when there is none or nothing to look in."""

    async def update(self, ref: MessageRef, message: Message) -> None:
        """Replace a message posted earlier."""

    async def ephemeral(self, channel: str, user: str, message: Message) -> None:
        """A message only `user` sees."""


@runtime_checkable
class HomePublisher(Protocol):
    """A notifier that can publish a user's App Home view (Slack's views.publish)."""

    async def publish_home(self, user: str, view: Message) -> None: ...


def plain_text(message: Message) -> str:
    """A terminal rendering of a Block Kit message: section/context/header texts, one per line."""
    lines: list[str] = []
    for block in message.get("blocks") or []:
        btype = block.get("type")
        if btype in ("section", "header"):
            text = (block.get("text") or {}).get("text")
            if text:
                lines.append(text)
            for f in block.get("fields") or []:
                lines.append(f.get("text", ""))
        elif btype == "context":
            lines.append(" ".join(e.get("text", "") for e in block.get("elements") or []))
        elif btype == "actions":
            labels = [(e.get("text") or {}).get("text", "") for e in block.get("elements") or []]
            lines.append("[" + "] [".join(labels) + "]")
        elif btype == "rich_text":
            continue
    return unwrap("\n".join(lines) if lines else str(message.get("text", "")))


class ConsoleNotifier:
    """Prints messages as text. `write` defaults to print.

    It is `local`: it never stands for Slack. A process built with it does not deliver the
    outbox; it echoes each message it queues (`echo`) and leaves it for `snapbot run`."""

    local = True

    def __init__(self, write: Callable[[str], None] = print) -> None:
        self._write = write
        self._ts = itertools.count(1)

    async def post(self, channel: str, message: Message, *, thread_ts: str | None = None,
                   key: str | None = None) -> MessageRef:
        ref = MessageRef(channel, f"{next(self._ts)}.000")
        self._write(("  ↳ " if thread_ts else "") + plain_text(message))
        return ref

    async def find_posted(self, channel: str, key: str, *, thread_ts: str | None = None,
                          oldest: float = 0.0) -> str | None:
        return None  # a terminal keeps nothing to look in

    async def update(self, ref: MessageRef, message: Message) -> None:
        self._write(plain_text(message))

    async def ephemeral(self, channel: str, user: str, message: Message) -> None:
        self._write(plain_text(message))

    def echo(self, row: Any) -> None:
        """Print a message queued in the outbox (bot.outbox.OutboxRow)."""
        self._write(("  ↳ " if row.kind == "reply" else "") + plain_text(row.message))
