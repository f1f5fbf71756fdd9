"""Block Kit pieces and value formatting shared by every message builder.

Pure and dependency-free, so `common`, `jobs`, `restore` and `daily` all build on the same limits
(a section's text at most 3000 characters, a header at most 150) and write sizes, durations and
times the same way.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.clock import parse_time

Message = dict[str, Any]

SECTION_MAX = 3000
HEADER_MAX = 150


def truncate(text: str, limit: int = SECTION_MAX) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": truncate(text)}}


def header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": truncate(text, HEADER_MAX),
                                       "emoji": True}}


def context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(text)}]}


def divider() -> dict[str, Any]:
    return {"type": "divider"}


def button(text: str, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    b: dict[str, Any] = {"type": "button", "text": {"type": "plain_text", "text": text},
                         "action_id": action_id, "value": value}
    if style:
        b["style"] = style
    return b


def message(text: str, blocks: list[dict[str, Any]]) -> Message:
    """A message: `text` is the notification/fallback, `blocks` what Slack shows."""
    return {"text": text, "blocks": blocks}


def human_size(n: float | None) -> str:
    """Bytes in 1024 steps: '512 B', '1.4 KB', '1.2 GB'."""
    if n is None:
        return "?"
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024:
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"


def human_duration(seconds: float | None) -> str:
    """'42s', '3m07s', '2h05m'."""
    if seconds is None:
        return "?"
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m}m{s:02d}s"
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m"


def _dt(value: str | datetime | None) -> datetime | None:
    return parse_time(value) if isinstance(value, str) else value


def when(value: str | datetime | None, missing: str = "-") -> str:
    """A full UTC time: '2026-11-25 12:21:05 UTC'."""
    dt = _dt(value)
    return dt.strftime("%Y-%m-%d %H:%M:%S UTC") if dt else missing


def hhmmss(value: str | datetime | None, missing: str = "--:--:--") -> str:
    """A time of day, for checklists: '12:21:05'."""
    dt = _dt(value)
    return dt.strftime("%H:%M:%S") if dt else missing
