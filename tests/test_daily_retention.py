"""Retention planning: a pure function of what is on the manager and in the archive."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.jobs.daily.retention import ArchivedCopy, ManagerCopy, plan_retention, scan_archive

T0 = datetime(2026, 1, 1, 3, 0, tzinfo=UTC)


def sid(day: int) -> str:
    return f"daily-default-202601{day:02d}-0300"


def on_manager(*days: int, status: str = "created") -> list[ManagerCopy]:
    return [ManagerCopy(sid(d), status, T0 + timedelta(days=d), True) for d in days]


def archived(*days: int, verified: bool = True) -> list[ArchivedCopy]:
    return [ArchivedCopy(sid(d), T0 + timedelta(days=d), verified, True) for d in days]


def plan(m, a, n=2, k=2, **kw):
    return plan_retention(m, a, keep_on_manager=n, keep_archived=k, **kw)


def test_keeps_the_newest_n_on_the_manager_and_deletes_older_archived_ones():
    p = plan(on_manager(1, 2, 3), archived(1, 2, 3), n=2, k=5)
    assert p.delete_on_manager == (sid(1),)
    assert p.delete_archives == ()


def test_keeps_the_newest_m_archives():
    p = plan(on_manager(3), archived(1, 2, 3, 4), n=5, k=2)
    assert set(p.delete_archives) == {sid(1), sid(2)}


def test_nothing_to_do_under_the_limits():
    p = plan(on_manager(1, 2), archived(1, 2))
    assert p.delete_on_manager == () and p.delete_archives == () and p.kept == ()


def test_never_deletes_a_manager_snapshot_whose_archive_is_missing():
    p = plan(on_manager(1, 2, 3), archived(2, 3), n=2, k=5)
    assert p.delete_on_manager == ()
    assert any(sid(1) in note for note in p.kept)


def test_never_deletes_a_manager_snapshot_whose_archive_fails_verification():
    p = plan(on_manager(1, 2, 3), archived(1, verified=False) + archived(2, 3), n=2, k=5)
    assert p.delete_on_manager == ()


def test_never_deletes_the_newest_verified_archive_even_beyond_m():
    a = archived(1) + archived(2, 3, verified=False)
    p = plan([], a, k=2)
    assert p.delete_archives == ()
    assert any("newest verified" in note for note in p.kept)


def test_old_unverified_archives_beyond_m_are_deleted():
    a = archived(1, verified=False) + archived(2, 3)
    assert plan([], a, k=2).delete_archives == (sid(1),)


def test_never_touches_snapshots_snapbot_did_not_create():
    m = on_manager(2, 3, 4) + [ManagerCopy("before-upgrade", "created", T0, False)]
    a = archived(2, 3, 4) + [ArchivedCopy("before-upgrade", T0, True, False)]
    p = plan(m, a, n=1, k=1)
    assert "before-upgrade" not in p.delete_on_manager
    assert "before-upgrade" not in p.delete_archives


def test_deletes_foreign_snapshots_when_configured():
    m = on_manager(2, 3) + [ManagerCopy("manual-1", "created", T0, False)]
    a = archived(2, 3) + [ArchivedCopy("manual-1", T0, True, False)]
    p = plan(m, a, n=2, k=2, delete_foreign=True)
    assert p.delete_on_manager == ("manual-1",)
    assert p.delete_archives == ("manual-1",)


def test_failed_daily_snapshots_are_removed_and_do_not_count():
    m = on_manager(1, 2) + on_manager(3, status="failed")
    p = plan(m, archived(1, 2), n=2)
    assert p.delete_on_manager == (sid(3),)


def test_snapshots_still_being_created_are_left_alone():
    m = on_manager(1, 2, 3) + on_manager(4, status="creating")
    p = plan(m, archived(1, 2, 3), n=2)
    assert sid(4) not in p.delete_on_manager
    assert p.delete_on_manager == (sid(1),)


def test_protected_ids_are_never_deleted():
    p = plan(on_manager(1, 2, 3), archived(1, 2, 3), n=0, k=0, protect=[sid(3)])
    assert sid(3) not in p.delete_on_manager and sid(3) not in p.delete_archives


def test_keep_zero_on_the_manager_removes_every_archived_daily_snapshot():
    p = plan(on_manager(1, 2), archived(1, 2), n=0, k=5)
    assert set(p.delete_on_manager) == {sid(1), sid(2)}


def test_keep_zero_archives_still_keeps_the_newest_verified_one():
    p = plan([], archived(1, 2), k=0)
    assert p.delete_archives == (sid(1),)


def test_three_daily_runs_with_n2_m2_leave_two_and_two():
    p = plan(on_manager(1, 2, 3), archived(1, 2, 3), n=2, k=2, protect=[sid(3)])
    assert p.delete_on_manager == (sid(1),) and p.delete_archives == (sid(1),)


def test_order_follows_time_not_input_order():
    m = list(reversed(on_manager(1, 2, 3)))
    a = list(reversed(archived(1, 2, 3)))
    p = plan(m, a, n=1, k=1)
    assert set(p.delete_on_manager) == {sid(1), sid(2)}
    assert set(p.delete_archives) == {sid(1), sid(2)}


def _write(dir_, sid_, good=True):
    import zipfile

    from bot import archive
    path = dir_ / "default" / f"{sid_}.zip"
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("metadata.json", "{}")
    archive.write_sidecar(path, archive.sha256_file(path) if good else "0" * 64)
    return path


async def test_scan_verifies_only_what_retention_depends_on(tmp_path):
    from bot.archive_store import DirectoryArchiveStore
    for d in (1, 2, 3, 4):
        _write(tmp_path, sid(d))
    checked = []

    class Counting(DirectoryArchiveStore):
        async def verify(self, manager, snapshot_id):
            checked.append(f"{snapshot_id}.zip")
            return await super().verify(manager, snapshot_id)
    copies = await scan_archive(Counting(tmp_path), "default", "UTC", check={sid(2)})
    assert sorted(checked) == [f"{sid(2)}.zip", f"{sid(4)}.zip"]
    assert {c.id: c.verified for c in copies} == {sid(1): False, sid(2): True, sid(3): False, sid(4): True}


async def test_scan_finds_the_newest_copy_that_verifies(tmp_path):
    from bot.archive_store import DirectoryArchiveStore
    _write(tmp_path, sid(1))
    _write(tmp_path, sid(2), good=False)
    copies = await scan_archive(DirectoryArchiveStore(tmp_path), "default", "UTC", check=())
    assert {c.id: c.verified for c in copies} == {sid(1): True, sid(2): False}
    assert plan([], copies, k=0).delete_archives == (sid(2),)
