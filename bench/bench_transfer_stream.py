"""The archive stream with and without transfer progress, against `curl | sha256sum`.

    .venv/bin/python bench/bench_transfer_stream.py [--size-mb 1024] [--rounds 4]

The manager simulator runs in its own process with `--archive-size` padding; one snapshot is
created, then each round times, interleaved (each round starting with the next row, so the machine's load and the page cache weigh on every
row alike):

* `curl | sha256sum`: curl fetching the archive over loopback into sha256sum (the floor: one
  read, one hash, nothing written);
* snapbot, no progress: `download_to_store` into a directory archive store (streamed, sha256
  and every member's CRC checked, fsync, sidecar, atomic rename);
* snapbot, progress every 10 s: the same with the transfer meter counting every chunk and
  publishing bytes/percent/rate at most every 10 s (the card's cadence);
* snapbot, progress every chunk: the meter publishing on every chunk it can (its worst case:
  a publish is never awaited by the stream, at most one is in flight).

It prints the median and best seconds and MB/s of each row, and the meter rows' ratios to the
plain one (the best is the steadier figure on a busy machine).
Figures are printed, not asserted. Needs about twice the archive size of free disk in the
temp directory (`--workdir DIR` puts the files elsewhere).
"""
from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MB = 1024 * 1024


def main(size_mb: int, rounds: int, workdir: str | None) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="snapbot-bench-stream-", dir=workdir))
    proc = subprocess.Popen([sys.executable, "-m", "devtools.simulator", "--host", "127.0.0.1",
                             "--port", "0", "--speed", "100", "--archive-size", str(size_mb * MB),
                             "--data-dir", str(tmp / "sim")],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
    try:
        match = re.search(r"http://[\w.]+:\d+", proc.stdout.readline() if proc.stdout else "")
        if not match:
            raise SystemExit("the simulator did not start")
        asyncio.run(measure(match.group(0), tmp, rounds))
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


async def measure(url: str, tmp: Path, rounds: int) -> None:
    from bot.archive_store import DirectoryArchiveStore
    from bot.archive_store.transfer import download_to_store
    from bot.cloudify.client import CloudifyClient
    try:
        from bot import progress
    except ImportError:  # before transfer progress existed
        progress = None  # type: ignore[assignment]

    rows: dict[str, list[float]] = {}
    published: dict[str, int] = {}
    size = 0
    async with CloudifyClient(url, password="admin") as client:
        await client.create_snapshot("bench")
        while (await client.get_snapshot("bench")).status != "created":
            await asyncio.sleep(0.2)
        archive = f"{url}/api/v3.1/snapshots/bench/archive"
        curl = f"curl -s -f -u admin:admin -H 'Tenant: default_tenant' '{archive}' | sha256sum"

        def meter_for(every: float, name: str) -> Any:
            if progress is None:
                return None

            async def publish(view: Any) -> None:
                published[name] = published.get(name, 0) + 1

            return lambda total: progress.TransferMeter("downloading", total, publish, every=every)

        variants: list[tuple[str, float | None]] = [("snapbot, no progress", None)]
        if progress is not None:
            variants += [("snapbot, progress every 10 s", 10.0),
                         ("snapbot, progress every chunk", 0.0)]
        order: list[tuple[str, float | None]] = [("curl | sha256sum", -1.0), *variants]
        for name, _ in order:
            rows[name] = []
        for n in range(rounds):
            # each round starts with a different row: no row always runs first or last
            for name, every in order[n % len(order):] + order[:n % len(order)]:
                if every == -1.0:
                    t0 = time.perf_counter()
                    shell = await asyncio.create_subprocess_shell(curl, stdout=asyncio.subprocess.DEVNULL)
                    if await shell.wait() != 0:
                        raise SystemExit("curl | sha256sum failed")
                    rows[name].append(time.perf_counter() - t0)
                    continue
                store = DirectoryArchiveStore(tmp / f"archives-{n}")
                kwargs = {} if every is None else {"meter": meter_for(every, name)}
                t0 = time.perf_counter()
                info = await download_to_store(client, store, "bench", "bench", **kwargs)
                rows[name].append(time.perf_counter() - t0)
                size = info.size
                shutil.rmtree(tmp / f"archives-{n}", ignore_errors=True)
    print(f"archive stream, {size / MB:.0f} MB over loopback, {rounds} round(s): "
          "median (best) seconds and MB/s")
    plain = statistics.median(rows["snapbot, no progress"])
    best = min(rows["snapbot, no progress"])
    for name, secs in rows.items():
        med, low = statistics.median(secs), min(secs)
        extra = (f"  x{med / plain:.3f} (x{low / best:.3f}) of no progress"
                 if name.startswith("snapbot, progress") else "")
        calls = f"  {published.get(name, 0) // rounds} publishes/run" if name in published else ""
        print(f"  {name:30} {med:6.2f} ({low:5.2f}) s  {size / MB / med:6.1f} "
              f"({size / MB / low:6.1f}) MB/s{extra}{calls}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--workdir", default=None)
    args = ap.parse_args()
    main(args.size_mb, args.rounds, args.workdir)
