"""The daily schedule on an injected clock: which slot is due when, and the APScheduler jobs."""
from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from bot.config.settings import ScheduleConfig
from bot.errors import ConfigError
from bot.scheduler import DailyScheduler, is_due, job_id, latest_slot, make_trigger, next_slot, slot_label
from tests.fakes import FakeClock

PARIS = ScheduleConfig(cron="0 3 * * *", timezone="Europe/Paris", misfire_grace_seconds=3600)


def test_default_schedule_fires_at_0300_utc():
    now = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
    assert next_slot(ScheduleConfig(), now) == datetime(2026, 1, 11, 3, 0, tzinfo=UTC)


def test_0300_paris_fires_at_0200_utc_in_winter():
    now = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
    assert next_slot(PARIS, now) == datetime(2026, 1, 11, 2, 0, tzinfo=UTC)


def test_0300_paris_fires_at_0100_utc_in_summer():
    now = datetime(2026, 7, 10, 12, 0, tzinfo=UTC)
    assert next_slot(PARIS, now) == datetime(2026, 7, 11, 1, 0, tzinfo=UTC)


def test_latest_slot_is_the_last_fire_time_at_or_before_now():
    assert latest_slot(PARIS, datetime(2026, 1, 10, 1, 59, tzinfo=UTC)) == datetime(2026, 1, 9, 2, 0, tzinfo=UTC)
    assert latest_slot(PARIS, datetime(2026, 1, 10, 2, 0, tzinfo=UTC)) == datetime(2026, 1, 10, 2, 0, tzinfo=UTC)


def test_latest_slot_of_a_monthly_cron_looks_back_weeks():
    monthly = ScheduleConfig(cron="30 4 1 * *")
    assert latest_slot(monthly, datetime(2026, 3, 20, tzinfo=UTC)) == datetime(2026, 3, 1, 4, 30, tzinfo=UTC)


def test_slot_label_is_in_the_configured_zone():
    assert slot_label(datetime(2026, 1, 11, 2, 0, tzinfo=UTC), "Europe/Paris") == "20260111-0300"


def test_slot_is_due_only_within_the_misfire_grace():
    slot = datetime(2026, 1, 10, 2, 0, tzinfo=UTC)
    assert is_due(PARIS, slot, slot + timedelta(minutes=59))
    assert not is_due(PARIS, slot, slot + timedelta(minutes=61))


def test_bad_cron_is_a_config_error_naming_the_key():
    with pytest.raises(ConfigError) as err:
        make_trigger(ScheduleConfig(cron="every day"))
    assert err.value.key == "schedule.cron"


def test_unknown_zone_is_a_config_error_naming_the_key():
    with pytest.raises(ConfigError) as err:
        make_trigger(ScheduleConfig(timezone="Mars/Olympus"))
    assert err.value.key == "schedule.timezone"


async def test_each_manager_gets_one_cron_job_with_explicit_id_and_safety_options():
    async def fire(manager: str) -> None: ...
    async def problem(manager: str, text: str, missed=None) -> None: ...
    sched = DailyScheduler(PARIS, ["a", "b"], FakeClock(), fire=fire, on_problem=problem)
    aps = sched.start()
    try:
        sched.add_jobs(aps)  # a second registration replaces, never duplicates
        jobs = {j.id: j for j in aps.get_jobs()}
        assert set(jobs) == {job_id("a"), job_id("b")} == {"daily:a", "daily:b"}
        job = jobs["daily:a"]
        assert job.coalesce is True and job.max_instances == 1
        assert job.misfire_grace_time == 3600
        assert job.args == ("a",)
        injected_now = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
        fire_at = job.trigger.get_next_fire_time(None, injected_now)
        assert fire_at.astimezone(UTC) == datetime(2026, 1, 11, 2, 0, tzinfo=UTC)
    finally:
        sched.stop()


async def test_a_crashing_job_is_reported_through_the_error_listener():
    reported: asyncio.Queue[tuple[str, str]] = asyncio.Queue()

    async def fire(manager: str) -> None:
        raise RuntimeError("boom")

    async def problem(manager: str, text: str, missed=None) -> None:
        await reported.put((manager, text))

    sched = DailyScheduler(PARIS, ["a"], FakeClock(), fire=fire, on_problem=problem)
    aps = sched.start()
    try:
        aps.get_job("daily:a").modify(next_run_time=datetime.now(UTC))
        aps.wakeup()
        manager, text = await asyncio.wait_for(reported.get(), 10)
        assert manager == "a" and "crashed" in text and "RuntimeError" in text
    finally:
        sched.stop()


async def test_a_missed_firing_is_passed_on_with_its_slot():
    reported: asyncio.Queue = asyncio.Queue()

    async def fire(manager: str) -> None: ...

    async def problem(manager: str, text: str, missed=None) -> None:
        await reported.put((manager, missed))

    sched = DailyScheduler(PARIS, ["a"], FakeClock(), fire=fire, on_problem=problem)
    aps = sched.start()
    try:
        long_ago = datetime.now(UTC) - timedelta(hours=5)
        aps.get_job("daily:a").modify(next_run_time=long_ago)
        aps.wakeup()
        manager, missed = await asyncio.wait_for(reported.get(), 10)
        assert manager == "a" and missed is not None
        assert missed.astimezone(UTC).replace(microsecond=0) == long_ago.replace(microsecond=0)
    finally:
        sched.stop()
