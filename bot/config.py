"""Settings: environment for secrets, optional YAML (SNAPBOT_CONFIG) for the rest.

The dataclasses below are the contract the rest of the bot reads. Secrets are `repr=False` so a
logged Settings never shows them. `load_settings` (same module) builds them and raises
ConfigError naming the key on the first invalid value.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from bot.commands.registry import GATEABLE

DEFAULT_MANAGER = "default"

#: Actions that may be put behind approval by config (`approvals.gated`). Restore always is.
GATEABLE_ACTIONS = GATEABLE


@dataclass(frozen=True)
class ManagerConfig:
    name: str
    url: str  # e.g. https://manager.example.com (the client appends /api/v3.1)
    username: str = "admin"
    password: str = field(default="", repr=False)
    token: str = field(default="", repr=False)  # Authentication-Token, if used instead of basic auth
    tenant: str = "default_tenant"
    ca_bundle: str | None = None  # path to a CA bundle for HTTPS, or None for the system store
    verify_tls: bool = True
    #: files holding the password / token; re-read when the manager answers 401 (after a legacy
    #: restore the manager's users and tokens become the snapshot's)
    password_file: str | None = None
    token_file: str | None = None
    #: snapshots snapbot creates on this manager: "legacy" (database dump), "new" (7.0+ per-item
    #: export) or "auto" (what that version's cfy CLI does: legacy on 5.1, 6.4 and 7.0.5)
    snapshot_format: str = "auto"


@dataclass(frozen=True)
class SlackConfig:
    bot_token: str = field(default="", repr=False)
    signing_secret: str = field(default="", repr=False)
    app_token: str = field(default="", repr=False)  # xapp-...: Socket Mode when set
    api_url: str | None = None  # SLACK_API_URL: the Web API base (local stand-in in tests/demo)
    channel: str = ""  # where jobs, restores and daily reports are posted


@dataclass(frozen=True)
class ApprovalPolicy:
    approvers: frozenset[str] = frozenset()  # Slack user ids
    approver_groups: frozenset[str] = frozenset()  # Slack user-group ids (S...)
    required: int = 1  # N-of-M approvals
    ttl_seconds: int = 1800
    gated: frozenset[str] = frozenset()  # members of GATEABLE_ACTIONS that also need approval


@dataclass(frozen=True)
class ScheduleConfig:
    enabled: bool = True
    cron: str = "0 3 * * *"
    timezone: str = "UTC"
    misfire_grace_seconds: int = 3600


@dataclass(frozen=True)
class RetentionConfig:
    keep_on_manager: int = 3
    keep_archived: int = 14
    delete_foreign: bool = False  # may retention delete snapshots snapbot did not create?


@dataclass(frozen=True)
class RunbookConfig:
    safety_snapshot: bool = True
    poll_interval_seconds: float = 2.0  # first poll interval; backoff doubles up to max
    poll_max_interval_seconds: float = 15.0
    maintenance_timeout_seconds: float = 900.0
    restore_timeout_seconds: float = 3600.0
    snapshot_timeout_seconds: float = 3600.0


@dataclass(frozen=True)
class Settings:
    managers: tuple[ManagerConfig, ...]
    slack: SlackConfig = SlackConfig()
    approvals: ApprovalPolicy = ApprovalPolicy()
    schedule: ScheduleConfig = ScheduleConfig()
    retention: RetentionConfig = RetentionConfig()
    runbook: RunbookConfig = RunbookConfig()
    db_path: str = "snapbot.db"
    archive_dir: str = "archives"
    #: where docs/runbooks.md is published; Slack links are built from it (None: the
    #: runbook's steps go inline in the message)
    runbook_base_url: str | None = None
    #: `s3://bucket/prefix` (or gs://, az://): archives in object storage instead of archive_dir
    archive_url: str = ""
    #: the standard AWS_* variables the object store reads (endpoint, region, keys): secrets
    archive_env: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    #: SNAPBOT_LOG_FORMAT: `text` or `json` (one JSON object per line)
    log_format: str = "text"

    @property
    def archive_location(self) -> str:
        """Where archived copies live: the object store URL if set, else the directory."""
        return self.archive_url or self.archive_dir

    def manager(self, name: str | None) -> ManagerConfig:
        """The named manager, or the first one when name is None."""
        from bot.errors import UsageError
        if name is None:
            return self.managers[0]
        for m in self.managers:
            if m.name == name:
                return m
        known = ", ".join(m.name for m in self.managers)
        raise UsageError(f"unknown manager {name!r} (configured: {known})")


# --- loading -------------------------------------------------------------------------------------

import os  # noqa: E402
import re  # noqa: E402
from collections.abc import Mapping  # noqa: E402
from typing import Any  # noqa: E402
from urllib.parse import urlsplit  # noqa: E402

from bot.errors import ConfigError  # noqa: E402

#: Every environment variable `load_settings` reads, with its default and meaning. The README's
#: configuration table is checked against this list.
ENV_VARS: dict[str, tuple[str, str]] = {
    "CLOUDIFY_URL": ("–", "Manager URL for a one-manager setup (http:// or https://)"),
    "CLOUDIFY_USERNAME": ("admin", "Manager user"),
    "CLOUDIFY_PASSWORD": ("–", "Manager password (secret)"),
    "CLOUDIFY_TOKEN": ("–", "Manager API token, sent as Authentication-Token instead of basic auth (secret)"),
    "CLOUDIFY_TENANT": ("default_tenant", "Tenant sent with every call"),
    "CLOUDIFY_CA_BUNDLE": ("system store", "CA bundle file for the manager's HTTPS certificate"),
    "CLOUDIFY_PASSWORD_FILE": ("–", "File holding the manager password, re-read when the manager answers 401"),
    "CLOUDIFY_TOKEN_FILE": ("–", "File holding the manager API token, re-read when the manager answers 401"),
    "CLOUDIFY_SNAPSHOT_FORMAT": ("auto", "Snapshot format snapbot creates: legacy, new (7.0+) or auto (the version's CLI default)"),
    "SLACK_BOT_TOKEN": ("–", "Bot token `xoxb-…` (secret; required by `snapbot run`)"),
    "SLACK_SIGNING_SECRET": ("–", "Signing secret (secret; required by `snapbot run` in HTTP mode)"),
    "SLACK_APP_TOKEN": ("–", "App-level token `xapp-…` (secret); when set, `snapbot run` uses Socket Mode"),
    "SLACK_API_URL": ("https://slack.com/api/", "Slack Web API base URL (tests and the local stand-in)"),
    "SNAPBOT_CHANNEL": ("–", "Channel id where jobs, restores and daily reports are posted"),
    "SNAPBOT_APPROVERS": ("–", "Comma-separated Slack user ids who may approve"),
    "SNAPBOT_APPROVER_GROUPS": ("–", "Comma-separated Slack user-group ids (S…) whose members may approve"),
    "SNAPBOT_APPROVALS_REQUIRED": ("1", "Approvals needed (N of M); at most the number of approvers"),
    "SNAPBOT_APPROVAL_TTL": ("1800", "Seconds before an unanswered approval request expires"),
    "SNAPBOT_GATED": ("–", "Comma-separated actions that also need approval (restore always does): "
                      + ", ".join(sorted(GATEABLE_ACTIONS))),
    "SNAPBOT_DB": ("snapbot.db", "SQLite database file"),
    "SNAPBOT_ARCHIVE_DIR": ("archives", "Where downloaded snapshot archives are kept"),
    "SNAPBOT_ARCHIVE_URL": ("–", "Object storage for the archives instead of the directory: "
                            "`s3://bucket/prefix` (endpoint, region and keys from the standard "
                            "AWS_* variables or the instance role)"),
    "SNAPBOT_LOG_FORMAT": ("text", "`json` for one JSON object per log line"),
    "SNAPBOT_SCHEDULE": ("0 3 * * *", "Daily snapshot time, crontab syntax; `off` disables it"),
    "SNAPBOT_TIMEZONE": ("UTC", "Time zone of the schedule (IANA name, e.g. Europe/Paris)"),
    "SNAPBOT_KEEP_ON_MANAGER": ("3", "Snapshots retention keeps on each manager"),
    "SNAPBOT_KEEP_ARCHIVED": ("14", "Archived copies retention keeps per manager"),
    "SNAPBOT_RUNBOOK_BASE_URL": ("–", "URL where docs/runbooks.md is published; Slack links to a runbook are that URL + `#<anchor>` (unset: the steps go inline)"),
    "SNAPBOT_CONFIG": ("–", "Path of a YAML file for several managers, approvers, schedule, retention, runbook"),
}

_SECRET_ENV = frozenset({"CLOUDIFY_PASSWORD", "CLOUDIFY_TOKEN", "SLACK_BOT_TOKEN",
                         "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"})
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SLACK_ID_RE = re.compile(r"[A-Z0-9][A-Z0-9_]{1,40}")
_SCHEDULE_OFF = frozenset({"off", "none", "disabled", "false"})

_TOP_KEYS = {"channel", "managers", "approvals", "schedule", "retention", "runbook", "db_path",
             "archive_dir", "runbook_base_url", "archive"}
#: what the object store reads from the environment (besides the instance role)
ARCHIVE_ENV = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_REGION", "AWS_DEFAULT_REGION",
               "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
_ARCHIVE_SCHEMES = ("s3://", "gs://", "az://", "azure://", "abfs://", "abfss://")
_MANAGER_KEYS = {"name", "url", "tenant", "username", "password_env", "token_env", "ca_bundle",
                 "verify_tls", "password_file", "token_file", "snapshot_format"}
SNAPSHOT_FORMATS = ("auto", "legacy", "new")
_SECTIONS: dict[str, type] = {"approvals": ApprovalPolicy, "schedule": ScheduleConfig,
                              "retention": RetentionConfig, "runbook": RunbookConfig}


def _env(env: Mapping[str, str], key: str) -> str | None:
    """The stripped value, or None when unset or blank."""
    value = env.get(key)
    if value is None or not value.strip():
        return None
    return value.strip()


def _check_url(key: str, value: Any, what: str = "URL") -> str:
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


def _int(key: str, value: Any, minimum: int = 1) -> int:
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


def _float(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ConfigError(key, "must be a number")
    try:
        f = float(value)
    except ValueError:
        raise ConfigError(key, "must be a number") from None
    if not f > 0 or f != f or f == float("inf"):
        raise ConfigError(key, "must be a positive number")
    return f


def _bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise ConfigError(key, "must be true or false")


def _str(key: str, value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(key, "must be a non-empty string")
    return value.strip()


def _id_list(key: str, value: Any) -> frozenset[str]:
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
        if not _SLACK_ID_RE.fullmatch(item):
            raise ConfigError(key, f"{item[:30]!r} is not a Slack id (like U0123ABCD or S0123ABCD)")
        out.append(item)
    return frozenset(out)


def _gated(key: str, value: Any) -> frozenset[str]:
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
        if item not in GATEABLE_ACTIONS:
            raise ConfigError(key, f"unknown action {str(item)[:40]!r}; choose from "
                                   + ", ".join(sorted(GATEABLE_ACTIONS)))
        out.add(item)
    return frozenset(out)


def _cron(key: str, cron: str, timezone: str) -> None:
    from apscheduler.triggers.cron import CronTrigger
    try:
        CronTrigger.from_crontab(cron, timezone=timezone)
    except (ValueError, TypeError) as exc:
        raise ConfigError(key, f"is not a valid crontab expression ({exc})") from None


def _timezone(key: str, value: Any) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
    name = _str(key, value)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(key, f"unknown time zone {name[:40]!r} (use an IANA name like Europe/Paris)") from None
    return name


def _mapping(key: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(key, "must be a mapping")
    return value


def _unknown_keys(key: str, data: dict[str, Any], allowed: set[str]) -> None:
    for k in data:
        if k not in allowed:
            prefix = f"{key}." if key else ""
            raise ConfigError(f"{prefix}{k}", "unknown key; known keys: " + ", ".join(sorted(allowed)))


def _read_yaml(path: str) -> dict[str, Any]:
    import yaml
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except FileNotFoundError:
        raise ConfigError("SNAPBOT_CONFIG", f"file {path} does not exist") from None
    except OSError as exc:
        raise ConfigError("SNAPBOT_CONFIG", f"cannot read {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}" if where is not None else ""
        raise ConfigError("SNAPBOT_CONFIG", f"{path} is not valid YAML{at}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError("SNAPBOT_CONFIG", f"{path} must hold a mapping at the top level")
    return data


def _manager_from_yaml(i: int, raw: Any, env: Mapping[str, str]) -> ManagerConfig:
    key = f"managers[{i}]"
    if not isinstance(raw, dict):
        raise ConfigError(key, "must be a mapping with name and url")
    for secret in ("password", "token"):
        if secret in raw:
            # never echo the value
            raise ConfigError(f"{key}.{secret}", f"secrets do not go in the YAML file; name an "
                                                 f"environment variable with {secret}_env instead")
    _unknown_keys(key, raw, _MANAGER_KEYS)
    name = _str(f"{key}.name", raw.get("name"))
    if not _NAME_RE.fullmatch(name) or ".." in name:  # used in archive paths and snapshot ids
        raise ConfigError(f"{key}.name", f"{name[:40]!r} is not a valid name (letters, digits, "
                                         "'-', '_', '.'; at most 64)")
    url = _check_url(f"{key}.url", raw.get("url"))
    secrets: dict[str, str] = {}
    for secret in ("password", "token"):
        env_key = raw.get(f"{secret}_env")
        if env_key is None:
            continue
        env_key = _str(f"{key}.{secret}_env", env_key)
        if not _ENV_NAME_RE.fullmatch(env_key):
            raise ConfigError(f"{key}.{secret}_env", "must be the name of an environment variable")
        value = env.get(env_key)
        if not value:
            raise ConfigError(f"{key}.{secret}_env", f"environment variable {env_key} is not set")
        secrets[secret] = value
    files: dict[str, str] = {}
    for secret in ("password", "token"):
        if raw.get(f"{secret}_file") is None:
            continue
        if f"{secret}_env" in raw:
            raise ConfigError(f"{key}.{secret}_file", f"set together with {secret}_env; use one")
        files[secret] = _str(f"{key}.{secret}_file", raw[f"{secret}_file"])
        secrets[secret] = read_secret_file(f"{key}.{secret}_file", files[secret])
    ca_bundle = raw.get("ca_bundle")
    if ca_bundle is not None:
        ca_bundle = _str(f"{key}.ca_bundle", ca_bundle)
    return ManagerConfig(
        name=name, url=url,
        username=_str(f"{key}.username", raw["username"]) if "username" in raw else "admin",
        password=secrets.get("password", ""), token=secrets.get("token", ""),
        tenant=_str(f"{key}.tenant", raw["tenant"]) if "tenant" in raw else "default_tenant",
        ca_bundle=ca_bundle,
        verify_tls=_bool(f"{key}.verify_tls", raw["verify_tls"]) if "verify_tls" in raw else True,
        password_file=files.get("password"), token_file=files.get("token"),
        snapshot_format=_snapshot_format(f"{key}.snapshot_format", raw.get("snapshot_format")))


def _snapshot_format(key: str, value: Any) -> str:
    if value is None:
        return "auto"
    fmt = _str(key, value).lower()
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


def _manager_from_env(env: Mapping[str, str]) -> ManagerConfig:
    password = env.get("CLOUDIFY_PASSWORD") or ""
    token = env.get("CLOUDIFY_TOKEN") or ""
    password_file = _env(env, "CLOUDIFY_PASSWORD_FILE")
    token_file = _env(env, "CLOUDIFY_TOKEN_FILE")
    if password_file:
        if password:
            raise ConfigError("CLOUDIFY_PASSWORD_FILE", "set together with CLOUDIFY_PASSWORD; use one")
        password = read_secret_file("CLOUDIFY_PASSWORD_FILE", password_file)
    if token_file:
        if token:
            raise ConfigError("CLOUDIFY_TOKEN_FILE", "set together with CLOUDIFY_TOKEN; use one")
        token = read_secret_file("CLOUDIFY_TOKEN_FILE", token_file)
    return ManagerConfig(
        name=DEFAULT_MANAGER, url=_check_url("CLOUDIFY_URL", _env(env, "CLOUDIFY_URL")),
        username=_env(env, "CLOUDIFY_USERNAME") or "admin",
        password=password, token=token,
        tenant=_env(env, "CLOUDIFY_TENANT") or "default_tenant",
        ca_bundle=_env(env, "CLOUDIFY_CA_BUNDLE"),
        password_file=password_file, token_file=token_file,
        snapshot_format=_snapshot_format("CLOUDIFY_SNAPSHOT_FORMAT", _env(env, "CLOUDIFY_SNAPSHOT_FORMAT")))


def _section(name: str, raw: dict[str, Any]) -> dict[str, Any]:
    """Validated YAML values for one of approvals/schedule/retention/runbook (field -> value)."""
    cls = _SECTIONS[name]
    fields = {f for f in cls.__dataclass_fields__}
    _unknown_keys(name, raw, fields)
    out: dict[str, Any] = {}
    for k, v in raw.items():
        key = f"{name}.{k}"
        default = getattr(cls(), k)
        if k in ("approvers", "approver_groups"):
            out[k] = _id_list(key, v)
        elif k == "gated":
            out[k] = _gated(key, v)
        elif isinstance(default, bool):
            out[k] = _bool(key, v)
        elif isinstance(default, int):
            out[k] = _int(key, v)
        elif isinstance(default, float):
            out[k] = _float(key, v)
        else:
            out[k] = _str(key, v)
    return out


def load_settings(env: Mapping[str, str] = os.environ, path: str | None = None, *,
                  require_slack: bool = False) -> Settings:
    """Build Settings from the environment and, if given (`path` or SNAPBOT_CONFIG), a YAML file.

    Environment variables override the YAML file. Raises ConfigError naming the first invalid
    key; secrets never appear in its text. `require_slack=True` (for `snapbot run`) makes
    SLACK_BOT_TOKEN mandatory, and SLACK_SIGNING_SECRET too unless SLACK_APP_TOKEN selects
    Socket Mode (where requests are not signed).
    """
    path = path or _env(env, "SNAPBOT_CONFIG")
    data = _read_yaml(path) if path else {}
    _unknown_keys("", data, _TOP_KEYS)

    # managers
    raw_managers = data.get("managers")
    if raw_managers is not None:
        if not isinstance(raw_managers, list) or not raw_managers:
            raise ConfigError("managers", "must be a non-empty list")
        if _env(env, "CLOUDIFY_URL"):
            raise ConfigError("CLOUDIFY_URL", "set together with managers in SNAPBOT_CONFIG; "
                                              "use one or the other")
        managers = tuple(_manager_from_yaml(i, r, env) for i, r in enumerate(raw_managers))
        seen: set[str] = set()
        for i, mgr in enumerate(managers):
            if mgr.name in seen:
                raise ConfigError(f"managers[{i}].name", f"duplicate manager name {mgr.name!r}")
            seen.add(mgr.name)
    elif _env(env, "CLOUDIFY_URL"):
        managers = (_manager_from_env(env),)
    else:
        raise ConfigError("CLOUDIFY_URL", "no manager configured: set CLOUDIFY_URL, or list "
                                          "managers in the SNAPBOT_CONFIG file")

    # sections from YAML, then env overrides
    sec = {n: _section(n, _mapping(n, data.get(n))) for n in _SECTIONS}
    a, s, r = sec["approvals"], sec["schedule"], sec["retention"]
    if (v := _env(env, "SNAPBOT_APPROVERS")) is not None:
        a["approvers"] = _id_list("SNAPBOT_APPROVERS", v)
    if (v := _env(env, "SNAPBOT_APPROVER_GROUPS")) is not None:
        a["approver_groups"] = _id_list("SNAPBOT_APPROVER_GROUPS", v)
    if (v := _env(env, "SNAPBOT_APPROVALS_REQUIRED")) is not None:
        a["required"] = _int("SNAPBOT_APPROVALS_REQUIRED", v)
    if (v := _env(env, "SNAPBOT_APPROVAL_TTL")) is not None:
        a["ttl_seconds"] = _int("SNAPBOT_APPROVAL_TTL", v)
    if (v := _env(env, "SNAPBOT_GATED")) is not None:
        a["gated"] = _gated("SNAPBOT_GATED", v)
    approvals = ApprovalPolicy(**a)
    if approvals.approvers and not approvals.approver_groups \
            and approvals.required > len(approvals.approvers):
        key = "SNAPBOT_APPROVALS_REQUIRED" if _env(env, "SNAPBOT_APPROVALS_REQUIRED") \
            else "approvals.required"
        raise ConfigError(key, f"{approvals.required} approvals required but only "
                               f"{len(approvals.approvers)} approver(s) listed")

    tz_key, cron_key = "schedule.timezone", "schedule.cron"
    if (v := _env(env, "SNAPBOT_TIMEZONE")) is not None:
        s["timezone"], tz_key = v, "SNAPBOT_TIMEZONE"
    if (v := _env(env, "SNAPBOT_SCHEDULE")) is not None:
        cron_key = "SNAPBOT_SCHEDULE"
        if v.lower() in _SCHEDULE_OFF:
            s["enabled"] = False
        else:
            s["cron"], s["enabled"] = v, True
    schedule = ScheduleConfig(**s)
    _timezone(tz_key, schedule.timezone)
    _cron(cron_key, schedule.cron, schedule.timezone)

    if (v := _env(env, "SNAPBOT_KEEP_ON_MANAGER")) is not None:
        r["keep_on_manager"] = _int("SNAPBOT_KEEP_ON_MANAGER", v)
    if (v := _env(env, "SNAPBOT_KEEP_ARCHIVED")) is not None:
        r["keep_archived"] = _int("SNAPBOT_KEEP_ARCHIVED", v)
    retention = RetentionConfig(**r)
    runbook = RunbookConfig(**sec["runbook"])
    if runbook.poll_max_interval_seconds < runbook.poll_interval_seconds:
        raise ConfigError("runbook.poll_max_interval_seconds",
                          "must not be smaller than runbook.poll_interval_seconds")

    # Slack
    api_url = _env(env, "SLACK_API_URL")
    if api_url is not None:
        api_url = _check_url("SLACK_API_URL", api_url)
        api_url += "/"  # slack_sdk joins method names onto it
    channel = _env(env, "SNAPBOT_CHANNEL")
    if channel is None and "channel" in data:
        channel = _str("channel", data["channel"])
    slack = SlackConfig(bot_token=_env(env, "SLACK_BOT_TOKEN") or "",
                        signing_secret=_env(env, "SLACK_SIGNING_SECRET") or "",
                        app_token=_env(env, "SLACK_APP_TOKEN") or "",
                        api_url=api_url, channel=channel or "")
    if require_slack:
        if not slack.bot_token:
            raise ConfigError("SLACK_BOT_TOKEN", "is required to run the Slack app")
        if not slack.signing_secret and not slack.app_token:
            raise ConfigError("SLACK_SIGNING_SECRET", "is required to run the Slack app over HTTP "
                                                      "(or set SLACK_APP_TOKEN for Socket Mode)")

    db_path = _env(env, "SNAPBOT_DB") or (_str("db_path", data["db_path"]) if "db_path" in data
                                          else Settings.db_path)
    archive_dir = _env(env, "SNAPBOT_ARCHIVE_DIR") or (
        _str("archive_dir", data["archive_dir"]) if "archive_dir" in data else Settings.archive_dir)
    base = _env(env, "SNAPBOT_RUNBOOK_BASE_URL")
    base_key = "SNAPBOT_RUNBOOK_BASE_URL"
    if base is None and data.get("runbook_base_url") is not None:
        base, base_key = data["runbook_base_url"], "runbook_base_url"
    runbook_base_url = _check_url(base_key, base, "base URL") if base is not None else None
    archive_url = _archive_url(env, data)
    if archive_url and not archive_url.lower().startswith(_ARCHIVE_SCHEMES):
        archive_dir, archive_url = archive_url.removeprefix("file://"), ""
    log_format = (_env(env, "SNAPBOT_LOG_FORMAT") or "text").lower()
    if log_format not in ("text", "json"):
        raise ConfigError("SNAPBOT_LOG_FORMAT", f"must be text or json, not {log_format!r}")
    archive_env = tuple((k, env[k]) for k in ARCHIVE_ENV if env.get(k))
    return Settings(managers=managers, slack=slack, approvals=approvals, schedule=schedule,
                    retention=retention, runbook=runbook, db_path=db_path, archive_dir=archive_dir,
                    archive_url=archive_url, archive_env=archive_env, log_format=log_format,
                    runbook_base_url=runbook_base_url)


def _archive_url(env: Mapping[str, str], data: Mapping[str, Any]) -> str:
    """SNAPBOT_ARCHIVE_URL, else SNAPBOT_ARCHIVE_DIR (a directory wins over the YAML's URL),
    else the YAML's `archive.url`; a directory given there is returned as it is."""
    key, url = "SNAPBOT_ARCHIVE_URL", _env(env, "SNAPBOT_ARCHIVE_URL")
    if url is None:
        if _env(env, "SNAPBOT_ARCHIVE_DIR"):
            return ""
        raw = data.get("archive")
        if raw is None:
            return ""
        if not isinstance(raw, dict):
            raise ConfigError("archive", "must be a mapping with `url`")
        _unknown_keys("archive", raw, {"url"})
        if "url" not in raw:
            return ""
        key, url = "archive.url", _str("archive.url", raw["url"])
    url = url.strip()
    if not url.lower().startswith(_ARCHIVE_SCHEMES):
        if "://" in url and not url.startswith("file://"):
            raise ConfigError(key, "must be s3://bucket/prefix (or gs://, az://) or a directory")
        return url  # a directory: the caller keeps it as archive_dir
    if "@" in url.split("/", 3)[2]:
        raise ConfigError(key, "must not carry credentials (use the AWS_* variables)")
    if not url.split("://", 1)[1].split("/", 1)[0]:
        raise ConfigError(key, "names no bucket")
    return url.rstrip("/")


def _mask(secret: str) -> str:
    return "set (hidden)" if secret else "not set"


def describe_settings(settings: Settings) -> list[tuple[str, str]]:
    """(key, value) pairs for the start-up log, secrets masked."""
    out: list[tuple[str, str]] = []
    for i, mgr in enumerate(settings.managers):
        auth = "token" if mgr.token else ("password" if mgr.password else "no credentials")
        tls = mgr.ca_bundle or ("system CA store" if mgr.verify_tls else "TLS NOT verified")
        if mgr.password_file or mgr.token_file:
            auth += " (from file)"
        out.append((f"managers[{i}]", f"{mgr.name} {mgr.url} tenant={mgr.tenant} "
                                      f"user={mgr.username} auth={auth} tls={tls} "
                                      f"snapshot_format={mgr.snapshot_format}"))
    sl = settings.slack
    mode = "socket mode" if sl.app_token else "http"
    out += [("slack.bot_token", _mask(sl.bot_token)),
            ("slack.signing_secret", _mask(sl.signing_secret)),
            ("slack.app_token", _mask(sl.app_token)),
            ("slack.mode", mode),
            ("slack.api_url", sl.api_url or "https://slack.com/api/"),
            ("channel", sl.channel or "not set")]
    ap = settings.approvals
    out += [("approvals.approvers", ", ".join(sorted(ap.approvers)) or "none"),
            ("approvals.approver_groups", ", ".join(sorted(ap.approver_groups)) or "none"),
            ("approvals.required", str(ap.required)),
            ("approvals.ttl_seconds", str(ap.ttl_seconds)),
            ("approvals.gated", ", ".join(sorted(ap.gated | {"snapshots.restore"})))]
    sc = settings.schedule
    out.append(("schedule", f"{sc.cron} {sc.timezone}" if sc.enabled else "off"))
    rt = settings.retention
    out.append(("retention", f"keep {rt.keep_on_manager} on manager, {rt.keep_archived} archived"
                             + (", may delete foreign snapshots" if rt.delete_foreign else "")))
    out += [("db_path", settings.db_path),
            ("archive", settings.archive_url or f"directory {settings.archive_dir}"),
            ("log_format", settings.log_format),
            ("runbook_base_url", settings.runbook_base_url or "not set (runbook steps inline)")]
    return out


#: Every key of the SNAPBOT_CONFIG file, with its default and meaning (the README table).
YAML_KEYS: dict[str, tuple[str, str]] = {
    "channel": ("–", "Channel id for jobs and reports (SNAPBOT_CHANNEL overrides it)"),
    "managers[].name": ("required", "Name used with `--manager`; the first manager is the default"),
    "managers[].url": ("required", "Manager URL, http:// or https:// (no credentials in it)"),
    "managers[].tenant": ("default_tenant", "Tenant sent with every call"),
    "managers[].username": ("admin", "Manager user"),
    "managers[].password_env": ("–", "Name of the environment variable holding the password "
                                     "(a `password:` key is refused)"),
    "managers[].token_env": ("–", "Name of the environment variable holding an API token"),
    "managers[].ca_bundle": ("system store", "CA bundle file for the manager's certificate"),
    "managers[].verify_tls": ("true", "Verify the manager's TLS certificate"),
    "managers[].password_file": ("–", "File holding the password instead of password_env; re-read "
                                      "when the manager answers 401 (e.g. after a legacy restore)"),
    "managers[].token_file": ("–", "File holding an API token instead of token_env; re-read on 401"),
    "managers[].snapshot_format": ("auto", "Snapshots snapbot creates: `legacy` (database dump: a restore "
                                          "replaces everything), `new` (7.0+: a restore merges) or `auto` "
                                          "(the version's cfy default: legacy on 5.1, 6.4 and 7.0.5)"),
    "approvals.approvers": ("[]", "Slack user ids who may approve"),
    "approvals.approver_groups": ("[]", "Slack user-group ids whose members may approve"),
    "approvals.required": ("1", "Approvals needed (N of M)"),
    "approvals.ttl_seconds": ("1800", "Seconds before an approval request expires"),
    "approvals.gated": ("[]", "Actions that also need approval (restore always does)"),
    "schedule.enabled": ("true", "Run the daily snapshot job"),
    "schedule.cron": ("0 3 * * *", "When, in crontab syntax"),
    "schedule.timezone": ("UTC", "Time zone of `cron` (IANA name)"),
    "schedule.misfire_grace_seconds": ("3600", "A run missed by less than this is still run"),
    "retention.keep_on_manager": ("3", "Snapshots kept on each manager"),
    "retention.keep_archived": ("14", "Archived copies kept per manager"),
    "retention.delete_foreign": ("false", "May retention delete snapshots snapbot did not create"),
    "runbook.safety_snapshot": ("true", "Snapshot and archive the current state before a restore"),
    "runbook.poll_interval_seconds": ("2", "First poll interval while following the manager"),
    "runbook.poll_max_interval_seconds": ("15", "Poll backoff ceiling"),
    "runbook.maintenance_timeout_seconds": ("900", "Wait for maintenance mode to be activated"),
    "runbook.restore_timeout_seconds": ("3600", "Wait for a restore to finish"),
    "runbook.snapshot_timeout_seconds": ("3600", "Wait for a snapshot to be created"),
    "db_path": ("snapbot.db", "SQLite database file (SNAPBOT_DB overrides it)"),
    "archive_dir": ("archives", "Archive directory (SNAPBOT_ARCHIVE_DIR overrides it)"),
    "runbook_base_url": ("–", "URL where docs/runbooks.md is published (e.g. .../blob/main/docs/runbooks.md); runbook "
                              "links are that URL + `#<anchor>` (SNAPBOT_RUNBOOK_BASE_URL overrides it); unset: "
                              "the steps go inline"),
    "archive.url": ("–", "`s3://bucket/prefix` (or gs://, az://): archives in object storage "
                         "(SNAPBOT_ARCHIVE_URL overrides it)"),
}


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def _default(text: str) -> str:
    return text if text in ("–", "required", "system store") else f"`{_md(text)}`"


def readme_config_table() -> str:
    """The configuration tables of docs/configuration.md (environment, then YAML keys), from
    ENV_VARS/YAML_KEYS."""
    rows = ["| Environment variable | Default | Meaning |", "|---|---|---|"]
    rows += [f"| `{k}` | {_default(d)} | {_md(m)} |" for k, (d, m) in ENV_VARS.items()]
    rows += ["", "| `SNAPBOT_CONFIG` key | Default | Meaning |", "|---|---|---|"]
    rows += [f"| `{k}` | {_default(d)} | {_md(m)} |" for k, (d, m) in YAML_KEYS.items()]
    return "\n".join(rows) + "\n"
