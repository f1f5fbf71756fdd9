"""Who may do what, from where: roles, channels, and one identity across surfaces.

Roles, lowest first: anyone < viewer < operator < approver. Viewers read (help, lists, status,
jobs); operators also run what changes a manager; approvers approve and are operators; the
audit log is for approvers. Roles come from Slack user ids and user-group ids
(`access.viewers`, `access.operators`, `approvals.approvers`/`approver_groups`).

Secure defaults: commands are taken only in the configured channel(s) (`access.channels`,
default `SNAPBOT_CHANNEL`); with no operators configured, nobody but approvers may change
anything; with no viewers configured, everyone in those channels may read.

The terminal (`snapbot cfy`) is a shell on snapbot's own host: a login mapped to a Slack user
(`access.terminal_users`) acts as that user, so "never the requester" holds across surfaces;
an unmapped login may read and run ungated commands but not request what needs approval.
The dispatcher asks `AccessPolicy.authorize` once for every command and every button.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from enum import IntEnum

from bot.config.settings import Settings
from bot.errors import NotAuthorized
from bot.invocation import Invocation
from bot.messages.text import channel_mention


class Role(IntEnum):
    ANYONE = 0
    VIEWER = 1
    OPERATOR = 2
    APPROVER = 3


ROLE_NAMES = {Role.ANYONE: "anyone", Role.VIEWER: "a viewer", Role.OPERATOR: "an operator",
              Role.APPROVER: "an approver"}

#: commands anyone in the channel may run
OPEN_COMMANDS = frozenset({"help"})
#: commands only approvers run
APPROVER_COMMANDS = frozenset({"audit"})

_USER = re.compile(r"[UW][A-Z0-9_]{1,40}")
_GROUP = re.compile(r"S[A-Z0-9_]{1,40}")

#: a user group's members as last resolved (unresolved: none)
GroupMembers = Callable[[str], Iterable[str]]


def required_role(command: str, *, changes_manager: bool, starts_job: bool) -> Role:
    """The role a command needs: help is open, audit is for approvers, anything that changes
    a manager or starts a job (a download too) is for operators, the rest for viewers (`jobs
    cancel` too: the dispatcher then lets only the job's requester or an approver cancel)."""
    if command in OPEN_COMMANDS:
        return Role.ANYONE
    if command in APPROVER_COMMANDS:
        return Role.APPROVER
    if changes_manager or starts_job:
        return Role.OPERATOR
    return Role.VIEWER


def is_slack_user(user: str) -> bool:
    return bool(_USER.fullmatch(user or ""))


def _split(ids: Iterable[str]) -> tuple[frozenset[str], frozenset[str]]:
    """(user ids, user-group ids)."""
    ids = list(ids)
    return (frozenset(i for i in ids if not _GROUP.fullmatch(i)),
            frozenset(i for i in ids if _GROUP.fullmatch(i)))


@dataclass(frozen=True)
class AccessPolicy:
    """Roles and channel rules over the settings."""

    settings: Settings
    group_members: GroupMembers
    #: approvers (configured ids and approver groups' members): the approval service's rule
    is_approver: Callable[[str], bool]

    # -- channels --------------------------------------------------------------------------
    @property
    def channels(self) -> tuple[str, ...]:
        configured = self.settings.access.channels
        if configured:
            return tuple(sorted(configured))
        default = self.settings.slack.channel
        return (default,) if default else ()

    def card_channel(self, channel: str) -> str:
        """Where a job requested from `channel` posts its card: that channel if it is a
        configured one, else the first configured one (the terminal's jobs too)."""
        if channel and channel in self.channels:
            return channel
        return self.channels[0] if self.channels else self.settings.slack.channel

    def check_channel(self, inv: Invocation) -> None:
        """Slack requests are taken only in the configured channels (DMs refused too)."""
        if inv.source != "slack":
            return
        if not self.channels:
            raise NotAuthorized("snapbot has no channel configured (SNAPBOT_CHANNEL), so it takes "
                                "no commands in Slack; nothing was done")
        if inv.channel not in self.channels:
            where = " or ".join(channel_mention(c) for c in self.channels)
            raise NotAuthorized(f"snapbot takes commands in {where} only; nothing was done")

    # -- identity --------------------------------------------------------------------------
    def identify(self, inv: Invocation) -> Invocation:
        """The invocation as the Slack user a terminal login is mapped to (unmapped: as is,
        `local:<login>`)."""
        if inv.source != "terminal" or not inv.user.startswith("local:"):
            return inv
        login = inv.user.removeprefix("local:")
        for name, user in self.settings.access.terminal_users:
            if name == login:
                return replace(inv, user=user, user_name=inv.user_name or login)
        return inv

    @property
    def read_only(self) -> bool:
        """No operators configured: only approvers may change anything."""
        return not self.settings.access.operators

    def _member(self, user: str, ids: Iterable[str]) -> bool:
        users, groups = _split(ids)
        return user in users or any(user in set(self.group_members(g)) for g in groups)

    def role(self, inv: Invocation) -> Role:
        user, access = inv.user, self.settings.access
        if inv.source == "schedule":
            return Role.OPERATOR  # snapbot's own schedule, configured by whoever runs it
        if self.is_approver(user):
            return Role.APPROVER
        if inv.source == "terminal":
            # a shell on snapbot's host: it could edit the configuration anyway; an unmapped
            # login cannot request approval-gated work (`authorize` checks)
            return Role.OPERATOR
        if self._member(user, access.operators):
            return Role.OPERATOR
        if not access.viewers or self._member(user, access.viewers):
            return Role.VIEWER
        return Role.ANYONE

    def may_read(self, user: str) -> bool:
        """May this Slack user read snapbot's figures (the App Home tab)?"""
        return self.role(Invocation(user=user, channel="", source="slack")) >= Role.VIEWER

    # -- the checks ------------------------------------------------------------------------
    def authorize(self, command: str, need: Role, inv: Invocation, *, gated: bool) -> Role:
        """Raise NotAuthorized unless `inv` may run `command` (which needs role `need`;
        `gated`: it needs approval, so its requester must be a Slack identity)."""
        self.check_channel(inv)
        have = self.role(inv)
        if have < need:
            if need == Role.OPERATOR and self.read_only:
                raise NotAuthorized(f"`{command}` changes a manager and snapbot is read-only: no "
                                    "operators are configured (access.operators / "
                                    "SNAPBOT_OPERATORS); nothing was done")
            if need == Role.APPROVER:
                raise NotAuthorized(f"not an approver: `{command}` is for approvers only")
            raise NotAuthorized(f"`{command}` needs {ROLE_NAMES[need]}; you are not one, so "
                                "nothing was done")
        if gated and not is_slack_user(inv.user):
            raise NotAuthorized(f"`{command}` needs approval in Slack, so its requester must be a "
                                "Slack user: map your login to your Slack user id in "
                                "access.terminal_users (SNAPBOT_TERMINAL_USERS) first")
        return have

    def require_approver(self, inv: Invocation, what: str) -> None:
        """Who the approvers are is not told here (`/cfy help` tells viewers)."""
        self.check_channel(inv)
        if self.role(inv) < Role.APPROVER:
            raise NotAuthorized(f"not an approver: only configured approvers can {what}")

    # -- what is said about it -------------------------------------------------------------
    def channels_note(self) -> str:
        if not self.channels:
            return "No channel is configured (SNAPBOT_CHANNEL): commands are not taken in Slack."
        return ("Commands are taken in " + " and ".join(channel_mention(c) for c in self.channels)
                + ".")

    def describe(self) -> list[str]:
        """Lines for the start-up log: the channels and the defaults in force, no user listed."""
        lines = ["commands are taken in " + (", ".join(self.channels) or "no channel (none "
                                                                          "configured)")]
        if self.read_only:
            lines.append("read-only: no operators configured (access.operators / "
                         "SNAPBOT_OPERATORS); only approvers may change a manager")
        lines.append("viewers: " + ("configured" if self.settings.access.viewers
                                    else "everyone in those channels"))
        return lines
