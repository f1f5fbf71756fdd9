"""The daily job's pure decisions: snapshot names per slot, and what retention deletes (on the
manager and in the archive); plus the archive scan those decisions read."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from bot.archive_store import ArchiveStore
from bot.cloudify.models import USABLE_SNAPSHOT_STATUSES
from bot.errors import ArchiveError
from bot.scheduler import zone


# -- naming ------------------------------------------------------------------------------------
def snapshot_prefix(manager: str) -> str:
    return f"daily-{manager}-"


def snapshot_id_for(manager: str, slot: datetime, tz_name: str) -> str:
    """`daily-<manager>-<YYYYMMDD-HHMM>` in the configured zone; off-minute (manual) slots get
    seconds too, so a retry right after a failed run gets a fresh id."""
    local = slot.astimezone(zone(tz_name))
    return snapshot_prefix(manager) + local.strftime("%Y%m%d-%H%M" + ("%S" if local.second else ""))


def time_from_id(snapshot_id: str, manager: str, tz_name: str) -> datetime | None:
    prefix = snapshot_prefix(manager)
    if not snapshot_id.startswith(prefix):
        return None
    label = snapshot_id[len(prefix):]
    for fmt in ("%Y%m%d-%H%M%S", "%Y%m%d-%H%M"):
        try:
            return datetime.strptime(label, fmt).replace(tzinfo=zone(tz_name)).astimezone(UTC)
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




_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Copy = TypeVar("Copy", ManagerCopy, ArchivedCopy)


def _newest_first(items: Iterable[Copy]) -> list[Copy]:
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



async def scan_archive(store: ArchiveStore, manager: str, tz_name: str,
                       check: Iterable[str] | None = None) -> list[ArchivedCopy]:
    """The manager's archived copies. Verifying (zip CRCs, sha256 against the sidecar) reads the
    whole file, so only the copies retention's decisions depend on are verified: the ids in
    `check`, and the newest ones until one passes (the newest verified copy). The others are
    reported unverified, which only ever makes retention keep more. `check=None` verifies all."""
    prefix = snapshot_prefix(manager)
    copies = []
    for stored in await store.list(manager):
        sid = stored.snapshot_id
        when = time_from_id(sid, manager, tz_name) or stored.modified
        copies.append(ArchivedCopy(sid, when, False, sid.startswith(prefix)))
    wanted = None if check is None else set(check)
    found_newest = False
    out = []
    for c in _newest_first(copies):
        ok = False
        if wanted is None or c.id in wanted or not found_newest:
            try:
                await store.verify(manager, c.id)
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
