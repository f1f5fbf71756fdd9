"""`snapbot cfy …` and `snapbot daily --once`: the domain services without Slack, for scripts and
for when Slack is down.

    snapbot cfy snapshots list
    snapbot cfy --yes snapshots delete snap-20260101-030000
    snapbot cfy snapshots create --manager prod   # waits for the job, exit 1 if it failed

Same grammar, same dispatcher, same store and rules as the Slack app; configuration from the
environment (`CLOUDIFY_URL`, …) and optionally `SNAPBOT_CONFIG` / `--config`, without Slack.
Commands that change a manager need `--yes`; they are audited as `local:<login>`.

Exit codes: 0 done, 1 the command or its job failed, 2 usage error or missing `--yes`;
`snapbot daily --once` with Slack configured: 3 when Slack did not take the report in time (it
stays queued in the database for `snapbot run`).
"""
from __future__ import annotations

import asyncio
import getpass
import logging
import os
import re
import shlex
import sys
import uuid
from collections.abc import Callable

from bot import bootstrap, logs
from bot.commands import model as m
from bot.commands.parser import parse
from bot.commands.registry import spec_for
from bot.config.load import check_database_path, load_settings
from bot.config.settings import Settings
from bot.errors import ConfigError, SnapbotError, UsageError
from bot.invocation import Invocation
from bot.jobs import payload
from bot.messages.errors import error_text
from bot.messages.help import help_message
from bot.messages.text import to_plain
from bot.notifier import ConsoleNotifier, plain_text
from bot.progress import progress_line
from bot.services import Services
from bot.store import Job

log = logging.getLogger(__name__)

#: Slack emoji codes (`:white_check_mark:`), not times (12:44:10) or user ids (local:root:)
_EMOJI = re.compile(r"(?<![\w:]):[a-z0-9_+-]+:(?![\w:]) ?")


#: `*bold*` markup: a `*` right before a non-space and one right after it (not `0 3 * * *`)
_BOLD = re.compile(r"(?<![\w*])\*(?=[^\s*])([^*\n]*?[^\s*])\*(?![\w*])")
#: `_italic_` markup, the same way (ids such as `daily_a_b` are left alone)
_ITALIC = re.compile(r"(?<![\w_])_(?=[^\s_])([^_\n]*?[^\s_])_(?![\w_])")


#: what `to_terminal` undoes; each stops at `<`, so a run of `<@U1` is read once
_MARKUP = re.compile(r"[<*_:]")
_USER = re.compile(r"<@([^<>|\s]+)>")
_LABELLED = re.compile(r"<([^<>|@#!\s][^<>|\s]*)\|([^<>]+)>")  # <url|label>
_BARE_LINK = re.compile(r"<((?:https?|mailto):[^<>|\s]+)>")


def to_terminal(text: str) -> str:
    """Slack mrkdwn to plain text: no emoji codes, no bold/code markers, <@U1> -> @U1.

    Text inside `code` spans is kept as is (a cron `0 3 * * *` keeps its asterisks)."""
    parts = to_plain(text).split("`")
    for i in range(0, len(parts), 2):  # outside code spans
        part = parts[i]
        if not _MARKUP.search(part):  # plain words: nothing to undo (most parts of a long text)
            continue
        part = _EMOJI.sub("", part)
        part = _USER.sub(r"@\1", part)
        part = _LABELLED.sub(r"\2 (\1)", part)
        part = _BARE_LINK.sub(r"\1", part)
        parts[i] = _ITALIC.sub(r"\1", _BOLD.sub(r"\1", part))
    return "".join(parts)


def local_user() -> str:
    try:
        login = getpass.getuser()
    except Exception:
        login = os.environ.get("USER") or "unknown"
    return f"local:{login}"


def cfy(words: list[str], *, yes: bool, config: str | None, env: dict[str, str],
        write: Callable[[str], None] | None = None) -> int:
    """Parse the /cfy words, check `--yes`, build the services without Slack, run, wait, print."""
    out = write or (lambda text: print(text, flush=True))
    try:
        cmd = parse(shlex.join(words))
    except UsageError as exc:
        print(f"snapbot cfy: {exc.user_message}", file=sys.stderr)
        return 2
    if spec_for(cmd).changes_manager and not yes:
        print(f"snapbot cfy: `{cmd.name}` changes the manager; add --yes to confirm "
              "(it is recorded as done by you)", file=sys.stderr)
        return 2
    logging.basicConfig(level=env.get("SNAPBOT_LOG_LEVEL", "WARNING"), stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return asyncio.run(_run(cmd, yes=yes, config=config, env=env, out=out))
    except KeyboardInterrupt:
        print("interrupted; unfinished jobs resume the next time snapbot starts", file=sys.stderr)
        return 130


def _load_settings(env: dict[str, str], config: str | None) -> Settings:
    path = config or env.get("SNAPBOT_CONFIG") or None
    settings = load_settings(env, path, require_slack=False)
    check_database_path(settings, env)
    return settings


async def _run(cmd: m.Command, *, yes: bool, config: str | None,
               env: dict[str, str], out: Callable[[str], None]) -> int:
    try:
        settings = _load_settings(env, config)
    except SnapbotError as exc:
        if isinstance(cmd, m.Help):  # help needs no manager: show it, and say what is missing
            out(to_terminal(plain_text(help_message(cmd.topic))))
            print(f"snapbot cfy: {exc.user_message}", file=sys.stderr)
            return 0
        print(f"snapbot cfy: {exc.user_message}", file=sys.stderr)
        return 2
    notifier = ConsoleNotifier(write=lambda text: out(to_terminal(text)))
    try:
        services = await bootstrap.build_services(settings, notifier=notifier)
    except ConfigError as exc:  # e.g. a CA bundle file that holds no certificate
        print(f"snapbot cfy: {exc.user_message}", file=sys.stderr)
        return 2
    try:
        # The job runs in this process, so the command always waits for it: leaving early would
        # strand it in `running` until the Slack app restarts and resumes it.
        return await run_command(services, cmd, confirmed=yes, out=out)
    finally:
        await bootstrap.stop(services)


async def run_command(services: Services, cmd: m.Command, *, confirmed: bool = False,
                      wait: bool = True, out: Callable[[str], None] = print,
                      user: str | None = None) -> int:
    """Run one command with built services, as the terminal does; returns the exit code."""
    key = f"cli-{uuid.uuid4().hex}"
    inv = Invocation(user=user or local_user(), channel="", source="terminal", idem_key=key,
                     user_name=(user or local_user()).split(":", 1)[-1], confirmed=confirmed)
    runner = services.runner

    async def progress(job: Job, detail: str) -> None:
        if job.idem_key == key or job.id in mine:
            moving = payload.result_of(job).progress if not detail else None
            if moving is not None:  # a transfer's progress (the card shows the same)
                detail = progress_line(moving)
            out(to_terminal(f"[{job.id}] {job.state}" + (f": {detail}" if detail else "")))

    mine: set[str] = set()
    runner.on_change(progress)
    try:
        reply = await services.dispatcher.run(cmd, inv)
    except SnapbotError as exc:
        print(f"snapbot cfy: {to_terminal(error_text(exc))}", file=sys.stderr)
        return 1
    except Exception:
        log.exception("command %s failed", cmd.name)
        print("snapbot cfy: unexpected error (see the log above)", file=sys.stderr)
        return 1
    out(to_terminal(plain_text(reply.message)))
    if reply.refused:  # e.g. a restore without --force over deployments: nothing was started
        return 1
    job = services.store.find_by_idem_key(key)
    if job is None or not wait:
        return 0
    mine.add(job.id)
    driver = runner.driver(job.kind)
    if job.state in driver.machine.waiting:
        out(f"job {job.id} is {job.state}; it starts once approved in Slack")
        return 0
    job = await runner.wait(job.id)
    if job.state != "done":  # the progress line said why (and the log has it once): no card
        return 1
    out(to_terminal(plain_text(driver.render(job, services.store.transitions(job.id)))))
    return 0


def daily_once(manager: str | None, *, env: dict[str, str],
               write: Callable[[str], None] | None = None) -> int:
    """`snapbot daily --once [--manager M]`: run the daily job once, print the report; exit 1 if
    any run failed, 2 on a configuration error, 3 if Slack is configured (SLACK_BOT_TOKEN and
    SNAPBOT_CHANNEL) and did not take the report in time (it stays queued for `snapbot run`)."""
    out = write or (lambda text: print(text, flush=True))
    # run from cron or a Kubernetes CronJob: the same log format as `snapbot run`
    logs.configure(env.get("SNAPBOT_LOG_LEVEL", "WARNING"),
                   "json" if env.get("SNAPBOT_LOG_FORMAT", "").lower() == "json" else "text")
    try:
        return asyncio.run(_daily_once(manager, env=env, out=out))
    except SnapbotError as exc:
        print(f"snapbot daily: {exc.user_message}", file=sys.stderr)
        return 2


async def _daily_once(manager: str | None, *, env: dict[str, str], out: Callable[[str], None]) -> int:
    settings = load_settings(env, env.get("SNAPBOT_CONFIG"), require_slack=False)
    check_database_path(settings, env)
    notifier = ConsoleNotifier(lambda text: out(to_terminal(text)))
    delivery = None
    if settings.slack.bot_token and settings.slack.channel:  # cron with Slack: post the report
        from handlers.app import make_client
        from handlers.notifier import SlackNotifier
        delivery = SlackNotifier(make_client(settings, retries=False))
    services = await bootstrap.build_services(settings, notifier=notifier, delivery=delivery)
    try:
        names = [settings.manager(manager).name] if manager else [mc.name for mc in settings.managers]
        failed = 0
        for name in names:
            job = await services.daily.run_once(name)
            if job.state != "done":
                failed += 1
        undelivered = await _deliver_before_exit(services, env)
        return 1 if failed else (UNDELIVERED if undelivered else 0)
    finally:
        await bootstrap.stop(services)


#: `snapbot daily --once` exit code when the run went fine but Slack did not take its messages
#: (they stay queued; `snapbot run` posts them).
UNDELIVERED = 3


async def _deliver_before_exit(services: Services, env: dict[str, str]) -> int:
    """Running alone (cron), deliver this run's messages, waiting at most
    SNAPBOT_SLACK_DELIVERY_TIMEOUT seconds (default 30); name what could not be delivered (it
    stays queued for `snapbot run`; a running app holding the outbox delivers it anyway).
    Returns how many were not delivered."""
    if services.sender is None:
        return 0
    try:
        timeout = float(env.get("SNAPBOT_SLACK_DELIVERY_TIMEOUT", "30"))
    except ValueError:
        timeout = 30.0
    left = await services.sender.deliver_own(timeout)
    reports = [r for r in left if r.kind in ("post", "ephemeral")]
    for row in reports:
        print(f"snapbot daily: could not post the {row.describe()} to Slack"
              + (f" ({row.last_error})" if row.last_error else ""), file=sys.stderr)
    if len(left) > len(reports):
        print(f"snapbot daily: {'and ' if reports else ''}{len(left) - len(reports)} progress "
              "message(s) (card, thread replies) not posted either", file=sys.stderr)
    if left:
        print("snapbot daily: they stay queued; `snapbot run` posts them when it runs",
              file=sys.stderr)
    return len(left)
