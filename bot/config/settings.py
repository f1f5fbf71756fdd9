"""The settings as the rest of the bot reads them: frozen records, one per section of the
settings table (`bot.config.table`), whose defaults come from that table. Secrets are
`repr=False`, so a logged record never shows them."""
from __future__ import annotations

from dataclasses import dataclass, field

from bot.config.table import default
from bot.errors import UsageError


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
    #: SNAPBOT_CONFIG: the YAML file the settings were read from ("" when none)
    config_file: str = ""

    @property
    def archive_location(self) -> str:
        """Where archived copies live: the object store URL if set, else the directory."""
        return self.archive_url or self.archive_dir

    def secret_values(self) -> list[str]:
        """Every secret this configuration holds (Slack's tokens and signing secret, the managers'
        passwords and tokens, object-storage keys), for the log redactor."""
        out = [self.slack.bot_token, self.slack.signing_secret, self.slack.app_token]
        for m in self.managers:
            out += [m.password, m.token]
        out += [v for k, v in self.archive_env if "SECRET" in k or "TOKEN" in k]
        return [s for s in out if s]

    def manager(self, name: str | None) -> ManagerConfig:
        """The named manager, or the first one when name is None."""
        if name is None:
            return self.managers[0]
        for m in self.managers:
            if m.name == name:
                return m
        known = ", ".join(m.name for m in self.managers)
        raise UsageError(f"unknown manager {name!r} (configured: {known})")
