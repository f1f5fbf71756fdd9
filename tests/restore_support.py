"""Staging helpers for the restore tests: scheduled executions that become overdue, snapshots."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from bot.clock import iso, parse_time
from tests.waiting import until


async def sim_now(rig: Any):
    return parse_time((await rig.sim_state())["now"])


async def stage_overdue(rig: Any, snapshot_id: str = "snap-1", *, clear_live: bool = False) -> tuple[str, str]:
    """A scheduled execution due soon and one due tomorrow, captured in a snapshot; then the
    simulator's clock moves past the first one's time. Returns (overdue id, future id).

    `clear_live`: cancel both on the live manager after the snapshot (the restore brings them
    back from it). A real manager counts `scheduled` executions as running: maintenance mode
    stays `activating` while one exists (rest-service maintenance.py get_running_executions)."""
    now = await sim_now(rig)
    soon = await rig.sim_post("/_sim/executions", {"deployment_id": "dep-1", "workflow_id": "install",
                                                   "status": "scheduled",
                                                   "scheduled_for": iso(now + timedelta(seconds=60))})
    later = await rig.sim_post("/_sim/executions", {"deployment_id": "dep-2", "workflow_id": "scale",
                                                    "status": "scheduled",
                                                    "scheduled_for": iso(now + timedelta(days=1))})
    await create_snapshot(rig, snapshot_id)
    if clear_live:
        for ex in (soon, later):
            await rig.services.clients["default"].cancel_execution(ex["id"])
    await rig.sim_post("/_sim/clock", {"advance": 300})
    return soon["id"], later["id"]


async def create_snapshot(rig: Any, snapshot_id: str) -> None:
    """Create the snapshot (unless it exists already) and wait until it is `created`."""
    client = rig.services.clients["default"]
    if snapshot_id not in {s.id for s in await client.list_snapshots()}:
        await client.create_snapshot(snapshot_id)

    async def created() -> bool:
        return (await client.get_snapshot(snapshot_id)).status == "created"
    # a simulator on a manual clock runs the create meanwhile
    await until(created, timeout=20, advancing=rig.sims.values(),
                what=f"snapshot {snapshot_id} created")


def restore_job(rig: Any) -> Any:
    jobs = rig.store.list_jobs(kind="restore")
    assert jobs, "no restore job"
    return jobs[0]


async def posted_restore_job(rig: Any) -> Any:
    """The restore request once its card is in the channel (a person can only click it then)."""
    return (await rig.wait_for(lambda: [j for j in rig.store.list_jobs(kind="restore") if j.message_ts]))[0]


async def approved_restore(rig: Any, command: str, *, timeout: float = 60) -> Any:
    """Request a restore with `command`, have the first lead approve it and wait for its end."""
    await rig.command(command)
    job = await posted_restore_job(rig)
    await rig.click("restore_approve", job.id, user="U_LEAD1")
    return await rig.wait_job(job.id, timeout=timeout)
