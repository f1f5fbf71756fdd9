"""Benchmark: download and upload a big snapshot archive through CloudifyClient; watch RSS.

Starts the simulator as a subprocess with big archives, creates a snapshot, downloads its
archive through the client (streamed, verified, renamed) and uploads it back under a new id,
while a background thread samples this process's RSS. Prints the figures; exits 1 when the
peak RSS growth is over the limit (a benchmark verdict, not a test).

    .venv/bin/python bench/bench_archive_rss.py [--size-mb 1024] [--limit-mb 32]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psutil

from bot.cloudify.client import CloudifyClient

MB = 1024 * 1024


class RssSampler(threading.Thread):
    """Samples the RSS of this process every `interval` seconds and keeps the peak."""

    def __init__(self, interval: float = 0.005) -> None:
        super().__init__(daemon=True)
        self.proc = psutil.Process()
        self.interval = interval
        self.peak = self.proc.memory_info().rss
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            self._halt.wait(self.interval)

    def stop(self) -> int:
        self._halt.set()
        self.join()
        return self.peak


def start_simulator_process(archive_size: int, data_dir: Path) -> tuple[subprocess.Popen, str]:
    """`python -m devtools.simulator --port 0 ...`; the URL is read from its first line of output."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "devtools.simulator", "--host", "127.0.0.1", "--port", "0",
         "--speed", "100", "--archive-size", str(archive_size), "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline() if proc.stdout else ""
    match = re.search(r"http://[\w.]+:\d+", line)
    if not match:
        proc.kill()
        raise SystemExit(f"the simulator did not start: {line!r}")
    return proc, match.group(0)


async def wait_until_up(url: str, deadline: float) -> None:
    async with httpx.AsyncClient() as http:
        while True:
            try:
                await http.get(url + "/api/v3.1/version", auth=("admin", "admin"))
                return
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise SystemExit("the simulator did not start") from None
                await asyncio.sleep(0.1)


async def wait_created(client: CloudifyClient, snapshot_id: str, deadline: float) -> None:
    while True:
        snap = await client.get_snapshot(snapshot_id)
        if snap.status == "created":
            return
        if snap.status == "failed" or time.monotonic() > deadline:
            raise SystemExit(f"snapshot {snapshot_id} ended {snap.status}: {snap.error}")
        await asyncio.sleep(0.1)


def mb(n: float) -> str:
    return f"{n / MB:8.1f} MB"


async def run(size: int, limit: int, workdir: Path) -> int:
    sim, url = start_simulator_process(size, workdir / "sim")
    try:
        await wait_until_up(url, time.monotonic() + 30)
        async with CloudifyClient(url, username="admin", password="admin") as client:
            snap_id = f"bench-{secrets.token_hex(4)}"
            t0 = time.monotonic()
            await client.create_snapshot(snap_id)
            await wait_created(client, snap_id, time.monotonic() + 600)
            created_s = time.monotonic() - t0
            await client.version()  # warm up the connection pool before the baseline

            proc = psutil.Process()
            before = proc.memory_info().rss
            sampler = RssSampler()
            sampler.start()

            dest = workdir / "archive" / f"{snap_id}.zip"
            t0 = time.monotonic()
            info = await client.download_snapshot(snap_id, dest)
            down_s = time.monotonic() - t0
            after_down = proc.memory_info().rss

            t0 = time.monotonic()
            uploaded = await client.upload_snapshot(f"{snap_id}-up", path=dest)
            up_s = time.monotonic() - t0

            peak = sampler.stop()
            after = proc.memory_info().rss
    finally:
        sim.terminate()
        try:
            sim.wait(10)
        except subprocess.TimeoutExpired:
            sim.kill()

    growth = peak - before
    print(f"archive          {mb(info.size)}  sha256 {info.sha256[:16]}…  (created in {created_s:.1f}s)")
    print(f"download         {down_s:8.2f} s   {info.size / MB / down_s:8.1f} MB/s  (incl. zip check + fsync)")
    print(f"upload           {up_s:8.2f} s   {info.size / MB / up_s:8.1f} MB/s  -> status {uploaded.status}")
    print(f"RSS before       {mb(before)}")
    print(f"RSS after dl     {mb(after_down)}")
    print(f"RSS peak         {mb(peak)}")
    print(f"RSS after        {mb(after)}")
    print(f"RSS peak growth  {mb(growth)}  (limit {limit / MB:.0f} MB)")
    if growth > limit:
        print("VERDICT: FAIL, RSS grew more than the limit")
        return 1
    print("VERDICT: OK")
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size-mb", type=int, default=1024, help="archive size (default 1024 = 1 GiB)")
    p.add_argument("--limit-mb", type=int, default=32, help="allowed RSS growth (default 32)")
    p.add_argument("--workdir", help="where archives go (default: a temp dir, removed after)")
    a = p.parse_args()
    if a.workdir:
        os.makedirs(a.workdir, exist_ok=True)
        return asyncio.run(run(a.size_mb * MB, a.limit_mb * MB, Path(a.workdir)))
    with tempfile.TemporaryDirectory(prefix="snapbot-bench-") as d:
        return asyncio.run(run(a.size_mb * MB, a.limit_mb * MB, Path(d)))


if __name__ == "__main__":
    sys.exit(main())
