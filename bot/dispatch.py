"""The dispatcher: runs a parsed command for someone and says what to tell them. (stub)"""
from __future__ import annotations

import logging
from typing import Any

from bot.commands.model import Command
from bot.invocation import Invocation, Reply

log = logging.getLogger(__name__)


def _text(text: str) -> dict[str, Any]:
    return {"text": text, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]}


class Dispatcher:
    def __init__(self, services: Any) -> None:
        self.services = services

    async def execute(self, cmd: Command, inv: Invocation) -> Reply:
        return Reply(_text(f"`{cmd.name}` is not implemented yet"), ephemeral=True)
