"""snapbot's own SQLite database, backed up into the archive store (directory and S3)."""
from __future__ import annotations

import hashlib
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.archive_store import open_archive_store
from bot.dbbackup import backup_database
from bot.schema import open_store
from tests.fakes import FakeClock
from tests.s3_support import env_for, new_bucket, s3_client

NOW = datetime(2026, 1, 10, 3, 0, tzinfo=UTC)


@pytest.fixture(params=["dir", "s3"])
def archives(request, tmp_path):
    if request.param == "dir":
        return open_archive_store(str(tmp_path / "archives"), {})
    endpoint = request.getfixturevalue("s3_endpoint")
    bucket = new_bucket(endpoint)
    store = open_archive_store(f"s3://{bucket}/pre", env_for(endpoint))
    store.test_read = lambda key: s3_client(endpoint).get_object(  # type: ignore[attr-defined]
        Bucket=bucket, Key=f"pre/{key}")["Body"].read()
    return store


def read_back(archives, tmp_path: Path, name: str) -> tuple[bytes, bytes]:
    if hasattr(archives, "test_read"):
        return archives.test_read(f"_snapbot/{name}"), archives.test_read(f"_snapbot/{name}.sha256")
    base = tmp_path / "archives" / "_snapbot" / name
    return base.read_bytes(), Path(str(base) + ".sha256").read_bytes()


async def test_a_live_database_is_copied_whole_and_restorable(tmp_path, archives):
    db = tmp_path / "snapbot.db"
    store = open_store(db, FakeClock(NOW))
    try:
        job = store.create_job("download", "prod", "queued", params={"snapshot_id": "s1"},
                               requester="U1", channel="C1", actor="U1")
        blob = await backup_database(str(db), archives, NOW)
    finally:
        store.close()
    assert blob.name == "db/snapbot-20260110.sqlite3"
    data, side = read_back(archives, tmp_path, blob.name)
    assert side.decode().split() == [hashlib.sha256(data).hexdigest(), "snapbot-20260110.sqlite3"]
    # what the README says to do: put the file back as SNAPBOT_DB and start
    restored = tmp_path / "restored.db"
    restored.write_bytes(data)
    again = open_store(restored, FakeClock(NOW))
    try:
        assert again.get_job(job.id).params == {"snapshot_id": "s1"}
    finally:
        again.close()
    assert sqlite3.connect(restored).execute("pragma integrity_check").fetchone()[0] == "ok"


async def test_only_the_newest_backups_are_kept(tmp_path, archives):
    db = tmp_path / "snapbot.db"
    open_store(db, FakeClock(NOW)).close()
    for day in range(4):
        await backup_database(str(db), archives, NOW + timedelta(days=day), keep=2)
    names = sorted(b.name for b in await archives.list_state("db/"))
    assert names == ["db/snapbot-20260112.sqlite3", "db/snapbot-20260113.sqlite3"]
    assert await archives.list() == []  # never listed as a snapshot copy
