"""The restore runbook end to end: signed Slack requests into Bolt, the Slack stand-in, the
simulator over loopback, SQLite in tmp_path."""
from __future__ import annotations

import asyncio
from pathlib import Path

from bot.archive import verify_archived
from tests.harness import make_rig
from tests.restore_support import create_snapshot, restore_job, stage_overdue


async def test_restore_happy_path_reports_the_overdue_execution_and_not_the_future_one(tmp_path: Path) -> None:
    async with make_rig(tmp_path) as rig:
        overdue, future = await stage_overdue(rig)
        await rig.command("/cfy snapshots restore snap-1 --force")
        job = await rig.wait_for(lambda: rig.store.list_jobs(kind="restore"))
        job = job[0]
        assert job.state == "requested"
        await rig.click("restore_approve", job.id, user="U_LEAD1")
        job = await rig.wait_job(job.id, timeout=30)
        assert job.state == "done", (job.state, job.error)
        state = await rig.sim_state()
        assert len(state["restores"]) == 1
        report = job.result["report"]
        assert [e["id"] for e in report["overdue"]] == [overdue]
        assert report["overdue"][0]["deployment_id"] == "dep-1"
        assert future in [e["id"] for e in report["requeued"]]
        thread = [m.get("text", "") for m in rig.slack.messages("C_OPS", thread_ts=job.thread_ts)]
        report_text = next(t for t in thread if "Overdue executions report" in t)
        before_requeued = report_text.split("Re-queued")[0]
        assert overdue in before_requeued and future not in before_requeued
        card = rig.slack.message("C_OPS", job.message_ts)
        assert "1 overdue execution marked FAILED" in str(card)
        verify_archived(job.result["safety_archive_path"])
        assert state["maintenance"]["status"] == "deactivated"
        history = [(t.from_state, t.to_state) for t in rig.store.transitions(job.id)]
        assert [b for _, b in history] == ["requested", "approved", "preflight", "safety_snapshot",
                                           "maintenance_activating", "maintenance_active", "restoring",
                                           "restored", "reporting", "maintenance_deactivating", "done"]
