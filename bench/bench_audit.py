"""The audit log's cost: one `record` (its own SQLite transaction, WAL) per command, `query` on a
large table (newest first, by user, since), `/cfy audit` rendered, and `redact` on long input.

    .venv/bin/python bench/bench_audit.py [--rows 100000]

Prints per-operation times (median of repeated runs); asserts nothing.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.audit import AuditLog, redact
from bot.commands import model as m
from bot.messages.text import for_slack
from bot.schema import open_store
from tests.fakes import FakeClock


def timed(fn, repeat: int = 50) -> float:
    """Median milliseconds of `fn()` over `repeat` runs."""
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - start) * 1000)
    return statistics.median(runs)


def main(rows: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        clock = FakeClock()
        store = open_store(Path(tmp) / "bench.db", clock)
        log = AuditLog(store)
        users = [f"U{n:06d}" for n in range(50)]
        start = time.perf_counter()
        with store.transaction():  # the bulk fill in one transaction; timed singly below
            for n in range(rows):
                clock.advance(30)
                log.record(user=users[n % len(users)], source="slack", channel="C_OPS",
                           what=f"snapshots list --manager m{n % 7}", outcome="ok")
        fill = time.perf_counter() - start
        print(f"fill: {rows:,} rows in {fill:.2f} s (one transaction)")

        def one() -> None:
            clock.advance(1)
            log.record(user="U_BENCH", source="slack", channel="C_OPS",
                       what="snapshots upload s --url https://h.example/a.zip?X-Amz-Signature=x",
                       outcome="ok", detail="job j-abcdef")

        print(f"record (own transaction):        {timed(one, 200):.3f} ms")
        print(f"query newest 61:                 {timed(lambda: log.query(limit=61)):.3f} ms")
        print(f"query one user, newest 61:       "
              f"{timed(lambda: log.query(user=users[3], limit=61)):.3f} ms")
        since = clock.now() - timedelta(hours=24)
        print(f"query since 24h, newest 61:      "
              f"{timed(lambda: log.query(since=since, limit=61)):.3f} ms")
        print(f"query one user since 24h:        "
              f"{timed(lambda: log.query(user=users[3], since=since, limit=61)):.3f} ms")
        print(f"/cfy audit rendered for Slack:   "
              f"{timed(lambda: for_slack(log.answer(m.Audit(), clock.now()).message)):.3f} ms")
        long_text = "https://u:p@h.example/?" + "x&" * 50_000
        print(f"redact 100 kB:                   {timed(lambda: redact(long_text)):.3f} ms")
        size = (Path(tmp) / "bench.db").stat().st_size
        print(f"database: {size / 1e6:.1f} MB for {rows:,} rows ({size / rows:.0f} B/row)")
        store.close()
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    raise SystemExit(main(parser.parse_args().rows))
