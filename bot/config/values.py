"""Parsing and checking one configuration value: the parsers the settings table
(`bot.config.table`) names as each setting's type, and the checks loading runs across values.
Every error is a ConfigError naming the key (the YAML key or the environment variable) and never
echoing a secret."""
from __future__ import annotations

import os
import re
from typing import Any
from urllib.parse import urlsplit

from bot.commands.registry import GATEABLE
from bot.errors import ConfigError

SLACK_ID_RE = re.compile(r"[A-Z0-9][A-Z0-9_]{1,40}")
SNAPSHOT_FORMATS = ("auto", "legacy", "new")


def check_url(key: str, value: Any, what: str = "URL") -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(key, f"must be a {what} (http:// or https://)")
    try:
        parts = urlsplit(value.strip())
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ConfigError(key, f"is not a valid {what}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(key, f"must be an http:// or https:// {what} with a host")
    if parts.username or parts.password:
        # never echo it: it carries credentials
        raise ConfigError(key, "must not contain credentials; use username and password_env "
                               "(or CLOUDIFY_USERNAME / CLOUDIFY_PASSWORD)")
    return value.strip().rstrip("/")


def whole_number(key: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool):
        raise ConfigError(key, "must be a whole number")
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise ConfigError(key, f"must be a whole number, got {value.strip()[:20]!r}") from None
    if not isinstance(value, int):
        raise ConfigError(key, "must be a whole number")
    if value < minimum:
        raise ConfigError(key, f"must be at least {minimum}, got {value}")
    return value


def whole_number_or_zero(key: str, value: Any) -> int:
    """A whole number, 0 allowed (0 meaning "no limit" where the setting says so)."""
    return whole_number(key, value, minimum=0)


def positive_number(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ConfigError(key, "must be a number")
    try:
        f = float(value)
    except ValueError:
        raise ConfigError(key, "must be a number") from None
    if not f > 0 or f != f or f == float("inf"):
        raise ConfigError(key, "must be a positive number")
    return f


def boolean(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise ConfigError(key, "must be true or false")


def text(key: str, value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(key, "must be a non-empty string")
    return value.strip()


def id_list(key: str, value: Any) -> frozenset[str]:
    if value is None:
        return frozenset()
    items = [v.strip() for v in value.split(",")] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        raise ConfigError(key, "must be a list (or a comma-separated string)")
    out = []
    for item in items:
        if not isinstance(item, str):
            raise ConfigError(key, "must list Slack ids as strings")
        if not item:
            continue
        if not SLACK_ID_RE.fullmatch(item):
            raise ConfigError(key, f"{item[:30]!r} is not a Slack id (like U0123ABCD or S0123ABCD)")
        out.append(item)
    return frozenset(out)


_CHANNEL_RE = re.compile(r"[CGD][A-Z0-9_]{2,40}")
_LOGIN_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}")
_USER_RE = re.compile(r"[UW][A-Z0-9_]{2,40}")



def _items(key: str, value: Any) -> list[Any]:
    items = [v.strip() for v in value.split(",")] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        raise ConfigError(key, "must be a list (or a comma-separated string)")
    return [i.strip() if isinstance(i, str) else i for i in items if i != ""]


def channel_list(key: str, value: Any) -> frozenset[str]:
    if value is None:
        return frozenset()
    out = []
    for item in _items(key, value):
        if not isinstance(item, str) or not _CHANNEL_RE.fullmatch(item):
            raise ConfigError(key, f"{str(item)[:30]!r} is not a channel id (like C0123ABCD)")
        out.append(item)
    return frozenset(out)


def channel_id(key: str, value: str) -> str:
    """One channel id (C…, G… or D…)."""
    if not _CHANNEL_RE.fullmatch(value):
        raise ConfigError(key, f"{value[:30]!r} is not a channel id (like C0123ABCD)")
    return value


def database_path(key: str, value: str) -> str:
    """The SQLite file: not a directory, in a directory that exists and can be written (SQLite
    writes its journal next to the file)."""
    if value == ":memory:" or value.startswith("file:"):
        return value
    if os.path.isdir(value):
        raise ConfigError(key, f"{value!r} is a directory, not a database file")
    parent = os.path.dirname(os.path.abspath(value))
    if not os.path.isdir(parent):
        raise ConfigError(key, f"the directory of {value!r} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(key, f"the directory of {value!r} is not writable")
    if os.path.exists(value) and not os.access(value, os.R_OK | os.W_OK):
        raise ConfigError(key, f"{value!r} cannot be read and written")
    return value


def terminal_users(key: str, value: Any) -> tuple[tuple[str, str], ...]:
    """`login=U…` pairs (comma-separated), or a YAML mapping login: U…"""
    if value is None:
        return ()
    if isinstance(value, dict):
        pairs = [(str(k), v) for k, v in value.items()]
    elif isinstance(value, str):
        pairs = []
        for part in filter(None, (p.strip() for p in value.split(","))):
            login, sep, user = part.partition("=")
            if not sep:
                raise ConfigError(key, "must be login=USERID pairs, comma-separated")
            pairs.append((login.strip(), user.strip()))
    else:
        raise ConfigError(key, "must map terminal logins to Slack user ids")
    out: dict[str, str] = {}
    for login, user in pairs:
        if not _LOGIN_RE.fullmatch(login):
            raise ConfigError(key, f"{login[:30]!r} is not a login name")
        if not isinstance(user, str) or not _USER_RE.fullmatch(user):
            raise ConfigError(key, f"{login}: {str(user)[:30]!r} is not a Slack user id "
                                   "(like U0123ABCD)")
        out[login] = user
    return tuple(sorted(out.items()))


def _one_id(key: str, value: Any, first: str, what: str) -> str:
    if value is None or value == "":
        return ""
    if not isinstance(value, str) or not value.strip().startswith(first) \
            or not SLACK_ID_RE.fullmatch(value.strip()):
        raise ConfigError(key, f"must be a Slack {what}")
    return value.strip()


def team_id(key: str, value: Any) -> str:
    return _one_id(key, value, "T", "workspace (team) id like T0123ABCD")


def app_id(key: str, value: Any) -> str:
    return _one_id(key, value, "A", "app id like A0123ABCD")


def enterprise_id(key: str, value: Any) -> str:
    return _one_id(key, value, "E", "Enterprise Grid id like E0123ABCD")


def gated(key: str, value: Any) -> frozenset[str]:
    if value is None:
        return frozenset()
    items = [v.strip() for v in value.split(",")] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        raise ConfigError(key, "must be a list (or a comma-separated string)")
    out = set()
    for item in items:
        if not item:
            continue
        if item == "snapshots.restore":  # always gated; naming it is harmless
            continue
        if item not in GATEABLE:
            raise ConfigError(key, f"unknown action {str(item)[:40]!r}; choose from "
                                   + ", ".join(sorted(GATEABLE)))
        out.add(item)
    return frozenset(out)


def cron(key: str, expression: str, zone: str) -> None:
    from zoneinfo import ZoneInfo

    from bot.crontab import crontab_trigger
    try:
        crontab_trigger(expression, ZoneInfo(zone))
    except (ValueError, TypeError) as exc:
        raise ConfigError(key, f"is not a valid crontab expression ({exc})") from None


def timezone(key: str, value: Any) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
    name = text(key, value)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(key, f"unknown time zone {name[:40]!r} (use an IANA name like Europe/Paris)") from None
    return name


def mapping(key: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(key, "must be a mapping")
    return value


def unknown_keys(key: str, data: dict[str, Any], allowed: set[str]) -> None:
    for k in data:
        if k not in allowed:
            prefix = f"{key}." if key else ""
            raise ConfigError(f"{prefix}{k}", "unknown key; known keys: " + ", ".join(sorted(allowed)))


def snapshot_format(key: str, value: Any) -> str:
    if value is None:
        return "auto"
    fmt = text(key, value).lower()
    if fmt not in SNAPSHOT_FORMATS:
        raise ConfigError(key, f"must be one of {', '.join(SNAPSHOT_FORMATS)}, got {fmt[:20]!r}")
    return fmt


def read_secret_file(key: str, path: str) -> str:
    """The secret held in `path` (surrounding whitespace stripped). Raises ConfigError naming
    `key`, never showing the file's content."""
    try:
        with open(path, encoding="utf-8") as f:
            value = f.read().strip()
    except FileNotFoundError:
        raise ConfigError(key, f"file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(key, f"cannot read {path}: {getattr(exc, 'strerror', None) or type(exc).__name__}") from None
    if not value:
        raise ConfigError(key, f"file {path} is empty")
    return value
