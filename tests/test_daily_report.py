"""The daily report builders: pure functions of the run's data."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.messages.daily import (
    DailyOutcome,
    ScheduleView,
    daily_report,
    human_duration,
    human_size,
    missed_report,
    schedule_message,
    sparkline,
    trend,
)
from bot.notifier import plain_text
from bot.store import RunRecord

T0 = datetime(2026, 1, 1, 2, 0, tzinfo=UTC)


def run(day: int, size: int | None = 1000, duration: float = 60.0, status: str = "ok") -> RunRecord:
    return RunRecord(manager="default", slot=T0 + timedelta(days=day), status=status,
                     snapshot_id=f"daily-default-202601{day + 1:02d}-0300", size=size,
                     duration_s=duration)


def ok_outcome(history: list[RunRecord], **kw) -> DailyOutcome:
    cur = history[-1]
    values = dict(manager="default", ok=True, snapshot_id=cur.snapshot_id, size=cur.size,
                  duration_s=cur.duration_s, archive_path="/a/default/x.zip", sha256="ab" * 32,
                  history=tuple(history), job_id="d-1")
    values.update(kw)
    return DailyOutcome(**values)


def buttons(message: dict) -> list[tuple[str, str]]:
    return [(e["action_id"], e["value"]) for b in message["blocks"] if b["type"] == "actions"
            for e in b["elements"]]


def test_sparkline_spans_lowest_to_highest_bar():
    assert sparkline([1, 5, 9]) == "▁▅█"
    assert sparkline([]) == ""
    assert len(set(sparkline([3, 3, 3]))) == 1


def test_human_units():
    assert human_size(512) == "512 B"
    assert human_size(3 * 1024 * 1024) == "3.0 MB"
    assert human_duration(42) == "42s"
    assert human_duration(125) == "2m05s"
    assert human_duration(7260) == "2h01m"


def test_ok_report_names_snapshot_size_duration_archive_and_checksum_prefix():
    text = plain_text(daily_report(ok_outcome([run(0, size=2 * 1024 * 1024, duration=90)])))
    assert "daily-default-20260101-0300" in text
    assert "2.0 MB" in text and "1m30s" in text
    assert "`default/x.zip`" in text and "/a/default" not in text and "abababababab" in text


def test_ok_report_has_no_retry_button():
    assert buttons(daily_report(ok_outcome([run(0)]))) == []


def test_report_lists_what_retention_removed():
    text = plain_text(daily_report(ok_outcome([run(0)], removed_on_manager=("old-1",),
                                              removed_archives=("old-0",))))
    assert "removed on the manager: `old-1`" in text
    assert "removed from the archive: `old-0`" in text


def test_report_shows_a_trend_with_min_and_max():
    history = [run(d, size=1000 + d * 100) for d in range(5)]
    text = plain_text(daily_report(ok_outcome(history)))
    assert "▁" in text and "█" in text
    assert "min 1000 B" in text and "max 1.4 KB" in text


def test_a_size_drop_over_30_percent_is_suspicious():
    history = [run(0, size=1000), run(1, size=650)]
    assert any("size dropped 35%" in f for f in trend(history, history[-1]).flags)
    assert "suspicious" in plain_text(daily_report(ok_outcome(history)))


def test_a_size_drop_of_30_percent_or_less_is_not_flagged():
    history = [run(0, size=1000), run(1, size=700)]
    assert trend(history, history[-1]).flags == ()


def test_a_duration_of_twice_the_median_is_suspicious():
    history = [run(0, duration=60), run(1, duration=70), run(2, duration=50), run(3, duration=120)]
    assert any("twice the median" in f for f in trend(history, history[-1]).flags)


def test_the_size_drop_compares_with_the_previous_successful_run():
    history = [run(0, size=1000), run(1, size=None, status="failed"), run(2, size=900)]
    assert trend(history, history[-1]).flags == ()


def test_failed_report_is_loud_with_step_error_leftovers_and_retry_button():
    outcome = DailyOutcome(manager="prod", ok=False, snapshot_id="daily-prod-20260101-0300",
                           failed_step="downloading", error="connection reset",
                           left_behind=("snapshot `daily-prod-20260101-0300` created on the manager but not archived",))
    message = daily_report(outcome)
    text = plain_text(message)
    assert "FAILED" in text and "downloading" in text and "connection reset" in text
    assert "created on the manager but not archived" in text
    assert buttons(message) == [("daily_retry", "prod")]
    assert "FAILED" in message["text"]


def test_missed_report_has_a_retry_button():
    message = missed_report("prod", "2026-01-10 03:00 CET")
    assert "missed" in plain_text(message)
    assert buttons(message) == [("daily_retry", "prod")]


def test_trend_counts_failed_and_missed_runs():
    history = [run(0), run(1, status="missed", size=None), run(2, status="failed", size=None), run(3)]
    text = plain_text(daily_report(ok_outcome(history)))
    assert "2 ok, 1 failed, 1 missed" in text


def test_schedule_message_shows_cron_zone_next_run_retention_and_last_runs():
    view = ScheduleView(manager="default", enabled=True, cron="0 3 * * *", timezone="Europe/Paris",
                        next_run=T0, next_run_local="2026-01-01 03:00 CET", keep_on_manager=3,
                        keep_archived=14, archive_dir="/srv/archives/default",
                        last_runs=(run(1), run(0, status="failed", size=None)))
    text = plain_text(schedule_message(view))
    for part in ("0 3 * * *", "Europe/Paris", "2026-01-01 03:00 CET", "keep 3", "14",
                 "/srv/archives/default", "daily-default-20260102-0300", "failed"):
        assert part in text
