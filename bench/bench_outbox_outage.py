"""Slack answering 429 (Retry-After) and then 503 while jobs run: what reaches the channel.

Starts the rig the end-to-end tests use (one manager simulator per job, Slack stand-in, the real
Bolt app and services, SQLite in a temp dir), starts JOBS snapshot-create jobs (one per manager)
from signed slash commands,
and opens a fault window on the stand-in: 429 with Retry-After for half of WINDOW seconds, then
503 for the other half, on a clock SPEED times faster than real time (the outbox sender runs on
the same speed). When every job is done and the outbox is empty it prints what was delivered,
lost and duplicated, per job card and thread, and how long the backlog took to drain.

    .venv/bin/python bench/bench_outbox_outage.py [--jobs 5] [--window 60] [--speed 20]
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devtools.simulator import SimulatorOptions
from tests.fakes import ScaledClock
from tests.harness import make_rig


async def main(jobs: int, window: float, speed: float) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        managers = {f"m{i}": SimulatorOptions(speed=2.0) for i in range(jobs)}  # ~1.5 s per create
        async with make_rig(Path(tmp), managers=managers) as rig:
            rig.services.sender.clock = ScaledClock(speed)
            fault = rig.slack.fault_window([(429, window / 2, 2), (503, window / 2, 0)], speed=speed)
            started = time.monotonic()
            for i in range(jobs):
                await rig.command(f"/cfy snapshots create bench-{i} --manager m{i}")
            ids = await rig.wait_for(lambda: len(rig.jobs()) >= jobs and [j.id for j in rig.jobs()], 30)
            for job_id in ids:
                await rig.wait_job(job_id, timeout=300)
            await rig.wait_for(lambda: fault.over and rig.services.outbox.backlog() == 0, timeout=300)
            drained = time.monotonic() - started
            lost = duplicated = expected_total = 0
            for job_id in ids:
                job = rig.store.get_job(job_id)
                expected = [f"`{job.id}` → *{t.to_state}*: {t.detail}"
                            for t in rig.store.transitions(job.id) if t.seq > 1 and t.detail]
                thread = [m.get("text", "") for m in rig.slack.messages("C_OPS", thread_ts=job.message_ts)]
                seen = collections.Counter(t for t in thread if t in set(expected))
                expected_total += len(expected)
                lost += sum(1 for e in expected if seen[e] == 0)
                duplicated += sum(n - 1 for n in seen.values() if n > 1)
                in_order = [t for t in thread if t in set(expected)] == expected
                print(f"job {job.id}: {len(expected)} state replies, order kept: {in_order}")
            cards = len([m for m in rig.slack.messages("C_OPS", top_level=True)
                         if m["text"].startswith("Create snapshot")])
            refused = collections.Counter(c.status for c in rig.slack.calls if not c.ok)
            sent = len(rig.services.outbox.rows(status="sent"))
            superseded = len(rig.services.outbox.rows(status="superseded"))
            dead = len(rig.services.outbox.rows(status="dead"))
            print(f"window: {window:g} s of Slack time (429 then 503) at speed {speed:g}; {jobs} jobs")
            print(f"state replies expected {expected_total}, lost {lost}, duplicated {duplicated}; "
                  f"cards {cards} (one per job)")
            print(f"outbox rows sent {sent}, superseded card renders {superseded}, dead {dead}")
            print(f"Slack calls refused: {dict(refused)}; all {jobs} jobs done and delivered after "
                  f"{drained:.1f} s real time ({drained * speed:.0f} s of Slack time)")
            return 0 if lost == duplicated == dead == 0 and cards == jobs else 1


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=5)
    ap.add_argument("--window", type=float, default=60.0)
    ap.add_argument("--speed", type=float, default=20.0)
    args = ap.parse_args()
    raise SystemExit(asyncio.run(main(args.jobs, args.window, args.speed)))
