"""The settings table: every setting snapbot reads (`SETTINGS`), the single source of its names,
type, default and meaning.

Each row says where a setting comes from (its `SNAPBOT_CONFIG` YAML key and/or its environment
variable), how a given value is parsed and checked (its type: a parser of `bot.config.values`),
its default, whether it is a secret, and what it means. The records of `bot.config.settings` take
their defaults from it, `bot.config.load` finds keys, variables and parsers in it, and
`configuration_markdown` renders it for docs/configuration.md (a test keeps them equal).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.commands.registry import GATEABLE
from bot.config import values as v

DEFAULT_MANAGER = "default"

REQUIRED = object()  # a setting without a default

#: how a given value is read: (the key or variable that gave it, the raw value) -> the value
Parse = Callable[[str, Any], Any]


def _md(text: str) -> str:
    return text.replace("|", "\\|")


@dataclass(frozen=True)
class Setting:
    """One setting: its YAML key (`section.field`, `managers[].field`, `archive.url` or a
    top-level key; "" for environment-only ones), its environment variable ("" for YAML-only
    ones), its default and what it means; how a given value is parsed (`parse`, its type) and
    whether it is a secret (never logged, never in an error). Defaults are written here only."""

    key: str
    env: str = ""
    default: Any = None
    meaning: str = ""
    shown: str = ""  # how the default reads when it is not a plain value
    parse: Parse = v.text
    secret: bool = False

    @property
    def name(self) -> str:
        return self.key or self.env

    @property
    def default_text(self) -> str:
        if self.shown:
            return self.shown
        if self.default is REQUIRED:
            return "required"
        if self.default is None:
            return "–"
        if isinstance(self.default, bool):
            return "`true`" if self.default else "`false`"
        if isinstance(self.default, frozenset):
            return "`[]`" if not self.default else "`" + ", ".join(sorted(self.default)) + "`"
        if isinstance(self.default, float):
            return f"`{self.default:g}`"
        return f"`{_md(str(self.default))}`"


SETTINGS: tuple[Setting, ...] = (
    Setting("managers[].name", "", REQUIRED,
            "Name used with `--manager`; the first manager is the default (`CLOUDIFY_URL` alone "
            f"configures one manager named `{DEFAULT_MANAGER}`)"),
    Setting("managers[].url", "CLOUDIFY_URL", REQUIRED,
            "Manager URL, http:// or https:// (no credentials in it)", parse=v.check_url),
    Setting("managers[].tenant", "CLOUDIFY_TENANT", "default_tenant", "Tenant sent with every call"),
    Setting("managers[].username", "CLOUDIFY_USERNAME", "admin", "Manager user"),
    Setting("managers[].password_env", "CLOUDIFY_PASSWORD", None,
            "Manager password (secret). In the file: the name of the environment variable "
            "holding it (a `password:` key is refused)", secret=True),
    Setting("managers[].token_env", "CLOUDIFY_TOKEN", None,
            "Manager API token, sent as Authentication-Token instead of basic auth (secret). In "
            "the file: the name of the environment variable holding it", secret=True),
    Setting("managers[].password_file", "CLOUDIFY_PASSWORD_FILE", None,
            "File holding the password instead; re-read when the manager answers 401 (e.g. after "
            "a legacy restore)"),
    Setting("managers[].token_file", "CLOUDIFY_TOKEN_FILE", None,
            "File holding an API token instead; re-read when the manager answers 401"),
    Setting("managers[].snapshot_format", "CLOUDIFY_SNAPSHOT_FORMAT", "auto",
            "Snapshots snapbot creates: `legacy` (database dump: a restore replaces everything), "
            "`new` (7.0+: a restore merges) or `auto` (the version's cfy default: legacy on 5.1, "
            "6.4 and 7.0.5)", parse=v.snapshot_format),
    Setting("managers[].bootstrap_admin", "CLOUDIFY_BOOTSTRAP_ADMIN", "admin",
            "The manager's bootstrap admin (user id 0; `manager.security.admin_username` at install): "
            "the only user the manager lets run a legacy restore"),
    Setting("managers[].ca_bundle", "CLOUDIFY_CA_BUNDLE", None,
            "CA bundle file for the manager's HTTPS certificate", shown="system store"),
    Setting("managers[].verify_tls", "", True, "Verify the manager's TLS certificate", parse=v.boolean),
    Setting("managers[].scratch", "", False,
            "A throw-away manager that restore drills may overwrite; snapbot drills onto no other",
            parse=v.boolean),
    Setting("managers[].drill.target", "", None,
            "Drill this manager's newest verified archive onto that scratch manager (restore, "
            "then compare with the archive)"),
    Setting("managers[].drill.cron", "", "0 4 * * 0",
            "When the drill runs, crontab syntax in `schedule.timezone` (weekly by default)"),
    Setting("", "SLACK_BOT_TOKEN", None, "Bot token `xoxb-…` (secret; required by `snapbot run`)",
            secret=True),
    Setting("", "SLACK_SIGNING_SECRET", None,
            "Signing secret (secret; required by `snapbot run` in HTTP mode)", secret=True),
    Setting("", "SLACK_APP_TOKEN", None,
            "App-level token `xapp-…` (secret); when set, `snapbot run` uses Socket Mode", secret=True),
    Setting("", "SLACK_API_URL", None, "Slack Web API base URL (tests and the local stand-in)",
            shown="`https://slack.com/api/`"),
    Setting("channel", "SNAPBOT_CHANNEL", None,
            "Channel id where jobs, restores and daily reports are posted"),
    Setting("approvals.approvers", "SNAPBOT_APPROVERS", frozenset(),
            "Slack user ids who may approve (comma-separated in the environment)", parse=v.id_list),
    Setting("approvals.approver_groups", "SNAPBOT_APPROVER_GROUPS", frozenset(),
            "Slack user-group ids (S…) whose members may approve", parse=v.id_list),
    Setting("approvals.required", "SNAPBOT_APPROVALS_REQUIRED", 1,
            "Approvals needed (N of M); at most the number of approvers", parse=v.whole_number),
    Setting("approvals.ttl_seconds", "SNAPBOT_APPROVAL_TTL", 1800,
            "Seconds before an unanswered approval request expires", parse=v.whole_number),
    Setting("approvals.gated", "SNAPBOT_GATED", frozenset(),
            "Actions that also need approval (restore always does): "
            + ", ".join(sorted(GATEABLE)), parse=v.gated),
    Setting("access.operators", "SNAPBOT_OPERATORS", frozenset(),
            "Slack user ids and user-group ids (S…) who may run what changes a manager (approvers "
            "may too). None configured: snapbot is read-only for everyone but approvers", parse=v.id_list),
    Setting("access.viewers", "SNAPBOT_VIEWERS", frozenset(),
            "Slack user ids and user-group ids who may read (help, list, status, jobs); none "
            "configured: everyone in the configured channels may read", parse=v.id_list),
    Setting("access.channels", "SNAPBOT_CHANNELS", frozenset(),
            "Channel ids where commands are taken (elsewhere, DMs included, they are refused)",
            shown="`SNAPBOT_CHANNEL`", parse=v.channel_list),
    Setting("access.terminal_users", "SNAPBOT_TERMINAL_USERS", (),
            "Terminal logins mapped to Slack user ids (`login=U…` pairs, comma-separated in the "
            "environment): `snapbot cfy` acts as that user. An unmapped login may read and run "
            "ungated commands only", shown="none", parse=v.terminal_users),
    Setting("access.team_id", "SNAPBOT_TEAM_ID", "",
            "The workspace (T…) whose requests are taken", shown="from `auth.test`", parse=v.team_id),
    Setting("access.app_id", "SNAPBOT_APP_ID", "",
            "The Slack app (A…) whose requests are taken (the signing secret already ties them "
            "to one app)", shown="not compared", parse=v.app_id),
    Setting("access.enterprise_id", "SNAPBOT_ENTERPRISE_ID", "",
            "The Enterprise Grid org (E…) whose requests are taken",
            shown="from `auth.test`", parse=v.enterprise_id),
    Setting("schedule.enabled", "", True, "Run the daily snapshot job", parse=v.boolean),
    Setting("schedule.cron", "SNAPBOT_SCHEDULE", "0 3 * * *",
            "Daily snapshot time, crontab syntax; `off` in the environment disables it"),
    Setting("schedule.timezone", "SNAPBOT_TIMEZONE", "UTC",
            "Time zone of the schedule (IANA name, e.g. Europe/Paris)"),
    Setting("schedule.misfire_grace_seconds", "", 3600,
            "A run missed by less than this is still run", parse=v.whole_number),
    Setting("retention.keep_on_manager", "SNAPBOT_KEEP_ON_MANAGER", 3,
            "Snapshots retention keeps on each manager", parse=v.whole_number),
    Setting("retention.keep_archived", "SNAPBOT_KEEP_ARCHIVED", 14,
            "Archived copies retention keeps per manager", parse=v.whole_number),
    Setting("retention.keep_audit_days", "SNAPBOT_KEEP_AUDIT_DAYS", 365,
            "Days the audit log keeps its entries (`0`: forever); the daily run prunes older ones",
            parse=v.whole_number_or_zero),
    Setting("retention.stale_after_hours", "SNAPBOT_STALE_AFTER_HOURS", 26,
            "Hours after which a manager's newest verified archive is stale: one message in the "
            "channel (and one when a fresh copy arrives)", parse=v.whole_number),
    Setting("retention.delete_foreign", "", False,
            "May retention delete snapshots snapbot did not create", parse=v.boolean),
    Setting("runbook.safety_snapshot", "", True,
            "Snapshot and archive the current state before a restore", parse=v.boolean),
    Setting("runbook.poll_interval_seconds", "", 2.0,
            "First poll interval while following the manager", parse=v.positive_number),
    Setting("runbook.poll_max_interval_seconds", "", 15.0, "Poll backoff ceiling", parse=v.positive_number),
    Setting("runbook.maintenance_timeout_seconds", "", 900.0,
            "Wait for maintenance mode to be activated", parse=v.positive_number),
    Setting("runbook.restore_timeout_seconds", "", 3600.0, "Wait for a restore to finish",
            parse=v.positive_number),
    Setting("runbook.snapshot_timeout_seconds", "", 3600.0, "Wait for a snapshot to be created",
            parse=v.positive_number),
    Setting("runbook.queue_timeout_seconds", "", 1800.0,
            "Wait for the manager's running executions to end: the safety snapshot in its queue, a daily run's create",
            parse=v.positive_number),
    Setting("runbook.return_timeout_seconds", "", 1800.0,
            "Wait for the manager to answer again after its restore execution ended",
            parse=v.positive_number),
    Setting("runbook.snapshot_status_grace_seconds", "", 300.0,
            "After the restore execution ended, how long a `/snapshot-status` still `running` is "
            "waited for before going on (and saying so)", parse=v.positive_number),
    Setting("runbook_base_url", "SNAPBOT_RUNBOOK_BASE_URL", None,
            "URL where docs/runbooks.md is published (e.g. .../blob/main/docs/runbooks.md); runbook links "
            "are that URL + `#<anchor>`; unset: the steps go inline"),
    Setting("db_path", "SNAPBOT_DB", "snapbot.db", "SQLite database file"),
    Setting("archive_dir", "SNAPBOT_ARCHIVE_DIR", "archives",
            "Where downloaded snapshot archives are kept"),
    Setting("archive.url", "SNAPBOT_ARCHIVE_URL", None,
            "Object storage for the archives instead of the directory: `s3://bucket/prefix` (or "
            "gs://, az://; endpoint, region and keys from the standard AWS_* variables or the "
            "instance role)"),
    Setting("", "SNAPBOT_LOG_FORMAT", "text", "`json` for one JSON object per log line"),
    Setting("", "SNAPBOT_CONFIG", None,
            "Path of a YAML file for several managers, approvers, schedule, retention, runbook"),
)

_BY_NAME = {s.name: s for s in SETTINGS}

#: environment variable -> (default, meaning), for checks that list what snapbot reads
ENV_VARS: dict[str, tuple[str, str]] = {s.env: (s.default_text, s.meaning) for s in SETTINGS if s.env}


def setting(name: str) -> Setting:
    """The row of a setting, by YAML key (or environment variable for env-only ones)."""
    return _BY_NAME[name]


def default(name: str) -> Any:
    """The default of a setting, by YAML key (or environment variable for env-only ones)."""
    return setting(name).default


def configuration_markdown() -> str:
    """The configuration reference as a markdown table, rendered from SETTINGS."""
    rows = ["| `SNAPBOT_CONFIG` key | Environment variable | Default | Meaning |", "|---|---|---|---|"]
    for s in SETTINGS:
        key = f"`{s.key}`" if s.key else "–"
        env = f"`{s.env}`" if s.env else "–"
        rows.append(f"| {key} | {env} | {s.default_text} | {_md(s.meaning)} |")
    return "\n".join(rows) + "\n"
