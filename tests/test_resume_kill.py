"""Kill a real snapbot process (SIGKILL) at every state of the restore table, restart it, and
check that every run ends `done` with exactly one restore execution on the simulator."""
from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
from pathlib import Path

import httpx
import pytest

from bot.cloudify.client import CloudifyClient
from bot.jobs.restore import RESTORE
from devtools.simulator import SimulatorOptions, start_simulator
from tests.waiting import until

ROOT = Path(__file__).resolve().parent.parent
RUNNING = ["requested", "approved", "preflight", "safety_snapshot", "maintenance_activating",
           "maintenance_active", "restoring", "restored", "reporting", "maintenance_deactivating"]
assert set(RUNNING) == RESTORE.states - RESTORE.terminal


async def _spawn(sim_url: str, workdir: Path, *extra: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.restore_worker", "--sim", sim_url, "--workdir", str(workdir), *extra,
        cwd=str(ROOT), stdout=asyncio.subprocess.DEVNULL, stderr=open(workdir / "stderr.log", "ab"),
        env={**os.environ, "PYTHONPATH": str(ROOT)})


def _state(db: Path) -> str | None:
    if not db.exists():
        return None
    try:
        conn = sqlite3.connect(str(db), timeout=5)
        try:
            row = conn.execute("select state from jobs where kind = 'restore'").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return None
    return row[0] if row else None


async def _kill_and_resume(tmp_path: Path, state: str, *, pause: bool) -> None:
    # Mid-step kills need steps that last long enough to be seen in SQLite: a slower manager,
    # and an execution that keeps maintenance mode `activating` for a while.
    options = SimulatorOptions(speed=100.0, data_dir=str(tmp_path / "sim")) if pause else \
        SimulatorOptions(speed=20.0, create_seconds=20, restore_seconds=20, data_dir=str(tmp_path / "sim"))
    sim = await start_simulator("127.0.0.1", 0, options)
    try:
        async with CloudifyClient(sim.url, password="admin") as c:
            await c.create_snapshot("snap-1")
            await until(lambda: sim.state.snapshots.get("snap-1", {}).get("status") == "created", timeout=10, what="snapshot")
            if not pause and state == "maintenance_activating":
                async with httpx.AsyncClient() as h:
                    await h.post(sim.url + "/_sim/executions",
                                 json={"deployment_id": "dep-1", "workflow_id": "install", "duration": 40})
        work = tmp_path / "work"
        work.mkdir()
        args = ["--request"] + (["--pause-at", state] if pause else [])
        proc = await _spawn(sim.url, work, *args)
        db = work / "snapbot.db"
        if pause:
            await until(lambda: (work / "paused").exists(), timeout=30, what=f"the worker to pause in {state}")
        else:
            await until(lambda: _state(db) == state, timeout=30, what=f"state {state}")  # each step lasts ~1 s here
        proc.send_signal(signal.SIGKILL)
        assert await proc.wait() == -signal.SIGKILL
        proc = await _spawn(sim.url, work)
        rc = await asyncio.wait_for(proc.wait(), 60)
        log = (work / "stderr.log").read_text()[-3000:]
        assert rc == 0, log
        assert _state(db) == "done", log
        assert len(sim.state.restores) == 1, sim.state.restores
        assert sim.state.maintenance["status"] == "deactivated"
    finally:
        await sim.close()


@pytest.mark.slow
@pytest.mark.parametrize("state", RUNNING)
async def test_restore_killed_right_after_saving_each_state_resumes_to_done_with_one_restore(tmp_path: Path, state: str) -> None:
    await _kill_and_resume(tmp_path, state, pause=True)


@pytest.mark.slow
@pytest.mark.parametrize("state", ["safety_snapshot", "maintenance_activating", "restoring"])
async def test_restore_killed_in_the_middle_of_a_long_step_resumes_to_done_with_one_restore(tmp_path: Path, state: str) -> None:
    await _kill_and_resume(tmp_path, state, pause=False)
