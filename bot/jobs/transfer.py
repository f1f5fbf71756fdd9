"""A job's transfer progress: its card shows bytes, percent and rate of the archive on its way
(the result's `progress`, rendered by the card builders), the terminal prints the same line,
at most every `bot.progress.EVERY` seconds of the job's clock."""
from __future__ import annotations

from bot import progress
from bot.archive_store.transfer import MeterFactory
from bot.jobs import payload
from bot.jobs.runner import JobContext
from bot.progress import TransferMeter, TransferView


def job_meter(ctx: JobContext, what: str, *, every: float | None = None) -> MeterFactory:
    """Meters for the job's transfer (one per pass over the stream), publishing every `every`
    seconds of the job's clock (default `EVERY`)."""
    every = progress.EVERY if every is None else every

    def make(total: int | None) -> TransferMeter:
        async def publish(view: TransferView) -> None:
            ctx.merge_result(progress=view.as_dict())
            await ctx.touch_card()  # the card re-rendered, the terminal told; no thread reply

        return TransferMeter(what, total, publish, clock=lambda: ctx.clock.now().timestamp(),
                             every=every)
    return make


def end_progress(ctx: JobContext) -> None:
    """The transfer is over: its card no longer shows it."""
    if payload.result_of(ctx.job).progress is not None:
        ctx.merge_result(progress=None)
