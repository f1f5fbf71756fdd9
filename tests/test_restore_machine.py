"""The restore state machine's table, its diagram in docs/architecture.md, the overdue report and the card."""
from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.cloudify.models import Execution
from bot.cloudify.versions import is_upgrade
from bot.errors import InvalidTransition
from bot.jobs.restore.machine import RESTORE, STEPS
from bot.jobs.restore.report import overdue_report
from bot.messages import restore as messages
from bot.notifier import plain_text
from bot.store import Job, Transition

README = Path(__file__).resolve().parent.parent / "docs" / "architecture.md"
T0 = datetime(2026, 3, 13, 6, 0, tzinfo=UTC)

HAPPY = ["requested", "approved", "preflight", "safety_snapshot", "maintenance_activating",
         "maintenance_active", "restoring", "restored", "reporting", "maintenance_deactivating", "done"]
ALLOWED = set(itertools.pairwise(HAPPY)) | {
    ("requested", "rejected"), ("requested", "expired"), ("requested", "cancelled"),
    ("approved", "cancelled"), ("preflight", "maintenance_activating"),
    # a 401 after the restore waits for working credentials, then resumes the step that got it
    *{(s, "awaiting_credentials") for s in ("restored", "reporting", "maintenance_deactivating")},
    *{("awaiting_credentials", s) for s in ("restored", "reporting", "maintenance_deactivating")},
    ("awaiting_credentials", "failed"),
    # before the restore execution starts, a cancel, a time-out or a failure unwinds first
    *{(s, "unwinding") for s in ("preflight", "safety_snapshot", "maintenance_activating",
                                 "maintenance_active")},
    # a restore request the manager refused (other executions running) started nothing
    ("restoring", "unwinding"),
    ("unwinding", "cancelled"), ("unwinding", "failed"),
} | {(s, "failed") for s in HAPPY[1:-1]}
ALL_PAIRS = [(a, b) for a in sorted(RESTORE.states) for b in sorted(RESTORE.states)]


@pytest.mark.parametrize("current,target", [p for p in ALL_PAIRS if p not in ALLOWED])
def test_every_illegal_restore_transition_raises(current: str, target: str) -> None:
    with pytest.raises(InvalidTransition):
        RESTORE.check(current, target)


@pytest.mark.parametrize("current,target", sorted(ALLOWED))
def test_every_listed_restore_transition_is_allowed(current: str, target: str) -> None:
    RESTORE.check(current, target)


def test_restore_terminal_and_waiting_states() -> None:
    assert RESTORE.terminal == {"done", "failed", "rejected", "expired", "cancelled"}
    assert RESTORE.waiting == {"requested"}
    assert RESTORE.initial == "requested"


def test_checklist_steps_are_the_running_states_in_order() -> None:
    assert list(STEPS) == HAPPY[2:-1]


def test_readme_restore_diagram_equals_the_table() -> None:
    text = README.read_text()
    block = re.search(r"<!-- restore:start -->(.*?)<!-- restore:end -->", text, re.DOTALL)
    assert block, "README has no restore block"
    diagram = re.search(r"```mermaid\n(.*?)\n```", block.group(1), re.DOTALL)
    assert diagram, "the restore block has no mermaid diagram"
    assert diagram.group(1).strip() == RESTORE.mermaid().strip()


def _ex(id: str, status: str, scheduled: datetime | None, ended: datetime | None = None,
        dep: str = "dep-1", wf: str = "install") -> Execution:
    return Execution(id=id, workflow_id=wf, status=status, deployment_id=dep, scheduled_for=scheduled,
                     ended_at=ended)


def test_overdue_report_merges_logs_and_states_and_excludes_future_ones() -> None:
    start = T0
    log = ["Execution ex-old scheduled for 2026-03-13T04:00:00.000Z is overdue. Marking as FAILED.",
           "Starting 'restore_snapshot' workflow execution"]
    failed = [_ex("ex-old", "failed", T0 - timedelta(hours=2), T0 + timedelta(seconds=5)),
              _ex("ex-state-only", "failed", T0 - timedelta(minutes=5), T0 + timedelta(seconds=6), dep="dep-2"),
              _ex("ex-failed-long-ago", "failed", T0 - timedelta(days=1), T0 - timedelta(hours=20))]
    scheduled = [_ex("ex-future", "scheduled", T0 + timedelta(hours=2), dep="dep-3")]
    report = overdue_report(start, log, failed, scheduled)
    assert [e["id"] for e in report["overdue"]] == ["ex-old", "ex-state-only"]
    assert report["overdue"][0]["source"] == "log+state"
    assert report["overdue"][1] == {"id": "ex-state-only", "deployment_id": "dep-2", "workflow_id": "install",
                                    "scheduled_for": "2026-03-13T05:55:00.000Z", "source": "state"}
    assert [e["id"] for e in report["requeued"]] == ["ex-future"]


def test_overdue_report_from_log_lines_alone_uses_the_logged_time() -> None:
    log = ["Execution abc scheduled for 2020-03-13T04:00:00.000Z is overdue. Marking as FAILED."]
    report = overdue_report(T0, log, [], [])
    assert report["overdue"] == [{"id": "abc", "deployment_id": "", "workflow_id": "",
                                  "scheduled_for": "2020-03-13T04:00:00.000Z", "source": "log"}]


@pytest.mark.parametrize("snap,mgr,expected", [("6.4.0", "7.0.0", True), ("7.0.0", "7.0.0", False),
                                               (None, "7.0.0", False), ("7.1.0", "7.0.0", False),
                                               ("7.0.5", "7.0.5.dev1", False), ("7.0.4", "7.0.5.dev1", True)])
def test_upgrade_is_a_snapshot_older_than_the_manager(snap, mgr, expected) -> None:
    assert is_upgrade(snap, mgr) is expected


def _job(state: str, **kw) -> Job:
    params = {"snapshot_id": "snap-1", "force": True, "restore_certificates": True, "no_reboot": False,
              "safety_snapshot": True, "deployments": 3, "manager_version": "7.0.0",
              "expires_at": "2026-03-13T06:30:00.000Z", "required_approvals": 1,
              "snapshot_version": "6.4.0", "snapshot_size": 2048, "snapshot_created_at": "2026-03-12T03:00:00.000Z",
              "restore_format": "legacy"}
    return Job(id="r-abc", kind="restore", manager="default", state=state, params=params,
               requester="U_OPS", channel="C_OPS", **kw)


def test_request_card_names_consequences_buttons_and_expiry() -> None:
    msg = messages.render(_job("requested"), [])
    text = plain_text(msg)
    assert "the manager will reboot" in text
    assert "the 3 deployments there now are deleted" in text and "replaces everything" in text
    assert "safety-r-abc" in text
    assert "version 6.4.0" in text and "runs 7.0.0" in text
    assert "Expires at 2026-03-13 06:30:00 UTC" in text and "expired" in text
    actions = next(b for b in msg["blocks"] if b["type"] == "actions")["elements"]
    assert [(a["action_id"], a["value"]) for a in actions] == [("restore_approve", "r-abc"), ("restore_reject", "r-abc")]


def _tr(states: list[str]) -> list[Transition]:
    out = []
    prev = ""
    for i, s in enumerate(states):
        out.append(Transition("r-abc", i + 1, prev, s, T0 + timedelta(seconds=i), "snapbot", ""))
        prev = s
    return out


def test_a_long_step_shows_its_elapsed_time_on_the_card() -> None:
    job = _job("maintenance_activating")
    text = plain_text(messages.render(job, _tr(HAPPY[:5]), now=T0 + timedelta(seconds=4 + 125)))
    assert "Maintenance mode activating — since 06:00:04 (2m05s so far)" in text


def test_while_credentials_do_not_work_the_card_says_the_restore_finished_and_maintenance_is_on() -> None:
    job = _job("awaiting_credentials", result={"credentials_resume_state": "restored",
                                               "restore_execution_id": "ex-r"})
    text = plain_text(messages.render(job, _tr(HAPPY[:8] + ["awaiting_credentials"]),
                                      now=T0 + timedelta(seconds=68)))
    assert "The restore finished (execution `ex-r`)" in text and "no longer work" in text
    assert "still in maintenance mode" in text
    assert ":key: Manager back after restore — waiting for working credentials since 06:00:08 (1m00s so far)" in text
    assert "1. A legacy restore gives the manager" in text  # the runbook inline, no base URL


def test_progress_card_is_a_checklist_with_times() -> None:
    job = _job("restoring")
    text = plain_text(messages.render(job, _tr(HAPPY[:7])))
    assert ":white_check_mark: Preflight checks — 06:00:02" in text
    assert ":hourglass_flowing_sand: Restoring — since 06:00:06" in text
    assert ":white_small_square: Maintenance mode off" in text


def test_failed_card_names_step_error_manager_state_and_offers_next_actions() -> None:
    job = _job("failed", error="the restore execution x failed on the manager: boom",
               result={"failed_step": "restoring", "manager_state": "still in maintenance mode",
                       "safety_snapshot_id": "safety-r-abc", "safety_archive_path": "/a/safety-r-abc.zip"})
    msg = messages.render(job, _tr(HAPPY[:7] + ["failed"]))
    text = plain_text(msg)
    assert ":x: Restoring — failed" in text
    assert "boom" in text and "still in maintenance mode" in text
    ids = [e["action_id"] for b in msg["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert ids == ["restore_retry", "restore_deactivate", "restore_rollback"]


def test_done_card_summarises_the_report_and_offers_upgrade_steps() -> None:
    job = _job("done", result={"upgrade": True, "report": {
        "overdue": [{"id": "ex-old", "deployment_id": "d", "workflow_id": "w", "scheduled_for": "", "source": "log"}],
        "requeued": []}})
    msg = messages.render(job, _tr(HAPPY))
    assert "1 overdue execution marked FAILED: `ex-old`" in plain_text(msg)
    ids = [e["action_id"] for b in msg["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert ids == ["restore_agents", "restore_plugins"]
