"""`snapbot run`: settings -> the domain services -> the Slack app, until SIGTERM/SIGINT."""
from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Callable

from bot import bootstrap, logs
from bot.access import AccessPolicy
from bot.config.describe import describe_settings
from bot.config.load import check_database_path, load_settings
from bot.config.settings import Settings
from bot.errors import ConfigError
from bot.metrics import ManagerProbe, Metrics
from handlers.app import make_client, start_slack_app
from handlers.notifier import SlackNotifier

log = logging.getLogger("snapbot")


def run(*, config: str | None, host: str, port: int, log_level: str) -> int:
    """Load the settings (exit 2 on a configuration error, one line naming the setting), log
    them with secrets masked, and serve until stopped."""
    fmt = "json" if os.environ.get("SNAPBOT_LOG_FORMAT", "").lower() == "json" else "text"
    logs.configure(log_level, fmt)
    try:
        settings = load_settings(os.environ, config or os.environ.get("SNAPBOT_CONFIG"), require_slack=True)
        check_database_path(settings, os.environ)
    except ConfigError as exc:
        print(f"snapbot: {exc}", file=sys.stderr)
        return 2
    logs.configure(log_level, settings.log_format, secrets=settings.secret_values())
    for key, value in describe_settings(settings):  # secrets masked
        log.info("config %s: %s", key, value)
    log_access(settings)
    try:
        asyncio.run(serve(settings, host=host, port=port))
    except KeyboardInterrupt:
        pass
    except ConfigError as exc:  # found while building the services (e.g. an unusable CA bundle)
        print(f"snapbot: {exc}", file=sys.stderr)
        return 2
    return 0


def log_access(settings: Settings) -> None:
    """Where commands are taken and the defaults in force; read-only is a warning."""
    for line in AccessPolicy(settings, lambda group: (), lambda user: False).describe():
        (log.warning if line.startswith("read-only") else log.info)("access: %s", line)


async def serve(settings: Settings, *, host: str, port: int, ready: Callable[[str], None] | None = None,
                stop: asyncio.Event | None = None) -> None:
    """Run until SIGTERM/SIGINT (or `stop` is set): Socket Mode if an app token is configured,
    else HTTP. `ready(url)` is called once listening (port 0 picks a free port)."""
    client = make_client(settings)
    metrics = Metrics()
    notifier = SlackNotifier(client, on_error=metrics.slack_error)
    # Every message goes through the outbox, whose sender retries by itself (honouring
    # Retry-After, never giving a message up): its client has no retry handlers of its own.
    delivery = SlackNotifier(make_client(settings, retries=False), on_error=metrics.slack_error)
    services = await bootstrap.build_services(settings, notifier=notifier, metrics=metrics,
                                              group_resolver=notifier.usergroup_members,
                                              delivery=delivery)
    probe = ManagerProbe(metrics, services.clients, services.clock)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):
            pass
    slack = None
    try:
        await bootstrap.start(services)
        probe.start()  # snapbot_manager_up from the first seconds on
        slack = await start_slack_app(services, client, host=host, port=port,
                                      app_token=settings.slack.app_token)
        if ready is not None:
            ready(slack.url)
        await stop.wait()
        log.info("stopping")
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
        if slack is not None:
            await slack.close()
        await probe.stop()
        await bootstrap.stop(services)
