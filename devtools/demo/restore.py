"""The restore part of `snapbot demo` (listed in `devtools.demo.EXTENSIONS`).

A scheduled execution due in a minute and one due tomorrow are captured in a snapshot; the
manager's clock then moves past the first one, the operator asks for a restore, tries to approve
it themselves (refused), a lead approves, and the channel sees the progress and the overdue
report: the first execution marked FAILED, the second re-queued.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import aiohttp

from bot.clock import iso, parse_time

SNAPSHOT = "demo-restore-point"


async def _sim(demo: Any, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, http.request(method, demo.sim.url + path,
                                                             json=body) as resp:
        return await resp.json(content_type=None)


async def step_stage(demo: Any) -> None:
    client = demo.services.clients[demo.services.settings.managers[0].name]
    now = parse_time((await _sim(demo, "GET", "/_sim/state"))["now"])
    soon = await client.start_execution("dep-1", "install", scheduled_time=iso(now + timedelta(minutes=1)))
    later = await client.start_execution("dep-2", "install", scheduled_time=iso(now + timedelta(days=1)))
    demo.state = {"soon": soon.id, "later": later.id}
    demo.note(f"on the manager: execution {soon.id} (install on dep-1) scheduled for {iso(now + timedelta(minutes=1))}, "
              f"and {later.id} (install on dep-2) for tomorrow")
    await demo.say(f"/cfy snapshots create {SNAPSHOT}")
    await demo.wait_for(lambda: demo.sim.state.snapshots.get(SNAPSHOT, {}).get("status") == "created",
                        60, f"snapshot {SNAPSHOT} to be created")
    manager = demo.services.settings.managers[0].name
    await demo.wait_for(lambda: not demo.services.runner.busy_on(manager), 30, "the snapshot job to finish")
    clock = await _sim(demo, "POST", "/_sim/clock", {"advance": 600})
    demo.note(f"ten minutes pass on the manager (now {clock.get('now')}): {soon.id} is overdue in the snapshot")


async def step_restore(demo: Any) -> None:
    from devtools.demo import APPROVERS, OPERATOR

    await demo.say(f"/cfy snapshots restore {SNAPSHOT} --force")
    job = await demo.wait_for(lambda: (j := demo.job_for("restore", snapshot_id=SNAPSHOT)) and j.message_ts and j,
                              30, "the restore request's card")
    await demo.click("restore_approve", job.id, user=OPERATOR)
    await demo.wait_for(lambda: any("someone else must approve" in e.get("text", "")
                                    for e in demo.slack.ephemerals(OPERATOR)), 30, "the self-approval refusal")
    await demo.click("restore_approve", job.id, user=APPROVERS[0])
    job = await demo.wait_job("restore", timeout=120, snapshot_id=SNAPSHOT)
    demo.expect(job.state == "done", f"the restore ended done (got {job.state}: {job.error})")
    report = job.result.get("report") or {}
    overdue = [e["id"] for e in report.get("overdue", [])]
    requeued = [e["id"] for e in report.get("requeued", [])]
    state = getattr(demo, "state", {})
    demo.expect(state.get("soon") in overdue, "the overdue execution is reported as marked FAILED")
    demo.expect(state.get("later") not in overdue and state.get("later") in requeued,
                "tomorrow's execution is reported as re-queued, not overdue")
    restores = (await _sim(demo, "GET", "/_sim/state"))["restores"]
    demo.expect(len(restores) == 1, f"exactly one restore execution ran on the manager (got {len(restores)})")


def demo_steps() -> list[tuple[str, Any]]:
    return [
        ("Restore: stage scheduled executions and a restore point", step_stage),
        ("Restore: request, self-approval refused, approved by a lead, overdue report", step_restore),
    ]
