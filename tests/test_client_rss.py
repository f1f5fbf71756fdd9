"""Bounded memory: a 200 MB archive goes down and back up without the process's RSS growing.

The simulator runs in its own process so only the client's memory is measured here. The
1 GB figures (and throughput) come from bench/bench_archive_rss.py; this asserts behaviour.
"""
from __future__ import annotations

import psutil
import pytest

from bot.cloudify.client import CloudifyClient
from tests.client_support import wait_snapshot
from tests.rss_support import PeakRss, simulator_process

MB = 1024 * 1024
ARCHIVE = 200 * MB
LIMIT = 32 * MB


@pytest.fixture
def sim_process(tmp_path):
    with simulator_process(tmp_path / "sim", speed=100, archive_size=ARCHIVE) as url:
        yield url


@pytest.mark.slow
async def test_download_and_upload_of_200mb_keep_rss_growth_under_32mb(sim_process, tmp_path):
    async with CloudifyClient(sim_process, password="admin") as client:
        await client.create_snapshot("big")
        await wait_snapshot(client, "big")
        await client.version()
        before = psutil.Process().memory_info().rss
        sampler = PeakRss()
        sampler.start()
        try:
            info = await client.download_snapshot("big", tmp_path / "big.zip")
            uploaded = await client.upload_snapshot("big-copy", path=info.path)
        finally:
            peak = sampler.stop()
    assert info.size >= ARCHIVE - MB and uploaded.status == "uploaded"
    assert peak - before < LIMIT, f"RSS grew {(peak - before) / MB:.1f} MB"
