"""The restore's typed payload: a job row's params and result come back as records and go back
to the same keys, a row written before the records existed (any key missing) loads with the
defaults the code always assumed, and a retry carries over exactly what its failed step allows."""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from bot.jobs.restore.payload import (
    ClusterOverride,
    RequestFacts,
    RequestOrigin,
    RestoreExecution,
    RestoreParams,
    RestoreRequest,
    RestoreResult,
    SafetyCopy,
    ScheduledWorkReport,
    manager_version,
)

#: the params a request stored (every key the request writes, a cluster override included)
STORED_PARAMS: dict[str, Any] = {
    "snapshot_id": "snap-1", "tenant_name": None, "force": True, "restore_certificates": True,
    "no_reboot": False, "safety_snapshot": True, "manager_version": "7.0.5", "deployments": 3,
    "snapshot_created_at": "2026-03-01T12:00:00Z", "snapshot_status": "created",
    "restore_format": "legacy", "bootstrap_admin": "admin", "configured_user": "admin",
    "manager_edition": "premium", "snapshot_size": 2048, "snapshot_version": "7.0.5",
    "archive_path": "/archive/prod/snap-1.zip", "archive_manager": "prod", "cluster_down": ["n2"],
    "cluster_override": {"why": "split brain", "by": "U1", "runbook": "split-brain"},
    "rollback_of": "r-0", "upload_before_restore": "prod",
}

#: the result of a restore that got as far as its report, as the driver records it
STORED_RESULT: dict[str, Any] = {
    "manager_version": "7.0.5", "restore_format": "legacy",
    "safety_snapshot_id": "safety-r-1", "safety_archive_path": "/archive/prod/safety-r-1.zip",
    "safety_sha256": "ab" * 32, "safety_size": 4096,
    "maintenance_before": "deactivated", "maintenance_remaining": [],
    "restore_known_ids": ["old-1"], "restore_posted_at": "2026-03-01T12:05:00Z",
    "restore_execution_id": "ex-9", "restore_started_at": "2026-03-01T12:05:01Z",
    "restore_status": "terminated", "restore_status_unknown": False,
    "restore_ended_at": "2026-03-01T12:09:00Z",
    "manager_version_after": "7.0.5", "snapshot_status_stuck": True,
    "report": {"style": "schedules", "format": "legacy", "version": "7.0.5",
               "failed_originals": [{"id": "e1", "deployment_id": "d1", "workflow_id": "install",
                                     "scheduled_for": "2026-03-01T12:06:00Z", "source": "log", "schedule_id": None}],
               "skipped_schedules": [], "schedules_checked": True, "overdue": [], "requeued": [],
               "snapshots_after": 0, "restore_started_at": "2026-03-01T12:05:01Z"},
    "upgrade": True,
    "credentials_resume_state": "reporting", "credentials_lost_at": "2026-03-01T12:10:00Z",
    "credentials_back_at": "2026-03-01T12:20:00Z",
}


def test_a_requests_params_come_back_as_they_went_in() -> None:
    params = RestoreParams.from_stored(STORED_PARAMS)
    assert params.stored() == STORED_PARAMS
    assert params.facts.cluster_override == ClusterOverride(why="split brain", by="U1", runbook="split-brain")
    assert (params.snapshot_id, params.facts.deployments, params.origin.upload_before_restore) == ("snap-1", 3, "prod")


def test_a_restores_result_comes_back_as_the_driver_recorded_it() -> None:
    result = RestoreResult.from_stored(STORED_RESULT)
    assert result.stored() == STORED_RESULT
    assert result.execution.known_ids == ("old-1",) and result.credentials.resume_state == "reporting"


def test_a_row_without_any_key_loads_with_the_defaults_the_code_assumed() -> None:
    params = RestoreParams.from_stored({})
    assert params.request == RestoreRequest(snapshot_id="")
    assert params.request.safety_snapshot  # on unless the request said otherwise
    assert params.facts == RequestFacts() and params.origin == RequestOrigin()
    result = RestoreResult.from_stored({})
    assert result == RestoreResult() and result.stored() == {}
    assert result.safety_id("r-7") == "safety-r-7"
    assert not result.execution.posted and result.outcome.unwound is None


def test_a_restore_stopped_after_its_post_looks_for_its_execution_before_posting_again() -> None:
    """A manager that hid its executions recorded `restore_known_ids: null`: posted all the same."""
    for known in (None, []):
        result = RestoreResult.from_stored({"restore_known_ids": known, "restore_posted_at": "2026-03-01T12:05:00Z"})
        assert result.execution.posted and result.execution.execution_id is None
        assert result.execution.known_ids == (None if known is None else ())
        assert result.stored() == {"restore_known_ids": known, "restore_posted_at": "2026-03-01T12:05:00Z"}


def test_an_unwound_restore_says_what_it_undid_and_left() -> None:
    stored = {"failed_step": "maintenance_activating", "manager_error": "", "unwind_for": "failed",
              "unwind_error": "stuck", "unwound": [], "left": ["maintenance mode activated, as snapbot found it"],
              "manager_state": "still in maintenance mode"}
    outcome = RestoreResult.from_stored(stored).outcome
    assert outcome.unwound == () and outcome.left == ("maintenance mode activated, as snapbot found it",)
    assert outcome.stored() == stored
    cancelled = RestoreResult.from_stored({"unwind_for": "cancelled", "cancelled_by": "U2"}).outcome
    assert (cancelled.unwound, cancelled.cancelled_by) == (None, "U2")


def test_a_retry_carries_the_safety_copy_once_taken_and_the_execution_once_started() -> None:
    result = RestoreResult.from_stored(STORED_RESULT)
    assert result.carried_over("preflight") == RestoreResult()
    assert result.carried_over("maintenance_activating") == RestoreResult(safety=result.safety)
    after = result.carried_over("reporting")
    assert after.safety == result.safety and after.execution == result.execution
    assert after.preflight.restore_format == "legacy" and after.preflight.manager_version is None
    assert after.after == RestoreResult().after and after.credentials == RestoreResult().credentials
    # the keys a retry's job row starts with: the safety_* and restore_* ones, nothing else
    assert set(after.stored()) == {k for k in STORED_RESULT if k.startswith(("safety_", "restore_"))}


def test_the_managers_version_is_the_latest_one_seen() -> None:
    params = RestoreParams(request=RestoreRequest("s"), facts=RequestFacts(manager_version="6.4.2"))
    empty = RestoreResult()
    assert manager_version(params, empty) == "6.4.2"
    seen = RestoreResult.from_stored({"manager_version": "7.0.5", "manager_version_after": "7.1.0"})
    assert manager_version(params, seen) == "7.0.5"
    assert manager_version(params, seen, after=True) == "7.1.0"


def test_a_part_written_alone_leaves_the_rest_of_the_row_alone() -> None:
    """Each step merges only its own keys (the store merges them into what is there)."""
    assert SafetyCopy(snapshot_id="safety-r-1").stored() == {"safety_snapshot_id": "safety-r-1"}
    assert replace(RestoreExecution(), execution_id="ex-1").stored() == {"restore_execution_id": "ex-1"}


def test_each_style_of_report_keeps_its_own_keys() -> None:
    """A 5.x report (overdue and re-queued) stores no schedule keys; a new-format one its merge
    errors; a report that could not read the schedules says so and is not `schedules_checked`."""
    overdue = {"style": "overdue", "format": "legacy", "version": "5.1.4",
               "overdue": [{"id": "e1", "deployment_id": "", "workflow_id": "", "scheduled_for": "x", "source": "log"}],
               "requeued": [], "snapshots_after": None, "restore_started_at": "2026-03-01T12:05:01Z"}
    assert ScheduledWorkReport.from_stored(overdue).stored() == overdue
    merged = {"style": "schedules", "format": "new", "version": "7.0.5", "unread": ["execution schedules (404)"],
              "failed_originals": [], "skipped_schedules": [], "schedules_checked": False, "overdue": [],
              "requeued": [], "merge_errors": ["exists: d1"], "snapshots_after": 2,
              "restore_started_at": "2026-03-01T12:05:01Z"}
    report = ScheduledWorkReport.from_stored(merged)
    assert report.stored() == merged and report.by_schedules and report.merge_errors == ("exists: d1",)
    assert ScheduledWorkReport.from_stored({}) == ScheduledWorkReport()  # an overdue-style report, empty
