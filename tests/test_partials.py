"""Partial files are named after their job; a job removes its own; start-up removes the ones no
unfinished job owns (bot.partials, on real files in tmp_path)."""
from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime
from pathlib import Path

from bot.partials import CURRENT_JOB, job_of, partial_name, remove_job_partials, sweep_stale


def test_a_partial_name_carries_the_job_of_the_task_that_made_it() -> None:
    async def in_job() -> str:
        CURRENT_JOB.set("r-1a2b3c")
        return partial_name("snap.zip")

    name = asyncio.run(in_job())
    assert name.startswith(".snap.zip.part-r-1a2b3c-") and job_of(name) == "r-1a2b3c"
    outside = partial_name("snap.zip")
    assert outside.startswith(".snap.zip.part-") and job_of(outside) is None
    staged = partial_name("snap.zip", "staging")
    assert "-staging-" in staged


def _touch(path: Path, *, old: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"partial")
    if old:
        os.utime(path, (1_000_000_000, 1_000_000_000))
    return path


def test_a_job_removes_its_own_partials_and_only_those(tmp_path: Path) -> None:
    mine = _touch(tmp_path / "prod" / ".a.zip.part-d-aaaaaa-01")
    staged = _touch(tmp_path / "prod" / "..a.zip.part-d-aaaaaa-staging-02.part-d-aaaaaa-03")
    other = _touch(tmp_path / "prod" / ".b.zip.part-d-bbbbbb-01")
    final = _touch(tmp_path / "prod" / "a.zip")
    assert sorted(remove_job_partials([tmp_path], "d-aaaaaa")) == sorted([mine, staged])
    assert other.exists() and final.exists()


def test_start_up_keeps_unfinished_jobs_partials_and_removes_the_rest(tmp_path: Path) -> None:
    running = _touch(tmp_path / "m" / ".a.zip.part-r-aaaaaa-01")
    finished = _touch(tmp_path / "m" / ".b.zip.part-r-bbbbbb-01")
    old_untagged = _touch(tmp_path / "m" / ".c.zip.part-0123abcd", old=True)
    new_untagged = _touch(tmp_path / "m" / ".d.zip.part-4567abcd")
    since = datetime(2020, 1, 1, tzinfo=UTC)
    removed = sweep_stale([tmp_path], {"r-aaaaaa": since})
    assert sorted(removed) == sorted([finished, old_untagged])
    assert running.exists() and new_untagged.exists()  # younger than a running job: maybe its
    # with no unfinished job at all, every partial is stale
    assert sorted(sweep_stale([tmp_path], {})) == sorted([running, new_untagged])
