"""Block Kit builders for the daily snapshot job: the report, the missed-run notice, the job card
and the `/cfy snapshots schedule` answer. Pure functions of their data; no I/O.
"""
from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.jobs.daily.machine import DAILY
from bot.jobs.daily.payload import params_of
from bot.messages.blocks import context, human_duration, human_size, section
from bot.messages.jobs import transfer_line
from bot.messages.text import archive_name
from bot.store import Job, RunRecord, Transition

Message = dict[str, Any]

RETRY_ACTION = "daily_retry"
SPARK = "▁▂▃▄▅▆▇█"
SIZE_DROP = 0.30  # a size drop of more than this vs the previous good run is suspicious
SLOW_FACTOR = 2.0  # a duration of at least this times the median is suspicious


@dataclass(frozen=True)
class DailyOutcome:
    """What one daily run did, for the report."""
    manager: str
    ok: bool
    snapshot_id: str
    slot_label: str = ""
    trigger: str = "schedule"  # schedule | catch-up | manual | retry
    job_id: str = ""
    size: int | None = None
    duration_s: float | None = None
    archive_path: str = ""
    sha256: str = ""
    removed_on_manager: tuple[str, ...] = ()
    removed_archives: tuple[str, ...] = ()
    kept_notes: tuple[str, ...] = ()  # why retention kept something it would otherwise remove
    retention_errors: tuple[str, ...] = ()
    failed_step: str = ""
    error: str = ""
    left_behind: tuple[str, ...] = ()
    history: tuple[RunRecord, ...] = ()  # this manager's recent runs, oldest first, incl. this one


@dataclass(frozen=True)
class Trend:
    sizes: tuple[int, ...]
    durations: tuple[float, ...]
    flags: tuple[str, ...]


def sparkline(values: Sequence[float]) -> str:
    if not values:
        return ""
    lo, hi = min(values), max(values)
    if hi == lo:
        return SPARK[3] * len(values)
    top = len(SPARK) - 1
    return "".join(SPARK[round((v - lo) / (hi - lo) * top)] for v in values)


def trend(history: Sequence[RunRecord], current: RunRecord | None = None) -> Trend:
    """Sizes and durations of the successful runs in `history` (oldest first), and flags for the
    `current` run: a size drop of more than 30% vs the previous good run, or a duration of at
    least twice the median of the previous good runs."""
    good = [r for r in history if r.status == "ok" and r.size is not None]
    sizes = tuple(int(r.size or 0) for r in good)
    durations = tuple(float(r.duration_s or 0.0) for r in good)
    flags: list[str] = []
    if current is not None and current.status == "ok":
        before = [r for r in good if r.slot < current.slot]
        if before and current.size is not None and before[-1].size:
            prev = before[-1].size
            if current.size < prev * (1 - SIZE_DROP):
                drop = 100 * (prev - current.size) / prev
                flags.append(f"size dropped {drop:.0f}% vs the previous run "
                             f"({human_size(prev)} → {human_size(current.size)})")
        past = [float(r.duration_s) for r in before if r.duration_s]
        if past and current.duration_s is not None:
            median = statistics.median(past)
            if median > 0 and current.duration_s >= SLOW_FACTOR * median:
                flags.append(f"took {human_duration(current.duration_s)}, at least twice the "
                             f"median {human_duration(median)}")
    return Trend(sizes=sizes, durations=durations, flags=tuple(flags))


def retry_button(manager: str) -> dict[str, Any]:
    return {"type": "actions", "block_id": f"daily_retry:{manager}", "elements": [{
        "type": "button", "action_id": RETRY_ACTION, "value": manager, "style": "primary",
        "text": {"type": "plain_text", "text": "Retry now"}}]}


def _trend_lines(outcome: DailyOutcome) -> list[str]:
    current = next((r for r in reversed(outcome.history) if r.snapshot_id == outcome.snapshot_id),
                   None)
    t = trend(outcome.history, current)
    lines = []
    if t.sizes:
        lines.append(f"size    `{sparkline(t.sizes)}`  min {human_size(min(t.sizes))} · "
                     f"max {human_size(max(t.sizes))}")
        lines.append(f"time    `{sparkline(t.durations)}`  min {human_duration(min(t.durations))} · "
                     f"max {human_duration(max(t.durations))}")
    failed = sum(1 for r in outcome.history if r.status == "failed")
    missed = sum(1 for r in outcome.history if r.status == "missed")
    if failed or missed:
        lines.append(f"last 14 days: {len(t.sizes)} ok, {failed} failed, {missed} missed")
    for flag in t.flags:
        lines.append(f":warning: suspicious: {flag}")
    return lines


def daily_report(outcome: DailyOutcome) -> Message:
    """The daily report of one manager: loud on failure (step, error, leftovers, Retry now)."""
    m = outcome.manager
    when = f" ({outcome.slot_label})" if outcome.slot_label else ""
    blocks: list[dict[str, Any]] = []
    if outcome.ok:
        head = f":white_check_mark: *Daily snapshot of {m}: ok*{when}"
        body = [f"snapshot `{outcome.snapshot_id}` · {human_size(outcome.size)} · "
                f"{human_duration(outcome.duration_s)}",
                f"archived at `{archive_name(outcome.archive_path)}` · sha256 `{outcome.sha256[:12]}`"]
        fallback = (f"Daily snapshot of {m}: ok, {outcome.snapshot_id}, {human_size(outcome.size)}, "
                    f"{human_duration(outcome.duration_s)}")
    else:
        head = f":rotating_light: *Daily snapshot of {m}: FAILED* at step *{outcome.failed_step}*{when}"
        body = [f"snapshot `{outcome.snapshot_id}`",
                f"error: {outcome.error or 'unknown error'}"]
        for item in outcome.left_behind:
            body.append(f"left behind: {item}")
        fallback = (f"Daily snapshot of {m} FAILED at {outcome.failed_step}: "
                    f"{outcome.error or 'unknown error'}")
    blocks.append(section(head + "\n" + "\n".join(body)))
    removed = []
    if outcome.removed_on_manager:
        removed.append("removed on the manager: " + ", ".join(f"`{s}`" for s in outcome.removed_on_manager))
    if outcome.removed_archives:
        removed.append("removed from the archive: " + ", ".join(f"`{s}`" for s in outcome.removed_archives))
    if outcome.ok and not removed:
        removed.append("retention removed nothing")
    removed += [f"kept: {n}" for n in outcome.kept_notes]
    removed += [f":warning: retention: {e}" for e in outcome.retention_errors]
    if removed:
        blocks.append(section("\n".join(removed)))
    trend_lines = _trend_lines(outcome)
    if trend_lines:
        blocks.append(section("*Trend, last 14 days*\n" + "\n".join(trend_lines)))
        if any("suspicious" in line for line in trend_lines):
            fallback += " (suspicious)"
    ctx = f"trigger: {outcome.trigger}" + (f" · job `{outcome.job_id}`" if outcome.job_id else "")
    blocks.append(context(ctx))
    if not outcome.ok:
        blocks.append(retry_button(m))
    return {"text": fallback, "blocks": blocks}


def missed_report(manager: str, slot_label: str, reason: str = "") -> Message:
    text = (f":warning: *Daily snapshot of {manager} missed* for {slot_label}"
            + (f": {reason}" if reason else ": the bot was not running within the grace time"))
    return {"text": f"Daily snapshot of {manager} missed for {slot_label}",
            "blocks": [section(text), retry_button(manager)]}


def scheduler_problem(manager: str, text: str) -> Message:
    return {"text": f"Daily snapshot scheduler: {text}",
            "blocks": [section(f":warning: *Daily snapshot scheduler*: {text}"), retry_button(manager)]}


def daily_card(job: Job, transitions: Sequence[Transition]) -> Message:
    """The status card of a daily job (updated in place by the runner)."""
    sid = params_of(job).snapshot_id
    state = DAILY.label(job.state)
    icon = {"done": ":white_check_mark:", "failed": ":x:", "cancelled": ":no_entry_sign:"}.get(
        job.state, ":hourglass_flowing_sand:")
    text = f"{icon} Daily snapshot of *{job.manager}* `{sid}`: {state}"
    if job.error:
        text += f"\nerror: {job.error}"
    steps = " → ".join(t.to_state for t in transitions)
    blocks = [section(text)]
    if (line := transfer_line(job)) is not None:
        blocks.append(context(line))
    return {"text": f"Daily snapshot of {job.manager} ({sid}): {job.state}",
            "blocks": blocks + [context(f"job `{job.id}` · {steps}")]}


@dataclass(frozen=True)
class ScheduleView:
    manager: str
    enabled: bool
    cron: str
    timezone: str
    next_run: datetime | None
    next_run_local: str
    keep_on_manager: int
    keep_archived: int
    archive_dir: str
    last_runs: tuple[RunRecord, ...] = ()  # newest first


def schedule_message(view: ScheduleView) -> Message:
    """The answer to `/cfy snapshots schedule`."""
    state = "enabled" if view.enabled else "*disabled*"
    lines = [f"*Daily snapshots of {view.manager}* ({state})",
             f"cron `{view.cron}` in {view.timezone}",
             f"next run: {view.next_run_local if view.enabled else '—'}",
             f"retention: keep {view.keep_on_manager} on the manager, "
             f"{view.keep_archived} in the archive's `{view.archive_dir}`"]
    runs = []
    for r in view.last_runs:
        icon = {"ok": ":white_check_mark:", "failed": ":x:", "missed": ":warning:"}.get(r.status, "•")
        bits = [f"{icon} {r.slot:%Y-%m-%d %H:%M}Z {r.status}"]
        if r.snapshot_id:
            bits.append(f"`{r.snapshot_id}`")
        if r.size is not None and r.status == "ok":
            bits.append(human_size(r.size))
        if r.duration_s is not None and r.status in ("ok", "failed"):
            bits.append(human_duration(r.duration_s))
        runs.append(" · ".join(bits))
    blocks = [section("\n".join(lines))]
    blocks.append(section("*Last runs*\n" + ("\n".join(runs) if runs else "no runs yet")))
    return {"text": f"Daily snapshots of {view.manager}: {view.cron} {view.timezone}, next "
                    f"{view.next_run_local}", "blocks": blocks}


def notice(text: str) -> Message:
    return {"text": text, "blocks": [section(text)]}
