"""The help message: every command, or one topic, with who may run it and what needs approval."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.commands.help import topic_specs
from bot.commands.registry import ALWAYS, COMMANDS, CONFIGURABLE, CommandSpec
from bot.messages.blocks import context, header, section
from bot.messages.common import Message, capped, line_sections, message


def _approval_note(s: CommandSpec) -> str:
    if s.approval == ALWAYS:
        return " _(needs approval)_"
    if s.approval == CONFIGURABLE:
        return " _(may need approval)_"
    return ""


def help_message(topic: str | None = None, managers: Sequence[str] = (),
                 specs: Sequence[CommandSpec] = COMMANDS) -> Message:
    """`/cfy help [topic]`: the commands (all, or the topic's) with examples, and the managers.

    `managers` are the configured manager names, the first being the default."""
    shown = [s for s in topic_specs(topic) if s in specs] if topic else list(specs)
    blocks: list[dict[str, Any]] = []
    if topic and not shown:
        blocks.append(section(f":grey_question: No help topic `{topic}`; here is everything."))
        shown, topic = list(specs), None
    title = f"snapbot help: {topic}" if topic else "snapbot: Cloudify Manager backups from Slack"
    blocks.append(header(title))
    groups: dict[str, list[CommandSpec]] = {}
    for s in shown:
        groups.setdefault(s.group, []).append(s)
    for group, items in groups.items():
        lines = [f"*{group}*"] if not topic else []
        for s in items:
            lines.append(f"`{s.line}`{_approval_note(s)}\n{s.summary}")
            if topic:
                lines.append(f"Example: `{s.example_line}`")
        blocks.extend(line_sections(lines))
    if not topic:
        examples = ", ".join(f"`{s.example_line}`" for s in shown[:4])
        blocks.append(context(f"Examples: {examples}. `/cfy help TOPIC` (e.g. `restore`, "
                              "`maintenance-mode`) shows details."))
    if managers:
        names = [f"`{managers[0]}` (default)"] + [f"`{n}`" for n in managers[1:]]
        blocks.append(context("Managers: " + ", ".join(capped(names, 20))
                              + ". Choose one with `--manager NAME`."))
    text = title + ": " + "; ".join(s.line for s in shown)
    return message(text, blocks)


