"""Loading Settings (`bot.config.settings`) from the environment and an optional YAML file named
by SNAPBOT_CONFIG. Environment variables override the file; defaults come from the settings table
(`bot.config.table.SETTINGS`) through the records, and so do the YAML keys, the environment
variables of the sections and every section value's parser. The first invalid value raises
ConfigError naming its key; secrets never appear in an error.
"""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from bot.config import values as check
from bot.config.settings import (
    AccessConfig,
    ApprovalPolicy,
    DrillConfig,
    ManagerConfig,
    RetentionConfig,
    RunbookConfig,
    ScheduleConfig,
    Settings,
    SlackConfig,
)
from bot.config.table import DEFAULT_MANAGER, SETTINGS, setting
from bot.errors import ConfigError

_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
if TYPE_CHECKING:
    from _typeshed import DataclassInstance

_SCHEDULE_OFF = frozenset({"off", "none", "disabled", "false"})

_YAML_KEYS = [st.key for st in SETTINGS if st.key]
_TOP_KEYS = {k.split(".", 1)[0].removesuffix("[]") for k in _YAML_KEYS}
_MANAGER_KEYS = {k.removeprefix("managers[].").split(".", 1)[0] for k in _YAML_KEYS
                 if k.startswith("managers[].")}
_DRILL_KEYS = {k.removeprefix("managers[].drill.") for k in _YAML_KEYS
               if k.startswith("managers[].drill.")}
#: what the object store reads from the environment (besides the instance role)
ARCHIVE_ENV = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_REGION", "AWS_DEFAULT_REGION",
               "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
_ARCHIVE_SCHEMES = ("s3://", "gs://", "az://", "azure://", "abfs://", "abfss://")
_SECTIONS: dict[str, type[DataclassInstance]] = {"approvals": ApprovalPolicy, "access": AccessConfig,
                              "schedule": ScheduleConfig,
                              "retention": RetentionConfig, "runbook": RunbookConfig}


def _env(env: Mapping[str, str], key: str) -> str | None:
    """The stripped value, or None when unset or blank."""
    value = env.get(key)
    if value is None or not value.strip():
        return None
    return value.strip()


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
    check.unknown_keys(key, raw, _MANAGER_KEYS)
    name = check.text(f"{key}.name", raw.get("name"))
    if not _NAME_RE.fullmatch(name) or ".." in name:  # used in archive paths and snapshot ids
        raise ConfigError(f"{key}.name", f"{name[:40]!r} is not a valid name (letters, digits, "
                                         "'-', '_', '.'; at most 64)")
    url = check.check_url(f"{key}.url", raw.get("url"))
    secrets: dict[str, str] = {}
    for secret in ("password", "token"):
        env_key = raw.get(f"{secret}_env")
        if env_key is None:
            continue
        env_key = check.text(f"{key}.{secret}_env", env_key)
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
        files[secret] = check.text(f"{key}.{secret}_file", raw[f"{secret}_file"])
        secrets[secret] = check.read_secret_file(f"{key}.{secret}_file", files[secret])
    ca_bundle = raw.get("ca_bundle")
    if ca_bundle is not None:
        ca_bundle = check.text(f"{key}.ca_bundle", ca_bundle)
    given: dict[str, Any] = {}
    for field_name in ("username", "tenant", "bootstrap_admin", "verify_tls"):
        if field_name in raw:
            given[field_name] = setting(f"managers[].{field_name}").parse(f"{key}.{field_name}",
                                                                          raw[field_name])
    if raw.get("snapshot_format") is not None:
        given["snapshot_format"] = check.snapshot_format(f"{key}.snapshot_format",
                                                         raw["snapshot_format"])
    if "scratch" in raw:
        given["scratch"] = check.boolean(f"{key}.scratch", raw["scratch"])
    if raw.get("drill") is not None:
        given["drill"] = _drill(f"{key}.drill", raw["drill"])
    return ManagerConfig(name=name, url=url, password=secrets.get("password", ""),
                         token=secrets.get("token", ""), ca_bundle=ca_bundle,
                         password_file=files.get("password"), token_file=files.get("token"), **given)


def _drill(key: str, raw: Any) -> DrillConfig:
    """`drill: {target: NAME, cron: "0 4 * * 0"}` of one manager (the target is checked against
    the other managers once all are read: `_check_drills`)."""
    if not isinstance(raw, dict):
        raise ConfigError(key, "must be a mapping with target (and cron)")
    check.unknown_keys(key, raw, _DRILL_KEYS)
    target = check.text(f"{key}.target", raw.get("target"))
    if "cron" in raw:
        return DrillConfig(target=target, cron=check.text(f"{key}.cron", raw["cron"]))
    return DrillConfig(target=target)


def _check_drills(managers: tuple[ManagerConfig, ...], zone: str) -> None:
    """Every drill names another configured manager marked `scratch: true`, and a valid cron."""
    by_name = {m.name: m for m in managers}
    for i, mgr in enumerate(managers):
        if mgr.drill is None:
            continue
        key = f"managers[{i}].drill"
        target = by_name.get(mgr.drill.target)
        if target is None:
            raise ConfigError(f"{key}.target", f"names no configured manager "
                                               f"({mgr.drill.target[:64]!r})")
        if target.name == mgr.name:
            raise ConfigError(f"{key}.target", "a manager cannot be drilled onto itself")
        if not target.scratch:
            raise ConfigError(f"{key}.target", f"manager {target.name!r} is not marked "
                                               "`scratch: true`; drills only overwrite scratch managers")
        check.cron(f"{key}.cron", mgr.drill.cron, zone)


def _manager_from_env(env: Mapping[str, str]) -> ManagerConfig:
    password = env.get("CLOUDIFY_PASSWORD") or ""
    token = env.get("CLOUDIFY_TOKEN") or ""
    password_file = _env(env, "CLOUDIFY_PASSWORD_FILE")
    token_file = _env(env, "CLOUDIFY_TOKEN_FILE")
    if password_file:
        if password:
            raise ConfigError("CLOUDIFY_PASSWORD_FILE", "set together with CLOUDIFY_PASSWORD; use one")
        password = check.read_secret_file("CLOUDIFY_PASSWORD_FILE", password_file)
    if token_file:
        if token:
            raise ConfigError("CLOUDIFY_TOKEN_FILE", "set together with CLOUDIFY_TOKEN; use one")
        token = check.read_secret_file("CLOUDIFY_TOKEN_FILE", token_file)
    given: dict[str, Any] = {field_name: value for field_name, var in (("username", "CLOUDIFY_USERNAME"),
                                                                     ("tenant", "CLOUDIFY_TENANT"),
                                                                     ("bootstrap_admin", "CLOUDIFY_BOOTSTRAP_ADMIN"))
                             if (value := _env(env, var)) is not None}
    if (fmt := _env(env, "CLOUDIFY_SNAPSHOT_FORMAT")) is not None:
        given["snapshot_format"] = check.snapshot_format("CLOUDIFY_SNAPSHOT_FORMAT", fmt)
    return ManagerConfig(
        name=DEFAULT_MANAGER, url=check.check_url("CLOUDIFY_URL", _env(env, "CLOUDIFY_URL")),
        password=password, token=token, ca_bundle=_env(env, "CLOUDIFY_CA_BUNDLE"),
        password_file=password_file, token_file=token_file, **given)


def _section(name: str, raw: dict[str, Any]) -> dict[str, Any]:
    """Validated YAML values for one of the sections (field -> value)."""
    cls = _SECTIONS[name]
    fields = set(cls.__dataclass_fields__)
    check.unknown_keys(name, raw, fields)
    return {k: _field(name, k, f"{name}.{k}", value) for k, value in raw.items()}


def _field(section: str, field_name: str, key: str, value: Any) -> Any:
    """One section field's value, read by its row's parser; `key` names it in errors (the YAML
    key or the environment variable)."""
    return setting(f"{section}.{field_name}").parse(key, value)


#: Environment variables that set a section field with no special meaning (from SETTINGS).
_ENV_FIELDS = tuple((st.env, *st.key.split(".", 1)) for st in SETTINGS
                    if st.env and st.key.split(".", 1)[0] in _SECTIONS
                    and st.env not in ("SNAPBOT_SCHEDULE", "SNAPBOT_TIMEZONE"))


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
    check.unknown_keys("", data, _TOP_KEYS)

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
    sec = {n: _section(n, check.mapping(n, data.get(n))) for n in _SECTIONS}
    for var, section, field_name in _ENV_FIELDS:
        if (value := _env(env, var)) is not None:
            sec[section][field_name] = _field(section, field_name, var, value)
    a, s, r = sec["approvals"], sec["schedule"], sec["retention"]
    approvals = ApprovalPolicy(**a)
    access = AccessConfig(**sec["access"])
    if approvals.approvers and not approvals.approver_groups \
            and approvals.required > len(approvals.approvers):
        key = "SNAPBOT_APPROVALS_REQUIRED" if _env(env, "SNAPBOT_APPROVALS_REQUIRED") \
            else "approvals.required"
        raise ConfigError(key, f"{approvals.required} approvals required but only "
                               f"{len(approvals.approvers)} approver(s) listed")

    tz_key, cron_key = "schedule.timezone", "schedule.cron"
    if (value := _env(env, "SNAPBOT_TIMEZONE")) is not None:
        s["timezone"], tz_key = value, "SNAPBOT_TIMEZONE"
    if (value := _env(env, "SNAPBOT_SCHEDULE")) is not None:
        cron_key = "SNAPBOT_SCHEDULE"
        if value.lower() in _SCHEDULE_OFF:
            s["enabled"] = False
        else:
            s["cron"], s["enabled"] = value, True
    schedule = ScheduleConfig(**s)
    check.timezone(tz_key, schedule.timezone)
    check.cron(cron_key, schedule.cron, schedule.timezone)
    _check_drills(managers, schedule.timezone)

    retention = RetentionConfig(**r)
    runbook = RunbookConfig(**sec["runbook"])
    if runbook.poll_max_interval_seconds < runbook.poll_interval_seconds:
        raise ConfigError("runbook.poll_max_interval_seconds",
                          "must not be smaller than runbook.poll_interval_seconds")

    # Slack
    api_url = _env(env, "SLACK_API_URL")
    if api_url is not None:
        api_url = check.check_url("SLACK_API_URL", api_url)
        api_url += "/"  # slack_sdk joins method names onto it
    channel_key = "SNAPBOT_CHANNEL"
    channel = _env(env, "SNAPBOT_CHANNEL")
    if channel is None and env.get("SNAPBOT_CHANNEL") is not None:
        raise ConfigError("SNAPBOT_CHANNEL", "is empty: set the channel id (like C0123ABCD) jobs "
                                             "and reports are posted in")
    if channel is None and "channel" in data:
        channel_key, channel = "channel", check.text("channel", data["channel"])
    if channel is not None:
        channel = check.channel_id(channel_key, channel)
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

    paths: dict[str, str] = {}
    for key, var in (("db_path", "SNAPBOT_DB"), ("archive_dir", "SNAPBOT_ARCHIVE_DIR")):
        value = _env(env, var) or (check.text(key, data[key]) if key in data else None)
        if value is not None:
            paths[key] = value
    base = _env(env, "SNAPBOT_RUNBOOK_BASE_URL")
    base_key = "SNAPBOT_RUNBOOK_BASE_URL"
    if base is None and data.get("runbook_base_url") is not None:
        base, base_key = data["runbook_base_url"], "runbook_base_url"
    runbook_base_url = check.check_url(base_key, base, "base URL") if base is not None else None
    archive_url = _archive_url(env, data)
    if archive_url and not archive_url.lower().startswith(_ARCHIVE_SCHEMES):
        paths["archive_dir"], archive_url = archive_url.removeprefix("file://"), ""
    log_format = (_env(env, "SNAPBOT_LOG_FORMAT") or Settings.log_format).lower()
    if log_format not in ("text", "json"):
        raise ConfigError("SNAPBOT_LOG_FORMAT", f"must be text or json, not {log_format!r}")
    archive_env = tuple((k, env[k]) for k in ARCHIVE_ENV if env.get(k))
    return Settings(managers=managers, slack=slack, approvals=approvals, access=access,
                    schedule=schedule,
                    retention=retention, runbook=runbook, archive_url=archive_url,
                    archive_env=archive_env, log_format=log_format,
                    runbook_base_url=runbook_base_url, config_file=path or "", **paths)


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
        check.unknown_keys("archive", raw, {"url"})
        if "url" not in raw:
            return ""
        key, url = "archive.url", check.text("archive.url", raw["url"])
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


def check_database_path(settings: Settings, env: Mapping[str, str]) -> None:
    """Before opening the database: its path names a file in a writable directory
    (ConfigError naming SNAPBOT_DB, or db_path when the file set it)."""
    check.database_path("SNAPBOT_DB" if _env(env, "SNAPBOT_DB") else "db_path", settings.db_path)
