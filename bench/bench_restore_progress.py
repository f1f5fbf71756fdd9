"""How long a change on the manager takes to reach Slack while a restore runs.

Starts the end-to-end rig (the simulator at real speed, the Slack stand-in, the real Bolt app and
services, SQLite in a temp dir) with the runbook's default poll intervals (first 2 s, at most
15 s), runs one approved restore, and watches the simulator in process: when maintenance mode
became `activated` and when the restore execution ended. It prints, for each, how long until the
stand-in received the thread reply for the matching state (`maintenance_active`, `restored`),
next to the bound the runbook promises while the manager answers: one poll interval + 1 s.
(`restored` also includes the REST outage of a legacy restore, during which polls back off.)

    .venv/bin/python bench/bench_restore_progress.py [--restore-seconds 12] [--runs 3]
"""
from __future__ import annotations

import argparse
import asyncio
import dataclasses
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devtools.simulator import SimulatorOptions
from tests.harness import make_rig
from tests.restore_support import create_snapshot, posted_restore_job


def default_polling(settings):
    return dataclasses.replace(settings, runbook=dataclasses.replace(
        settings.runbook, poll_interval_seconds=2.0, poll_max_interval_seconds=15.0))


async def one_run(restore_seconds: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        options = SimulatorOptions(speed=1.0, create_seconds=1.0, restore_seconds=restore_seconds,
                                   workflow_seconds=1.0)
        async with make_rig(Path(tmp), sim_options=options, settings_overrides=default_polling) as rig:
            await create_snapshot(rig, "snap-1")
            seen: dict[str, float] = {}

            async def watch() -> None:
                while True:
                    st = rig.sim.state
                    if st.maintenance.get("status") == "activated":
                        seen.setdefault("maintenance_active", time.time())
                    for rid in st.restores:
                        ex = st.executions.get(rid)
                        if ex and ex["status"] in ("terminated", "failed"):
                            seen.setdefault("restored", time.time())
                    await asyncio.sleep(0.02)

            watcher = asyncio.create_task(watch())
            await rig.command("/cfy snapshots restore snap-1 --force")
            job = await posted_restore_job(rig)
            await rig.click("restore_approve", job.id, user="U_LEAD1")
            job = await rig.wait_job(job.id, timeout=restore_seconds * 10 + 120)
            watcher.cancel()
            assert job.state == "done", (job.state, job.error)
            await asyncio.sleep(1.5)  # the last replies reach the stand-in
            lags: dict[str, float] = {}
            for call in rig.slack.calls:
                text = str(call.args.get("text") or "")
                for state, at in seen.items():
                    if call.method == "chat.postMessage" and f"→ *{state}*" in text and state not in lags:
                        lags[state] = call.time - at
            return lags


async def main(restore_seconds: float, runs: int) -> int:
    results: dict[str, list[float]] = {}
    for _ in range(runs):
        for state, lag in (await one_run(restore_seconds)).items():
            results.setdefault(state, []).append(lag)
    print(f"restore progress lag, {runs} run(s), poll interval 2 s (bound while answering: 3 s)")
    for state, lags in sorted(results.items()):
        print(f"  {state:20s} median {statistics.median(lags):5.2f} s   max {max(lags):5.2f} s   "
              f"runs {', '.join(f'{x:.2f}' for x in lags)}")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--restore-seconds", type=float, default=12.0)
    parser.add_argument("--runs", type=int, default=3)
    a = parser.parse_args()
    raise SystemExit(asyncio.run(main(a.restore_seconds, a.runs)))
