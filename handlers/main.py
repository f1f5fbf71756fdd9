"""`snapbot`: the console script.

    snapbot run [--host H] [--port P]   the Slack app (Socket Mode when SLACK_APP_TOKEN is set,
                                         else HTTP: POST /slack/events, GET /healthz)
    snapbot demo                         everything local, scripted, prints the conversation
    snapbot simulator ...                the Cloudify Manager simulator alone (devtools.simulator)
    snapbot cfy ...                      the /cfy commands from a terminal (bot.cli)
    snapbot daily --once [--manager M]   one daily snapshot run (bot.cli)
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from typing import Any, Callable

log = logging.getLogger("snapbot")


def _run_parser(sub: Any) -> None:
    run = sub.add_parser("run", help="run the Slack app",
                         description="Run the Slack app: HTTP mode (POST /slack/events, GET /healthz), "
                                     "or Socket Mode when SLACK_APP_TOKEN is set.")
    run.add_argument("--host", default=os.environ.get("SNAPBOT_HOST", "0.0.0.0"),
                     help="HTTP mode: address to listen on (default 0.0.0.0)")
    run.add_argument("--port", type=int, default=int(os.environ.get("PORT", "3000")),
                     help="HTTP mode: port (default $PORT or 3000)")
    run.add_argument("--config", default=None, help="YAML config file (default $SNAPBOT_CONFIG)")
    run.add_argument("--log-level", default=os.environ.get("SNAPBOT_LOG_LEVEL", "INFO"))


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # Subcommands owned by other modules keep their own argument parsing.
    if argv and argv[0] == "simulator":
        from devtools.simulator import main as simulator_main
        return int(simulator_main(argv[1:]) or 0)
    if argv and argv[0] in ("cfy", "daily"):
        from bot.cli import main as cli_main
        return int(cli_main(argv) or 0)

    ap = argparse.ArgumentParser(prog="snapbot", description="Slack ChatOps for Cloudify Manager backups")
    sub = ap.add_subparsers(dest="cmd", required=True)
    _run_parser(sub)
    demo = sub.add_parser("demo", help="run a scripted local demo (simulator + Slack stand-in)",
                          description="Run a scripted local demo: the simulator, the Slack stand-in and "
                                      "the real app on loopback; exits 0 if every check passed.")
    demo.add_argument("--speed", type=float, default=20.0, help="simulator speed (default 20)")
    demo.add_argument("--verbose", action="store_true", help="show the bot's logs")
    sub.add_parser("simulator", help="run the Cloudify Manager simulator (see --help)")
    sub.add_parser("cfy", help="run a /cfy command from the terminal (see snapbot cfy help)")
    sub.add_parser("daily", help="one daily snapshot run: snapbot daily --once [--manager M]")
    args = ap.parse_args(argv)

    if args.cmd == "demo":
        from devtools.demo import main as demo_main
        return demo_main(speed=args.speed, verbose=args.verbose)
    return run(args)


def run(args: argparse.Namespace) -> int:
    from bot.config import load_settings
    from bot.errors import ConfigError

    from bot import logs

    fmt = "json" if os.environ.get("SNAPBOT_LOG_FORMAT", "").lower() == "json" else "text"
    logs.configure(args.log_level, fmt)
    try:
        settings = load_settings(os.environ, args.config or os.environ.get("SNAPBOT_CONFIG"),
                                 require_slack=True)
    except ConfigError as exc:
        print(f"snapbot: {exc}", file=sys.stderr)
        return 2
    logs.configure(args.log_level, settings.log_format, secrets=logs.settings_secrets(settings))
    from bot.config import describe_settings
    for key, value in describe_settings(settings):  # secrets masked
        log.info("config %s: %s", key, value)
    try:
        asyncio.run(serve(settings, host=args.host, port=args.port))
    except KeyboardInterrupt:
        pass
    except ConfigError as exc:  # found while building the services (e.g. an unusable CA bundle)
        print(f"snapbot: {exc}", file=sys.stderr)
        return 2
    return 0


async def serve(settings: Any, *, host: str, port: int, ready: Callable[[str], None] | None = None,
                stop: asyncio.Event | None = None) -> None:
    """Run until SIGTERM/SIGINT (or `stop` is set): Socket Mode if an app token is configured,
    else HTTP. `ready(url)` is called once listening (port 0 picks a free port)."""
    from aiohttp import web

    from bot import bootstrap
    from handlers.app import build_app, build_web_app, make_client
    from handlers.notifier import SlackNotifier

    from bot.metrics import ManagerProbe, Metrics

    client = make_client(settings)
    metrics = Metrics()
    services = await bootstrap.build_services(
        settings, notifier=SlackNotifier(client, on_error=metrics.slack_error), metrics=metrics)
    probe = ManagerProbe(metrics, services.clients, services.clock)
    app = build_app(services, client=client)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):
            pass
    runner: Any = None
    socket_handler: Any = None
    try:
        await bootstrap.start(services)
        probe.start()  # snapbot_manager_up from the first seconds on
        if settings.slack.app_token:
            from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
            socket_handler = AsyncSocketModeHandler(app, settings.slack.app_token)
            await socket_handler.connect_async()
            log.info("snapbot connected in Socket Mode")
            # /healthz still answers in Socket Mode (for the container's probe).
            runner = web.AppRunner(build_web_app(app, services, events=False), access_log=None)
        else:
            runner = web.AppRunner(build_web_app(app, services), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        what = "GET /healthz, GET /metrics" if socket_handler is not None \
            else "POST /slack/events, GET /healthz, GET /metrics"
        log.info("snapbot listening on http://%s:%s (%s)", host, bound, what)
        if ready is not None:
            ready(f"http://{host}:{bound}")
        await stop.wait()
        log.info("stopping")
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
        if socket_handler is not None:
            await socket_handler.close_async()
        if runner is not None:
            await runner.cleanup()
        await probe.stop()
        await bootstrap.stop(services)


if __name__ == "__main__":
    raise SystemExit(main())
