"""The pieces a command's grammar is made of: value validators, flags, positional arguments.

Each command's `Grammar` is declared with the command in `bot.commands.registry`; the parser
(`bot.commands.parser`) reads it. Validators take `(value, usage)` and return the value or raise
`UsageError(problem, usage)`.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from urllib.parse import urlsplit

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

#: `--since` as a time span back from now: 30m, 24h, 7d, 2w (bot.audit.parse_since reads it)
SINCE_SPAN = re.compile(r"(\d{1,5})([mhdw])")
#: who `audit --user` means: a Slack mention as Slack sends it (`<@U1>`, `<@U1|name>`), a user
#: id, or a terminal login as the audit log records it (`local:alice`)
_USER = re.compile(r"<@([UW][A-Z0-9_]{1,40})(?:\|[^<>]{0,100})?>|@?([UW][A-Z0-9_]{1,40})"
                   r"|(local:[A-Za-z0-9_.@-]{1,64})")


def show(value: str, limit: int = 40) -> str:
    return repr(value if len(value) <= limit else value[:limit] + "…")


def validate_snapshot_id(value: str, usage: str = "") -> str:
    """Return `value` if the manager would accept it as a snapshot id, else raise UsageError."""
    if not value:
        raise UsageError("the snapshot id is empty", usage)
    if len(value) > SNAPSHOT_ID_MAX:
        raise UsageError(f"the snapshot id is too long ({len(value)} characters; the manager "
                         f"allows {SNAPSHOT_ID_MAX})", usage)
    if "/" in value:
        raise UsageError(f"the snapshot id {show(value)} must not contain '/'", usage)
    if ".." in value:
        raise UsageError(f"the snapshot id {show(value)} must not contain '..'", usage)
    if not _ID_CHARS.fullmatch(value):
        raise UsageError(f"the snapshot id {show(value)} contains illegal characters: only "
                         "letters, digits, '-', '_' and '.' are allowed", usage)
    if not value[0].isascii() or not value[0].isalpha():
        raise UsageError(f"the snapshot id {show(value)} must begin with a letter", usage)
    return value


def validate_job_id(value: str, usage: str = "") -> str:
    v = value.lower()
    if not _JOB_ID.fullmatch(v):
        raise UsageError(f"{show(value)} is not a job id (like r-1a2b3c: r, d or j, a dash, "
                         "6 hex digits)", usage)
    return v


def validate_manager_name(value: str, usage: str = "") -> str:
    # no "..": manager names go into archive paths and daily snapshot ids
    if not _MANAGER_NAME.fullmatch(value) or ".." in value:
        raise UsageError(f"{show(value)} is not a manager name (letters, digits, '-', '_', '.'; "
                         f"at most {MANAGER_NAME_MAX})", usage)
    return value


def name_validator(what: str) -> Callable[[str, str], str]:
    def check(value: str, usage: str) -> str:
        if not _NAME.fullmatch(value) or ".." in value:
            raise UsageError(f"{show(value)} is not a valid {what} (letters, digits, '-', '_', "
                             "'.'; at most 256)", usage)
        return value
    return check


def validate_url(value: str, usage: str = "") -> str:
    try:
        parts = urlsplit(value)
    except ValueError:
        parts = None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.netloc \
            or any(c.isspace() or c in '<>"\\^`{|}' for c in value):
        # (no Slack markup characters: an escape typed into a URL never comes back out as markup)
        # the URL itself is not echoed: it may carry credentials
        raise UsageError("--url must be an http:// or https:// URL", usage)
    if parts.username is not None or parts.password is not None:
        # A URL is kept with its job (so a restart can resume it): no credentials in it.
        raise UsageError("--url must not carry credentials (user:password@); use a URL the "
                         "manager can fetch without them, or upload --from-archive", usage)
    return value


def validate_since(value: str, usage: str = "") -> str:
    """A span back from now (`30m`, `24h`, `7d`, `2w`) or an ISO date or time (UTC)."""
    v = value.strip().lower()
    if SINCE_SPAN.fullmatch(v):
        return v
    if len(v) <= 40:
        try:
            (datetime if "t" in v or " " in v else date).fromisoformat(value.strip())
            return value.strip()
        except ValueError:
            pass
    raise UsageError(f"--since {show(value)} is not a time: use 30m, 24h, 7d, 2w or a date "
                     "like 2026-11-01", usage)


def validate_user(value: str, usage: str = "") -> str:
    """A Slack user (`<@U123>`, `U123`) or a terminal login (`local:alice`): its id."""
    mo = _USER.fullmatch(value.strip())
    if mo is None:
        raise UsageError(f"--user {show(value)} is not a Slack user: mention them (@name) or "
                         "give their id (U…), or a terminal login (local:name)", usage)
    return next(g for g in mo.groups() if g)


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
    args: tuple[Arg, ...] = ()
    flags: tuple[Flag, ...] = ()
    exclusive: tuple[tuple[str, str], ...] = ()  # pairs of dests that cannot both be given
    one_of: tuple[str, str] | None = None  # exactly one of these dests is required


MANAGER = Flag(("--manager",), "manager", VALUE, validate_manager_name)
SNAPSHOT_ARG = Arg("snapshot_id", "ID", validate_snapshot_id)
JOB_ARG = Arg("job_id", "JOB_ID", validate_job_id)


def include_exclude(word: str, dest: str) -> tuple[Flag, Flag]:
    return (Flag((f"--include-{word}",), dest, TRUE), Flag((f"--exclude-{word}",), dest, FALSE))
