"""The daily-snapshot part of `snapbot demo`: a run and its report, then a failed run made loud
and fixed with the report's **Retry now** button."""
from __future__ import annotations

import asyncio
from typing import Any

from bot.messages.daily import RETRY_ACTION
from devtools.demo import job_reason


def demo_steps() -> list[tuple[str, Any]]:
    return [("The daily snapshot: schedule, a run and its report", _demo_daily_run),
            ("A failed daily run, loud, and Retry now", _demo_daily_retry)]


async def _newest_daily(demo: Any, exclude: set[str]) -> Any:
    def find() -> Any:
        return next((j for j in demo.services.store.list_jobs(kind="daily", limit=20)
                     if j.id not in exclude), None)
    job = await demo.wait_for(find, 30, "a daily job")
    await demo.wait_for(lambda: demo.services.store.get_job(job.id).finished, 60,
                        f"daily job {job.id} to finish")
    await asyncio.sleep(0.1)  # let the report land
    return demo.services.store.get_job(job.id)


async def _demo_daily_run(demo: Any) -> None:
    from bot.archive import verify_archived

    before = len(demo.slack.responses())
    await demo.say("/cfy snapshots schedule")
    posts = await demo.wait_responses(before + 1)
    demo.expect("cron" in str(posts[-1]), "the schedule shows its cron and next run")
    seen = {j.id for j in demo.services.store.list_jobs(kind="daily", limit=100)}
    await demo.say("/cfy snapshots schedule run-now")
    job = await _newest_daily(demo, seen)
    if not demo.expect(job.state == "done", f"the daily run archived a snapshot (job {job.id} is {job.state}{job_reason(job)})"):
        return
    info = verify_archived(job.result["archive_path"])
    demo.note(f"archive {info.path}, sha256 {info.sha256[:12]}… verified against its sidecar")


async def _demo_daily_retry(demo: Any) -> None:
    demo.note("the manager's disk fills up: the next snapshot fails")
    demo.sim.create_fails = "no space left on device (/opt/manager/snapshots)"
    seen = {j.id for j in demo.services.store.list_jobs(kind="daily", limit=100)}
    try:
        await demo.say("/cfy snapshots schedule run-now")
        failed = await _newest_daily(demo, seen)
    finally:
        demo.sim.create_fails = None
    demo.expect(failed.state == "failed", f"the daily run failed loudly (job {failed.id} is {failed.state}{job_reason(failed)})")
    demo.note("space freed on the manager; an operator clicks Retry now")
    seen.add(failed.id)
    await demo.click(RETRY_ACTION, demo.services.settings.managers[0].name, user="U_OPS")
    retry = await _newest_daily(demo, seen)
    demo.expect(retry.state == "done", f"the retry archived a snapshot (job {retry.id} is {retry.state}{job_reason(retry)})")
