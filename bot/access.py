"""Who may do what, from where: roles, channels, and one identity across surfaces.

Roles, lowest first: anyone < viewer < operator < approver. Viewers read (help, lists, status,
jobs); operators also run what changes a manager; approvers approve, and are operators. Roles
come from Slack user ids and user-group ids (`access.viewers`, `access.operators`,
`approvals.approvers`/`approver_groups`; env `SNAPBOT_VIEWERS`, `SNAPBOT_OPERATORS`).

Secure defaults: commands are taken only in the configured channel(s) (`access.channels`,
default `SNAPBOT_CHANNEL`); with no operators configured nobody but approvers may change
anything; with no viewers configured, everyone in those channels may read.

The terminal (`snapbot cfy`) is a shell on snapbot's own host: its user may read and run
ungated commands. A login mapped to a Slack user (`access.terminal_users`) acts as that user,
so "never the requester" holds across surfaces; an unmapped login cannot request what needs
approval. The dispatcher calls `AccessPolicy.authorize` once for every command and button.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Callable, Iterable, Mapping

from bot.errors import ConfigError, NotAuthorized


class Role(IntEnum):
    ANYONE = 0
    VIEWER = 1
    OPERATOR = 2
    APPROVER = 3


ROLE_NAMES = {Role.ANYONE: "anyone", Role.VIEWER: "a viewer", Role.OPERATOR: "an operator",
              Role.APPROVER: "an approver"}

#: commands anyone in the channel may run
OPEN_COMMANDS = frozenset({"help"})
#: commands that only read (viewers)
READ_COMMANDS = frozenset({
    "snapshots.list", "snapshots.status", "snapshots.schedule", "maintenance-mode.status",
    "cluster.status", "jobs.list", "jobs.show",
})
#: commands only approvers run
APPROVER_COMMANDS = frozenset({"audit"})

_USER = re.compile(r"[UW][A-Z0-9_]{1,40}")
_GROUP = re.compile(r"S[A-Z0-9_]{1,40}")
_LOGIN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}")
_TEAM = re.compile(r"[TE][A-Z0-9_]{1,40}")
_APP = re.compile(r"A[A-Z0-9_]{1,40}")
_CHANNEL = re.compile(r"[CGD][A-Z0-9_]{1,40}")


def required_role(command: str) -> Role:
    """The role a command (by its dotted name, e.g. `snapshots.delete`) needs."""
    if command in OPEN_COMMANDS:
        return Role.ANYONE
    if command in READ_COMMANDS:
        return Role.VIEWER
    if command in APPROVER_COMMANDS:
        return Role.APPROVER
    return Role.OPERATOR


def is_slack_user(user: str) -> bool:
    return bool(_USER.fullmatch(user or ""))


@dataclass(frozen=True)
class AccessConfig:
    operators: frozenset[str] = frozenset()  # user ids
    operator_groups: frozenset[str] = frozenset()  # user-group ids (S…)
    viewers: frozenset[str] = frozenset()
    viewer_groups: frozenset[str] = frozenset()
    channels: tuple[str, ...] = ()  # empty: SNAPBOT_CHANNEL
    terminal_users: tuple[tuple[str, str], ...] = ()  # (login, Slack user id)
    team_id: str = ""  # the workspace (empty: from auth.test)
    app_id: str = ""  # the Slack app (empty: not checked)
    enterprise_id: str = ""  # the Enterprise Grid org (empty: from auth.test)


# --- loading -------------------------------------------------------------------------------------

ACCESS_KEYS = {"operators", "viewers", "channels", "terminal_users", "team_id", "app_id",
               "enterprise_id"}


def _ids(key: str, value: Any) -> tuple[frozenset[str], frozenset[str]]:
    """(user ids, group ids) from a list or comma-separated string of Slack ids."""
    if value is None:
        return frozenset(), frozenset()
    items = [v.strip() for v in value.split(",")] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        raise ConfigError(key, "must be a list (or a comma-separated string) of Slack ids")
    users, groups = set(), set()
    for item in items:
        if not isinstance(item, str):
            raise ConfigError(key, "must list Slack ids as strings")
        if not item.strip():
            continue
        item = item.strip()
        if _USER.fullmatch(item):
            users.add(item)
        elif _GROUP.fullmatch(item):
            groups.add(item)
        else:
            raise ConfigError(key, f"{item[:30]!r} is not a Slack user or user-group id "
                                   "(like U0123ABCD or S0123ABCD)")
    return frozenset(users), frozenset(groups)


def _channels(key: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    items = [v.strip() for v in value.split(",")] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        raise ConfigError(key, "must be a list (or a comma-separated string) of channel ids")
    out = []
    for item in items:
        if not isinstance(item, str) or not _CHANNEL.fullmatch(item.strip()):
            raise ConfigError(key, f"{str(item)[:30]!r} is not a channel id (like C0123ABCD)")
        out.append(item.strip())
    return tuple(dict.fromkeys(out))


def _terminal_users(key: str, value: Any) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        pairs = []
        for part in value.split(","):
            if not part.strip():
                continue
            login, sep, user = part.partition("=")
            if not sep:
                raise ConfigError(key, "must be login=USERID pairs, comma-separated")
            pairs.append((login.strip(), user.strip()))
    elif isinstance(value, dict):
        pairs = [(str(k), v) for k, v in value.items()]
    else:
        raise ConfigError(key, "must map terminal logins to Slack user ids")
    out = []
    for login, user in pairs:
        if not _LOGIN.fullmatch(login):
            raise ConfigError(key, f"{login[:30]!r} is not a login name")
        if not isinstance(user, str) or not _USER.fullmatch(user):
            raise ConfigError(f"{key}.{login}", "must be a Slack user id (like U0123ABCD)")
        out.append((login, user))
    return tuple(out)


def _one(key: str, value: Any, pattern: re.Pattern[str], what: str) -> str:
    if value is None or value == "":
        return ""
    if not isinstance(value, str) or not pattern.fullmatch(value.strip()):
        raise ConfigError(key, f"must be a Slack {what} id")
    return value.strip()


def load_access(env: Mapping[str, str], raw: Any) -> AccessConfig:
    """The `access:` section of the YAML file, then the environment (which wins)."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError("access", "must be a mapping")
    for k in raw:
        if k not in ACCESS_KEYS:
            raise ConfigError(f"access.{k}", "unknown key; known keys: " + ", ".join(sorted(ACCESS_KEYS)))

    def pick(env_key: str, yaml_key: str) -> tuple[str, Any]:
        value = env.get(env_key)
        if value is not None and value.strip():
            return env_key, value.strip()
        return f"access.{yaml_key}", raw.get(yaml_key)

    operators, operator_groups = _ids(*pick("SNAPBOT_OPERATORS", "operators"))
    viewers, viewer_groups = _ids(*pick("SNAPBOT_VIEWERS", "viewers"))
    return AccessConfig(
        operators=operators, operator_groups=operator_groups,
        viewers=viewers, viewer_groups=viewer_groups,
        channels=_channels(*pick("SNAPBOT_CHANNELS", "channels")),
        terminal_users=_terminal_users(*pick("SNAPBOT_TERMINAL_USERS", "terminal_users")),
        team_id=_one(*pick("SNAPBOT_TEAM_ID", "team_id"), _TEAM, "workspace (team)"),
        app_id=_one(*pick("SNAPBOT_APP_ID", "app_id"), _APP, "app"),
        enterprise_id=_one(*pick("SNAPBOT_ENTERPRISE_ID", "enterprise_id"), _TEAM, "enterprise"))


# --- the policy ----------------------------------------------------------------------------------

GroupMembers = Callable[[str], Iterable[str]]


@dataclass
class AccessPolicy:
    """Roles and channel rules over the settings. `group_members(S…)` gives a user group's
    members as last resolved (the approval service keeps them; unresolved groups are empty)."""
    config: AccessConfig
    approvers: frozenset[str] = frozenset()
    approver_groups: frozenset[str] = frozenset()
    default_channel: str = ""
    group_members: GroupMembers = field(default=lambda group: ())

    @classmethod
    def from_settings(cls, settings: Any, group_members: GroupMembers | None = None) -> "AccessPolicy":
        config = getattr(settings, "access", None) or AccessConfig()
        return cls(config=config, approvers=frozenset(settings.approvals.approvers),
                   approver_groups=frozenset(settings.approvals.approver_groups),
                   default_channel=settings.slack.channel,
                   group_members=group_members or (lambda group: ()))

    # -- channels --------------------------------------------------------------------------
    @property
    def channels(self) -> tuple[str, ...]:
        if self.config.channels:
            return self.config.channels
        return (self.default_channel,) if self.default_channel else ()

    def card_channel(self, channel: str) -> str:
        """Where a job requested from `channel` posts its card: that channel if it is one of
        the configured ones, else the first configured one."""
        if channel and channel in self.channels:
            return channel
        return self.channels[0] if self.channels else channel

    # -- identity --------------------------------------------------------------------------
    def terminal_identity(self, login: str) -> str:
        """The Slack user a terminal login is mapped to, else `local:<login>`."""
        for name, user in self.config.terminal_users:
            if name == login:
                return user
        return f"local:{login}"

    @property
    def read_only(self) -> bool:
        """No operators configured: only approvers may change anything."""
        return not (self.config.operators or self.config.operator_groups)

    def _in(self, user: str, users: frozenset[str], groups: frozenset[str]) -> bool:
        if user in users:
            return True
        return any(user in set(self.group_members(g)) for g in groups)

    def role(self, user: str, source: str = "slack") -> Role:
        if source == "schedule":
            return Role.OPERATOR  # snapbot's own schedule, configured by whoever runs it
        if source == "terminal" and not is_slack_user(user):
            return Role.OPERATOR  # a shell on snapbot's host: unmapped, no approval-gated work
        if self._in(user, self.approvers, self.approver_groups):
            return Role.APPROVER
        c = self.config
        if self._in(user, c.operators, c.operator_groups):
            return Role.OPERATOR
        if source == "terminal":
            return Role.OPERATOR
        if not (c.viewers or c.viewer_groups) or self._in(user, c.viewers, c.viewer_groups):
            return Role.VIEWER
        return Role.ANYONE

    # -- the check -------------------------------------------------------------------------
    def check_channel(self, channel: str, source: str) -> None:
        if source != "slack":
            return
        if not self.channels:
            raise NotAuthorized("snapbot has no channel configured (SNAPBOT_CHANNEL); it takes "
                                "no commands until one is")
        if channel not in self.channels:
            from bot.messages.text import channel_mention
            where = " or ".join(channel_mention(c) for c in self.channels)
            raise NotAuthorized(f"snapbot takes commands in {where} only; nothing was done")

    def authorize(self, command: str, user: str, channel: str, source: str, *,
                  gated: bool = False) -> Role:
        """Raise NotAuthorized unless `user` may run `command` from `channel` on `source`
        (`gated`: the command needs approval, so its requester must be a Slack identity)."""
        self.check_channel(channel, source)
        need = required_role(command)
        have = self.role(user, source)
        if have < need:
            if need == Role.OPERATOR and self.read_only:
                raise NotAuthorized(f"`{command}` changes a manager and snapbot is read-only: no "
                                    "operators are configured (access.operators / SNAPBOT_OPERATORS)")
            raise NotAuthorized(f"`{command}` needs {ROLE_NAMES[need]}; you are not one")
        if gated and not is_slack_user(user):
            raise NotAuthorized(f"`{command}` needs approval in Slack, so its requester must be a "
                                f"Slack user: map your login to your Slack user id in "
                                "access.terminal_users (SNAPBOT_TERMINAL_USERS) first")
        return have

    def require(self, role: Role, user: str, channel: str, source: str, what: str) -> None:
        self.check_channel(channel, source)
        if self.role(user, source) < role:
            raise NotAuthorized(f"{what} needs {ROLE_NAMES[role]}; you are not one")

    def describe(self) -> list[str]:
        """Lines for the start-up log and help: roles and defaults, no user listed."""
        c = self.config
        lines = [f"commands are taken in {', '.join(self.channels) or 'no channel (none configured)'}"]
        if self.read_only:
            lines.append("read-only: no operators configured (access.operators / SNAPBOT_OPERATORS); "
                         "only approvers may change a manager")
        lines.append("viewers: " + ("configured" if c.viewers or c.viewer_groups
                                    else "everyone in those channels"))
        return lines
