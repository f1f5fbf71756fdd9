"""Help rendered from the command registry (`bot.commands.registry`): the topics `help TOPIC`
understands and the usage line of a command group."""
from __future__ import annotations

from bot.commands.registry import COMMANDS, PREFIX, CommandSpec


def group_usage(group: str) -> str:
    """`/cfy snapshots create|list|...` for an unknown or missing subcommand of `group`."""
    subs = [s.name.split(".")[1] for s in COMMANDS if s.group == group and "." in s.name]
    subs = list(dict.fromkeys(subs))
    return f"{PREFIX} {group} {'|'.join(subs)} ..."


def topics() -> list[str]:
    """Words `help TOPIC` understands: groups, subcommands and dotted names."""
    words: dict[str, None] = {}
    for s in COMMANDS:
        words[s.group] = None
        words.update(dict.fromkeys(s.name.split(".")[1:]))
        words[s.name] = None
    return list(words)


def topic_specs(topic: str | None) -> list[CommandSpec]:
    """The rows `help TOPIC` shows: all of them for None, else those whose group, subcommand or
    dotted name is the topic (`snapshots`, `restore`, `snapshots.restore`, `snapshots restore`).
    Empty for an unknown topic."""
    if not topic:
        return list(COMMANDS)
    t = topic.strip().lower().replace(" ", ".")
    return [s for s in COMMANDS
            if t in (s.group, s.name) or t in s.name.split(".")[1:]]
