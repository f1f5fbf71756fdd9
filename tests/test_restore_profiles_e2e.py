"""The restore runbook end to end on every manager profile of the simulator (7.0.5, 6.4.2, 5.1.4):
the same Slack request, approval and runbook, against each version's faithful behaviour
(devtools/simulator/profiles.py). A version snapbot does not handle yet is a strict xfail naming
why, so it fails as soon as it starts passing (then drop the mark)."""
from __future__ import annotations

from pathlib import Path

import pytest

from devtools.simulator import SimulatorOptions
from tests.harness import FAST_SPEED, make_rig
from tests.restore_support import create_snapshot, posted_restore_job

VERSIONS = ["7.0.5", "6.4.2", "5.1.4"]


@pytest.mark.parametrize("version", VERSIONS)
async def test_an_approved_restore_runs_the_runbook_to_done_on_each_version(tmp_path: Path,
                                                                           version: str) -> None:
    options = SimulatorOptions(speed=FAST_SPEED, manager_version=version)
    async with make_rig(tmp_path, sim_options=options) as rig:
        await create_snapshot(rig, "snap-1")
        await rig.command("/cfy snapshots restore snap-1 --force")
        job = await posted_restore_job(rig)
        await rig.click("restore_approve", job.id, user="U_LEAD1")
        job = await rig.wait_job(job.id, timeout=30)
        assert job.state == "done", (job.state, job.error)
        state = await rig.sim_state()
        assert state["version"] == version
        assert len(state["restores"]) == 1
        restore = next(e for e in state["executions"] if e["id"] == state["restores"][0])
        assert restore["status"] == "terminated"
        assert state["maintenance"]["status"] == "deactivated"
