"""The Bolt app, built once from Services, served over HTTP (aiohttp) or Socket Mode.

Bolt verifies every HTTP request itself: the v0 signature over `v0:{timestamp}:{body}` with the
signing secret, and a timestamp no older than 5 minutes; anything else gets 401 before any
listener runs.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.app.async_app import AsyncApp
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.config.settings import Settings
from bot.invocation import Invocation
from bot.services import Services
from handlers import actions, commands, events, workspace
from handlers.guard import MAX_BODY, quiet_bolt, request_guard
from handlers.server import HttpServer, start_http

log = logging.getLogger(__name__)

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
EVENTS_PATH = "/slack/events"
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"  # Prometheus text format


def make_client(settings: Settings, *, retries: bool = True) -> AsyncWebClient:
    """The Web API client: bot token, SLACK_API_URL if set, retries on 429 and 5xx (not for the
    outbox sender's client, `retries=False`: the outbox retries, honouring Retry-After itself,
    and never gives a message up)."""
    base = settings.slack.api_url or DEFAULT_SLACK_API_URL
    if not base.endswith("/"):
        base += "/"
    return AsyncWebClient(
        token=settings.slack.bot_token,
        base_url=base,
        retry_handlers=[
            AsyncRateLimitErrorRetryHandler(max_retry_count=3),
            AsyncServerErrorRetryHandler(max_retry_count=2),
        ] if retries else [],
    )


def register_all(app: AsyncApp, services: Services) -> None:
    """Every surface's listeners: the slash command, the buttons, the events (App Home)."""
    commands.register(app, services)
    actions.register(app, services)
    events.register(app, services)


def build_app(services: Services, client: AsyncWebClient,
              check: workspace.WorkspaceCheck | None = None) -> AsyncApp:
    """A Bolt AsyncApp with every surface registered, behind the workspace check (`check`, or
    one that asks auth.test on the first request); `client` carries the bot token (AsyncApp
    calls auth.test lazily, on the first request, then caches)."""
    app = AsyncApp(signing_secret=services.settings.slack.signing_secret, client=client)
    quiet_bolt()
    def record(user: str, channel: str, what: str, why: str) -> None:
        services.dispatcher.record(Invocation(user=user, channel=channel, source="slack"), what,
                                   "refused", why)

    workspace.register(app, check or workspace.WorkspaceCheck(
        client, workspace.configured(services.settings)), record)
    register_all(app, services)
    return app


def build_web_app(app: AsyncApp, services: Services, *, events: bool = True) -> web.Application:
    """aiohttp application: POST /slack/events (commands, interactivity; unless `events` is
    False, as in Socket Mode), GET /healthz and GET /metrics (Prometheus)."""

    async def events_handler(request: web.Request) -> web.Response:
        bolt_req = await to_bolt_request(request)
        bolt_resp = await app.async_dispatch(bolt_req)
        return await to_aiohttp_response(bolt_resp)

    async def healthz(request: web.Request) -> web.Response:
        # Unhealthy when the database cannot be read, or when the last write failed (jobs hold
        # until it takes writes again: Store.write_error says why).
        reason = services.store.write_error
        try:
            services.store.list_jobs(limit=1)
        except Exception as exc:
            log.exception("health check: database not usable")
            reason = f"database not readable: {type(exc).__name__}"
        # unauthenticated: a status only, nothing about the managers
        ok = reason is None
        body = {"ok": ok, "status": "ok" if ok else "error", "db": "ok" if ok else "error"}
        if reason is not None:
            body["reason"] = reason
        return web.json_response(body, status=200 if ok else 503)

    async def metrics(request: web.Request) -> web.Response:
        body = services.metrics.render()
        return web.Response(body=body, headers={"Content-Type": METRICS_CONTENT_TYPE})

    guard = [request_guard(services.settings.slack.signing_secret)] if events else []
    web_app = web.Application(middlewares=guard, client_max_size=MAX_BODY + 1)
    if events:
        web_app.router.add_post(EVENTS_PATH, events_handler)
    web_app.router.add_get("/healthz", healthz)
    web_app.router.add_get("/metrics", metrics)
    return web_app


@dataclass(frozen=True)
class SlackApp:
    """The running Slack app: the Bolt app, its HTTP server, and the Socket Mode connection if
    an app token was given."""

    app: AsyncApp
    http: HttpServer
    socket: AsyncSocketModeHandler | None

    @property
    def url(self) -> str:
        return self.http.url

    async def close(self) -> None:
        if self.socket is not None:
            await self.socket.close_async()
        await self.http.close()


async def start_slack_app(services: Services, client: AsyncWebClient, *, host: str = "127.0.0.1",
                          port: int = 0, app_token: str | None = None) -> SlackApp:
    """Build the Bolt app and serve it: with `app_token`, over Socket Mode (HTTP then serves
    only GET /healthz and GET /metrics, for probes and Prometheus), else over HTTP
    (POST /slack/events too). The installed app's ids are asked of auth.test first, so the log
    says from the start which workspace is served (handlers.workspace)."""
    check = workspace.WorkspaceCheck(client, workspace.configured(services.settings))
    await check.learn()
    app = build_app(services, client, check)
    socket: AsyncSocketModeHandler | None = None
    if app_token:
        socket = AsyncSocketModeHandler(app, app_token)
        await socket.connect_async()
        log.info("snapbot connected in Socket Mode")
    try:
        http = await start_http(build_web_app(app, services, events=socket is None), host, port)
    except BaseException:
        if socket is not None:
            await socket.close_async()
        raise
    what = "GET /healthz, GET /metrics" if socket is not None \
        else "POST /slack/events, GET /healthz, GET /metrics"
    log.info("snapbot listening on %s (%s)", http.url, what)
    return SlackApp(app=app, http=http, socket=socket)
