"""`/cfy` text -> typed Command, in the `cfy` CLI's grammar.

Pure: no I/O, nothing is sent anywhere. Each command's grammar and usage line come from its spec
in `bot.commands.registry`; every problem raises `UsageError(problem, usage)` with the usage line
of the command concerned.

Slack rewrites what people type, so the text is normalized first: smart quotes become ASCII
quotes, em/en dashes at the start of a word become `--`, non-breaking and zero-width spaces
become plain spaces, `<http://x|label>` links become what the user typed, and Slack's three
escapes (`&amp;`, `&lt;`, `&gt;`) are undone, once: no other entity is decoded, and a value
holding `<` or `>` is refused by its validator (ids, names and URLs never contain them), so
nothing typed can come back out as Slack markup. Every pattern here runs in linear time (no
nested or overlapping repetition), whatever the input. Command words are case-insensitive (phones capitalize the first word);
values (ids, names) are taken as typed.
"""
from __future__ import annotations

import difflib
import re
import shlex

from bot.commands import model as m
from bot.commands.grammar import FALSE, OPTIONAL, TRUE, show
from bot.commands.help import group_usage, topic_specs, topics
from bot.commands.registry import COMMANDS, DEFAULT_SUBCOMMAND, GROUPS, PREFIX, spec
from bot.errors import UsageError
from bot.messages.text import strip_markers

GENERAL_USAGE = f"{PREFIX} help"
#: The longest command text read (characters). Every real command is far shorter; longer text
#: is refused before normalizing or tokenizing, whatever it holds.
MAX_TEXT = 2000


# --- text normalization and tokenizing ------------------------------------------------------------

_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"',
                         "\u00ab": '"', "\u00bb": '"', "\u2033": '"',
                         "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'",
                         "\u2032": "'"})
_QUOTE_CHARS = re.compile("[" + "".join(chr(c) for c in _QUOTES) + "]")
_SPACES = re.compile(r"[\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000\s]+")
_INVISIBLE = re.compile(r"[\u200b\u200c\u200d\u2060\ufeff]")
# `<` is excluded inside, so each try stops at the next `<`: linear even on "<http:" * 10**5
_LINK = re.compile(r"<((?:https?|ftp|mailto):[^|<>\s]*)(?:\|([^<>]*))?>")
# a dash at the start of a word (after a space or at the very start), before a letter: a
# lookbehind rather than a `(^| )` group, so each replacement is a plain string (no template)
_DASH_FLAG = re.compile(r"(?<![^ ])[\u2014\u2013\u2212](?=[A-Za-z])")


def normalize(text: str) -> str:
    """Undo Slack's and phones' rewriting of typed text (see module docstring)."""
    text = strip_markers(_INVISIBLE.sub("", text))
    # <http://x|x>: keep the label when there is one, it is what the user typed (Slack links
    # bare domain-like words too, e.g. an id "nightly.io" arrives as <http://nightly.io|nightly.io>)
    text = _LINK.sub(lambda mo: mo.group(2) or mo.group(1), text)
    if "&" in text:  # `&amp;` last, so `&amp;lt;` stays the `&lt;` that was typed
        text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    if not text.isascii() and _QUOTE_CHARS.search(text):
        text = text.translate(_QUOTES)  # in C, whatever the number of quotes
    text = " ".join(text.split())  # every Unicode space run -> one space (as _SPACES), in C
    return _DASH_FLAG.sub("--", text)


def tokenize(text: str) -> list[str]:
    """The words of a command (refused over MAX_TEXT: shlex reads a character at a time)."""
    check_length(text)
    try:
        return shlex.split(normalize(text))
    except ValueError as exc:  # unbalanced quote
        raise UsageError(f"could not read the command: {exc}", GENERAL_USAGE) from None


# --- grammar ---------------------------------------------------------------------------------------

#: Every command's dotted name (`snapshots.schedule.run-now`).
_NAMES = frozenset(spec_.name for spec_ in COMMANDS)


def _suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _is_flag(tok: str) -> bool:
    return tok.startswith("-") and len(tok) > 1


def check_length(text: str) -> None:
    """Refuse a command longer than MAX_TEXT before any work is done on it."""
    if len(text) > MAX_TEXT:
        raise UsageError(f"that command is {len(text):,} characters long; snapbot reads at most "
                         f"{MAX_TEXT:,}, and nothing was done", GENERAL_USAGE)


def parse(text: str) -> m.Command:
    """Parse the text after `/cfy` into a Command. Raises UsageError."""
    check_length(text)
    words = tokenize(text)
    if words and words[0].lower() in ("cfy", "/cfy"):  # `/cfy cfy snapshots list`
        words = words[1:]
    if not words:
        return m.Help()
    first = words[0].lower()
    if first in ("help", "-h", "--help", "?"):
        return _parse_help(words[1:])
    if first not in GROUPS:
        raise UsageError(f"unknown command {words[0]!r}{_suggest(first, list(GROUPS))}",
                         GENERAL_USAGE)

    path, rest = [first], words[1:]
    while rest and not _is_flag(rest[0]):
        candidate = ".".join(path + [rest[0].lower()])
        if not any(n == candidate or n.startswith(candidate + ".") for n in _NAMES):
            break
        path.append(rest.pop(0).lower())
    name = ".".join(path)
    if name not in _NAMES:
        subs = sorted({n[len(name) + 1:].split(".")[0] for n in _NAMES if n.startswith(name + ".")})
        if rest and not _is_flag(rest[0]):
            raise UsageError(f"unknown subcommand {rest[0]!r} for {name.replace('.', ' ')!r}"
                             f"{_suggest(rest[0].lower(), subs)}", group_usage(first))
        if name in DEFAULT_SUBCOMMAND:
            name = DEFAULT_SUBCOMMAND[name]
        else:
            raise UsageError(f"{name.replace('.', ' ')!r} needs a subcommand: {', '.join(subs)}",
                             group_usage(first))
    if any(t.lower() in ("-h", "--help") for t in rest):
        return m.Help(topic=name)
    return _parse_args(name, rest)


def _parse_help(rest: list[str]) -> m.Help:
    usage = spec("help").line
    if any(_is_flag(t) for t in rest):
        raise UsageError("help takes no flags", usage)
    if not rest:
        return m.Help()
    if len(rest) > 2:
        raise UsageError("help takes one topic", usage)
    topic = " ".join(rest).lower()
    if not topic_specs(topic):
        known = [t for t in topics() if "." not in t]
        raise UsageError(f"unknown help topic {topic!r}{_suggest(topic, known)}; topics: "
                         + ", ".join(known), usage)
    return m.Help(topic=topic)


def _parse_args(name: str, tokens: list[str]) -> m.Command:
    command = spec(name)
    g, usage = command.grammar, command.line
    shown = name.replace(".", " ")
    by_name = {n: f for f in g.flags for n in f.names}
    values: dict[str, object] = {}
    given: dict[str, str] = {}  # dest -> the flag (or argument label) that set it
    bare: list[str] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        i += 1
        if not _is_flag(tok):
            bare.append(tok)
            continue
        flag_name, eq, inline = tok.partition("=")
        flag_name = flag_name.lower()
        flag = by_name.get(flag_name)
        if flag is None:
            known = sorted(by_name)
            hint = _suggest(flag_name, known) if known else ""
            allowed = f"; {shown!r} takes no flags" if not known else ""
            raise UsageError(f"unknown flag {flag_name!r} for {shown!r}{hint}{allowed}", usage)
        if flag.dest in given:
            before = given[flag.dest]
            if before == flag_name or before in flag.names:
                raise UsageError(f"{flag_name} is given twice", usage)
            raise UsageError(f"{before} and {flag_name} cannot be used together", usage)
        if flag.kind in (TRUE, FALSE):
            if eq:
                raise UsageError(f"{flag_name} takes no value", usage)
            value: object = flag.kind == TRUE
        elif eq:
            if not inline:
                raise UsageError(f"{flag_name}= needs a value", usage)
            value = flag.check(inline, usage) if flag.check else inline
        elif flag.kind == OPTIONAL:
            # `--from-archive prod` vs `--from-archive ID`: take the next word as the value only
            # when the positional argument is already there, or another word still follows.
            nxt = tokens[i] if i < len(tokens) else None
            after = tokens[i + 1] if i + 1 < len(tokens) else None
            if nxt is not None and not _is_flag(nxt) and (
                    len(bare) >= len(g.args) or (after is not None and not _is_flag(after))):
                value = flag.check(nxt, usage) if flag.check else nxt
                i += 1
            else:
                value = ""
        else:
            if i >= len(tokens) or _is_flag(tokens[i]):
                raise UsageError(f"{flag_name} needs a value", usage)
            raw = tokens[i]
            i += 1
            value = flag.check(raw, usage) if flag.check else raw
        values[flag.dest] = value
        given[flag.dest] = flag_name

    for arg in g.args:
        if not bare:
            break
        raw = bare.pop(0)
        if arg.dest in given:
            raise UsageError(f"{arg.label} is given twice (as an argument and as {given[arg.dest]})",
                             usage)
        values[arg.dest] = arg.check(raw, usage)
        given[arg.dest] = arg.label
    if bare:
        raise UsageError(f"unexpected argument {show(bare[0])} for {shown!r}", usage)
    for arg in g.args:
        if arg.required and arg.dest not in values:
            raise UsageError(f"{shown!r} needs {arg.label}", usage)
    for a, b in g.exclusive:
        if a in given and b in given:
            raise UsageError(f"{given[a]} and {given[b]} cannot be used together", usage)
    if g.one_of:
        a, b = g.one_of
        if (a in given) == (b in given):
            la = next(x.label for x in g.args if x.dest == a) if any(x.dest == a for x in g.args) else a
            lb = next(f.names[0] for f in g.flags if f.dest == b)
            problem = "not both" if a in given else "one is needed"
            raise UsageError(f"give {la} or {lb} ({problem})", usage)
    return command.cls(**values)
