"""Snapshot archives through the client: streamed download (verified, atomic) and upload."""
from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from bot import archive, errors
from bot.cloudify.client import CloudifyClient
from tests.client_support import sim_post, wait_execution, wait_snapshot

#: the simulator's speed for the `sim` fixture (conftest): simulated minutes in fractions of a second
SIM_SPEED = 100.0

MB = 1024 * 1024


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


async def created(client: CloudifyClient, sim, snapshot_id: str = "snap-1", size: int = 0) -> None:
    if size:
        await sim_post(sim, "/_sim/config", {"archive_size": size})
    await client.create_snapshot(snapshot_id)
    await wait_snapshot(client, snapshot_id)


# --- download ---------------------------------------------------------------------------------

async def test_download_writes_a_verified_archive_and_its_sidecar(client, sim, tmp_path):
    await created(client, sim, size=3 * MB)
    dest = tmp_path / "archive" / "mgr" / "snap-1.zip"
    info = await client.download_snapshot("snap-1", dest)
    data = dest.read_bytes()
    assert info.path == str(dest) and info.size == len(data) >= 3 * MB - 4096
    assert info.sha256 == hashlib.sha256(data).hexdigest()
    assert archive.sidecar_path(dest).read_text() == f"{info.sha256}  snap-1.zip\n"
    assert archive.verify_archived(dest) == info
    assert leftovers(dest.parent) == ["snap-1.zip", "snap-1.zip.sha256"]


async def test_downloaded_archive_is_the_managers_file_byte_for_byte(client, sim, tmp_path):
    await created(client, sim)
    info = await client.download_snapshot("snap-1", tmp_path / "a.zip")
    assert info.sha256 == archive.sha256_file(sim.archive_path("snap-1"))
    with zipfile.ZipFile(info.path) as zf:
        assert "metadata.json" in zf.namelist()


async def test_download_cut_every_time_fails_after_its_retries_and_leaves_no_file(client, sim, tmp_path):
    await created(client, sim, size=4 * MB)
    await sim_post(sim, "/_sim/faults", {"path": "/snapshots/snap-1/archive$",
                                         "cut_after_bytes": 1_500_000, "count": 100})
    await sim_post(sim, "/_sim/config", {"range_downloads": False})  # each attempt from the start
    dest = tmp_path / "out" / "snap-1.zip"
    with pytest.raises(errors.ManagerUnavailable) as info:
        await client.download_snapshot("snap-1", dest)
    assert "cut after" in str(info.value)
    assert leftovers(dest.parent) == []
    assert sim.state.request_counts["/api/v3.1/snapshots/snap-1/archive"] == 1 + client.session.download_retries


@pytest.mark.parametrize("ranges", [True, False])
async def test_a_cut_download_is_taken_up_again_from_the_cut_or_from_the_start(client, sim, tmp_path,
                                                                              caplog, ranges):
    await created(client, sim, size=4 * MB)
    await sim_post(sim, "/_sim/config", {"range_downloads": ranges})
    await sim_post(sim, "/_sim/faults", {"path": "/snapshots/snap-1/archive$",
                                         "cut_after_bytes": 1_500_000, "count": 2})
    info = await client.download_snapshot("snap-1", tmp_path / "snap-1.zip")
    assert info.sha256 == archive.sha256_file(sim.archive_path("snap-1"))  # byte for byte
    assert info.size == Path(sim.archive_path("snap-1")).stat().st_size
    taken_up = [r.getMessage() for r in caplog.records if "taking it up again" in r.getMessage()]
    assert len(taken_up) == 2
    if ranges:  # the second attempt asks from where the first was cut, the third further on
        offsets = [int(t.split("from byte ")[1].split(" ")[0]) for t in taken_up]
        assert 0 < offsets[0] < offsets[1] < info.size, offsets
    else:
        assert all("from the start" in t for t in taken_up)
    assert leftovers(tmp_path) == ["sim", "snap-1.zip", "snap-1.zip.sha256"]


@pytest.mark.parametrize("ranges", [True, False])
async def test_a_cut_stream_into_a_sink_is_taken_up_again(client, sim, tmp_path, caplog, ranges):
    await created(client, sim, size=3 * MB)
    await sim_post(sim, "/_sim/config", {"range_downloads": ranges})
    await sim_post(sim, "/_sim/faults", {"path": "/snapshots/snap-1/archive$",
                                         "cut_after_bytes": 1_200_000, "count": 1})
    calls: list[int] = []

    async def sink(chunks, size):  # a store's write: reads every chunk, hashes them
        calls.append(size)
        digest = hashlib.sha256()
        async for chunk in chunks:
            digest.update(chunk)
        return digest.hexdigest()

    sha = await client.stream_archive("snap-1", sink)
    assert sha == archive.sha256_file(sim.archive_path("snap-1"))
    # with ranges the same sink sees one seamless stream; without, it is called again
    assert len(calls) == (1 if ranges else 2)
    assert "taking it up again from " + ("byte" if ranges else "the start") in caplog.text


async def test_failed_download_keeps_an_existing_copy_untouched(client, sim, tmp_path):
    await created(client, sim, size=2 * MB)
    dest = tmp_path / "snap-1.zip"
    dest.write_bytes(b"the previous good copy")
    await sim_post(sim, "/_sim/faults", {"path": "/archive$", "cut_after_bytes": 100_000, "count": 100})
    await sim_post(sim, "/_sim/config", {"range_downloads": False})
    with pytest.raises(errors.ManagerUnavailable):
        await client.download_snapshot("snap-1", dest)
    assert dest.read_bytes() == b"the previous good copy"
    assert leftovers(tmp_path) == ["sim", "snap-1.zip"]


async def test_download_that_is_not_a_zip_is_an_archive_error_and_leaves_nothing(client, tmp_path):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"this is not a zip file" * 1000)
    await client.upload_snapshot("junk", path=junk)
    out = tmp_path / "out"
    with pytest.raises(errors.ArchiveError) as info:
        await client.download_snapshot("junk", out / "junk.zip")
    assert "not a valid zip" in str(info.value) and "junk" in str(info.value)
    assert leftovers(out) == []


async def test_download_of_unknown_snapshot_is_not_found_and_leaves_nothing(client, tmp_path):
    with pytest.raises(errors.NotFound):
        await client.download_snapshot("nope", tmp_path / "out" / "nope.zip")
    assert leftovers(tmp_path / "out") == []


async def test_download_retries_a_dropped_connection_before_any_byte(client, sim, tmp_path,
                                                                     fake_sleep):
    await created(client, sim)
    await sim_post(sim, "/_sim/faults", {"path": "/archive$", "drop": True})
    info = await client.download_snapshot("snap-1", tmp_path / "snap-1.zip")
    assert Path(info.path).is_file()
    assert fake_sleep.delays == [0.5]


async def test_download_into_an_unwritable_place_is_an_archive_error(client, sim, tmp_path):
    await created(client, sim)
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the archive directory should be")
    with pytest.raises(errors.ArchiveError):
        await client.download_snapshot("snap-1", blocker / "snap-1.zip")


# --- upload -----------------------------------------------------------------------------------

async def test_upload_by_path_streams_the_file_and_the_snapshot_is_uploaded(client, sim, tmp_path,
                                                                            recorder):
    await created(client, sim, size=3 * MB)
    src = await client.download_snapshot("snap-1", tmp_path / "snap-1.zip")
    snap = await client.upload_snapshot("copy-1", path=src.path)
    assert snap.id == "copy-1" and snap.status == "uploaded"
    assert archive.sha256_file(sim.archive_path("copy-1")) == src.sha256
    put = next(s for s in recorder.seen if s.method == "PUT" and s.path.endswith("/archive"))
    assert put.headers.get("transfer-encoding") == "chunked"
    assert put.headers["content-type"] == "application/octet-stream"
    assert "snapshot_archive_url" not in put.params


async def test_uploaded_snapshot_can_be_restored(client, sim, tmp_path):
    await created(client, sim)
    src = await client.download_snapshot("snap-1", tmp_path / "snap-1.zip")
    await client.upload_snapshot("copy-1", path=src.path)
    ex = await client.restore_snapshot("copy-1", force=True)
    async with CloudifyClient(sim.url, password="admin", retries=30, backoff=0.01,
                              timeout=1.0) as patient:
        assert (await wait_execution(patient, ex.id)).status == "terminated"


async def test_upload_over_an_existing_snapshot_returns_that_snapshot(client, sim, tmp_path):
    await created(client, sim)
    src = await client.download_snapshot("snap-1", tmp_path / "snap-1.zip")
    snap = await client.upload_snapshot("snap-1", path=src.path)
    assert snap.id == "snap-1" and snap.status == "created"


async def test_upload_by_url_asks_the_manager_to_fetch_it(client, sim, tmp_path, recorder,
                                                          file_server):
    root, base = file_server
    await created(client, sim)
    src = await client.download_snapshot("snap-1", root / "snap-1.zip")
    snap = await client.upload_snapshot("from-url", url=f"{base}/snap-1.zip")
    assert snap.id == "from-url" and snap.status == "uploaded"
    assert archive.sha256_file(sim.archive_path("from-url")) == src.sha256
    put = recorder.seen[-1]
    assert put.method == "PUT" and put.path == "/api/v3.1/snapshots/from-url/archive"
    assert put.params["snapshot_archive_url"] == [f"{base}/snap-1.zip"]
    assert put.body == b""


async def test_upload_from_a_missing_url_is_bad_parameters(client, file_server):
    _, base = file_server
    with pytest.raises(errors.BadParameters):
        await client.upload_snapshot("x", url=f"{base}/missing.zip")


async def test_upload_needs_exactly_one_source(client, tmp_path):
    with pytest.raises(ValueError):
        await client.upload_snapshot("x")
    with pytest.raises(ValueError):
        await client.upload_snapshot("x", path=tmp_path / "a.zip", url="http://127.0.0.1/a.zip")


async def test_upload_of_a_missing_file_is_an_archive_error(client, tmp_path):
    with pytest.raises(errors.ArchiveError):
        await client.upload_snapshot("x", path=tmp_path / "missing.zip")


async def test_failed_upload_is_not_retried(client, sim, tmp_path, fake_sleep):
    src = tmp_path / "a.zip"
    src.write_bytes(b"PK" + b"\0" * 1000)
    await sim_post(sim, "/_sim/faults", {"path": "/archive$", "method": "PUT", "status": 503})
    with pytest.raises(errors.ServerError):
        await client.upload_snapshot("x", path=src)
    assert fake_sleep.delays == []
