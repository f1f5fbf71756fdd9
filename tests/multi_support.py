"""Helpers for the two-manager end-to-end tests: `prod` and `dr` simulators configured through a
real SNAPBOT_CONFIG YAML file (tests.harness.make_rig(managers=...)), commands as signed Slack
requests, answers read back from the Slack stand-in."""
from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from bot.clock import Clock
from bot.notifier import plain_text
from devtools.simulator import SimulatorOptions
from tests.harness import FAST_SPEED, REQUESTER, Rig, make_rig

#: prod holds more than dr, so "dr now has prod's state" is visible in /_sim/state
PROD_DEPLOYMENTS = 5
DR_DEPLOYMENTS = 1
#: each simulator its own password, so a manager talked to with the other's fails loudly
PASSWORDS = {"prod": "prod-pw-7f3a", "dr": "dr-pw-91c2"}


@asynccontextmanager
async def prod_and_dr(tmp_path: Path, *, env_overrides: Mapping[str, str] | None = None,
                      start_services: bool = True, clock: Clock | None = None,
                      password_files: bool = False, **prod_options: Any) -> AsyncIterator[Rig]:
    """A rig with two managers, `prod` (the default, 5 deployments) and `dr` (1 deployment).
    Their admin passwords differ (PASSWORDS); `password_files`: kept in files (harness)."""
    prod = SimulatorOptions(speed=FAST_SPEED, seed_deployments=PROD_DEPLOYMENTS,
                            password=PASSWORDS["prod"], **prod_options)
    dr = SimulatorOptions(speed=FAST_SPEED, seed_deployments=DR_DEPLOYMENTS, password=PASSWORDS["dr"])
    async with make_rig(tmp_path, env_overrides=env_overrides, start_services=start_services,
                        managers={"prod": prod, "dr": dr}, clock=clock,
                        password_files=password_files) as rig:
        yield rig


async def ask(rig: Rig, text: str, *, user: str = REQUESTER) -> dict[str, Any]:
    """Send a signed `/cfy` command and return the answer posted to its response_url."""
    before = len(rig.slack.responses())
    resp = await rig.command(text, user=user)
    assert resp.status == 200, (resp.status, text)
    responses = await rig.wait_for(lambda: len(rig.slack.responses()) > before and rig.slack.responses())
    return responses[before]


def text_of(reply: Mapping[str, Any]) -> str:
    return plain_text(dict(reply))


def api_requests(rig: Rig, manager: str) -> int:
    """Requests the manager's REST API (not the /_sim/ control surface) has seen."""
    counts = rig.sims[manager].state.request_counts
    return sum(n for path, n in counts.items() if path.startswith("/api/"))


def new_job(rig: Rig, kind: str, manager: str, seen: set[str] = frozenset()) -> Any:  # type: ignore[assignment]
    """The newest job of `kind` on `manager` not in `seen`, or None."""
    return next((j for j in rig.jobs(kind=kind) if j.manager == manager and j.id not in seen), None)


async def daily_run(rig: Rig, manager: str) -> Any:
    """`/cfy snapshots schedule run-now --manager M` through Slack; the finished daily job."""
    seen = {j.id for j in rig.jobs(kind="daily")}
    reply = await ask(rig, f"/cfy snapshots schedule run-now --manager {manager}")
    assert "started as job" in text_of(reply), text_of(reply)
    job = await rig.wait_for(lambda: new_job(rig, "daily", manager, seen))
    return await rig.wait_job(job.id)


async def stage_prod_state(rig: Rig) -> str:
    """A scheduled execution on prod (due in a day) beside its seeded deployments; its id."""
    from datetime import timedelta

    from bot.clock import iso, parse_time
    now = parse_time((await rig.sim_state("prod"))["now"])
    ex = await rig.sim_post("/_sim/executions", {"deployment_id": "dep-4", "workflow_id": "heal",
                                                 "status": "scheduled",
                                                 "scheduled_for": iso(now + timedelta(days=1))}, "prod")
    return ex["id"]


async def push_to_dr(rig: Rig, snapshot_id: str, source: str = "prod") -> Any:
    """`/cfy snapshots upload ID --from-archive SOURCE --manager dr`; the finished upload job."""
    reply = await ask(rig, f"/cfy snapshots upload {snapshot_id} --from-archive {source} --manager dr")
    assert "started job" in text_of(reply).lower(), text_of(reply)
    job = await rig.wait_for(lambda: new_job(rig, "snapshot_upload", "dr"))
    return await rig.wait_job(job.id)


async def approved_restore_on_dr(rig: Rig, snapshot_id: str, approver: str = "U_LEAD1") -> Any:
    """`/cfy snapshots restore ID --force --manager dr`, approved; the finished restore job."""
    reply = await ask(rig, f"/cfy snapshots restore {snapshot_id} --force --manager dr")
    assert "needs approval" in text_of(reply), text_of(reply)
    job = await rig.wait_for(lambda: next((j for j in rig.jobs(kind="restore") if j.message_ts), None))
    await rig.click("restore_approve", job.id, user=approver)
    return await rig.wait_job(job.id, timeout=30)


async def lose(rig: Rig, manager: str) -> None:
    """The manager's VM is gone: its simulator closes for good (its archive stays). The client's
    retry backoff for it is shortened so calls to it fail fast here, as they would after retries."""
    await rig.lose(manager)
    rig.services.clients[manager].session.backoff = 0.001


async def snapbot_daily_once(rig: Rig, *args: str) -> tuple[int, str]:
    """`snapbot daily --once ARGS` as a real process, configured like the rig (its YAML file's
    managers with fast runbook polling, the password variables; its own database, the rig's
    archive dir, no Slack). Returns (exit code, output)."""
    import asyncio
    import os
    import sys

    from tests.harness import password_env_name
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SNAPBOT_", "CLOUDIFY_"))}
    import yaml
    config = yaml.safe_load((rig.tmp_path / "snapbot.yaml").read_text())
    config["runbook"] = {"poll_interval_seconds": 0.02, "poll_max_interval_seconds": 0.1}  # fast polls
    (rig.tmp_path / "cron.yaml").write_text(yaml.safe_dump(config))
    env.update(SNAPBOT_CONFIG=str(rig.tmp_path / "cron.yaml"),
               SNAPBOT_DB=str(rig.tmp_path / "cron.db"), SNAPBOT_ARCHIVE_DIR=rig.settings.archive_dir,
               SNAPBOT_SCHEDULE="off")
    env.update({password_env_name(m.name): m.password for m in rig.settings.managers})
    snapbot = str(Path(sys.executable).with_name("snapbot"))
    proc = await asyncio.create_subprocess_exec(snapbot, "daily", "--once", *args, env=env,
                                                stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode or 0, out.decode()
