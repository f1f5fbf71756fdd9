"""The daily job with `archive.url=s3://…` against a real S3 protocol server (moto) on loopback:
archives and sidecars in the bucket, retention deleting there, `upload --from-archive` streaming
from there, snapbot's database backed up there, and bounded memory for a 512 MB archive."""
from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime, timedelta

import psutil
import pytest

from bot.commands.model import SnapshotsList, SnapshotsUpload
from bot.invocation import Invocation
from tests.daily_support import daily_services, daily_settings, wait_jobs
from tests.fakes import FakeClock
from tests.rss_support import PeakRss, simulator_process
from tests.s3_support import env_for, keys, new_bucket

MB = 1024 * 1024


def s3_settings(sim_url: str, tmp_path, endpoint: str, bucket: str, **kw):
    settings = daily_settings(sim_url, tmp_path, **kw)
    return dataclasses.replace(settings, archive_url=f"s3://{bucket}/snapbot",
                               archive_env=tuple(env_for(endpoint).items()))


async def test_daily_runs_archive_retain_and_back_up_into_the_bucket(sim, tmp_path, s3_endpoint):
    bucket = new_bucket(s3_endpoint)
    settings = s3_settings(sim.url, tmp_path, s3_endpoint, bucket, keep_on_manager=1, keep_archived=2)
    async with daily_services(settings) as services:
        ids = []
        for _ in range(3):
            job = await services.daily.run_once("default")
            assert job.state == "done", job.error
            ids.append(job.params["snapshot_id"])
            services.clock.advance(86400)
        await wait_jobs(services)
        got = keys(s3_endpoint, bucket)
        # the two newest archived with their sidecars; the oldest deleted by retention, there
        assert [k for k in got if not k.startswith("snapbot/_snapbot/")] == sorted(
            f"snapbot/default/{sid}.zip{ext}" for sid in ids[1:] for ext in ("", ".sha256"))
        assert [k for k in got if k.startswith("snapbot/_snapbot/db/")], got
        assert all(not re.search(r"/\.", k) for k in got), got  # no temporary keys left
        job = services.store.get_job(services.store.list_jobs(kind="daily", limit=1)[0].id)
        assert job.result["archive_path"] == f"s3://{bucket}/snapbot/default/{ids[-1]}.zip"
        # snapshots list shows the bucket's copies
        reply = await services.dispatcher.execute(SnapshotsList(), Invocation(user="U1", channel="C_OPS"))
        assert ids[-1] in str(reply.message)
        # upload --from-archive streams the bucket's copy back to the manager
        await services.clients["default"].delete_snapshot(ids[-1])
        reply = await services.dispatcher.execute(
            SnapshotsUpload(snapshot_id=ids[-1], from_archive="default"),
            Invocation(user="U1", channel="C_OPS"))
        assert not reply.refused, reply.message
        upload = services.store.list_jobs(kind="snapshot_upload", limit=1)[0]
        upload = await services.runner.wait(upload.id, timeout=60)
        assert upload.state == "done", upload.error
        assert (await services.clients["default"].get_snapshot(ids[-1])).status == "uploaded"


@pytest.fixture
def big_sim(tmp_path):
    """The simulator in a process of its own, making 512 MB archives."""
    with simulator_process(tmp_path / "sim", speed=200, archive_size=512 * MB) as url:
        yield url


@pytest.mark.slow
async def test_a_512mb_daily_archive_to_s3_and_back_keeps_rss_growth_under_32mb(big_sim, tmp_path,
                                                                                s3_endpoint):
    bucket = new_bucket(s3_endpoint)
    settings = s3_settings(big_sim, tmp_path, s3_endpoint, bucket)
    settings = dataclasses.replace(settings, runbook=dataclasses.replace(
        settings.runbook, poll_interval_seconds=0.2, poll_max_interval_seconds=0.5))
    async with daily_services(settings) as services:
        # warm-up outside the measurement: the object store's runtime and connection pools
        await services.archives.put_state("warm/up", _chunks(b"x" * 6 * MB))
        await services.archives.delete_state("warm/up")
        await services.clients["default"].version()
        before = psutil.Process().memory_info().rss
        sampler = PeakRss()
        sampler.start()
        try:
            job = await services.daily.run_once("default")
            assert job.state == "done", job.error
            sid = job.params["snapshot_id"]
            await services.clients["default"].delete_snapshot(sid)
            reply = await services.dispatcher.execute(
                SnapshotsUpload(snapshot_id=sid, from_archive="default"),
                Invocation(user="U1", channel="C_OPS"))
            assert not reply.refused, reply.message
            upload = services.store.list_jobs(kind="snapshot_upload", limit=1)[0]
            upload = await services.runner.wait(upload.id, timeout=600)
        finally:
            peak = sampler.stop()
    print(f"512 MB daily to S3 and upload back: RSS {before / MB:.1f} MB -> peak {peak / MB:.1f} MB")
    assert upload.state == "done", upload.error
    assert job.result["size"] >= 512 * MB - MB
    assert peak - before < 32 * MB, f"RSS grew {(peak - before) / MB:.1f} MB"


async def _chunks(data: bytes):
    yield data


async def test_a_restore_keeps_its_safety_snapshot_in_the_bucket(tmp_path, s3_endpoint):
    from devtools.simulator import SimulatorOptions
    from devtools.simulator.profiles import SIMPLIFIED
    from tests.harness import FAST_SPEED, make_rig
    from tests.restore_support import create_snapshot, posted_restore_job

    bucket = new_bucket(s3_endpoint)
    env = {**env_for(s3_endpoint), "SNAPBOT_ARCHIVE_URL": f"s3://{bucket}/snapbot"}
    async with make_rig(tmp_path, env_overrides=env,
                        sim_options=SimulatorOptions(speed=FAST_SPEED, compat=SIMPLIFIED)) as rig:
        await create_snapshot(rig, "snap-1")
        await rig.command("/cfy snapshots restore snap-1 --force")
        job = await posted_restore_job(rig)
        await rig.click("restore_approve", job.id, user="U_LEAD1")
        job = await rig.wait_job(job.id, timeout=60)
        assert job.state == "done", (job.state, job.error)
        safety = job.result["safety_snapshot_id"]
        assert job.result["safety_archive_path"] == f"s3://{bucket}/snapbot/default/{safety}.zip"
        assert (await rig.services.archives.verify("default", safety)).sha256 == job.result["safety_sha256"]
    assert f"snapbot/default/{safety}.zip.sha256" in keys(s3_endpoint, bucket)
    assert not (tmp_path / "archives").exists() or not any((tmp_path / "archives").rglob("*.zip"))


async def test_start_up_and_the_daily_run_sweep_what_cut_writes_left_in_the_bucket(sim, tmp_path, s3_endpoint):
    from bot import bootstrap
    from tests.s3_support import s3_client
    bucket = new_bucket(s3_endpoint)
    s3 = s3_client(s3_endpoint)
    settings = s3_settings(sim.url, tmp_path, s3_endpoint, bucket)
    s3.put_object(Bucket=bucket, Key="snapbot/default/.gone.zip.part-j-0a0b0c-1f", Body=b"x" * 1000)
    # the bucket dates its objects by the real time: so does this run's clock
    clock = FakeClock(datetime.now(UTC) + timedelta(seconds=2))
    async with daily_services(settings, clock) as services:
        await bootstrap.start(services)
        assert keys(s3_endpoint, bucket) == []  # swept at start-up
        s3.put_object(Bucket=bucket, Key="snapbot/default/half.zip", Body=b"x")  # no sidecar
        job = await services.daily.fire("default")
        job = await services.runner.wait(job.id, timeout=60)
        assert job.state == "done", job.error
        assert job.result["archive_leftovers_removed"] == 1
        assert not [k for k in keys(s3_endpoint, bucket) if "half" in k or "/." in k]
