"""The daily job's parameters and results as typed, frozen records. The job row keeps them as
JSON (`Job.params`, `Job.result`); this module is the one place that reads or writes those keys
for the daily kind: everything else asks `params_of` / `result_of` and gets a record."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.clock import iso, required_time
from bot.store import Job


@dataclass(frozen=True)
class DailyParams:
    """What a daily run is for: its slot, the snapshot it creates, what started it."""

    slot: datetime
    snapshot_id: str
    trigger: str = ""  # schedule | catch-up | manual | retry

    def stored(self) -> dict[str, Any]:
        """The job row's `params`."""
        return {"slot": iso(self.slot), "snapshot_id": self.snapshot_id, "trigger": self.trigger}

    @classmethod
    def from_stored(cls, raw: Mapping[str, Any]) -> DailyParams:
        return cls(slot=required_time(raw["slot"]), snapshot_id=str(raw.get("snapshot_id") or ""),
                   trigger=str(raw.get("trigger") or ""))


@dataclass(frozen=True)
class DailyResult:
    """What a daily run found and did, as far as it got."""

    size: int | None = None
    archive_path: str = ""
    sha256: str = ""
    removed_on_manager: tuple[str, ...] = ()
    removed_archives: tuple[str, ...] = ()
    kept_notes: tuple[str, ...] = ()
    retention_errors: tuple[str, ...] = ()

    @classmethod
    def from_stored(cls, raw: Mapping[str, Any]) -> DailyResult:
        def strings(key: str) -> tuple[str, ...]:
            return tuple(str(v) for v in raw.get(key) or ())

        size = raw.get("size")
        return cls(size=int(size) if size is not None else None,
                   archive_path=str(raw.get("archive_path") or ""), sha256=str(raw.get("sha256") or ""),
                   removed_on_manager=strings("removed_on_manager"),
                   removed_archives=strings("removed_archives"), kept_notes=strings("kept_notes"),
                   retention_errors=strings("retention_errors"))

    def housekeeping(self) -> dict[str, list[str]]:
        """What retention and housekeeping did, for the run's record (`daily_runs.detail`)."""
        found = {"removed_on_manager": self.removed_on_manager,
                 "removed_archives": self.removed_archives, "kept_notes": self.kept_notes,
                 "retention_errors": self.retention_errors}
        return {k: list(v) for k, v in found.items() if v}


def params_of(job: Job) -> DailyParams:
    return DailyParams.from_stored(job.params)


def result_of(job: Job) -> DailyResult:
    return DailyResult.from_stored(job.result)
