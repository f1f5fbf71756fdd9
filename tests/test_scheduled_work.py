"""The scheduled-work report's pure parts, on the log lines and shapes 6.4.2/7.0.5 produce
(snapshot_restore.py `_restore_scheduled_executions`; execution_scheduler/main.py `should_run`)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bot.clock import iso
from bot.cloudify.models import Execution, ExecutionSchedule
from bot.jobs.restore.payload import RestoreParams, ScheduledWorkReport
from bot.jobs.scheduled_work import failed_originals, skipped_schedules
from bot.messages import restore_effects

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def effects(params: dict[str, Any]) -> list[str]:
    """The card's "What happens" lines for a restore job row holding `params`."""
    return restore_effects.effects(RestoreParams.from_stored(params))


def report_text(report: dict[str, Any]) -> str:
    """The thread reply for a report as a job row stores it."""
    return restore_effects.report_text(ScheduledWorkReport.from_stored(report))


def report_summary(report: dict[str, Any]) -> str:
    """The card's line for a report as a job row stores it."""
    return restore_effects.report_summary(ScheduledWorkReport.from_stored(report))


def _failed(eid: str, due: datetime, dep: str = "dep-1") -> Execution:
    return Execution(id=eid, workflow_id="install", status="failed", deployment_id=dep,
                     scheduled_for=due, ended_at=T0 + timedelta(seconds=30))


def test_each_failed_original_is_mapped_to_its_restored_schedule_or_to_none() -> None:
    future, past = T0 + timedelta(hours=2), T0 - timedelta(hours=1)
    lines = [f"Marking original execution e-fut scheduled for {iso(future)} as FAILED.",
             f"Marking original execution e-old scheduled for {iso(past)} as FAILED."]
    schedules = [ExecutionSchedule(id="install_restored_0123abcd", deployment_id="dep-1",
                                   workflow_id="install", since=future, next_occurrence=future)]
    got = failed_originals(lines, [_failed("e-fut", future), _failed("e-old", past)], {}, schedules, T0)
    assert [(r["id"], r["schedule_id"]) for r in got] == [("e-old", None),
                                                          ("e-fut", "install_restored_0123abcd")]


def test_a_schedule_due_between_the_snapshot_and_the_restore_end_is_named_with_its_due_time() -> None:
    snapshot_at, ended = T0 - timedelta(minutes=30), T0
    due = T0 - timedelta(minutes=10)
    schedules = [ExecutionSchedule(id="nightly-heal", deployment_id="dep-2", workflow_id="heal",
                                   next_occurrence=due, all_next_occurrences=("2026-03-02 11:50:00",)),
                 ExecutionSchedule(id="later", deployment_id="dep-2", workflow_id="heal",
                                   next_occurrence=T0 + timedelta(hours=1))]
    got = skipped_schedules(schedules, snapshot_at=snapshot_at, restore_ended=ended)
    assert [(s["id"], s["due"], s["skipped"]) for s in got] == [("nightly-heal", iso(due), True)]
    text = report_text({"style": "schedules", "skipped_schedules": got,
                        "restore_started_at": iso(T0)})
    assert "`nightly-heal`" in text and "2026-03-01 11:50" in text and "skips these runs" in text


def test_a_run_less_than_slip_plus_a_minute_late_may_still_run() -> None:
    got = skipped_schedules([ExecutionSchedule(id="s", next_occurrence=T0 - timedelta(seconds=30), slip=0)],
                            snapshot_at=T0 - timedelta(hours=1), restore_ended=T0)
    assert got[0]["skipped"] is False


def test_the_5x_report_keeps_the_guides_overdue_and_requeued_lists() -> None:
    report = {"style": "overdue", "overdue": [{"id": "e1", "deployment_id": "dep-1", "workflow_id": "install",
                                               "scheduled_for": iso(T0)}],
              "requeued": [{"id": "e2", "deployment_id": "dep-1", "workflow_id": "install",
                            "scheduled_for": iso(T0 + timedelta(hours=1))}]}
    text = report_text(report)
    assert "Marked FAILED by the restore because overdue (1)" in text and "Re-queued" in text
    assert report_summary(report) == "1 overdue execution marked FAILED: `e1`; 1 re-queued: `e2`"


def test_a_legacy_report_says_the_snapshot_list_is_now_empty() -> None:
    report = {"style": "schedules", "format": "legacy", "snapshots_after": 0}
    assert "snapshot list is now empty" in report_text(report)
    assert "snapshot list is now empty" in report_summary(report)


def test_the_card_says_legacy_replaces_and_warns_about_credentials() -> None:
    lines = " ".join(effects({"restore_format": "legacy", "manager_version": "7.0.5", "deployments": 3,
                              "force": True}))
    assert "replaces everything" in lines and "users, passwords and API tokens become the snapshot's" in lines
    assert "reboot" not in lines.replace("no reboot", "")


def test_the_card_says_new_format_merges_and_never_reboots() -> None:
    lines = " ".join(effects({"restore_format": "new", "manager_version": "7.0.5",
                              "restore_certificates": True}))
    assert "merges" in lines and "listed as an error" in lines
    assert "will reboot" not in lines and "does not reboot" in lines


def test_the_card_says_reboot_only_with_certificates_and_without_no_reboot() -> None:
    assert "the manager will reboot" in " ".join(effects({"restore_format": "legacy", "manager_version": "6.4.2",
                                                          "restore_certificates": True}))
    assert "will reboot" not in " ".join(effects({"restore_format": "legacy", "manager_version": "6.4.2",
                                                  "restore_certificates": True, "no_reboot": True}))


def test_the_card_of_a_5x_manager_announces_the_overdue_and_requeued_report() -> None:
    assert "overdue ones are marked FAILED, later ones re-queued" in " ".join(
        effects({"restore_format": "legacy", "manager_version": "5.1.4"}))


def test_a_recurrence_schedule_lists_every_due_run_and_its_true_next_run() -> None:
    """Made from a recurrence (rest_utils.py: no rrule), restored with the snapshot's
    next_occurrence: every run due between the snapshot and the end of the restore is listed,
    and the next run is the rule's first one after the restore (not the stale past time)."""
    snapshot_at, ended = T0 - timedelta(hours=3, minutes=30), T0
    since = T0 - timedelta(days=2, hours=3)  # every hour at :00 from then
    first_due = T0 - timedelta(hours=3)
    schedules = [ExecutionSchedule(id="hourly-heal", deployment_id="dep-2", workflow_id="heal",
                                   since=since, next_occurrence=first_due,
                                   rule={"recurrence": "1h", "count": None, "weekdays": None},
                                   all_next_occurrences=(first_due.strftime("%Y-%m-%d %H:%M:%S"),))]
    got = skipped_schedules(schedules, snapshot_at=snapshot_at, restore_ended=ended)
    assert got[0]["due_runs"] == [iso(T0 - timedelta(hours=h)) for h in (3, 2, 1, 0)]
    assert got[0]["next"] == iso(T0 + timedelta(hours=1))
    assert got[0]["skipped"] is False  # the last one (at the end of the restore) may still run
    text = report_text({"style": "schedules", "skipped_schedules": got, "schedules_checked": True})
    assert "4 runs due" in text and "next run" in text


def test_an_rrule_schedule_with_until_has_no_next_run_after_its_end() -> None:
    since = T0 - timedelta(days=1)
    schedules = [ExecutionSchedule(id="daily-until", workflow_id="heal", since=since,
                                   next_occurrence=T0 - timedelta(minutes=30),
                                   rule={"rrule": "RRULE:FREQ=MINUTELY;INTERVAL=30;UNTIL=20260301T120000"})]
    got = skipped_schedules(schedules, snapshot_at=T0 - timedelta(hours=1), restore_ended=T0)
    assert got[0]["due_runs"] == [iso(T0 - timedelta(minutes=30)), iso(T0)]
    assert got[0]["next"] == ""
