"""Settings: environment for secrets, optional YAML (SNAPBOT_CONFIG) for the rest.

The dataclasses below are the contract the rest of the bot reads. Secrets are `repr=False` so a
logged Settings never shows them. `load_settings` (same module) builds them and raises
ConfigError naming the key on the first invalid value.
"""
from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_MANAGER = "default"

#: Actions that may be put behind approval by config (`approvals.gated`). Restore always is.
GATEABLE_ACTIONS = frozenset({
    "snapshots.upload", "snapshots.delete", "maintenance-mode.activate",
    "maintenance-mode.deactivate", "agents.install", "plugins.update", "snapshots.schedule.run-now",
})


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
