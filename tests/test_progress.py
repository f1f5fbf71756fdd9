"""Transfer progress: bytes, percent and rate published at most every 10 s of the meter's
clock, never holding the stream up; on the card of a 1 GB download from the simulator."""
from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest

from bot.progress import TransferMeter, TransferView, progress_line
from devtools.simulator import SimulatorOptions
from tests.fakes import FakeClock
from tests.harness import make_rig
from tests.restore_support import approved_restore, create_snapshot

MB = 1024 * 1024


async def chunks(n: int, size: int = MB) -> AsyncIterator[bytes]:
    for _ in range(n):
        yield b"x" * size


class Steps:
    """A monotonic clock that moves `step` seconds each time it is read."""

    def __init__(self, step: float) -> None:
        self.t, self.step = 0.0, step

    def __call__(self) -> float:
        self.t += self.step
        return self.t


async def test_progress_is_published_at_most_every_10_seconds_with_bytes_percent_and_rate() -> None:
    seen: list[TransferView] = []

    async def publish(view: TransferView) -> None:
        seen.append(view)

    meter = TransferMeter("downloading", 100 * MB, publish, clock=Steps(1.0))  # 1 s per chunk
    async for _ in meter.count(chunks(100)):
        await asyncio.sleep(0)  # let a publish task run
    await meter.finish()
    assert 8 <= len(seen) <= 10  # 100 s of transfer, one publish per 10 s at most
    assert all(b.elapsed - a.elapsed >= 10 for a, b in itertools.pairwise(seen))
    first = seen[0]
    assert first.done == 10 * MB and first.total == 100 * MB and first.percent == 10
    assert first.rate == pytest.approx(MB)
    assert progress_line(first) == "downloading: 10.0 MB of 100.0 MB (10%) at 1.0 MB/s"


async def test_a_slow_publish_never_holds_the_stream_up_and_never_piles_up() -> None:
    release = asyncio.Event()
    calls = 0

    async def publish(view: TransferView) -> None:
        nonlocal calls
        calls += 1
        await release.wait()  # the database or Slack taking its time

    meter = TransferMeter("uploading", None, publish, clock=Steps(20.0), every=10.0)
    passed = 0
    async for _ in meter.count(chunks(50)):
        passed += 1
        await asyncio.sleep(0)
    assert passed == 50 and calls == 1  # the stream went on; one publish in flight at a time
    release.set()
    await meter.finish()
    assert meter.published == 1


async def test_a_failing_publish_does_not_fail_the_transfer(caplog) -> None:
    async def publish(view: TransferView) -> None:
        raise RuntimeError("database locked")

    meter = TransferMeter("downloading", None, publish, clock=Steps(11.0))
    assert len([c async for c in meter.count(chunks(3))]) == 3
    await meter.finish()
    assert "could not show the downloading progress" in caplog.text


class TickingClock(FakeClock):
    """The bot's clock, moving 50 ms each time it is read: a 1 GB transfer reads it a thousand
    times or more (once a chunk), so it lasts several 10-second steps of this clock whatever
    the machine's speed."""

    def now(self) -> datetime:
        self.advance(0.05)
        return super().now()


@pytest.mark.slow
async def test_a_1gb_download_and_its_upload_show_their_progress_on_the_card_at_least_twice(tmp_path: Path) -> None:
    options = SimulatorOptions(speed=100.0, archive_size=1024 * MB)
    async with make_rig(tmp_path, sim_options=options, clock=TickingClock()) as rig:
        await rig.command("/cfy snapshots create big-1")
        create = await rig.wait_for(lambda: rig.jobs(kind="snapshot_create"))
        assert (await rig.wait_job(create[0].id, timeout=120)).state == "done"
        await rig.command("/cfy snapshots download big-1")
        job = (await rig.wait_for(lambda: rig.jobs(kind="snapshot_download")))[0]
        job = await rig.wait_job(job.id, timeout=300)
        assert job.state == "done", job.error
        await rig.wait_for(lambda: rig.services.outbox.backlog() == 0)
        shown = {m for call in rig.slack.calls_to("chat.update")
                 for m in re.findall(r"downloading: [^'\"\\]*", str(call.args))}
        assert len(shown) >= 2, shown  # two different figures at least
        assert all(re.fullmatch(r"downloading: [\d.]+ MB of 10\d\d\.\d MB \(\d+%\) at [\d.]+ MB/s", line)
                   for line in shown), shown
        assert "progress" not in job.result or job.result["progress"] is None
        card = rig.slack.message("C_OPS", job.message_ts)
        assert card is not None and "downloading: " not in str(card)  # gone once done

        # and back up: the upload from the archive shows its progress the same way
        await rig.command("/cfy snapshots delete big-1")
        delete = (await rig.wait_for(lambda: rig.jobs(kind="snapshot_delete")))[0]
        assert (await rig.wait_job(delete.id, timeout=60)).state == "done"
        await rig.command("/cfy snapshots upload big-1 --from-archive")
        upload = (await rig.wait_for(lambda: rig.jobs(kind="snapshot_upload")))[0]
        assert (await rig.wait_job(upload.id, timeout=300)).state == "done"
        await rig.wait_for(lambda: rig.services.outbox.backlog() == 0)
        up = {m for call in rig.slack.calls_to("chat.update")
              for m in re.findall(r"uploading: [^'\"\\]*", str(call.args))}
        assert len(up) >= 2 and all("%) at " in line for line in up), up


async def test_the_terminal_prints_a_downloads_progress(tmp_path: Path, monkeypatch) -> None:
    from bot import progress
    from bot.commands.parser import parse
    from snapbot.terminal import run_command
    from tests.jobs_support import domain

    monkeypatch.setattr(progress, "EVERY", 0.0)  # every chunk it can, instead of every 10 s
    async with domain(tmp_path, sim_options=SimulatorOptions(speed=200.0, archive_size=16 * MB)) as d:
        await d.run("snapshots create term-1")
        await d.finish()
        out: list[str] = []
        code = await run_command(d.services, parse("snapshots download term-1"), out=out.append,
                                 user="local:ops")
        assert code == 0, out
        lines = [line for line in out if ": downloading: " in line]
        assert len(lines) >= 2 and all(
            re.fullmatch(r"\[j-\w+\] running: downloading: [\d.]+ [KM]?B of 16\.0 MB \(\d+%\) at [\d.]+ MB/s", line)
            for line in lines), lines


@pytest.mark.slow
async def test_the_restores_safety_copy_shows_its_download_on_the_restore_card(tmp_path: Path) -> None:
    options = SimulatorOptions(speed=100.0, archive_size=512 * MB)
    async with make_rig(tmp_path, sim_options=options, clock=TickingClock()) as rig:
        await create_snapshot(rig, "big-r")
        job = await approved_restore(rig, "/cfy snapshots restore big-r --force", timeout=300)
        assert job.state == "done", job.error
        await rig.wait_for(lambda: rig.services.outbox.backlog() == 0)
        card_updates = [str(call.args) for call in rig.slack.calls_to("chat.update")
                        if f"Restore `{job.id}`" in str(call.args)]
        shown = {m for text in card_updates for m in re.findall(r"downloading: [^'\"\\]*", text)}
        assert shown and all("%) at " in line for line in shown), shown
        assert job.result.get("progress") is None  # gone once the copy is archived
