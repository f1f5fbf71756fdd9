"""The settings: one table of every setting (`SETTINGS`), and the frozen dataclasses the rest of
the bot reads, whose defaults come from that table.

Each row says where a setting comes from (its `SNAPBOT_CONFIG` YAML key and/or its environment
variable), its default and what it means; `configuration_markdown` renders the table for the
docs (a test keeps them equal). `bot.config.load_settings` builds Settings from the environment
and the YAML file. Secrets are `repr=False` so a logged Settings never shows them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.commands.registry import GATEABLE
from bot.errors import UsageError
from bot.urls import display_url

DEFAULT_MANAGER = "default"

#: Actions that may be put behind approval by config (`approvals.gated`). Restore always is.
GATEABLE_ACTIONS = GATEABLE

REQUIRED = object()  # a setting without a default


def _md(text: str) -> str:
    return text.replace("|", "\\|")


@dataclass(frozen=True)
class Setting:
    """One setting: its YAML key (`section.field`, `managers[].field`, `archive.url` or a
    top-level key; "" for environment-only ones), its environment variable ("" for YAML-only
    ones), its default and what it means. Defaults are written here only."""

    key: str
    env: str = ""
    default: Any = None
    meaning: str = ""
    shown: str = ""  # how the default reads when it is not a plain value

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
            "Manager URL, http:// or https:// (no credentials in it)"),
    Setting("managers[].tenant", "CLOUDIFY_TENANT", "default_tenant", "Tenant sent with every call"),
    Setting("managers[].username", "CLOUDIFY_USERNAME", "admin", "Manager user"),
    Setting("managers[].password_env", "CLOUDIFY_PASSWORD", None,
            "Manager password (secret). In the file: the name of the environment variable "
            "holding it (a `password:` key is refused)"),
    Setting("managers[].token_env", "CLOUDIFY_TOKEN", None,
            "Manager API token, sent as Authentication-Token instead of basic auth (secret). In "
            "the file: the name of the environment variable holding it"),
    Setting("managers[].password_file", "CLOUDIFY_PASSWORD_FILE", None,
            "File holding the password instead; re-read when the manager answers 401 (e.g. after "
            "a legacy restore)"),
    Setting("managers[].token_file", "CLOUDIFY_TOKEN_FILE", None,
            "File holding an API token instead; re-read when the manager answers 401"),
    Setting("managers[].snapshot_format", "CLOUDIFY_SNAPSHOT_FORMAT", "auto",
            "Snapshots snapbot creates: `legacy` (database dump: a restore replaces everything), "
            "`new` (7.0+: a restore merges) or `auto` (the version's cfy default: legacy on 5.1, "
            "6.4 and 7.0.5)"),
    Setting("managers[].bootstrap_admin", "CLOUDIFY_BOOTSTRAP_ADMIN", "admin",
            "The manager's bootstrap admin (user id 0; `manager.security.admin_username` at install): "
            "the only user the manager lets run a legacy restore"),
    Setting("managers[].ca_bundle", "CLOUDIFY_CA_BUNDLE", None,
            "CA bundle file for the manager's HTTPS certificate", shown="system store"),
    Setting("managers[].verify_tls", "", True, "Verify the manager's TLS certificate"),
    Setting("managers[].scratch", "", False,
            "A throw-away manager that restore drills may overwrite; snapbot drills onto no other"),
    Setting("managers[].drill.target", "", None,
            "Drill this manager's newest verified archive onto that scratch manager (restore, "
            "then compare with the archive)"),
    Setting("managers[].drill.cron", "", "0 4 * * 0",
            "When the drill runs, crontab syntax in `schedule.timezone` (weekly by default)"),
    Setting("", "SLACK_BOT_TOKEN", None, "Bot token `xoxb-…` (secret; required by `snapbot run`)"),
    Setting("", "SLACK_SIGNING_SECRET", None,
            "Signing secret (secret; required by `snapbot run` in HTTP mode)"),
    Setting("", "SLACK_APP_TOKEN", None,
            "App-level token `xapp-…` (secret); when set, `snapbot run` uses Socket Mode"),
    Setting("", "SLACK_API_URL", None, "Slack Web API base URL (tests and the local stand-in)",
            shown="`https://slack.com/api/`"),
    Setting("channel", "SNAPBOT_CHANNEL", None,
            "Channel id where jobs, restores and daily reports are posted"),
    Setting("approvals.approvers", "SNAPBOT_APPROVERS", frozenset(),
            "Slack user ids who may approve (comma-separated in the environment)"),
    Setting("approvals.approver_groups", "SNAPBOT_APPROVER_GROUPS", frozenset(),
            "Slack user-group ids (S…) whose members may approve"),
    Setting("approvals.required", "SNAPBOT_APPROVALS_REQUIRED", 1,
            "Approvals needed (N of M); at most the number of approvers"),
    Setting("approvals.ttl_seconds", "SNAPBOT_APPROVAL_TTL", 1800,
            "Seconds before an unanswered approval request expires"),
    Setting("approvals.gated", "SNAPBOT_GATED", frozenset(),
            "Actions that also need approval (restore always does): "
            + ", ".join(sorted(GATEABLE_ACTIONS))),
    Setting("access.operators", "SNAPBOT_OPERATORS", frozenset(),
            "Slack user ids and user-group ids (S…) who may run what changes a manager (approvers "
            "may too). None configured: snapbot is read-only for everyone but approvers"),
    Setting("access.viewers", "SNAPBOT_VIEWERS", frozenset(),
            "Slack user ids and user-group ids who may read (help, list, status, jobs); none "
            "configured: everyone in the configured channels may read"),
    Setting("access.channels", "SNAPBOT_CHANNELS", frozenset(),
            "Channel ids where commands are taken (elsewhere, DMs included, they are refused)",
            shown="`SNAPBOT_CHANNEL`"),
    Setting("access.terminal_users", "SNAPBOT_TERMINAL_USERS", (),
            "Terminal logins mapped to Slack user ids (`login=U…` pairs, comma-separated in the "
            "environment): `snapbot cfy` acts as that user. An unmapped login may read and run "
            "ungated commands only", shown="none"),
    Setting("access.team_id", "SNAPBOT_TEAM_ID", "",
            "The workspace (T…) whose requests are taken", shown="from `auth.test`"),
    Setting("access.app_id", "SNAPBOT_APP_ID", "",
            "The Slack app (A…) whose requests are taken (the signing secret already ties them "
            "to one app)", shown="not compared"),
    Setting("access.enterprise_id", "SNAPBOT_ENTERPRISE_ID", "",
            "The Enterprise Grid org (E…) whose requests are taken", shown="from `auth.test`"),
    Setting("schedule.enabled", "", True, "Run the daily snapshot job"),
    Setting("schedule.cron", "SNAPBOT_SCHEDULE", "0 3 * * *",
            "Daily snapshot time, crontab syntax; `off` in the environment disables it"),
    Setting("schedule.timezone", "SNAPBOT_TIMEZONE", "UTC",
            "Time zone of the schedule (IANA name, e.g. Europe/Paris)"),
    Setting("schedule.misfire_grace_seconds", "", 3600,
            "A run missed by less than this is still run"),
    Setting("retention.keep_on_manager", "SNAPBOT_KEEP_ON_MANAGER", 3,
            "Snapshots retention keeps on each manager"),
    Setting("retention.keep_archived", "SNAPBOT_KEEP_ARCHIVED", 14,
            "Archived copies retention keeps per manager"),
    Setting("retention.keep_audit_days", "SNAPBOT_KEEP_AUDIT_DAYS", 365,
            "Days the audit log keeps its entries (`0`: forever); the daily run prunes older ones"),
    Setting("retention.stale_after_hours", "SNAPBOT_STALE_AFTER_HOURS", 26,
            "Hours after which a manager's newest verified archive is stale: one message in the "
            "channel (and one when a fresh copy arrives)"),
    Setting("retention.delete_foreign", "", False,
            "May retention delete snapshots snapbot did not create"),
    Setting("runbook.safety_snapshot", "", True,
            "Snapshot and archive the current state before a restore"),
    Setting("runbook.poll_interval_seconds", "", 2.0,
            "First poll interval while following the manager"),
    Setting("runbook.poll_max_interval_seconds", "", 15.0, "Poll backoff ceiling"),
    Setting("runbook.maintenance_timeout_seconds", "", 900.0,
            "Wait for maintenance mode to be activated"),
    Setting("runbook.restore_timeout_seconds", "", 3600.0, "Wait for a restore to finish"),
    Setting("runbook.snapshot_timeout_seconds", "", 3600.0, "Wait for a snapshot to be created"),
    Setting("runbook.queue_timeout_seconds", "", 1800.0,
            "Wait for the manager's running executions to end: the safety snapshot in its queue, a daily run's create"),
    Setting("runbook.return_timeout_seconds", "", 1800.0,
            "Wait for the manager to answer again after its restore execution ended"),
    Setting("runbook.snapshot_status_grace_seconds", "", 300.0,
            "After the restore execution ended, how long a `/snapshot-status` still `running` is "
            "waited for before going on (and saying so)"),
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


def default(name: str) -> Any:
    """The default of a setting, by YAML key (or environment variable for env-only ones)."""
    return _BY_NAME[name].default


def configuration_markdown() -> str:
    """The configuration reference as a markdown table, rendered from SETTINGS."""
    rows = ["| `SNAPBOT_CONFIG` key | Environment variable | Default | Meaning |", "|---|---|---|---|"]
    for s in SETTINGS:
        key = f"`{s.key}`" if s.key else "–"
        env = f"`{s.env}`" if s.env else "–"
        rows.append(f"| {key} | {env} | {s.default_text} | {_md(s.meaning)} |")
    return "\n".join(rows) + "\n"


@dataclass(frozen=True)
class ManagerConfig:
    name: str
    url: str  # e.g. https://manager.example.com (the client appends /api/v3.1)
    username: str = default("managers[].username")
    password: str = field(default="", repr=False)
    token: str = field(default="", repr=False)  # Authentication-Token, if used instead of basic auth
    tenant: str = default("managers[].tenant")
    ca_bundle: str | None = None  # path to a CA bundle for HTTPS, or None for the system store
    verify_tls: bool = default("managers[].verify_tls")
    #: files holding the password / token; re-read when the manager answers 401 (after a legacy
    #: restore the manager's users and tokens become the snapshot's)
    password_file: str | None = None
    token_file: str | None = None
    #: snapshots snapbot creates on this manager: "legacy" (database dump), "new" (7.0+ per-item
    #: export) or "auto" (what that version's cfy CLI does: legacy on 5.1, 6.4 and 7.0.5)
    snapshot_format: str = default("managers[].snapshot_format")
    #: the bootstrap admin's username (user id 0): only it may run a legacy restore
    bootstrap_admin: str = default("managers[].bootstrap_admin")
    #: a throw-away manager restore drills may overwrite (no drill touches any other)
    scratch: bool = default("managers[].scratch")
    #: restore drills of this manager's archives onto a scratch manager, or None
    drill: DrillConfig | None = None


@dataclass(frozen=True)
class DrillConfig:
    """Restore drills of one source manager: onto which scratch manager, and when."""

    target: str
    cron: str = default("managers[].drill.cron")


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
    required: int = default("approvals.required")  # N-of-M approvals
    ttl_seconds: int = default("approvals.ttl_seconds")
    gated: frozenset[str] = frozenset()  # members of GATEABLE_ACTIONS that also need approval


@dataclass(frozen=True)
class AccessConfig:
    """Who may do what, from where (bot.access applies it)."""
    operators: frozenset[str] = frozenset()  # Slack user ids and user-group ids (S...)
    viewers: frozenset[str] = frozenset()  # likewise; empty: everyone in the channels reads
    channels: frozenset[str] = frozenset()  # empty: SNAPBOT_CHANNEL
    #: terminal login -> Slack user id
    terminal_users: tuple[tuple[str, str], ...] = ()
    team_id: str = ""  # empty: from auth.test
    app_id: str = ""  # empty: not compared
    enterprise_id: str = ""  # empty: from auth.test


@dataclass(frozen=True)
class ScheduleConfig:
    enabled: bool = default("schedule.enabled")
    cron: str = default("schedule.cron")
    timezone: str = default("schedule.timezone")
    misfire_grace_seconds: int = default("schedule.misfire_grace_seconds")


@dataclass(frozen=True)
class RetentionConfig:
    keep_on_manager: int = default("retention.keep_on_manager")
    keep_archived: int = default("retention.keep_archived")
    keep_audit_days: int = default("retention.keep_audit_days")  # 0: forever
    #: a manager whose newest verified archive is older than this is stale (said once)
    stale_after_hours: int = default("retention.stale_after_hours")
    delete_foreign: bool = default("retention.delete_foreign")


@dataclass(frozen=True)
class RunbookConfig:
    safety_snapshot: bool = default("runbook.safety_snapshot")
    poll_interval_seconds: float = default("runbook.poll_interval_seconds")  # doubles up to max
    poll_max_interval_seconds: float = default("runbook.poll_max_interval_seconds")
    maintenance_timeout_seconds: float = default("runbook.maintenance_timeout_seconds")
    restore_timeout_seconds: float = default("runbook.restore_timeout_seconds")
    snapshot_timeout_seconds: float = default("runbook.snapshot_timeout_seconds")
    queue_timeout_seconds: float = default("runbook.queue_timeout_seconds")
    return_timeout_seconds: float = default("runbook.return_timeout_seconds")
    snapshot_status_grace_seconds: float = default("runbook.snapshot_status_grace_seconds")


@dataclass(frozen=True)
class Settings:
    managers: tuple[ManagerConfig, ...]
    slack: SlackConfig = SlackConfig()
    approvals: ApprovalPolicy = ApprovalPolicy()
    access: AccessConfig = AccessConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    retention: RetentionConfig = RetentionConfig()
    runbook: RunbookConfig = RunbookConfig()
    db_path: str = default("db_path")
    archive_dir: str = default("archive_dir")
    #: where docs/runbooks.md is published; Slack links are built from it (None: the
    #: runbook's steps go inline in the message)
    runbook_base_url: str | None = None
    #: `s3://bucket/prefix` (or gs://, az://): archives in object storage instead of archive_dir
    archive_url: str = ""
    #: the standard AWS_* variables the object store reads (endpoint, region, keys): secrets
    archive_env: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    #: SNAPBOT_LOG_FORMAT: `text` or `json` (one JSON object per line)
    log_format: str = default("SNAPBOT_LOG_FORMAT")

    @property
    def archive_location(self) -> str:
        """Where archived copies live: the object store URL if set, else the directory."""
        return self.archive_url or self.archive_dir

    def manager(self, name: str | None) -> ManagerConfig:
        """The named manager, or the first one when name is None."""
        if name is None:
            return self.managers[0]
        for m in self.managers:
            if m.name == name:
                return m
        known = ", ".join(m.name for m in self.managers)
        raise UsageError(f"unknown manager {name!r} (configured: {known})")


def _mask(secret: str) -> str:
    return "set (hidden)" if secret else "not set"


def describe_settings(settings: Settings) -> list[tuple[str, str]]:
    """(key, value) pairs for the start-up log, secrets masked, URLs without credentials,
    query strings or fragments."""
    out: list[tuple[str, str]] = []
    for i, mgr in enumerate(settings.managers):
        auth = "token" if mgr.token else ("password" if mgr.password else "no credentials")
        tls = mgr.ca_bundle or ("system CA store" if mgr.verify_tls else "TLS NOT verified")
        if mgr.password_file or mgr.token_file:
            auth += " (from file)"
        out.append((f"managers[{i}]", f"{mgr.name} {display_url(mgr.url)} tenant={mgr.tenant} "
                                      f"user={mgr.username} auth={auth} tls={tls} "
                                      f"snapshot_format={mgr.snapshot_format}"
                                      + (" scratch" if mgr.scratch else "")
                                      + (f" drill={mgr.drill.target}@{mgr.drill.cron!r}"
                                         if mgr.drill else "")))
    sl = settings.slack
    mode = "socket mode" if sl.app_token else "http"
    out += [("slack.bot_token", _mask(sl.bot_token)),
            ("slack.signing_secret", _mask(sl.signing_secret)),
            ("slack.app_token", _mask(sl.app_token)),
            ("slack.mode", mode),
            ("slack.api_url", display_url(sl.api_url or "https://slack.com/api/")),
            ("channel", sl.channel or "not set")]
    ap = settings.approvals
    out += [("approvals.approvers", ", ".join(sorted(ap.approvers)) or "none"),
            ("approvals.approver_groups", ", ".join(sorted(ap.approver_groups)) or "none"),
            ("approvals.required", str(ap.required)),
            ("approvals.ttl_seconds", str(ap.ttl_seconds)),
            ("approvals.gated", ", ".join(sorted(ap.gated | {"snapshots.restore"})))]
    ac = settings.access
    out += [("access.operators", ", ".join(sorted(ac.operators))
             or "none (read-only for all but approvers)"),
            ("access.viewers", ", ".join(sorted(ac.viewers)) or "everyone in the channels"),
            ("access.channels", ", ".join(sorted(ac.channels)) or settings.slack.channel
             or "none"),
            ("access.terminal_users", ", ".join(f"{k}={v}" for k, v in ac.terminal_users)
             or "none"),
            ("access.workspace", " ".join(f"{k}={v}" for k, v in (
                ("team", ac.team_id), ("app", ac.app_id), ("enterprise", ac.enterprise_id)) if v)
             or "from auth.test")]
    sc = settings.schedule
    out.append(("schedule", f"{sc.cron} {sc.timezone}" if sc.enabled else "off"))
    rt = settings.retention
    out.append(("retention", f"keep {rt.keep_on_manager} on manager, {rt.keep_archived} archived, "
                             + (f"audit {rt.keep_audit_days} days" if rt.keep_audit_days
                                else "audit forever")
                             + (", may delete foreign snapshots" if rt.delete_foreign else "")
                             + f", stale after {rt.stale_after_hours} h"))
    out += [("db_path", settings.db_path),
            ("archive", display_url(settings.archive_url) if settings.archive_url
             else f"directory {settings.archive_dir}"),
            ("log_format", settings.log_format),
            ("runbook_base_url", display_url(settings.runbook_base_url) if settings.runbook_base_url
             else "not set (runbook steps inline)")]
    return out
