"""The restore part of `snapbot demo` (listed in `devtools.demo.EXTENSIONS`), on the faithful
7.0.5 profile: what an operator really meets.

A deployment has an hourly `heal` schedule. A restore is requested and approved; while its
safety snapshot is being written a colleague starts `install` on the same deployment, so
maintenance mode waits for it. Meanwhile the hourly `heal` falls due: the execution scheduler
runs schedules while maintenance is only *activating*, and queues it behind the `install`. When
the `install` ends, the queued `heal` never starts (7.0.5 starts queued executions only once
maintenance mode is off) and holds maintenance `activating`: the card says so, names it and
offers approvers one button to cancel it. A lead clicks it; the restore goes on and reports the
schedule's runs that fell due meanwhile, with its true next run.
"""
from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import aiohttp

from bot.clock import iso, parse_time
from bot.notifier import plain_text

SNAPSHOT = "demo-restore-point"
SCHEDULE = "hourly-heal"
_ADMIN = {"Authorization": "Basic " + base64.b64encode(b"admin:admin").decode(),
          "Tenant": "default_tenant"}


async def _sim(demo: Any, method: str, path: str, body: dict[str, Any] | None = None,
               params: dict[str, str] | None = None) -> Any:
    """The simulator: `/_sim/...` (its control surface) or `/api/v3.1/...` (the manager's API,
    as the admin)."""
    headers = _ADMIN if path.startswith("/api/") else {}
    async with aiohttp.ClientSession() as http, \
            http.request(method, demo.sim.url + path, json=body, params=params,
                         headers=headers) as resp:
        return await resp.json(content_type=None)


def _live(demo: Any, workflow: str, status: str | None = None) -> list[dict[str, Any]]:
    return [e for e in demo.sim.state.executions.values() if e["workflow_id"] == workflow
            and (status is None or e["status"] == status)]


async def step_stage(demo: Any) -> None:
    now = parse_time((await _sim(demo, "GET", "/_sim/state"))["now"])
    since = now + timedelta(minutes=5)
    demo.state = {"since": iso(since)}
    await _sim(demo, "PUT", f"/api/v3.1/execution-schedules/{SCHEDULE}",
               {"workflow_id": "heal", "since": iso(since), "recurrence": "1h"},
               params={"deployment_id": "dep-1"})
    demo.note(f"on the manager: schedule {SCHEDULE} runs `heal` on dep-1 every hour from {iso(since)}")
    await demo.say(f"/cfy snapshots create {SNAPSHOT}")
    await demo.wait_for(lambda: demo.sim.state.snapshots.get(SNAPSHOT, {}).get("status") == "created",
                        60, f"snapshot {SNAPSHOT} to be created")
    manager = demo.services.settings.managers[0].name
    await demo.wait_for(lambda: not demo.services.runner.busy_on(manager), 30, "the snapshot job to finish")


async def step_restore(demo: Any) -> None:
    from devtools.demo import APPROVERS, CHANNEL, OPERATOR

    await demo.say(f"/cfy snapshots restore {SNAPSHOT} --force")
    job = await demo.wait_for(lambda: (j := demo.job_for("restore", snapshot_id=SNAPSHOT)) and j.message_ts and j,
                              30, "the restore request's card")
    await demo.click("restore_approve", job.id, user=OPERATOR)
    await demo.wait_for(lambda: any("someone else must approve" in e.get("text", "")
                                    for e in demo.slack.ephemerals(OPERATOR)), 30, "the self-approval refusal")
    await demo.click("restore_approve", job.id, user=APPROVERS[0])

    # while the safety snapshot is written, a colleague starts `install` on dep-1 (queued
    # behind the snapshot, it starts right after it)
    await demo.wait_for(lambda: any(e["parameters"].get("snapshot_id") == f"safety-{job.id}"
                                    and e["status"] in ("pending", "started")
                                    for e in _live(demo, "create_snapshot")),
                        60, "the safety snapshot to start")
    install = await _sim(demo, "POST", "/_sim/executions",
                         {"deployment_id": "dep-1", "workflow_id": "install", "duration": None})
    demo.note(f"a colleague starts `install` on dep-1 ({install['id']}); it runs for a while")
    await demo.wait_for(lambda: demo.sim.state.maintenance["status"] == "activating", 60,
                        "maintenance mode to be activating")
    now = parse_time((await _sim(demo, "GET", "/_sim/state"))["now"])
    due = parse_time(getattr(demo, "state", {}).get("since")) or now
    clock = await _sim(demo, "POST", "/_sim/clock", {"advance": max(0.0, (due - now).total_seconds()) + 10})
    demo.note(f"time passes on the manager (now {clock.get('now')}): `{SCHEDULE}` falls due")
    heal = await demo.wait_for(lambda: _live(demo, "heal", "queued"), 30, "the scheduled heal to be queued")
    await _sim(demo, "POST", f"/_sim/executions/{install['id']}/finish", {"status": "terminated"})
    demo.note("the colleague's `install` ends; the queued `heal` does not start")

    def held() -> Any:
        j = demo.services.store.get_job(job.id)
        waiting = j.result.get("waiting_for") or {}
        return waiting.get("ids") == [heal[0]["id"]] and j
    await demo.wait_for(held, 30, "snapbot to see the held execution")

    def card_says() -> bool:
        card = plain_text(demo.slack.message(CHANNEL, job.message_ts) or {})
        return heal[0]["id"] in card and "never starts while maintenance mode is on" in card
    demo.expect(await demo.wait_for(card_says, 30, "the card to name the held execution"),
                "the card names the queued heal and says it holds maintenance mode")
    demo.expect(demo.sim.state.maintenance["status"] == "activating", "maintenance mode is held activating")
    await demo.click("cancel_blockers", job.id, user=APPROVERS[1])
    job = await demo.wait_job("restore", timeout=120, snapshot_id=SNAPSHOT)
    demo.expect(job.state == "done", f"the restore ended done (got {job.state}: {job.error})")
    report = job.result.get("report") or {}
    skipped = [s for s in report.get("skipped_schedules") or [] if s["id"] == SCHEDULE]
    demo.expect(skipped and skipped[0].get("next"), f"the report names {SCHEDULE}'s missed run and its next run")
    restores = (await _sim(demo, "GET", "/_sim/state"))["restores"]
    demo.expect(len(restores) == 1, f"exactly one restore execution ran on the manager (got {len(restores)})")
    if skipped and not skipped[0]["skipped"]:
        demo.note(f"`{SCHEDULE}`'s run was less than a minute late: the scheduler runs it now that "
                  "maintenance mode is off")
    await demo.wait_for(lambda: not [e for e in demo.sim.state.executions.values()
                                     if e["status"] in ("pending", "started", "queued")],
                        60, "the manager to be idle again")


def demo_steps() -> list[tuple[str, Any]]:
    return [
        ("Restore: an hourly schedule and a restore point", step_stage),
        ("Restore: approved; a scheduled run holds maintenance mode and a lead cancels it", step_restore),
    ]
