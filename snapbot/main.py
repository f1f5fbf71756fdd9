"""`snapbot`: the console script, with one argument parser.

    snapbot run [--host H] [--port P]   the Slack app (Socket Mode when SLACK_APP_TOKEN is set,
                                         else HTTP: POST /slack/events, GET /healthz)
    snapbot cfy [--yes] COMMAND ...      the /cfy commands from a terminal
    snapbot daily --once [--manager M]   one daily snapshot run
    snapbot demo                         everything local, scripted, prints the conversation
    snapbot simulator ...                the Cloudify Manager simulator alone
    snapbot realmanager --source PATH    a real Cloudify Manager 7.0.5 from its source, on loopback

Exit codes: 0 done, 1 the command or its job failed, 2 usage or configuration error.
`demo`, `simulator` and `realmanager` are development tools (package `devtools/`): imported only when chosen.
"""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

CFY_USAGE = "snapbot cfy [--yes] [--config FILE] COMMAND ..."
CFY_EPILOG = "COMMAND is what you would type after /cfy in Slack (try `snapbot cfy help`)."


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="snapbot", description="Slack ChatOps for Cloudify Manager backups")
    sub = ap.add_subparsers(dest="cmd", required=True, metavar="{run,cfy,daily,demo,simulator,realmanager}")

    run = sub.add_parser("run", help="run the Slack app",
                         description="Run the Slack app: HTTP mode (POST /slack/events, GET /healthz), "
                                     "or Socket Mode when SLACK_APP_TOKEN is set.")
    run.add_argument("--host", default=os.environ.get("SNAPBOT_HOST", "0.0.0.0"),
                     help="HTTP mode: address to listen on (default 0.0.0.0)")
    run.add_argument("--port", type=int, default=None,
                     help="HTTP mode: port (default $PORT or 3000)")
    run.add_argument("--config", default=None, help="YAML config file (default $SNAPBOT_CONFIG)")
    run.add_argument("--log-level", default=os.environ.get("SNAPBOT_LOG_LEVEL", "INFO"))

    cfy = sub.add_parser("cfy", help="run a /cfy command from the terminal (see snapbot cfy help)",
                         usage=CFY_USAGE, epilog=CFY_EPILOG,
                         description="Run a /cfy command from a terminal: the same grammar, rules and "
                                     "store as the Slack app, configured from the environment. "
                                     "--yes and --config may also follow the command.")
    cfy.add_argument("--yes", "-y", action="store_true",
                     help="confirm a command that changes a manager (recorded as done by you)")
    cfy.add_argument("--config", metavar="FILE", default=None, help="YAML config file (default $SNAPBOT_CONFIG)")
    cfy.add_argument("words", nargs=argparse.REMAINDER, metavar="COMMAND", help=argparse.SUPPRESS)
    cfy.set_defaults(usage=f"usage: {CFY_USAGE}\n\n{CFY_EPILOG}")

    daily = sub.add_parser("daily", help="one daily snapshot run: snapbot daily --once [--manager M]",
                           description="Run the daily snapshot job from a terminal.")
    daily.add_argument("--once", action="store_true", help="run the job once now and exit")
    daily.add_argument("--manager", help="only this manager (default: every configured manager)")
    daily.set_defaults(usage=daily.format_usage())

    demo = sub.add_parser("demo", help="run a scripted local demo (simulator + Slack stand-in)",
                          description="Run a scripted local demo: the simulator, the Slack stand-in and "
                                      "the real app on loopback; exits 0 if every check passed.")
    demo.add_argument("--speed", type=float, default=20.0, help="simulator speed (default 20)")
    demo.add_argument("--verbose", action="store_true", help="show the bot's logs")

    sim = sub.add_parser("simulator", help="run the Cloudify Manager simulator (see --help)",
                         description="A Cloudify Manager REST v3.1 simulator")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=8100, help="0 picks a free port")
    sim.add_argument("--speed", type=float, default=1.0, help="divide simulated durations by this")
    sim.add_argument("--clock", choices=("scaled", "manual"), default="scaled",
                     help="scaled: real time divided by --speed (default); manual: time moves only "
                          "on POST /_sim/clock, for tests")
    sim.add_argument("--manager-version", default="7.0.5",
                     help="which Cloudify Manager to behave like: 7.0.5 (default), 6.4.2 or 5.1.4")
    sim.add_argument("--version", default=None,
                     help="manager version to report (default: the --manager-version)")
    sim.add_argument("--compat", action="append", default=[], metavar="FLAG",
                     help="switch on one simplified, unfaithful behaviour, for tests (repeatable; "
                          "devtools/simulator/profiles.py COMPAT_*)")
    sim.add_argument("--archive-size", type=int, default=0, help="pad new archives to N bytes")
    sim.add_argument("--data-dir", default=None, help="where archives live (default: a temp dir)")
    sim.add_argument("--edition", choices=("premium", "community"), default="premium",
                     help="the edition it says it is (community: no GET /users, no new-format "
                          "snapshots; default premium)")
    sim.add_argument("--outage-mode", choices=("refuse", "502", "503"), default=None,
                     help="how a legacy restore's outage looks (default: nginx's 502 page)")

    real = sub.add_parser("realmanager", help="run a real Cloudify Manager from its source (see --help)",
                          description="Run a real Cloudify Manager 7.0.5 (Cloudify's own REST service, "
                                      "PostgreSQL, RabbitMQ, mgmtworker, execution scheduler) on "
                                      "loopback until SIGINT/SIGTERM; admin/admin, default_tenant.")
    real.add_argument("--source", default=os.environ.get("SNAPBOT_CLOUDIFY_SRC"),
                      help="a directory holding the 7.0.5-build trees of cloudify-manager, "
                           "cloudify-agent and cloudify-manager-install, or a .tar.gz of them "
                           "(default $SNAPBOT_CLOUDIFY_SRC)")
    real.add_argument("--state-dir", default=None,
                      help="where the database, configuration and logs go (default: a temporary "
                           "directory, removed on exit)")
    real.add_argument("--host", default="127.0.0.1", help="an IPv4 loopback address (default 127.0.0.1)")
    real.add_argument("--port", type=int, default=0, help="the REST port (default: a free one)")
    real.add_argument("--cache-dir", default=None,
                      help="where virtualenvs and the unpacked source are cached "
                           "(default $SNAPBOT_CFY_VENV_DIR or ~/.cache/snapbot)")
    real.add_argument("--system-layout", action="store_true",
                      help="also lay out the single-host paths the snapshot workflows use "
                           "(/opt/manager, /opt/cloudify, /etc/cloudify, /var/log/cloudify) and "
                           "give them service control: for disposable root machines such as CI")
    real.set_defaults(usage=real.format_usage())
    return ap


def _cfy_options(args: argparse.Namespace) -> tuple[list[str], bool, str | None] | str:
    """The /cfy words, --yes and --config, which may also follow the words (as in
    `snapbot cfy snapshots delete x --yes`); a string is a usage error."""
    words: list[str] = []
    yes, config = bool(args.yes), args.config
    it = iter(args.words)
    for word in it:
        if word in ("--yes", "-y"):
            yes = True
        elif word == "--config":
            config = next(it, None)
            if config is None:
                return "--config needs a file"
        elif word.startswith("--config="):
            config = word.split("=", 1)[1]
        else:
            words.append(word)
    return words, yes, config


def main(argv: Sequence[str] | None = None, *, env: dict[str, str] | None = None,
         write: Callable[[str], None] | None = None) -> int:
    """Parse `argv` (without the program name) and run the subcommand; returns the exit code.
    `env` (default os.environ) and `write` (default print) are for `cfy` and `daily`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2), already printed
        return int(exc.code or 0)
    env = dict(os.environ if env is None else env)

    if args.cmd == "run":
        from bot.errors import ConfigError
        from snapbot.run import run
        try:
            listen = args.port if args.port is not None else _port("PORT", env.get("PORT") or "3000")
        except ConfigError as exc:
            print(f"snapbot: {exc}", file=sys.stderr)
            return 2
        return run(config=args.config, host=args.host, port=listen, log_level=args.log_level)

    if args.cmd == "cfy":
        from snapbot.terminal import cfy
        parsed = _cfy_options(args)
        if isinstance(parsed, str):
            print(f"snapbot cfy: {parsed}", file=sys.stderr)
            return 2
        words, yes, config = parsed
        if not words:
            print(args.usage, file=sys.stderr)
            return 2
        return cfy(words, yes=yes, config=config, env=env, write=write)

    if args.cmd == "daily":
        if not args.once:
            print(args.usage, end="", file=sys.stderr)
            print("snapbot daily: only --once is supported here; `snapbot run` schedules the job",
                  file=sys.stderr)
            return 2
        from snapbot.terminal import daily_once
        return daily_once(args.manager, env=env, write=write)

    # development tools, imported only for their own subcommands
    if args.cmd == "demo":
        from devtools.demo import main as demo_main
        return demo_main(speed=args.speed, verbose=args.verbose)
    if args.cmd == "realmanager":
        return _realmanager(args)
    from devtools.simulator import SimulatorOptions, run_simulator
    options = SimulatorOptions(speed=args.speed, clock=args.clock, manager_version=args.manager_version,
                               version=args.version, compat=tuple(args.compat),
                               archive_size=args.archive_size, data_dir=args.data_dir,
                               outage_mode=args.outage_mode, edition=args.edition)
    try:
        return run_simulator(options, host=args.host, port=args.port)
    except ValueError as exc:  # an unknown --manager-version or --compat flag
        print(f"snapbot simulator: {exc}", file=sys.stderr)
        return 2


def _realmanager(args: argparse.Namespace) -> int:
    from pathlib import Path

    from devtools.realmanager import RealManagerOptions
    from devtools.realmanager.cli import run_realmanager
    from devtools.realmanager.manager import default_cache_dir
    if not args.source:
        print(args.usage, end="", file=sys.stderr)
        print("snapbot realmanager: give --source PATH or set SNAPBOT_CLOUDIFY_SRC", file=sys.stderr)
        return 2
    if not args.host.startswith("127."):
        print("snapbot realmanager: --host must be an IPv4 loopback address (127.x.x.x)", file=sys.stderr)
        return 2
    options = RealManagerOptions(source=args.source,
                                 state_dir=Path(args.state_dir) if args.state_dir else None,
                                 host=args.host, port=args.port,
                                 cache_dir=Path(args.cache_dir) if args.cache_dir else default_cache_dir(),
                                 system_layout=args.system_layout)
    return run_realmanager(options)


def _port(key: str, value: str) -> int:
    """A TCP port to listen on (0: any free one); ConfigError names `key` otherwise."""
    from bot.errors import ConfigError

    try:
        number = int(value.strip())
    except ValueError:
        raise ConfigError(key, f"must be a port number (0-65535), not {value.strip()[:20]!r}") from None
    if not 0 <= number <= 65535:
        raise ConfigError(key, f"must be a port number (0-65535), not {number}")
    return number
