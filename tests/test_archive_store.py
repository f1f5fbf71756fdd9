"""The archive store: the same behaviour on a directory and on S3 (moto on loopback)."""
from __future__ import annotations

import hashlib
import io
import os
import zipfile
from collections.abc import AsyncIterator
from datetime import UTC
from pathlib import Path

import pytest

from bot.archive_store import open_archive_store
from bot.errors import ArchiveError
from tests.s3_support import CuttingRelay, env_for, keys, new_bucket, s3_client


def make_zip(size: int = 300_000, *, metadata: bool = True) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        if metadata:
            zf.writestr("metadata.json", '{"snapshot_version": "7.0.0"}')
        zf.writestr("data.bin", os.urandom(size))
    return buf.getvalue()


async def chunks_of(data: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i:i + size]


@pytest.fixture(params=["dir", "s3"])
def store_kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def where(store_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> dict:
    """The store's URL and env, and how to list what is really there (not through snapbot)."""
    if store_kind == "dir":
        root = tmp_path / "archives"
        return {"url": str(root), "env": {},
                "names": lambda: sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                                        if p.is_file())}
    endpoint = request.getfixturevalue("s3_endpoint")
    bucket = new_bucket(endpoint)
    return {"url": f"s3://{bucket}/pre", "env": env_for(endpoint), "endpoint": endpoint,
            "bucket": bucket,
            "names": lambda: [k[len("pre/"):] for k in keys(endpoint, bucket)]}


async def test_a_written_copy_is_listed_verified_and_read_back(where: dict) -> None:
    store = open_archive_store(where["url"], where["env"])
    data = make_zip()
    info = await store.write("prod", "snap-1", chunks_of(data), expected_size=len(data))
    assert info.size == len(data) and info.sha256 == hashlib.sha256(data).hexdigest()
    assert where["names"]() == ["prod/snap-1.zip", "prod/snap-1.zip.sha256"]
    listed = await store.list()
    assert [(e.manager, e.snapshot_id, e.size) for e in listed] == [("prod", "snap-1", len(data))]
    assert (await store.stat("prod", "snap-1")).size == len(data)
    assert await store.stat("prod", "other") is None
    assert (await store.verify("prod", "snap-1")).sha256 == info.sha256
    assert b"".join([c async for c in store.read("prod", "snap-1")]) == data
    assert await store.read_member("prod", "snap-1", "metadata.json") == b'{"snapshot_version": "7.0.0"}'


async def test_not_a_zip_is_refused_and_leaves_nothing(where: dict) -> None:
    store = open_archive_store(where["url"], where["env"])
    with pytest.raises(ArchiveError, match="not a valid zip"):
        await store.write("prod", "bad", chunks_of(b"PK-not-really" * 1000))
    assert where["names"]() == []


async def test_a_failing_content_check_leaves_nothing(where: dict) -> None:
    store = open_archive_store(where["url"], where["env"])

    def needs_metadata(names: list[str]) -> None:
        if "metadata.json" not in names:
            raise ArchiveError("no metadata.json")
    with pytest.raises(ArchiveError, match=r"no metadata\.json"):
        await store.write("prod", "foreign", chunks_of(make_zip(metadata=False)), check=needs_metadata)
    assert where["names"]() == []


async def test_a_source_cut_midway_raises_its_own_error_and_leaves_nothing(where: dict) -> None:
    store = open_archive_store(where["url"], where["env"])
    data = make_zip(12 * 1024 * 1024)

    async def cut() -> AsyncIterator[bytes]:
        async for i, chunk in _enumerate(chunks_of(data, 1024 * 1024)):
            if i == 8:
                raise ConnectionResetError("the manager went away")
            yield chunk
    with pytest.raises(ConnectionResetError):
        await store.write("prod", "cut", cut())
    assert where["names"]() == []


async def _enumerate(it: AsyncIterator[bytes]) -> AsyncIterator[tuple[int, bytes]]:
    i = 0
    async for x in it:
        yield i, x
        i += 1


async def test_a_short_download_is_refused(where: dict) -> None:
    store = open_archive_store(where["url"], where["env"])
    data = make_zip()
    with pytest.raises(ArchiveError, match="incomplete"):
        await store.write("prod", "short", chunks_of(data), expected_size=len(data) + 10)
    assert where["names"]() == []


async def test_a_tampered_copy_fails_verification(where: dict, store_kind: str) -> None:
    store = open_archive_store(where["url"], where["env"])
    await store.write("prod", "snap-1", chunks_of(make_zip()))
    other = make_zip()
    if store_kind == "dir":
        Path(where["url"], "prod", "snap-1.zip").write_bytes(other)
    else:
        s3_client(where["endpoint"]).put_object(Bucket=where["bucket"], Key="pre/prod/snap-1.zip",
                                                Body=other)
    with pytest.raises(ArchiveError, match="does not match its sidecar"):
        await store.verify("prod", "snap-1")


async def test_delete_removes_the_copy_and_its_sidecar(where: dict) -> None:
    store = open_archive_store(where["url"], where["env"])
    await store.write("prod", "a", chunks_of(make_zip()))
    await store.write("dr", "b", chunks_of(make_zip()))
    await store.delete("prod", "a")
    await store.delete("prod", "never-there")
    assert where["names"]() == ["dr/b.zip", "dr/b.zip.sha256"]
    assert [e.snapshot_id for e in await store.list("prod")] == []


async def test_state_files_are_kept_apart_from_copies(where: dict) -> None:
    store = open_archive_store(where["url"], where["env"])
    blob = await store.put_state("db/snapbot-1.sqlite3", chunks_of(b"SQLite format 3\x00" * 100))
    assert blob.size == 1600
    assert [b.name for b in await store.list_state("db/")] == ["db/snapbot-1.sqlite3"]
    assert await store.list() == []
    await store.delete_state("db/snapbot-1.sqlite3")
    assert where["names"]() == []


async def test_names_that_could_escape_are_refused(where: dict) -> None:
    store = open_archive_store(where["url"], where["env"])
    for manager, sid in (("..", "x"), ("prod", "../x"), ("prod", ".hidden"), ("_snapbot", "x")):
        with pytest.raises(ArchiveError):
            await store.write(manager, sid, chunks_of(make_zip()))


async def test_a_connection_cut_mid_upload_leaves_no_final_key_and_no_partial(s3_endpoint: str) -> None:
    bucket = new_bucket(s3_endpoint)
    data = make_zip(16 * 1024 * 1024)  # several parts
    async with CuttingRelay(s3_endpoint, cut_after=7 * 1024 * 1024) as relay:
        store = open_archive_store(f"s3://{bucket}/pre", env_for(relay.url),
                                   retry={"max_retries": 1, "retry_timeout": __import__("datetime").timedelta(seconds=2)})
        with pytest.raises(ArchiveError, match="nothing was saved"):
            await store.write("prod", "snap-cut", chunks_of(data, 1024 * 1024))
        assert relay.cut.is_set() and relay.sent > 7 * 1024 * 1024
    assert keys(s3_endpoint, bucket) == []  # neither the final key nor a visible partial
    # and the same store, reachable again, publishes the copy whole
    store = open_archive_store(f"s3://{bucket}/pre", env_for(s3_endpoint))
    info = await store.write("prod", "snap-cut", chunks_of(data, 1024 * 1024))
    assert info.sha256 == hashlib.sha256(data).hexdigest()
    assert keys(s3_endpoint, bucket) == ["pre/prod/snap-cut.zip", "pre/prod/snap-cut.zip.sha256"]


async def test_download_to_s3_and_upload_back_through_the_client(sim, s3_endpoint):
    from bot.archive_store.transfer import download_to_store, upload_from_store
    from bot.cloudify.client import CloudifyClient
    from tests.client_support import wait_snapshot

    bucket = new_bucket(s3_endpoint)
    store = open_archive_store(f"s3://{bucket}/pre", env_for(s3_endpoint))
    async with CloudifyClient(sim.url, password="admin") as client:
        await client.create_snapshot("s1")
        await wait_snapshot(client, "s1")
        info = await download_to_store(client, store, "prod", "s1")
        assert keys(s3_endpoint, bucket) == ["pre/prod/s1.zip", "pre/prod/s1.zip.sha256"]
        assert (await store.verify("prod", "s1")).sha256 == info.sha256
        snap = await upload_from_store(client, store, "prod", "s1", "s1-copy")
        assert snap.status == "uploaded"
        copy = await download_to_store(client, store, "dr", "s1-copy")
    assert copy.sha256 == info.sha256


async def test_a_download_cut_by_the_manager_leaves_nothing_in_s3(sim, control, s3_endpoint):
    from bot.archive_store.transfer import download_to_store
    from bot.cloudify.client import CloudifyClient
    from bot.errors import ManagerUnavailable
    from tests.client_support import wait_snapshot

    bucket = new_bucket(s3_endpoint)
    store = open_archive_store(f"s3://{bucket}/pre", env_for(s3_endpoint))
    assert (await control.post("/config", json={"archive_size": 8 * 1024 * 1024})).status_code < 300
    async with CloudifyClient(sim.url, password="admin", retries=0) as client:
        await client.create_snapshot("s1")
        await wait_snapshot(client, "s1")
        r = await control.post("/faults", json={"path": "/archive$", "cut_after_bytes": 6_000_000})
        assert r.status_code < 300, r.text
        client.session.download_retries = 0  # the cut is final here (taking it up again: test_client_archive)
        with pytest.raises(ManagerUnavailable, match="cut after"):
            await download_to_store(client, store, "prod", "s1")
    assert keys(s3_endpoint, bucket) == []


#: what each publish step's first request carries, as the relay sees it go upstream
PUBLISH_STEPS = {"upload": b"partnumber=2", "copy": b"x-amz-copy-source", "sidecar": b".zip.sha256 http"}
QUICK = {"max_retries": 1, "retry_timeout": __import__("datetime").timedelta(seconds=2)}


@pytest.mark.parametrize("step", list(PUBLISH_STEPS))
async def test_a_store_cut_at_each_publish_step_leaves_after_a_restart_no_unverified_copy_and_no_hidden_key(
        s3_endpoint: str, step: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.archive_store import objectstore
    from tests.s3_support import BlippingRelay
    monkeypatch.setattr(objectstore, "FORGET_WITHIN", 2.0)
    bucket = new_bucket(s3_endpoint)
    data = make_zip(12 * 1024 * 1024)
    async with BlippingRelay(s3_endpoint) as relay:
        relay.cut_on = PUBLISH_STEPS[step]
        store = open_archive_store(f"s3://{bucket}/pre", env_for(relay.url), retry=QUICK)
        with pytest.raises(ArchiveError):
            await store.write("prod", "snap-cut", chunks_of(data, 1024 * 1024))
        assert relay.cut_on is None  # the cut came at that step
    # the restart: the store is reachable again and start-up sweeps it
    store = open_archive_store(f"s3://{bucket}/pre", env_for(s3_endpoint))
    await store.sweep({})
    left = keys(s3_endpoint, bucket)
    assert not [k for k in left if "/." in k]  # no hidden object
    assert left == []  # no final key: none was published whole
    assert await store.stat("prod", "snap-cut") is None


async def test_a_sidecar_without_its_copy_and_a_copy_without_its_sidecar_are_swept(s3_endpoint: str) -> None:
    from datetime import datetime, timedelta
    bucket = new_bucket(s3_endpoint)
    s3 = s3_client(s3_endpoint)
    for key in ("pre/prod/a.zip", "pre/prod/b.zip.sha256", "pre/prod/.c.zip.part-j-0a0b0c-ff",
                "pre/prod/.d.zip.part-j-1a1b1c-ff"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    store = open_archive_store(f"s3://{bucket}/pre", env_for(s3_endpoint))
    info = await store.write("prod", "whole", chunks_of(make_zip()))
    # a job still running owns d's temporary key, and anything written after it started
    later = {"j-1a1b1c": datetime.now(UTC) + timedelta(hours=1)}
    removed = await store.sweep(later)
    assert sorted(removed) == ["prod/.c.zip.part-j-0a0b0c-ff", "prod/a.zip", "prod/b.zip.sha256"]
    assert keys(s3_endpoint, bucket) == ["pre/prod/.d.zip.part-j-1a1b1c-ff", "pre/prod/whole.zip",
                                         "pre/prod/whole.zip.sha256"]
    assert (await store.verify("prod", "whole")).sha256 == info.sha256
    early = {"j-1a1b1c": datetime.now(UTC) - timedelta(hours=1)}
    s3.put_object(Bucket=bucket, Key="pre/prod/e.zip", Body=b"x")  # newer than that job: kept
    assert await store.sweep(early) == []


async def test_a_3_second_network_blip_during_an_upload_does_not_fail_the_write(s3_endpoint: str) -> None:
    from tests.s3_support import BlippingRelay
    bucket = new_bucket(s3_endpoint)
    data = make_zip(16 * 1024 * 1024)
    async with BlippingRelay(s3_endpoint) as relay:
        relay.trigger = (7 * 1024 * 1024, 3.0)  # 7 MB into the upload, 3 s of nothing
        store = open_archive_store(f"s3://{bucket}/pre", env_for(relay.url))
        info = await store.write("prod", "snap-blip", chunks_of(data, 1024 * 1024))
        assert relay.trigger is None and relay.refused > 0  # the blip happened
    assert info.sha256 == hashlib.sha256(data).hexdigest()
    assert keys(s3_endpoint, bucket) == ["pre/prod/snap-blip.zip", "pre/prod/snap-blip.zip.sha256"]
