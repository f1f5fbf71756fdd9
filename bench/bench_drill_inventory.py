"""How fast a restore drill reads what a legacy archive holds, and what it costs in memory.

Writes a zip with a `pg_data` of Cloudify 7.0.5's column lists (devtools.simulator.archive):
N deployments and blueprints, plus an events table of M rows the drill skips, then times
`archive_inventory` and reads the process's peak RSS growth (the archive is written by a child
process). Figures, not a test.

    .venv/bin/python bench/bench_drill_inventory.py [--deployments 50000] [--events 2000000]
"""
from __future__ import annotations

import argparse
import multiprocessing
import resource
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from bot.jobs.drill.inventory import archive_inventory
from devtools.simulator.archive import dump_members


def write(path: Path, deployments: int, events: int) -> int:
    state = {"deployments": [{"id": f"dep-{i}"} for i in range(deployments)],
             "blueprints": [{"id": f"bp-{i}"} for i in range(deployments)],
             "users": {"admin": {}}}
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("metadata.json", '{"snapshot_version": "7.0.5"}')
        with zf.open("pg_data", "w", force_zip64=True) as out:
            out.write(dump_members(state, "default_tenant", True)["pg_data"].encode())
            out.write(b"COPY public.events (_storage_id, id, message, _tenant_id) FROM stdin;\n")
            row = "\tan event line of a few dozen characters, like a workflow's log\t0\n"
            for i in range(events):
                out.write(f"{i}\tev-{i}{row}".encode())
            out.write(b"\\.\n")
    return path.stat().st_size


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--deployments", type=int, default=50_000)
    ap.add_argument("--events", type=int, default=2_000_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "legacy.zip"
        # written by another process, so this one's peak RSS is the reading's alone
        child = multiprocessing.get_context("spawn").Process(
            target=write, args=(path, args.deployments, args.events))
        child.start()
        child.join()
        size = path.stat().st_size
        with zipfile.ZipFile(path) as zf:
            dump = zf.getinfo("pg_data").file_size
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start = time.perf_counter()
        inv = archive_inventory(path, "default_tenant")
        took = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert len(inv.names["deployments"]) == args.deployments
    print(f"python {sys.version.split()[0]}; archive {size / 2**20:.1f} MiB zipped, pg_data "
          f"{dump / 2**20:.1f} MiB ({args.deployments} deployments and blueprints, {args.events} "
          f"event rows skipped)")
    print(f"archive_inventory: {took:.2f} s ({dump / 2**20 / took:.0f} MiB/s of dump), peak RSS "
          f"growth {(after - before) / 1024:.1f} MiB (the names themselves included)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
