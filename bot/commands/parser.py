"""`/cfy` text -> typed Command, in the `cfy` CLI's grammar.

Pure: no I/O, nothing is sent anywhere. Every problem raises `UsageError(problem, usage)` with the
usage line of the command concerned (from the one table in `bot.commands.help`).

Slack rewrites what people type, so the text is normalized first: smart quotes become ASCII
quotes, em/en dashes at the start of a word become `--`, non-breaking and zero-width spaces
become plain spaces, `<http://x|label>` links become what the user typed, and `&amp;`-style
escapes are undone. Command words are case-insensitive (phones capitalize the first word);
values (ids, names) are taken as typed.
"""
from __future__ import annotations

import difflib
import html
import re
import shlex
from dataclasses import dataclass, field
from typing import Callable
from urllib.parse import urlsplit

from bot.commands import model as m
from bot.commands.help import GROUPS, PREFIX, group_usage, spec, topic_specs, topics
from bot.errors import UsageError

#: Cloudify Manager's own rule for resource ids (rest_utils.validate_inputs): non-empty, at most
#: 256 characters, only what URL-quoting leaves alone (letters, digits, "-", "_", "."), and
#: beginning with a letter. snapbot also refuses "..", since ids become archive file names.
SNAPSHOT_ID_MAX = 256
MANAGER_NAME_MAX = 64
_ID_CHARS = re.compile(r"[A-Za-z0-9_.-]+")
_JOB_ID = re.compile(r"[rdj]-[0-9a-f]{6}")
_MANAGER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,255}")  # tenants, blueprints

GENERAL_USAGE = f"{PREFIX} help"


def _show(value: str, limit: int = 40) -> str:
    return repr(value if len(value) <= limit else value[:limit] + "…")


# --- value validators: (value, usage) -> value, raising UsageError -------------------------------

def validate_snapshot_id(value: str, usage: str = "") -> str:
    """Return `value` if the manager would accept it as a snapshot id, else raise UsageError."""
    if not value:
        raise UsageError("the snapshot id is empty", usage)
    if len(value) > SNAPSHOT_ID_MAX:
        raise UsageError(f"the snapshot id is too long ({len(value)} characters; the manager "
                         f"allows {SNAPSHOT_ID_MAX})", usage)
    if "/" in value:
        raise UsageError(f"the snapshot id {_show(value)} must not contain '/'", usage)
    if ".." in value:
        raise UsageError(f"the snapshot id {_show(value)} must not contain '..'", usage)
    if not _ID_CHARS.fullmatch(value):
        raise UsageError(f"the snapshot id {_show(value)} contains illegal characters: only "
                         "letters, digits, '-', '_' and '.' are allowed", usage)
    if not value[0].isascii() or not value[0].isalpha():
        raise UsageError(f"the snapshot id {_show(value)} must begin with a letter", usage)
    return value


def validate_job_id(value: str, usage: str = "") -> str:
    v = value.lower()
    if not _JOB_ID.fullmatch(v):
        raise UsageError(f"{_show(value)} is not a job id (like r-1a2b3c: r, d or j, a dash, "
                         "6 hex digits)", usage)
    return v


def validate_manager_name(value: str, usage: str = "") -> str:
    # no "..": manager names go into archive paths and daily snapshot ids
    if not _MANAGER_NAME.fullmatch(value) or ".." in value:
        raise UsageError(f"{_show(value)} is not a manager name (letters, digits, '-', '_', '.'; "
                         f"at most {MANAGER_NAME_MAX})", usage)
    return value


def _name_validator(what: str) -> Callable[[str, str], str]:
    def check(value: str, usage: str) -> str:
        if not _NAME.fullmatch(value) or ".." in value:
            raise UsageError(f"{_show(value)} is not a valid {what} (letters, digits, '-', '_', "
                             "'.'; at most 256)", usage)
        return value
    return check


def validate_url(value: str, usage: str = "") -> str:
    try:
        parts = urlsplit(value)
    except ValueError:
        parts = None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.netloc \
            or any(c.isspace() for c in value):
        # the URL itself is not echoed: it may carry credentials
        raise UsageError("--url must be an http:// or https:// URL", usage)
    if parts.username is not None or parts.password is not None:
        # A URL is kept with its job (so a restart can resume it): no credentials in it.
        raise UsageError("--url must not carry credentials (user:password@); use a URL the "
                         "manager can fetch without them, or upload --from-archive", usage)
    return value


# --- text normalization and tokenizing ------------------------------------------------------------

_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"',
                         "\u00ab": '"', "\u00bb": '"', "\u2033": '"',
                         "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'",
                         "\u2032": "'"})
_SPACES = re.compile(r"[\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000\s]+")
_INVISIBLE = re.compile(r"[\u200b\u200c\u200d\u2060\ufeff]")
_LINK = re.compile(r"<((?:https?|ftp|mailto):[^|>\s]*)(?:\|([^>]*))?>")
_DASH_FLAG = re.compile(r"(^| )[\u2014\u2013\u2212](?=[A-Za-z])")


def normalize(text: str) -> str:
    """Undo Slack's and phones' rewriting of typed text (see module docstring)."""
    text = _INVISIBLE.sub("", text)
    # <http://x|x>: keep the label when there is one, it is what the user typed (Slack links
    # bare domain-like words too, e.g. an id "nightly.io" arrives as <http://nightly.io|nightly.io>)
    text = _LINK.sub(lambda mo: mo.group(2) if mo.group(2) else mo.group(1), text)
    text = html.unescape(text) if "&" in text else text
    text = text.translate(_QUOTES)
    text = _SPACES.sub(" ", text).strip()
    return _DASH_FLAG.sub(lambda mo: mo.group(1) + "--", text)


def tokenize(text: str) -> list[str]:
    try:
        return shlex.split(normalize(text))
    except ValueError as exc:  # unbalanced quote
        raise UsageError(f"could not read the command: {exc}", GENERAL_USAGE) from None


# --- grammar ---------------------------------------------------------------------------------------

VALUE, TRUE, FALSE, OPTIONAL = "value", "true", "false", "optional"


@dataclass(frozen=True)
class Flag:
    names: tuple[str, ...]
    dest: str
    kind: str = VALUE  # VALUE | TRUE | FALSE | OPTIONAL (value may be omitted: "")
    check: Callable[[str, str], str] | None = None


@dataclass(frozen=True)
class Arg:
    dest: str
    label: str
    check: Callable[[str, str], str]
    required: bool = True


@dataclass(frozen=True)
class Grammar:
    cls: type
    args: tuple[Arg, ...] = ()
    flags: tuple[Flag, ...] = ()
    exclusive: tuple[tuple[str, str], ...] = ()  # pairs of dests that cannot both be given
    one_of: tuple[str, str] | None = None  # exactly one of these dests is required
    extra: dict = field(default_factory=dict)  # constant fields


MANAGER = Flag(("--manager",), "manager", VALUE, validate_manager_name)
SNAPSHOT_ARG = Arg("snapshot_id", "ID", validate_snapshot_id)
JOB_ARG = Arg("job_id", "JOB_ID", validate_job_id)


def _pair(word: str, dest: str) -> tuple[Flag, Flag]:
    return (Flag((f"--include-{word}",), dest, TRUE), Flag((f"--exclude-{word}",), dest, FALSE))


GRAMMAR: dict[str, Grammar] = {
    "snapshots.create": Grammar(
        m.SnapshotsCreate, (Arg("snapshot_id", "ID", validate_snapshot_id, required=False),),
        (*_pair("logs", "include_logs"), *_pair("events", "include_events"),
         *_pair("credentials", "include_credentials"), MANAGER)),
    "snapshots.list": Grammar(m.SnapshotsList, flags=(MANAGER,)),
    "snapshots.status": Grammar(m.SnapshotsStatus, flags=(MANAGER,)),
    "snapshots.download": Grammar(m.SnapshotsDownload, (SNAPSHOT_ARG,), (MANAGER,)),
    "snapshots.upload": Grammar(
        m.SnapshotsUpload, (SNAPSHOT_ARG,),
        (Flag(("--from-archive",), "from_archive", OPTIONAL, validate_manager_name),
         Flag(("--url",), "url", VALUE, validate_url),
         # cfy's own spelling: `cfy snapshots upload PATH -s ID`
         Flag(("-s", "--snapshot-id"), "snapshot_id", VALUE, validate_snapshot_id),
         MANAGER),
        exclusive=(("from_archive", "url"),)),
    "snapshots.restore": Grammar(
        m.SnapshotsRestore, (SNAPSHOT_ARG,),
        (Flag(("-t", "--tenant-name"), "tenant_name", VALUE, _name_validator("tenant name")),
         Flag(("-f", "--force"), "force", TRUE),
         Flag(("--restore-certificates",), "restore_certificates", TRUE),
         Flag(("--no-reboot",), "no_reboot", TRUE),
         MANAGER)),
    "snapshots.delete": Grammar(m.SnapshotsDelete, (SNAPSHOT_ARG,), (MANAGER,)),
    "snapshots.schedule": Grammar(m.SnapshotsSchedule, flags=(MANAGER,)),
    "snapshots.schedule.run-now": Grammar(m.SnapshotsScheduleRunNow, flags=(MANAGER,)),
    "maintenance-mode.status": Grammar(m.MaintenanceStatus, flags=(MANAGER,)),
    "maintenance-mode.activate": Grammar(m.MaintenanceActivate, flags=(MANAGER,)),
    "maintenance-mode.deactivate": Grammar(m.MaintenanceDeactivate, flags=(MANAGER,)),
    "agents.install": Grammar(m.AgentsInstall, flags=(MANAGER,)),
    "plugins.update": Grammar(
        m.PluginsUpdate,
        (Arg("blueprint_id", "BLUEPRINT_ID", _name_validator("blueprint id"), required=False),),
        (Flag(("--all", "--all-blueprints"), "all_blueprints", TRUE), MANAGER),
        one_of=("blueprint_id", "all_blueprints")),
    "cluster.status": Grammar(m.ClusterStatus, flags=(MANAGER,)),
    "jobs.list": Grammar(m.JobsList),
    "jobs.show": Grammar(m.JobsShow, (JOB_ARG,)),
    "jobs.cancel": Grammar(m.JobsCancel, (JOB_ARG,)),
}
assert set(GRAMMAR) | {"help"} == set(m.COMMAND_NAMES.values())

_NAMES = frozenset(m.COMMAND_NAMES.values())
#: `jobs` alone means `jobs list`
_DEFAULT_SUB = {"jobs": "jobs.list"}


def _suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _is_flag(tok: str) -> bool:
    return tok.startswith("-") and len(tok) > 1


def parse(text: str) -> m.Command:
    """Parse the text after `/cfy` into a Command. Raises UsageError."""
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
        if name in _DEFAULT_SUB:
            name = _DEFAULT_SUB[name]
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
    g = GRAMMAR[name]
    usage = spec(name).line
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
        raise UsageError(f"unexpected argument {_show(bare[0])} for {shown!r}", usage)
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
    return g.cls(**values, **g.extra)
