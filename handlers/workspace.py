"""Requests from the one workspace, app and Enterprise Grid org snapbot is installed in; no other.

One signing secret serves every workspace an app is installed in, so a correctly signed request
can still come from a workspace snapbot does not serve. A Bolt global middleware (so HTTP and
Socket Mode alike, after Bolt's signature check) compares what the request says it comes from
with the installed app's ids:

* team and enterprise: `access.team_id` / `access.enterprise_id` if configured, else what
  `auth.test` answers for the bot token (the enterprise is always compared: a request naming
  an org when the token names none is refused, and the other way round) (asked once at start, again on the next request if that
  failed; until it answers, requests are refused). An org-wide install (`is_enterprise_install`)
  serves every workspace of its org: then only the enterprise is compared.
* app: `access.app_id` if configured, else not compared. `auth.test` does not name the app
  (`bots.info` would, with the extra `users:read` scope); the signing secret already ties a
  signed request to one app, so this is a second lock for those who want it.

A refused slash command gets a private one-line answer; a refused click or event is acked and
dropped. Either way one log line, with fixed words and the ids only when they look like Slack
ids (never the body), and nothing reaches a listener.
"""
from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt.app.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.config.settings import Settings

log = logging.getLogger(__name__)

REFUSAL = ":no_entry: This snapbot does not serve this Slack workspace or app; nothing was done."
UNKNOWN = (":hourglass: snapbot cannot tell yet which Slack workspace it serves (Slack's "
           "auth.test did not answer); nothing was done. Try again in a minute.")

_SLACK_ID = re.compile(r"[A-Z0-9_]{1,32}")


def _shown(value: Any) -> str:
    """An id for the log: as is when it looks like a Slack id, else a fixed word."""
    if value in (None, ""):
        return "none"
    return value if isinstance(value, str) and _SLACK_ID.fullmatch(value) else "(not an id)"


def _failure(exc: BaseException) -> str:
    """Why auth.test failed, in words safe to log (Slack's error code or the HTTP status)."""
    if isinstance(exc, SlackApiError):
        data = exc.response.data
        code = data.get("error") if isinstance(data, dict) else None
        if isinstance(code, str) and re.fullmatch(r"[a-z_]{1,40}", code):
            return code
        return f"HTTP {exc.response.status_code}"
    return type(exc).__name__


@dataclass(frozen=True)
class Installed:
    """Where snapbot is installed: what a request's ids are compared with (None: not compared)."""

    team_id: str | None = None
    app_id: str | None = None
    enterprise_id: str | None = None
    org_wide: bool = False  # an org-wide install: any workspace of `enterprise_id`

    def mismatch(self, origin: Origin) -> str | None:
        """The first of team/app/enterprise that differs from `origin`, or None."""
        # compared both ways: a request naming an org the token is not in is refused, and so
        # is one without an org when the token is in one
        if origin.enterprise_id != self.enterprise_id:
            return "enterprise"
        if self.team_id is not None and not self.org_wide and origin.team_id != self.team_id:
            return "team"
        if self.app_id is not None and origin.app_id != self.app_id:
            return "app"
        return None


@dataclass(frozen=True)
class Origin:
    """What a request says it comes from (Bolt's reading of the body; api_app_id as sent)."""

    team_id: str | None
    app_id: str | None
    enterprise_id: str | None

    @classmethod
    def of(cls, req: AsyncBoltRequest) -> Origin:
        app_id = req.body.get("api_app_id") if isinstance(req.body, dict) else None
        return cls(team_id=req.context.team_id or None, app_id=app_id or None,
                   enterprise_id=req.context.enterprise_id or None)


def configured(settings: Settings) -> Installed:
    """The ids set in the configuration (`access.team_id`, `access.app_id`,
    `access.enterprise_id`); unset ones are None."""
    access = settings.access
    return Installed(team_id=access.team_id or None, app_id=access.app_id or None,
                     enterprise_id=access.enterprise_id or None)


class WorkspaceCheck:
    """The installed app's ids: configured ones, the rest from auth.test (see module doc)."""

    def __init__(self, client: AsyncWebClient, config: Installed) -> None:
        self._client = client
        self._config = config
        # a configured team is enough to check requests, whether auth.test answers or not
        self._installed: Installed | None = config if config.team_id is not None else None
        self._learnt = False
        self._lock = asyncio.Lock()

    @property
    def installed(self) -> Installed | None:
        return self._installed

    async def learn(self) -> Installed | None:
        """Ask auth.test (once it has answered, never again). Configured ids win; a configured
        team or enterprise that differs from the token's is logged, since every request would
        then be refused."""
        async with self._lock:
            if self._learnt:
                return self._installed
            try:
                answer = await self._client.auth_test()
            except (TimeoutError, SlackApiError, OSError) as exc:
                reason = _failure(exc)
                if self._installed is None:
                    log.warning("auth.test failed (%s): requests are refused until it answers", reason)
                else:
                    log.warning("auth.test failed (%s): requests are checked against the configured ids",
                                reason)
                return self._installed
            team = answer.get("team_id") or None
            enterprise = answer.get("enterprise_id") or None
            cfg = self._config
            for name, mine, theirs in (("team_id", cfg.team_id, team),
                                       ("enterprise_id", cfg.enterprise_id, enterprise)):
                if mine is not None and theirs is not None and mine != theirs:
                    log.warning("access.%s is %s but the bot token belongs to %s: every request "
                                "will be refused", name, _shown(mine), _shown(theirs))
            got = Installed(
                team_id=cfg.team_id if cfg.team_id is not None else team,
                app_id=cfg.app_id,
                enterprise_id=cfg.enterprise_id if cfg.enterprise_id is not None else enterprise,
                org_wide=bool(answer.get("is_enterprise_install")) and cfg.team_id is None)
            self._installed, self._learnt = got, True
            log.info("accepting requests from workspace %s%s, %s only", _shown(got.team_id),
                     f" (enterprise {_shown(got.enterprise_id)})" if got.enterprise_id else "",
                     f"app {_shown(got.app_id)}" if got.app_id else "any app id (access.app_id not set)")
            return got

    async def current(self) -> Installed | None:
        if self._installed is not None:
            return self._installed
        return await self.learn()


def _is_command(req: AsyncBoltRequest) -> bool:
    return isinstance(req.body, dict) and "command" in req.body and "type" not in req.body


#: records a refusal in the audit log: (user, channel, what, why)
Record = Callable[[str, str, str, str], None]


def _member(body: dict[str, Any], key: str) -> dict[str, Any]:
    value = body.get(key)
    return value if isinstance(value, dict) else {}


def _who_where(req: AsyncBoltRequest) -> tuple[str, str, str]:
    """(user id, channel id, what) a request names, for the audit log."""
    body: dict[str, Any] = req.body if isinstance(req.body, dict) else {}
    if _is_command(req):
        return (str(body.get("user_id", "")), str(body.get("channel_id", "")),
                f"{body.get('command', '')} {body.get('text', '')}".strip())
    user = _member(body, "user")
    channel = _member(body, "channel")
    actions = body.get("actions")
    first: dict[str, Any] = actions[0] if isinstance(actions, list) and actions \
        and isinstance(actions[0], dict) else {}
    what = f"button {first.get('action_id', '')} {first.get('value', '')}".strip() \
        if first else f"event {body.get('type', '')}".strip()
    return str(user.get("id", "")), str(channel.get("id", "")), what


def register(app: AsyncApp, check: WorkspaceCheck, record: Record | None = None) -> None:
    """Refuse requests from elsewhere before any listener sees them (see module doc); each
    refusal goes to the audit log through `record`."""

    async def same_workspace(req: AsyncBoltRequest, resp: BoltResponse,
                             next: Callable[[], Awaitable[BoltResponse]]) -> BoltResponse:
        installed = await check.current()
        origin = Origin.of(req)
        why = "auth.test has not answered" if installed is None else installed.mismatch(origin)
        if why is None:
            return await next()
        what = "slash command" if _is_command(req) else "click or event"
        if record is not None:
            user, channel, said = _who_where(req)
            record(user[:40], channel[:40], said[:300],
                   "from another workspace or app" if installed is not None
                   else "the installed workspace is not known yet (auth.test)")
        log.warning("refused a %s from another %s: team %s, app %s, enterprise %s", what,
                    why if installed is not None else "workspace (unknown yet)",
                    _shown(origin.team_id), _shown(origin.app_id), _shown(origin.enterprise_id))
        if _is_command(req):
            return BoltResponse(status=200, body={"response_type": "ephemeral",
                                                  "text": REFUSAL if installed is not None else UNKNOWN})
        return BoltResponse(status=200, body="")

    app.use(same_workspace)
