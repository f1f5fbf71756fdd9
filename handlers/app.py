"""The Bolt app: built from Services, served over HTTP (aiohttp) or Socket Mode.

Bolt verifies every HTTP request itself: the v0 signature over `v0:{timestamp}:{body}` with the
signing secret, and a timestamp no older than 5 minutes; anything else gets 401 before any
listener runs.
"""
from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.app.async_app import AsyncApp
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings

log = logging.getLogger(__name__)

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
EVENTS_PATH = "/slack/events"
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"  # Prometheus text format


def make_client(settings: Settings) -> AsyncWebClient:
    """The Web API client: bot token, SLACK_API_URL if set, retries on 429 and 5xx."""
    base = settings.slack.api_url or DEFAULT_SLACK_API_URL
    if not base.endswith("/"):
        base += "/"
    return AsyncWebClient(
        token=settings.slack.bot_token,
        base_url=base,
        retry_handlers=[
            AsyncRateLimitErrorRetryHandler(max_retry_count=3),
            AsyncServerErrorRetryHandler(max_retry_count=2),
        ],
    )


def build_app(services: Any, *, client: AsyncWebClient | None = None) -> AsyncApp:
    """A Bolt AsyncApp with every surface registered. `client` defaults to the notifier's."""
    from handlers import register_all

    settings: Settings = services.settings
    if client is None:
        client = getattr(services.notifier, "client", None) or make_client(settings)
    app = AsyncApp(
        signing_secret=settings.slack.signing_secret,
        client=client,  # carries the bot token; AsyncApp calls auth.test lazily, on the first request (then caches)
    )
    register_all(app, services)
    return app


def build_web_app(app: AsyncApp, services: Any, *, events: bool = True) -> web.Application:
    """aiohttp application: POST /slack/events (commands, interactivity; unless `events` is
    False, as in Socket Mode), GET /healthz and GET /metrics (Prometheus)."""

    async def events_handler(request: web.Request) -> web.Response:
        bolt_req = await to_bolt_request(request)
        bolt_resp = await app.async_dispatch(bolt_req)
        return await to_aiohttp_response(bolt_resp)

    async def healthz(request: web.Request) -> web.Response:
        db_ok = True
        try:
            services.store.list_jobs(limit=1)
        except Exception:
            log.exception("health check: database not usable")
            db_ok = False
        body = {"ok": db_ok, "db": "ok" if db_ok else "error",
                "managers": [m.name for m in services.settings.managers]}
        return web.json_response(body, status=200 if db_ok else 503)

    async def metrics(request: web.Request) -> web.Response:
        body = services.metrics.render()
        return web.Response(body=body, headers={"Content-Type": METRICS_CONTENT_TYPE})

    web_app = web.Application()
    if events:
        web_app.router.add_post(EVENTS_PATH, events_handler)
    web_app.router.add_get("/healthz", healthz)
    if getattr(services, "metrics", None) is not None:
        web_app.router.add_get("/metrics", metrics)
    return web_app
