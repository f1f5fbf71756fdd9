"""Block Kit pieces every message uses: the message shape, line sections, list caps and a
confirmation. Pure functions `(data) -> {"text", "blocks"}`.

Every message stays within Slack's limits: a section's text at most 3000 characters, at most 50
blocks, a header at most 150; long lists end with "…and N more".
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.messages.blocks import SECTION_MAX, context, section, truncate

Message = dict[str, Any]


MAX_BLOCKS = 50


LIST_MAX = 25  # rows shown before "…and N more"


def capped(lines: Sequence[str], limit: int = LIST_MAX) -> list[str]:
    """The first `limit` lines, plus "…and N more" when some were left out."""
    if len(lines) <= limit:
        return list(lines)
    return list(lines[:limit]) + [f"…and {len(lines) - limit} more"]


def line_sections(lines: Sequence[str]) -> list[dict[str, Any]]:
    """Lines packed into as few sections as fit in SECTION_MAX each."""
    out: list[dict[str, Any]] = []
    buf = ""
    for line in lines:
        line = truncate(line)
        if buf and len(buf) + 1 + len(line) > SECTION_MAX:
            out.append(section(buf))
            buf = ""
        buf = f"{buf}\n{line}" if buf else line
    if buf:
        out.append(section(buf))
    return out


def message(text: str, blocks: list[dict[str, Any]]) -> Message:
    """Assemble a message, keeping at most MAX_BLOCKS blocks (the last says what was cut)."""
    if len(blocks) > MAX_BLOCKS:
        cut = len(blocks) - (MAX_BLOCKS - 1)
        blocks = blocks[: MAX_BLOCKS - 1] + [context(f"…and {cut} more blocks not shown")]
    return {"text": truncate(text), "blocks": blocks}


def confirmation(text: str) -> Message:
    """A short success reply."""
    t = f":white_check_mark: {text}"
    return message(t, [section(t)])
