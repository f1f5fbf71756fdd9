"""A real snapbot process for the kill tests: builds the services like `snapbot run` does
(bootstrap.build_services + start, so unfinished jobs resume), requests/approves a restore when
asked, and exits when the restore has finished and its outbox is delivered. With `--pause-at
STATE` it stops doing anything the moment the job's STATE is saved (before that state's side
effect), so the test can SIGKILL it exactly there. With `--slack API_URL` it talks to the Slack
stand-in through the outbox, like `snapbot run` (the test can then kill it from the stand-in, when
a given Slack call arrives); without, it prints to worker.log.

    python -m tests.restore_worker --sim URL --workdir DIR [--request] [--pause-at STATE]
                                   [--slack API_URL [--slack-speed S]]
"""
from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any, TextIO

from bot import bootstrap
from bot.commands.model import SnapshotsRestore
from bot.config.settings import (
    AccessConfig,
    ApprovalPolicy,
    ManagerConfig,
    RunbookConfig,
    Settings,
    SlackConfig,
)
from bot.invocation import Invocation
from bot.notifier import ConsoleNotifier
from tests.fakes import ScaledClock

RUNBOOK = RunbookConfig(poll_interval_seconds=0.01, poll_max_interval_seconds=0.05,
                        maintenance_timeout_seconds=30, snapshot_timeout_seconds=30,
                        restore_timeout_seconds=60)


BOT_TOKEN = "xoxb-kill-test"


def settings(sim_url: str, workdir: Path, slack_url: str | None = None) -> Settings:
    slack = SlackConfig(channel="C_OPS", bot_token=BOT_TOKEN, api_url=slack_url) if slack_url \
        else SlackConfig(channel="C_OPS")
    return Settings(managers=(ManagerConfig(name="default", url=sim_url, password="admin"),),
                    slack=slack,
                    approvals=ApprovalPolicy(approvers=frozenset({"U_LEAD1", "U_LEAD2"})),
                    access=AccessConfig(operators=frozenset({"U_OPS"})),
                    runbook=RUNBOOK, db_path=str(workdir / "snapbot.db"),
                    archive_dir=str(workdir / "archives"))


async def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sim", required=True)
    ap.add_argument("--workdir", required=True, type=Path)
    ap.add_argument("--request", action="store_true")
    ap.add_argument("--pause-at", default=None)
    ap.add_argument("--slack", default=None)
    ap.add_argument("--slack-speed", type=float, default=1.0)
    args = ap.parse_args(argv)
    with open(args.workdir / "worker.log", "a", buffering=1) as out:
        return await run(args, out)


async def run(args: argparse.Namespace, out: TextIO) -> int:
    config = settings(args.sim, args.workdir, args.slack)
    if args.slack:
        from handlers.app import make_client
        from handlers.notifier import SlackNotifier
        notifier: Any = SlackNotifier(make_client(config, retries=False))
    else:
        notifier = ConsoleNotifier(lambda s: out.write(s + "\n"))
    services = await bootstrap.build_services(config, notifier=notifier)
    if services.sender is not None:
        services.sender.clock = ScaledClock(args.slack_speed)
        services.sender.poll_interval = 0.05
    paused = asyncio.Event()

    async def pause(job, detail: str) -> None:
        if args.pause_at and job.state == args.pause_at:
            (args.workdir / "paused").write_text(job.state)
            paused.set()
            await asyncio.sleep(3600)  # frozen right after the state was saved

    finished = asyncio.Event()

    async def restore_over(job, detail: str) -> None:
        if job.kind == "restore" and job.finished:
            finished.set()

    services.runner.on_change(pause)
    services.runner.on_change(restore_over)
    await bootstrap.start(services)
    store = services.store
    if args.request:
        inv = Invocation(user="U_OPS", channel="C_OPS", idem_key="kill-test-request")
        reply = await services.restores.request(SnapshotsRestore(snapshot_id="snap-1", force=True), inv)
        out.write(f"request: {reply.message.get('text')}\n")
    jobs = store.list_jobs(kind="restore")
    if not jobs:
        out.write("no restore job\n")
        return 2
    job = jobs[0]
    if job.state == "requested" and args.pause_at != "requested":
        await services.approvals.decide(job.id, "U_LEAD1", True)
    if not store.get_job(job.id).finished:
        await finished.wait()
    out.write(f"finished: {store.get_job(job.id).state}\n")
    left = await services.sender.deliver_own(60.0, everything=True) if services.sender else []
    out.writelines(f"not delivered: {row.describe()}\n" for row in left)
    await bootstrap.stop(services)
    return 3 if left else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
