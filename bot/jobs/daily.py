"""Daily snapshots kept off the manager (issue 6).

Per manager and per scheduled slot: create `daily-<manager>-<YYYYMMDD-HHMM>` → wait until it is
`created` → download it to the archive (verified, atomic) → retention → record the run in
`daily_runs` → post the daily report. It is a job of the runner (kind `daily`) with its own
state machine, so a run interrupted by a restart resumes from the store.

The `daily_runs` primary key (manager, slot) is the lock: the row is inserted in the same
transaction that creates the job, before anything happens on the manager, so two bot instances
sharing a database never run the same slot twice.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable, Sequence

from bot import archive
from bot.clock import iso, parse_time
from bot.cloudify.models import USABLE_SNAPSHOT_STATUSES
from bot.errors import ArchiveError, JobConflict, ManagerUnavailable, NotFound, SnapbotError
from bot.invocation import Invocation, Reply
from bot.jobs.machine import StateMachine, table
from bot.jobs.runner import JobContext
from bot.messages import daily as msg
from bot.messages.daily import DailyOutcome, RunRecord, ScheduleView
from bot.scheduler import DailyScheduler, is_due, latest_slot, next_slot, zone
from bot.store import Job, Store, Transition
from bot.partials import partial_name

log = logging.getLogger(__name__)

KIND = "daily"
HISTORY_DAYS = 14

DAILY = StateMachine(
    name="daily",
    initial="queued",
    #: a gated `schedule run-now` waits for approval first (bot.approvals moves it to queued)
    waiting=frozenset({"awaiting_approval"}),
    table=table(
        awaiting_approval=("queued", "rejected", "expired", "cancelled"),
        queued=("creating", "failed", "cancelled"),
        creating=("downloading", "failed", "cancelled"),
        downloading=("retention", "failed", "cancelled"),
        retention=("reporting", "failed", "cancelled"),
        reporting=("done", "failed"),
        done=(),
        failed=(),
        cancelled=(),
        rejected=(),
        expired=(),
    ),
)

GATE = "snapshots.schedule.run-now"


# -- naming ------------------------------------------------------------------------------------
def snapshot_prefix(manager: str) -> str:
    return f"daily-{manager}-"


def snapshot_id_for(manager: str, slot: datetime, tz_name: str) -> str:
    """`daily-<manager>-<YYYYMMDD-HHMM>` in the configured zone; off-minute (manual) slots get
    seconds too, so a retry right after a failed run gets a fresh id."""
    local = slot.astimezone(zone(tz_name))
    return snapshot_prefix(manager) + local.strftime("%Y%m%d-%H%M" + ("%S" if local.second else ""))


def _time_from_id(snapshot_id: str, manager: str, tz_name: str) -> datetime | None:
    prefix = snapshot_prefix(manager)
    if not snapshot_id.startswith(prefix):
        return None
    label = snapshot_id[len(prefix):]
    for fmt in ("%Y%m%d-%H%M%S", "%Y%m%d-%H%M"):
        try:
            return datetime.strptime(label, fmt).replace(tzinfo=zone(tz_name)).astimezone(timezone.utc)
        except ValueError:
            continue
    return None


# -- retention (pure) --------------------------------------------------------------------------
@dataclass(frozen=True)
class ManagerCopy:
    id: str
    status: str
    when: datetime | None
    ours: bool  # created by snapbot's daily job


@dataclass(frozen=True)
class ArchivedCopy:
    id: str
    when: datetime | None
    verified: bool  # present, a valid zip, sha256 equal to its sidecar
    ours: bool


@dataclass(frozen=True)
class RetentionPlan:
    delete_on_manager: tuple[str, ...] = ()
    delete_archives: tuple[str, ...] = ()
    kept: tuple[str, ...] = ()  # notes: copies kept only because deleting them was unsafe


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _newest_first(items: Iterable[Any]) -> list[Any]:
    return sorted(items, key=lambda c: (c.when or _EPOCH, c.id), reverse=True)


def plan_retention(on_manager: Sequence[ManagerCopy], archived: Sequence[ArchivedCopy], *,
                   keep_on_manager: int, keep_archived: int, delete_foreign: bool = False,
                   protect: Iterable[str] = ()) -> RetentionPlan:
    """Decide what retention deletes. Rules:

    - Only snapbot's own daily copies are candidates, unless `delete_foreign`.
    - Manager: keep the newest `keep_on_manager` usable snapshots; an older usable one goes only
      if its archived copy is verified (never delete the only good copy). Failed snapshots of
      ours go; snapshots still being created and ids in `protect` are never touched.
    - Archive: keep the newest `keep_archived`; the newest verified archive is never deleted,
      even when it is older than that (e.g. the newer ones are all corrupt).
    """
    protect = set(protect)
    verified_ids = {a.id for a in archived if a.verified}
    kept: list[str] = []

    delete_m: list[str] = []
    # protected copies count towards the kept N/M; they are just never deleted
    candidates = [c for c in on_manager if c.ours or delete_foreign]
    usable = _newest_first(c for c in candidates if c.status in USABLE_SNAPSHOT_STATUSES)
    for c in usable[max(keep_on_manager, 0):]:
        if c.id in protect:
            continue
        if c.id in verified_ids:
            delete_m.append(c.id)
        else:
            kept.append(f"`{c.id}` stays on the manager: it has no verified archived copy")
    delete_m += [c.id for c in _newest_first(candidates)
                 if c.status == "failed" and c.ours and c.id not in protect]

    delete_a: list[str] = []
    newest_verified = next((a.id for a in _newest_first(archived) if a.verified), None)
    candidates_a = _newest_first(a for a in archived if a.ours or delete_foreign)
    for a in candidates_a[max(keep_archived, 0):]:
        if a.id in protect:
            continue
        if a.id == newest_verified:
            kept.append(f"archive `{a.id}` stays: it is the newest verified copy")
            continue
        delete_a.append(a.id)
    return RetentionPlan(tuple(delete_m), tuple(delete_a), tuple(kept))


# -- daily_runs --------------------------------------------------------------------------------
RUN_FIELDS = ("job_id", "status", "snapshot_id", "size", "duration_s", "archive_path", "sha256",
              "detail", "started_at", "ended_at")


class RunLog:
    """Access to the `daily_runs` table through the store's connection."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def insert(self, manager: str, slot: datetime, **values: Any) -> bool:
        """Insert the slot's row; False if it exists already (someone else has the slot)."""
        row = {"manager": manager, "slot": iso(slot), **self._encode(values)}
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        try:
            self.store.db.execute(f"insert into daily_runs ({cols}) values ({marks})", list(row.values()))
        except sqlite3.IntegrityError:
            return False
        return True

    def update(self, manager: str, slot: datetime, **values: Any) -> None:
        enc = self._encode(values)
        sets = ", ".join(f"{k} = ?" for k in enc)
        self.store.db.execute(f"update daily_runs set {sets} where manager = ? and slot = ?",
                              [*enc.values(), manager, iso(slot)])

    def get(self, manager: str, slot: datetime) -> RunRecord | None:
        rows = list(self.store.db.query("select * from daily_runs where manager = ? and slot = ?",
                                        [manager, iso(slot)]))
        return _record(rows[0]) if rows else None

    def recent(self, manager: str, *, since: datetime | None = None, limit: int = 100) -> list[RunRecord]:
        """Newest first."""
        sql, args = "select * from daily_runs where manager = ?", [manager]
        if since is not None:
            sql += " and slot >= ?"
            args.append(iso(since))
        sql += " order by slot desc limit ?"
        return [_record(r) for r in self.store.db.query(sql, [*args, limit])]

    @staticmethod
    def _encode(values: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for k, v in values.items():
            if k not in RUN_FIELDS:
                raise ValueError(f"daily_runs has no column {k}")
            if isinstance(v, datetime):
                v = iso(v)
            elif k == "detail" and not isinstance(v, str):
                v = json.dumps(v, sort_keys=True, default=str)
            out[k] = v
        return out


def _record(r: dict[str, Any]) -> RunRecord:
    try:
        detail = json.loads(r["detail"]) if r.get("detail") else {}
    except ValueError:
        detail = {"text": r["detail"]}
    return RunRecord(manager=r["manager"], slot=parse_time(r["slot"]), status=r["status"] or "",
                     job_id=r["job_id"] or "", snapshot_id=r["snapshot_id"] or "", size=r["size"],
                     duration_s=r["duration_s"], archive_path=r["archive_path"] or "",
                     sha256=r["sha256"] or "", detail=detail if isinstance(detail, dict) else {},
                     started_at=parse_time(r["started_at"]), ended_at=parse_time(r["ended_at"]))


# -- the job driver ----------------------------------------------------------------------------
class StepFailed(SnapbotError):
    """A daily step failed with a message for the report."""


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ManagerUnavailable):
        return exc.manager_message  # "cannot reach the manager (ConnectError)", not the raw call
    if isinstance(exc, SnapbotError):
        return exc.user_message
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror or type(exc).__name__}{where}"
    return f"unexpected error: {type(exc).__name__}"


class DailyDriver:
    kind = KIND
    machine = DAILY

    def __init__(self, service: "DailyService") -> None:
        self.service = service

    def render(self, job: Job, transitions: list[Transition]) -> dict[str, Any]:
        return msg.daily_card(job, transitions)

    async def run(self, ctx: JobContext) -> None:
        svc = self.service
        job = ctx.job
        slot = parse_time(job.params["slot"])
        sid = job.params["snapshot_id"]
        client = svc.services.client(job.manager)
        step = job.state
        try:
            if job.state == "queued":
                busy = svc.services.runner.busy_on(job.manager, exclude=job.id)
                if busy:
                    raise StepFailed(f"manager {job.manager} is busy with job {busy[0].id} "
                                     f"({busy[0].kind}, {busy[0].state})")
                svc.runs.update(job.manager, slot, status="running", started_at=ctx.clock.now())
                await ctx.move("creating", f"creating snapshot {sid}")
            step = ctx.job.state
            if ctx.job.state == "creating":
                await self._create(ctx, client, sid)
                await ctx.move("downloading", f"snapshot {sid} created; downloading")
            step = ctx.job.state
            if ctx.job.state == "downloading":
                info = await self._download(ctx, client, sid)
                ctx.merge_result(archive_path=info.path, size=info.size, sha256=info.sha256)
                await ctx.move("retention", f"archived {info.path}")
            step = ctx.job.state
            if ctx.job.state == "retention":
                await self._retention(ctx, client, sid)
                await ctx.move("reporting", "retention applied")
            step = ctx.job.state
            if ctx.job.state == "reporting":
                await svc.finish(ctx.job, ok=True)
                await ctx.move("done", "daily snapshot archived")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if isinstance(exc, StepFailed):
                log.warning("daily job %s failed at %s: %s", job.id, step, exc)
            else:
                log.exception("daily job %s failed at %s", job.id, step)
            error = _describe(exc)
            left = await self._left_behind(ctx, client, sid, step)
            ctx.merge_result(failed_step=step, left_behind=left)
            # record and report first, then the terminal state: whoever waits for the job to
            # finish finds the run recorded and the report posted
            await svc.finish(ctx.refresh(), ok=False, failed_step=step, error=error, left_behind=left)
            if not DAILY.is_terminal(ctx.refresh().state):
                await ctx.move("failed", f"{step}: {error}", error=error)

    async def _create(self, ctx: JobContext, client: Any, sid: str) -> None:
        rb = self.service.settings.runbook
        try:
            snap = await client.get_snapshot(sid)  # resumed: it may exist already
        except NotFound:
            await client.create_snapshot(sid)
            snap = None
        deadline = ctx.clock.now() + timedelta(seconds=rb.snapshot_timeout_seconds)
        interval = rb.poll_interval_seconds
        while True:
            if snap is not None:
                if snap.status in USABLE_SNAPSHOT_STATUSES:
                    return
                if snap.status == "failed":
                    raise StepFailed(f"the manager failed to create {sid}: {snap.error or 'no reason given'}")
            if ctx.clock.now() >= deadline:
                raise StepFailed(f"snapshot {sid} was not created within "
                                 f"{int(rb.snapshot_timeout_seconds)}s (status {snap.status if snap else '?'})")
            await ctx.clock.sleep(interval)
            interval = min(interval * 2, rb.poll_max_interval_seconds)
            snap = await client.get_snapshot(sid)

    async def _download(self, ctx: JobContext, client: Any, sid: str) -> Any:
        dest = archive.archive_path(self.service.settings.archive_dir, ctx.job.manager, sid)
        if dest.exists():  # resumed after the rename: keep it if it checks out
            try:
                return await asyncio.to_thread(archive.verify_archived, dest)
            except ArchiveError:
                pass
        return await download_verified(client, sid, dest)

    async def _retention(self, ctx: JobContext, client: Any, sid: str) -> None:
        svc = self.service
        manager = ctx.job.manager
        ret = svc.settings.retention
        tz = svc.settings.schedule.timezone
        prefix = snapshot_prefix(manager)
        snaps = await client.list_snapshots()
        on_manager = [ManagerCopy(s.id, s.status, _time_from_id(s.id, manager, tz) or s.created_at,
                                  s.id.startswith(prefix)) for s in snaps]
        check = manager_deletion_candidates(on_manager, ret.keep_on_manager, ret.delete_foreign)
        archived = await asyncio.to_thread(scan_archive, svc.settings.archive_dir, manager, tz,
                                           check | {sid})
        plan = plan_retention(on_manager, archived, keep_on_manager=ret.keep_on_manager,
                              keep_archived=ret.keep_archived, delete_foreign=ret.delete_foreign,
                              protect=[sid])
        removed_m, removed_a, errors = [], [], []
        for snap_id in plan.delete_on_manager:
            try:
                await client.delete_snapshot(snap_id)
                removed_m.append(snap_id)
            except NotFound:
                removed_m.append(snap_id)
            except Exception as exc:
                log.warning("retention: could not delete %s on %s: %s", snap_id, manager, exc)
                errors.append(f"could not delete `{snap_id}` on the manager: {_describe(exc)}")
        for snap_id in plan.delete_archives:
            path = archive.archive_path(svc.settings.archive_dir, manager, snap_id)
            try:
                path.unlink(missing_ok=True)
                archive.sidecar_path(path).unlink(missing_ok=True)
                removed_a.append(snap_id)
            except OSError as exc:
                errors.append(f"could not delete archive `{path.name}`: {_describe(exc)}")
        ctx.merge_result(removed_on_manager=removed_m, removed_archives=removed_a,
                         kept_notes=list(plan.kept), retention_errors=errors)

    async def _left_behind(self, ctx: JobContext, client: Any, sid: str, step: str) -> list[str]:
        """What a failed run leaves on the manager and on disk, for the report."""
        out: list[str] = []
        if step in ("queued",):
            return out
        unknown = False
        try:
            snap = await client.get_snapshot(sid)
        except NotFound:
            snap = None
        except Exception:
            out.append(f"could not check whether `{sid}` exists on the manager")
            snap, unknown = None, True
        dest = archive.archive_path(self.service.settings.archive_dir, ctx.job.manager, sid)
        archived = dest.exists()
        if snap is not None:
            if snap.status in USABLE_SNAPSHOT_STATUSES and not archived:
                out.append(f"snapshot `{sid}` created on the manager but not archived")
            elif snap.status in USABLE_SNAPSHOT_STATUSES:
                out.append(f"snapshot `{sid}` is on the manager and archived at `{dest}`")
            else:
                out.append(f"snapshot `{sid}` is on the manager in status {snap.status}")
        elif step == "creating" and not unknown:  # unchecked: claiming nothing would be a guess
            out.append("nothing was created on the manager")
        if not archived and step in ("creating", "downloading"):
            out.append("no archive file was written (no partial file left)")
        return out


def scan_archive(archive_dir: str | Path, manager: str, tz_name: str,
                 check: Iterable[str] | None = None) -> list[ArchivedCopy]:
    """The manager's archived copies. Verifying (zip CRCs, sha256 against the sidecar) reads the
    whole file, so only the copies retention's decisions depend on are verified: the ids in
    `check`, and the newest ones until one passes (the newest verified copy). The others are
    reported unverified, which only ever makes retention keep more. `check=None` verifies all."""
    prefix = snapshot_prefix(manager)
    copies = []
    for path in archive.list_archived(archive_dir, manager):
        sid = path.name[:-len(".zip")]
        when = _time_from_id(sid, manager, tz_name)
        if when is None:
            when = datetime.fromtimestamp(path.stat().st_mtime, timezone.utc)
        copies.append(ArchivedCopy(sid, when, False, sid.startswith(prefix)))
    wanted = None if check is None else set(check)
    found_newest = False
    out = []
    for c in _newest_first(copies):
        ok = False
        if wanted is None or c.id in wanted or not found_newest:
            try:
                archive.verify_archived(archive.archive_path(archive_dir, manager, c.id))
                ok = True
            except ArchiveError:
                ok = False
            found_newest = found_newest or ok
        out.append(ArchivedCopy(c.id, c.when, ok, c.ours))
    return out


def manager_deletion_candidates(on_manager: Sequence[ManagerCopy], keep: int,
                                delete_foreign: bool) -> set[str]:
    """Usable snapshots beyond the newest `keep` (whose archives must be verified to go)."""
    usable = _newest_first(c for c in on_manager if (c.ours or delete_foreign)
                           and c.status in USABLE_SNAPSHOT_STATUSES)
    return {c.id for c in usable[max(keep, 0):]}


async def download_verified(client: Any, snapshot_id: str, dest: Path) -> Any:
    """Download to a hidden staging name beside `dest` (the client streams to its own temp
    file, checks the zip and hashes it), check the manager's metadata.json is inside, write the
    sidecar for the final name, then rename. On failure nothing is left under either name."""
    dest = Path(dest)
    staging = dest.with_name(partial_name(dest.name, "staging"))
    final_side = archive.sidecar_path(dest)
    moved = False
    try:
        info = await client.download_snapshot(snapshot_id, staging)
        await asyncio.to_thread(_check_metadata, staging, snapshot_id)
        archive.write_sidecar(dest, info.sha256)
        os.replace(staging, dest)
        moved = True
        return type(info)(path=str(dest), size=info.size, sha256=info.sha256)
    except OSError as exc:
        raise ArchiveError(f"could not write the archive {dest}: {exc.strerror or exc}") from None
    finally:
        if not moved:
            for p in (staging, archive.sidecar_path(staging), final_side):
                try:
                    p.unlink(missing_ok=True)
                except OSError:
                    pass
        else:
            archive.sidecar_path(staging).unlink(missing_ok=True)


def _check_metadata(path: Path, snapshot_id: str) -> None:
    import zipfile
    with zipfile.ZipFile(path) as zf:
        if "metadata.json" not in zf.namelist():
            raise ArchiveError(f"the archive of {snapshot_id} has no metadata.json: not a "
                               f"Cloudify snapshot")


# -- the service -------------------------------------------------------------------------------
class DailyService:
    """Schedules the daily job, catches up missed slots, runs the job on demand and answers
    `/cfy snapshots schedule`."""

    def __init__(self, services: Any) -> None:
        self.services = services
        self.settings = services.settings
        self.runs = RunLog(services.store)
        self.driver = DailyDriver(self)
        self.scheduler = DailyScheduler(self.settings.schedule,
                                        [m.name for m in self.settings.managers], services.clock,
                                        fire=self.fire, on_problem=self._problem)

    @property
    def channel(self) -> str:
        return self.settings.slack.channel

    # lifecycle
    async def start(self) -> None:
        if not self.settings.schedule.enabled:
            log.info("daily snapshots are disabled by config")
            return
        self.scheduler.start()
        await self.catch_up()

    async def stop(self) -> None:
        self.scheduler.stop()

    # scheduling
    async def fire(self, manager: str) -> Job | None:
        """What the cron job calls: run the slot due now (a coalesced or late firing runs the
        slot it belongs to; a slot already claimed is left alone)."""
        now = self.services.clock.now()
        slot = latest_slot(self.settings.schedule, now)
        if slot is None:
            return None
        return await self.start_slot(manager, slot, trigger="schedule")

    async def catch_up(self) -> dict[str, str]:
        """At start: for each manager, the latest slot before now with no run row is run now if
        it is within the misfire grace time, else recorded and reported as missed (unless the
        manager has no run history at all: on a first start nothing was missed)."""
        now = self.services.clock.now()
        out: dict[str, str] = {}
        for m in self.settings.managers:
            slot = latest_slot(self.settings.schedule, now)
            if slot is None or self.runs.get(m.name, slot) is not None:
                continue
            if is_due(self.settings.schedule, slot, now):
                job = await self.start_slot(m.name, slot, trigger="catch-up")
                out[m.name] = f"started {job.id}" if job else "taken"
            elif not self.runs.recent(m.name, limit=1):
                # a first start: the bot was not down, it did not exist yet; nothing was missed
                log.info("daily snapshots of %s: first start, next run %s", m.name,
                         next_slot(self.settings.schedule, now))
            else:
                await self.record_missed(m.name, slot)
                out[m.name] = "missed"
        return out

    async def record_missed(self, manager: str, slot: datetime, reason: str = "") -> bool:
        tz = self.settings.schedule.timezone
        if not self.runs.insert(manager, slot, status="missed", ended_at=self.services.clock.now(),
                                snapshot_id=snapshot_id_for(manager, slot, tz),
                                detail={"reason": reason or "not run within the grace time"}):
            return False
        await self._post(msg.missed_report(manager, _local(slot, tz), reason))
        return True

    async def start_slot(self, manager: str, slot: datetime, *, trigger: str, requester: str = "",
                         channel: str = "", idem_key: str | None = None,
                         gated: bool = False) -> Job | None:
        """Claim (manager, slot) and create the job in one transaction, then start it (or,
        when `gated`, open the approval request). Returns None if the slot was already claimed
        (by this or another instance)."""
        store = self.services.store
        tz = self.settings.schedule.timezone
        sid = snapshot_id_for(manager, slot, tz)
        params = {"slot": iso(slot), "snapshot_id": sid, "trigger": trigger}
        try:
            with store._tx():
                if not self.runs.insert(manager, slot, status="queued", snapshot_id=sid):
                    return None
                job = store.create_job(KIND, manager, "awaiting_approval" if gated else DAILY.initial,
                                       params=params,
                                       requester=requester or "snapbot",
                                       channel=channel or self.channel, idem_key=idem_key,
                                       actor=requester or "scheduler",
                                       detail=f"daily snapshot ({trigger})")
                self.runs.update(manager, slot, job_id=job.id)
        except JobConflict:
            return None
        if gated:
            await self.services.approvals.open(job)
        else:
            self.services.runner.start(job.id)
        return job

    async def resume_unfinished(self, manager: str) -> list[Job]:
        """Finish daily runs of `manager` an earlier process left half-done (the terminal entry
        point does not resume every job the way `snapbot run` does)."""
        out = []
        for job in self.services.store.list_jobs(unfinished=True, manager=manager, kind=KIND):
            if job.state in DAILY.waiting:
                continue
            self.services.runner.start(job.id)
            out.append(await self.services.runner.wait(job.id))
        return out

    async def run_once(self, manager: str | None) -> Job:
        """Run the daily job for `manager` now and wait for it (terminal, tests)."""
        name = self.settings.manager(manager).name
        await self.resume_unfinished(name)
        job = await self._start_manual(name, trigger="manual")
        return await self.services.runner.wait(job.id)

    async def _start_manual(self, manager: str, *, trigger: str, requester: str = "",
                            channel: str = "", idem_key: str | None = None,
                            gated: bool = False) -> Job:
        if idem_key:
            existing = self.services.store.find_by_idem_key(idem_key)
            if existing is not None:
                return existing
        self.services.runner.ensure_free(manager)
        now = self.services.clock.now().replace(microsecond=0)
        for _ in range(3):
            job = await self.start_slot(manager, now, trigger=trigger, requester=requester,
                                        channel=channel, idem_key=idem_key, gated=gated)
            if job is not None:
                return job
            if idem_key and (existing := self.services.store.find_by_idem_key(idem_key)):
                return existing
            now += timedelta(seconds=1)
        raise JobConflict(f"a daily run of {manager} was started just now; try again in a moment")

    async def run_now(self, manager: str | None, inv: Invocation) -> Reply:
        """`/cfy snapshots schedule run-now`: start the daily job now (the dispatcher has
        already applied approval gating)."""
        return await self._manual_reply(manager, inv, trigger="manual")

    async def retry(self, manager: str | None, inv: Invocation) -> Reply:
        """The Retry now button of a failed or missed report."""
        return await self._manual_reply(manager, inv, trigger="retry")

    async def _manual_reply(self, manager: str | None, inv: Invocation, *, trigger: str) -> Reply:
        try:
            name = self.settings.manager(manager).name
            gated = GATE in self.settings.approvals.gated
            job = await self._start_manual(name, trigger=trigger, requester=inv.user,
                                           channel=self.channel or inv.channel, idem_key=inv.idem_key,
                                           gated=gated)
        except SnapbotError as exc:
            return Reply(msg.notice(f":x: {exc.user_message}"), ephemeral=True, refused=True)
        if job.state == "awaiting_approval":
            return Reply(msg.notice(f"Daily snapshot of *{name}* (`{job.params.get('snapshot_id', '')}`) "
                                    f"is waiting for approval as job `{job.id}`"), ephemeral=False)
        return Reply(msg.notice(f"Daily snapshot of *{name}* started as job `{job.id}` "
                                f"(`{job.params.get('snapshot_id', '')}`)"), ephemeral=False)

    async def describe(self, manager: str | None) -> Reply:
        """`/cfy snapshots schedule`: cron, zone, next run, last runs."""
        try:
            name = self.settings.manager(manager).name
        except SnapbotError as exc:
            return Reply(msg.notice(f":x: {exc.user_message}"), refused=True)
        return Reply(msg.schedule_message(self.view(name)))

    def reconcile(self, manager: str) -> None:
        """Rows whose job ended without the driver running to the end (a gated run rejected or
        expired, a job cancelled before it started) take the job's final state."""
        for row in self.runs.recent(manager, limit=50):
            if row.status not in ("queued", "running") or not row.job_id:
                continue
            try:
                job = self.services.store.get_job(row.job_id)
            except SnapbotError:
                continue
            if job.finished and job.state in ("rejected", "expired", "cancelled"):
                self.runs.update(manager, row.slot, status=job.state, ended_at=job.updated_at)

    def view(self, manager: str) -> ScheduleView:
        self.reconcile(manager)
        sch, ret = self.settings.schedule, self.settings.retention
        nxt = next_slot(sch, self.services.clock.now())
        return ScheduleView(manager=manager, enabled=sch.enabled, cron=sch.cron, timezone=sch.timezone,
                            next_run=nxt, next_run_local=_local(nxt, sch.timezone),
                            keep_on_manager=ret.keep_on_manager, keep_archived=ret.keep_archived,
                            archive_dir=str(Path(self.settings.archive_dir) / manager),
                            last_runs=tuple(self.runs.recent(manager, limit=5)))

    # finishing a run
    async def finish(self, job: Job, *, ok: bool, failed_step: str = "", error: str = "",
                     left_behind: Sequence[str] = ()) -> None:
        """Record the run in daily_runs and post the report."""
        now = self.services.clock.now()
        slot = parse_time(job.params["slot"])
        row = self.runs.get(job.manager, slot)
        started = (row.started_at if row and row.started_at else job.created_at) or now
        duration = max((now - started).total_seconds(), 0.0)
        res = job.result
        detail = {k: res.get(k) for k in ("removed_on_manager", "removed_archives", "kept_notes",
                                          "retention_errors") if res.get(k)}
        if not ok:
            detail.update(step=failed_step, error=error, left_behind=list(left_behind))
        record = dict(status="ok" if ok else "failed", job_id=job.id, size=res.get("size"),
                      duration_s=duration, archive_path=res.get("archive_path", ""),
                      sha256=res.get("sha256", ""), detail=detail, ended_at=now)
        history = list(reversed(self.runs.recent(job.manager, since=now - timedelta(days=HISTORY_DAYS))))
        tz = self.settings.schedule.timezone
        outcome = DailyOutcome(
            manager=job.manager, ok=ok, snapshot_id=job.params.get("snapshot_id", ""),
            slot_label=_local(slot, tz), trigger=job.params.get("trigger", ""), job_id=job.id,
            size=res.get("size"), duration_s=duration, archive_path=res.get("archive_path", ""),
            sha256=res.get("sha256", ""),
            removed_on_manager=tuple(res.get("removed_on_manager") or ()),
            removed_archives=tuple(res.get("removed_archives") or ()),
            kept_notes=tuple(res.get("kept_notes") or ()),
            retention_errors=tuple(res.get("retention_errors") or ()),
            failed_step=failed_step, error=error, left_behind=tuple(left_behind),
            history=tuple(history))
        # The run's record and its report in one transaction; the key keeps a step resumed
        # after a crash from reporting twice.
        report = msg.daily_report(outcome)
        with self.services.store.transaction():
            self.runs.update(job.manager, slot, **record)
            queued = self._enqueue(report, job.channel, key=f"daily-report:{job.id}", job_id=job.id)
        await self._deliver(report, queued, job_id=job.id)

    def _enqueue(self, message: dict[str, Any], channel: str = "", *, key: str | None = None,
                 job_id: str = "") -> str:
        """Queue a message for the channel (in the caller's transaction); returns its lane, or
        "" when there is no channel to post to."""
        channel = channel or self.channel
        if not channel:
            return ""
        self.services.outbox.post(channel, message, key=key, job_id=job_id)
        return f"job:{job_id}" if job_id else f"channel:{channel}"

    async def _deliver(self, message: dict[str, Any], lane: str, *, job_id: str = "") -> None:
        """Deliver now if Slack answers (else the outbox keeps it); with no channel, a terminal
        still prints the message."""
        if lane:
            if self.services.sender is not None:
                await self.services.sender.kick(lane)
        elif getattr(self.services.notifier, "local", False):
            await self.services.notifier.post("", message)

    async def _post(self, message: dict[str, Any], channel: str = "") -> None:
        await self._deliver(message, self._enqueue(message, channel))

    async def _problem(self, manager: str, text: str, missed_slot: datetime | None = None) -> None:
        if missed_slot is not None:
            # APScheduler saw the slot pass beyond the grace time (the process was stalled)
            slot = missed_slot.astimezone(timezone.utc)
            if self.runs.get(manager, slot) is None:
                await self.record_missed(manager, slot, "the bot was stalled past the grace time")
            return
        await self._post(msg.scheduler_problem(manager, text))


def _local(when: datetime, tz_name: str) -> str:
    return when.astimezone(zone(tz_name)).strftime("%Y-%m-%d %H:%M %Z")


def install(services: Any) -> DailyService:
    """Register the daily driver and set `services.daily` (called by bot.bootstrap)."""
    service = DailyService(services)
    services.runner.register(service.driver)
    services.daily = service
    return service
