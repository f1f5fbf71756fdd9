"""The daily job's typed payload: what the job row stores comes back as the same record."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.jobs.daily.payload import DailyParams, DailyResult


def test_daily_params_come_back_from_the_job_row_as_they_went_in() -> None:
    params = DailyParams(slot=datetime(2026, 3, 1, 2, 0, tzinfo=UTC), snapshot_id="daily-x", trigger="manual")
    assert DailyParams.from_stored(params.stored()) == params


def test_a_daily_job_row_without_its_slot_is_refused() -> None:
    with pytest.raises(KeyError):
        DailyParams.from_stored({"snapshot_id": "daily-x"})


def test_a_daily_result_names_only_the_housekeeping_that_happened() -> None:
    res = DailyResult.from_stored({"size": 12, "archive_path": "/a/x.zip", "removed_archives": ["old"],
                                   "retention_errors": []})
    assert (res.size, res.archive_path, res.removed_archives) == (12, "/a/x.zip", ("old",))
    assert res.housekeeping() == {"removed_archives": ["old"]}
    assert DailyResult.from_stored({}) == DailyResult()
