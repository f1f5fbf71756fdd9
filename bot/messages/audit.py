"""`/cfy audit`: the audit log as a Block Kit message (pure).

Newest first, one line per entry: when, who (a mention made from the user id), where, what,
the outcome and why. Lines are packed into sections that stay within Slack's 3,000 characters
once escaped, and the whole within Slack's 50 blocks.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.audit_entry import AuditEntry
from bot.messages.blocks import context, header, section, when
from bot.messages.text import channel_mention, escape, mention

OUTCOME_EMOJI = {"ok": ":white_check_mark:", "refused": ":no_entry:", "failed": ":x:"}
#: entries shown at most (the query asks for one more, to know that there are more)
SHOWN = 60
#: a section's text budget, measured escaped (the edge escapes `&`, `<`, `>` and cuts at 3,000)
_SECTION_BUDGET = 2800
#: a line's length before escaping (at most 5 times longer after: `&` -> `&amp;`)
_LINE_MAX = 500
_MAX_BLOCKS = 50


def where(entry: AuditEntry) -> str:
    if entry.source == "terminal":
        return "the terminal"
    if entry.channel.startswith("D"):
        return "a DM"
    if entry.channel:
        return channel_mention(entry.channel)
    return entry.source or "?"


def audit_line(entry: AuditEntry) -> str:
    what = entry.what.replace("`", "'")  # inside a code span
    line = (f"{OUTCOME_EMOJI.get(entry.outcome, ':grey_question:')} {when(entry.at)} "
            f"{mention(entry.user)} in {where(entry)}: `{what}` *{entry.outcome}*")
    if entry.detail:
        line += f" ({entry.detail})" if entry.outcome != "ok" else f", {entry.detail}"
    return line if len(line) <= _LINE_MAX else line[:_LINE_MAX - 1] + "…"


def audit_message(entries: Sequence[AuditEntry], *, user: str | None = None,
                  since: str | None = None, shown: int = SHOWN) -> dict[str, Any]:
    """The entries (newest first) for whoever asked. At most `shown` of them, and fewer when
    long ones fill the message: the last block says that older ones were left out."""
    title = "Audit log" + (" of one user" if user else "") + (f" since {since}" if since else "")
    blocks: list[dict[str, Any]] = [header(title)]
    if user:
        blocks.append(context(f"Entries of {mention(user)}."))
    buf, size, count = "", 0, 0
    for entry in entries[:shown]:
        line = audit_line(entry)
        n = len(escape(line)) + 1
        if buf and size + n > _SECTION_BUDGET:
            if len(blocks) >= _MAX_BLOCKS - 2:  # room for this section and the closing context
                break
            blocks.append(section(buf))
            buf, size = "", 0
        buf, size, count = (f"{buf}\n{line}" if buf else line), size + n, count + 1
    if buf:
        blocks.append(section(buf))
    if not entries:
        blocks.append(section("_Nothing recorded" + (" for that user" if user else "")
                              + (" in that time" if since else "") + "._"))
    hint = "Narrow it with `--user U` or `--since 24h` (also 30m, 7d, 2w or a date)."
    if len(entries) > count:
        hint = f"Only the newest {count} are shown. " + hint
    blocks.append(context(hint))
    more = "+" if len(entries) > count else ""
    return {"text": f"{title}: {count}{more} entries", "blocks": blocks}
