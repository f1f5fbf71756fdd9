"""Prometheus metrics (`/metrics` on `snapbot run`'s HTTP port), names prefixed `snapbot_`.

Built once per process in the composition root, on a registry of its own (never the global
default one, so tests and several apps in one process never share counters).

What the store already knows is read from it at scrape time, so every figure is right straight
after a restart: the last successful daily snapshot per manager (time and size), daily runs by
outcome, jobs by kind and final state, restore durations. What only the process sees is kept in
memory: manager reachability (a probe loop), Slack API errors, the outbox backlog.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from bot.clock import Clock, parse_time
from bot.cloudify.client import CloudifyClient
from bot.jobs.drill.payload import params_of
from bot.store import Store
from bot.tasks import cancel_and_wait, ensure_running

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: restore duration buckets (seconds): restores take minutes to an hour or two
RESTORE_BUCKETS = (60.0, 180.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0)
#: daily_runs statuses that are an outcome (queued/running rows are not counted yet)
DAILY_OUTCOMES = ("ok", "failed", "missed", "rejected", "expired", "cancelled")


def _ts(value: Any) -> float | None:
    when = parse_time(value) if isinstance(value, str) else value
    return when.timestamp() if isinstance(when, datetime) else None


class StoreCollector(Collector):
    """Figures derived from the store at each scrape. `drills`: (source manager, the age in
    seconds its drill schedule allows for its last passing drill)."""

    def __init__(self, store: Store, managers: Sequence[str],
                 drills: Sequence[tuple[str, float]] = ()) -> None:
        self.store = store
        self.managers = tuple(managers)
        self.drills = tuple(drills)

    def collect(self) -> Iterator[Any]:
        last_ts = GaugeMetricFamily(
            "snapbot_last_successful_snapshot_timestamp_seconds",
            "When the last successful daily snapshot of the manager finished (archived and "
            "verified), Unix time", labels=["manager"])
        last_size = GaugeMetricFamily(
            "snapbot_last_successful_snapshot_size_bytes",
            "Size of the last successful daily snapshot's archive", labels=["manager"])
        for run in self.store.last_daily_runs("ok"):
            ts = _ts(run.ended_at)
            if ts is not None:
                last_ts.add_metric([run.manager], ts)
                last_size.add_metric([run.manager], float(run.size or 0))
        yield last_ts
        yield last_size

        runs = CounterMetricFamily("snapbot_daily_runs", "Daily snapshot runs by outcome",
                                   labels=["manager", "outcome"])
        seen = set()
        for (manager, status), n in self.store.daily_run_counts(DAILY_OUTCOMES).items():
            runs.add_metric([manager, status], n)
            seen.add((manager, status))
        for m in self.managers:  # present from the start, so rate() and alerts see a zero
            for outcome in ("ok", "failed"):
                if (m, outcome) not in seen:
                    runs.add_metric([m, outcome], 0)
        yield runs

        jobs = CounterMetricFamily("snapbot_jobs", "Jobs that reached a final state, by kind "
                                   "and state", labels=["kind", "state"])
        for (kind, state), n in self.store.finished_job_counts().items():
            jobs.add_metric([kind, state], n)
        yield jobs

        yield self._restore_durations()
        yield from self._drills()

    def _drills(self) -> Iterator[Any]:
        """Restore drills by source manager: the last pass, the last one's duration, outcomes,
        and the age the schedule allows (what the SnapbotDrillOverdue alert compares)."""
        last_ok = GaugeMetricFamily(
            "snapbot_drill_last_success_timestamp_seconds",
            "When the last passing restore drill of the manager's archive ended, Unix time",
            labels=["manager"])
        duration = GaugeMetricFamily(
            "snapbot_drill_duration_seconds", "How long the manager's last finished restore "
            "drill took, from its start to its verdict", labels=["manager"])
        outcomes = CounterMetricFamily("snapbot_drills", "Finished restore drills by source "
                                       "manager and outcome (pass, fail)",
                                       labels=["manager", "outcome"])
        allowed = GaugeMetricFamily(
            "snapbot_drill_max_age_seconds", "The age the manager's drill schedule allows for "
            "its last passing drill (the longest gap between drills plus a day)",
            labels=["manager"])
        counts: dict[tuple[str, str], int] = {(m, o): 0 for m, _ in self.drills
                                              for o in ("pass", "fail")}
        seen_ok: set[str] = set()
        seen_last: set[str] = set()
        for job in self.store.list_jobs(kind="drill", unfinished=False, limit=100_000):
            source = params_of(job).source
            if job.state not in ("done", "failed"):
                continue
            outcome = "pass" if job.state == "done" else "fail"
            counts[(source, outcome)] = counts.get((source, outcome), 0) + 1
            ended = job.updated_at
            if source not in seen_last and ended is not None and job.created_at is not None:
                seen_last.add(source)
                duration.add_metric([source], max(0.0, (ended - job.created_at).total_seconds()))
            if outcome == "pass" and source not in seen_ok and ended is not None:
                seen_ok.add(source)
                last_ok.add_metric([source], ended.timestamp())
        for (source, outcome), n in sorted(counts.items()):
            outcomes.add_metric([source, outcome], n)
        for source, max_age in self.drills:
            allowed.add_metric([source], max_age)
        yield last_ok
        yield duration
        yield outcomes
        yield allowed

    def _restore_durations(self) -> HistogramMetricFamily:
        """From leaving `approved` (the runbook starts) to the final state, for every finished
        restore that started."""
        counts = [0] * len(RESTORE_BUCKETS)
        total, n = 0.0, 0
        for started, ended in self.store.restore_spans():
            d = max((ended - started).total_seconds(), 0.0)
            n += 1
            total += d
            for i, bound in enumerate(RESTORE_BUCKETS):
                if d <= bound:
                    counts[i] += 1
        cumulative = [(str(b), c) for b, c in zip(RESTORE_BUCKETS, counts, strict=True)] + [("+Inf", n)]
        h = HistogramMetricFamily("snapbot_restore_duration_seconds",
                                  "Restore runbook duration, from its start to its end")
        h.add_metric([], buckets=cumulative, sum_value=total)
        return h


class Metrics:
    """The process's registry and the metrics only the process sees. Made before anything
    that reports to it (the Slack notifier), then `watch` adds what the store knows."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.manager_up = Gauge("snapbot_manager_up", "1 if the manager answered the last probe, "
                                "0 if it could not be reached", ["manager"], registry=self.registry)
        self.slack_api_errors = Counter("snapbot_slack_api_errors", "Slack Web API calls that "
                                        "failed, by method", ["method"], registry=self.registry)
        self._backlog: Callable[[], int] = lambda: 0
        backlog = Gauge("snapbot_outbox_backlog", "Slack messages waiting to be delivered",
                        registry=self.registry)
        backlog.set_function(lambda: self._backlog())  # read when scraped: watch() sets it later
        self._watching = False

    def watch(self, store: Store, managers: Sequence[str], *,
              outbox_backlog: Callable[[], int] | None = None,
              drills: Sequence[tuple[str, float]] = ()) -> None:
        """Derive the store's figures at each scrape (once per Metrics)."""
        if not self._watching:
            self.registry.register(StoreCollector(store, managers, drills))
            self._watching = True
        if outbox_backlog is not None:
            self._backlog = outbox_backlog

    def slack_error(self, method: str) -> None:
        self.slack_api_errors.labels(method=method).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


class ManagerProbe:
    """Asks each manager `GET /snapshot-status` (cheap, no auth) every `interval` seconds and
    sets `snapbot_manager_up`."""

    def __init__(self, metrics: Metrics, clients: dict[str, CloudifyClient], clock: Clock, *,
                 interval: float = 30.0, timeout: float = 10.0) -> None:
        self.metrics = metrics
        self.clients = clients
        self.clock = clock
        self.interval = interval
        self.timeout = timeout
        self._task: asyncio.Task[None] | None = None

    async def probe_once(self) -> dict[str, bool]:
        async def one(name: str, client: CloudifyClient) -> tuple[str, bool]:
            try:
                await client.snapshot_status(retries=0, timeout=self.timeout)
                return name, True
            except Exception as exc:
                log.debug("probe of %s failed: %s", name, type(exc).__name__)
                return name, False
        results = dict(await asyncio.gather(*(one(n, c) for n, c in self.clients.items())))
        for name, up in results.items():
            self.metrics.manager_up.labels(manager=name).set(1 if up else 0)
        return results

    async def _loop(self) -> None:
        while True:
            try:
                await self.probe_once()
            except Exception:
                log.exception("manager probe failed")
            await self.clock.sleep(self.interval)

    def start(self) -> None:
        self._task = ensure_running(self._task, self._loop, "manager-probe")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)
