"""`snapbot demo`: the whole product on one machine, scripted, printed as a conversation.

It starts the Cloudify Manager simulator (fast), the local Slack stand-in and the real Bolt app in
HTTP mode (random loopback ports, SQLite and the archive dir in a temp dir, embedded settings),
then sends real signed slash commands and button clicks over HTTP and prints what people in the
channel would see: who typed what, what the bot answered (ephemeral replies marked), card updates
and thread replies.

The script is a list of steps, `DEMO_STEPS`, each `(title, async fn(demo))`, followed by the
`demo_steps()` of each module in `EXTENSIONS` (the restore runbook, the daily job), in order. A step
uses the `Demo` helpers (`say`, `click`, `wait_for`, `wait_job`, `job_for`, `expect`, `note`)
and fails by raising or through `expect`.
"""
from __future__ import annotations

import asyncio
import dataclasses
import importlib
import logging
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TextIO

from bot.notifier import plain_text
from devtools.standin.slack import AppResponse, Event, SlackStandin

log = logging.getLogger(__name__)

BOT_TOKEN = "xoxb-demo-bot-token"
SIGNING_SECRET = "demo-signing-secret"  # fixed: the demo signs its own requests with it
CHANNEL = "C_OPS"
OPERATOR = "U_OPS"
APPROVERS = ("U_LEAD1", "U_LEAD2")
USER_NAMES = {"U_OPS": "alice (operator)", "U_LEAD1": "bob (lead)", "U_LEAD2": "carol (lead)",
              "U_VIEW": "dave (viewer)"}

Step = Callable[["Demo"], Awaitable[None]]

#: Modules (owned by other surfaces) that may contribute `demo_steps()`.
EXTENSIONS = ("devtools.demo.restore", "devtools.demo.daily", "devtools.demo.access")


class StepFailed(Exception):
    pass


class Demo:
    """Running parts plus helpers for scripted steps."""

    def __init__(self, *, slack: SlackStandin, sim: Any, services: Any, events_url: str,
                 out: TextIO = sys.stdout) -> None:
        self.slack = slack
        self.sim = sim
        self.services = services
        self.events_url = events_url
        self.out = out
        self.failures: list[str] = []
        slack.listeners.append(self._print_event)

    # -- talking ----------------------------------------------------------------------------
    async def say(self, text: str, *, user: str = OPERATOR, channel: str = CHANNEL) -> AppResponse:
        """`user` types a slash command ("/cfy ..."): a real signed request to /slack/events."""
        text = text.strip()
        if text.startswith("/cfy"):
            text = text[len("/cfy"):].strip()
        resp = await self.slack.send_command(self.events_url, text, user=user, channel=channel)
        self.expect(resp.status == 200, f"/cfy {text} acked with HTTP 200 (got {resp.status})")
        return resp

    async def click(self, action_id: str, value: str, *, user: str) -> AppResponse:
        """`user` clicks the newest button with this action_id and value."""
        resp = await self.slack.click(self.events_url, action_id, value, user=user)
        self.expect(resp.status == 200, f"click {action_id} acked with HTTP 200 (got {resp.status})")
        return resp

    # -- waiting ----------------------------------------------------------------------------
    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 30.0, what: str = "") -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if asyncio.iscoroutine(value):
                value = await value
            if value:
                return value
            if time.monotonic() > deadline:
                raise StepFailed(f"timed out waiting for {what or 'a condition'}")
            await asyncio.sleep(0.02)

    async def wait_responses(self, n: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        return await self.wait_for(lambda: len(self.slack.responses()) >= n and self.slack.responses(),
                                   timeout, f"{n} response(s) from the bot")

    def job_for(self, kind: str, **params: Any) -> Any:
        """The newest job of `kind` whose params include `params`, or None."""
        for job in self.services.store.list_jobs(limit=100):
            if job.kind == kind and all(job.params.get(k) == v for k, v in params.items()):
                return job
        return None

    async def wait_job(self, kind: str, timeout: float = 60.0, **params: Any) -> Any:
        """Wait for a job of `kind` (matching params) to exist and finish; return it."""
        job = await self.wait_for(lambda: self.job_for(kind, **params), timeout, f"a {kind} job")
        # finished in the store, and its task over: the last card update and thread reply landed
        await self.wait_for(lambda: self.services.store.get_job(job.id).finished
                            and not self.services.runner.is_running(job.id), timeout, f"job {job.id} to finish")
        return self.services.store.get_job(job.id)

    # -- reporting --------------------------------------------------------------------------
    def expect(self, condition: Any, what: str) -> bool:
        if not condition:
            self.failures.append(what)
            self.note(f"FAILED: {what}")
        return bool(condition)

    def note(self, text: str) -> None:
        """A narrator line (not something Slack would show)."""
        self.out.write(f"   ({text})\n")
        self.out.flush()

    def heading(self, text: str) -> None:
        self.out.write(f"\n== {text} ==\n")
        self.out.flush()

    def _print_event(self, e: Event) -> None:
        who = USER_NAMES.get(e.user, e.user)
        body = plain_text(e.message) if e.message else e.text
        if e.kind == "command":
            line = f"{who} › {e.text}"
        elif e.kind == "click":
            line = f"{who} clicked {e.text}"
        elif e.kind == "post":
            line = f"snapbot › {_indent(body, 10)}"
        elif e.kind == "reply":
            line = f"  ↳ snapbot (in thread) › {_indent(body, 26)}"
        elif e.kind == "update":
            line = f"snapbot (card updated) › {_indent(body, 25)}"
        elif e.kind == "ephemeral":
            line = f"snapbot (only {who} sees this) › {_indent(body, 12)}"
        else:
            line = f"[{e.kind}] {body}"
        self.out.write(line + "\n")
        self.out.flush()


def job_reason(job: Any) -> str:
    """What a job that did not end done said about it, for a failed check's line."""
    return f": {job.error}" if job.error else ""


def _indent(text: str, width: int) -> str:
    return text.replace("\n", "\n" + " " * width)


# -- the core script ---------------------------------------------------------------------------
async def step_help(demo: Demo) -> None:
    before = len(demo.slack.responses())
    await demo.say("/cfy help")
    posts = await demo.wait_responses(before + 1)
    demo.expect("snapshots" in str(posts[-1]), "help lists the snapshots commands")


async def step_create(demo: Demo) -> None:
    await demo.say("/cfy snapshots create nightly-1")
    job = await demo.wait_job("snapshot_create", snapshot_id="nightly-1")
    demo.expect(job.state == "done", f"snapshot nightly-1 created (job {job.id} is {job.state}{job_reason(job)})")
    card = demo.slack.message(CHANNEL, job.message_ts or "")
    demo.expect(card is not None and "created" in plain_text(card),
                "the job card ends with 'created'")


async def step_list(demo: Demo) -> None:
    before = len(demo.slack.responses())
    await demo.say("/cfy snapshots list")
    posts = await demo.wait_responses(before + 1)
    demo.expect("nightly-1" in str(posts[-1]), "the list shows nightly-1")


async def step_download(demo: Demo) -> None:
    from bot.archive import verify_archived

    await demo.say("/cfy snapshots download nightly-1")
    job = await demo.wait_job("snapshot_download", snapshot_id="nightly-1")
    if not demo.expect(job.state == "done", f"nightly-1 downloaded (job {job.id} is {job.state}{job_reason(job)})"):
        return
    path = job.result.get("archive_path", "")
    info = verify_archived(path)
    demo.note(f"archive {path}")
    demo.note(f"sha256 {info.sha256} (verified: zip readable, checksum matches the sidecar)")
    demo.expect(info.sha256 == job.result.get("sha256"), "the archive's sha256 matches the job's")


DEMO_STEPS: list[tuple[str, Step]] = [
    ("/cfy help", step_help),
    ("Create a snapshot and follow its progress", step_create),
    ("List snapshots", step_list),
    ("Download the snapshot off the manager, verified", step_download),
]


def all_steps() -> list[tuple[str, Step]]:
    """The core steps, then each extension module's `demo_steps()`."""
    steps = list(DEMO_STEPS)
    for name in EXTENSIONS:
        steps += list(importlib.import_module(name).demo_steps())
    return steps


# -- wiring --------------------------------------------------------------------------------------
def demo_env(*, sim_url: str, slack_api_url: str, workdir: Path, bot_token: str = BOT_TOKEN,
             signing_secret: str = SIGNING_SECRET) -> dict[str, str]:
    """Embedded defaults: one manager (the simulator), the Slack stand-in, SQLite in `workdir`.
    The daily schedule is on (03:00 UTC); a first start has no history, so nothing is caught up."""
    return {
        "SLACK_BOT_TOKEN": bot_token,
        "SLACK_SIGNING_SECRET": signing_secret,
        "SLACK_API_URL": slack_api_url,
        "SNAPBOT_CHANNEL": CHANNEL,
        "SNAPBOT_APPROVERS": ",".join(APPROVERS),
        "SNAPBOT_OPERATORS": OPERATOR,
        "SNAPBOT_DB": str(workdir / "snapbot.db"),
        "SNAPBOT_ARCHIVE_DIR": str(workdir / "archives"),
        "CLOUDIFY_URL": sim_url,
        "CLOUDIFY_USERNAME": "admin",
        "CLOUDIFY_PASSWORD": "admin",
        "CLOUDIFY_TENANT": "default_tenant",
    }


async def run_demo(*, speed: float = 20.0, out: TextIO = sys.stdout,
                   steps: list[tuple[str, Step]] | None = None) -> int:
    """Run the scripted demo; 0 when every step passed."""
    from bot import bootstrap
    from bot.config.load import load_settings
    from devtools.simulator import SimulatorOptions, start_simulator
    from handlers.app import make_client, start_slack_app
    from handlers.notifier import SlackNotifier

    steps = steps if steps is not None else all_steps()
    with tempfile.TemporaryDirectory(prefix="snapbot-demo-") as tmp:
        workdir = Path(tmp)
        # the faithful 7.0.5 profile, no compatibility flags: what an operator really meets.
        # Snapshots take a little longer than the simulator's default so the restore step can
        # show work starting while the safety snapshot is written.
        sim = await start_simulator("127.0.0.1", 0, SimulatorOptions(speed=speed, data_dir=str(workdir / "sim"),
                                                                     create_seconds=20.0))
        slack = SlackStandin(bot_token=BOT_TOKEN, signing_secret=SIGNING_SECRET)
        services = None
        app = None
        try:
            await slack.start()
            settings = load_settings(demo_env(sim_url=sim.url, slack_api_url=slack.api_url, workdir=workdir),
                                     None, require_slack=True)
            runbook = dataclasses.replace(settings.runbook, poll_interval_seconds=0.05,
                                          poll_max_interval_seconds=0.2,
                                          snapshot_status_grace_seconds=2.0)
            settings = dataclasses.replace(settings, runbook=runbook)
            client = make_client(settings)
            notifier = SlackNotifier(client)
            services = await bootstrap.build_services(settings, notifier=notifier,
                                                      group_resolver=notifier.usergroup_members)
            await bootstrap.start(services)
            app = await start_slack_app(services, client)
            out.write(f"snapbot demo: Cloudify Manager simulator at {sim.url} (speed x{speed:g}), "
                      f"Slack stand-in at {slack.url}, app at {app.url}/slack/events\n")
            out.write(f"channel #ops ({CHANNEL}); approvers: {', '.join(USER_NAMES[a] for a in APPROVERS)}\n")
            demo = Demo(slack=slack, sim=sim, services=services,
                        events_url=f"{app.url}/slack/events", out=out)
            for title, step in steps:
                demo.heading(title)
                try:
                    await step(demo)
                except Exception as exc:  # a failed step is reported; the next ones still run
                    log.debug("demo step failed", exc_info=True)
                    demo.expect(False, f"{title}: {exc}")
            out.write("\n")
            if demo.failures:
                out.write(f"demo FAILED: {len(demo.failures)} check(s) failed:\n")
                out.writelines(f"  - {f}\n" for f in demo.failures)
                return 1
            out.write(f"demo OK: {len(steps)} steps, {len(slack.calls)} Slack Web API calls\n")
            return 0
        finally:
            if app is not None:
                await app.close()
            if services is not None:
                await bootstrap.stop(services)
            await slack.close()
            await sim.close()


def main(*, speed: float = 20.0, verbose: bool = False) -> int:
    logging.basicConfig(level=logging.INFO if verbose else logging.CRITICAL,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return asyncio.run(run_demo(speed=speed))
