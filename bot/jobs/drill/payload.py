"""The drill job's parameters and results as typed, frozen records. The job row keeps them as
JSON (`Job.params`, `Job.result`); this module is the one place that reads or writes those keys
for the drill kind: everything else asks `params_of` / `result_of` and gets a record. Rows
written before a key existed load with the defaults the readers always used."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.clock import iso, parse_time
from bot.jobs.drill.inventory import Inventory
from bot.store import Job


def _number(value: Any) -> float | None:
    return float(value) if value is not None else None


@dataclass(frozen=True)
class DrillParams:
    """What a drill is for: the source's archived copy it restores onto the scratch manager."""

    source: str  # the manager the archive is of
    snapshot_id: str
    sha256: str = ""  # the copy's checksum when the drill chose it
    size: int | None = None
    archived_at: datetime | None = None
    age_s: float | None = None  # the copy's age when the drill chose it: the RPO
    trigger: str = ""  # schedule | catch-up | manual

    def stored(self) -> dict[str, Any]:
        """The job row's `params`."""
        return {"source": self.source, "snapshot_id": self.snapshot_id, "sha256": self.sha256,
                "size": self.size, "archived_at": iso(self.archived_at) if self.archived_at else "",
                "age_s": self.age_s, "trigger": self.trigger}

    @classmethod
    def from_stored(cls, raw: Mapping[str, Any]) -> DrillParams:
        size = raw.get("size")
        return cls(source=str(raw.get("source") or ""), snapshot_id=str(raw.get("snapshot_id") or ""),
                   sha256=str(raw.get("sha256") or ""), size=int(size) if size is not None else None,
                   archived_at=parse_time(raw.get("archived_at") or None), age_s=_number(raw.get("age_s")),
                   trigger=str(raw.get("trigger") or ""))


@dataclass(frozen=True)
class DrillResult:
    """What a drill found and did, as far as it got. Each step records its part as it goes
    (`stored` holds only what is set, merged into the row's result)."""

    started_at: datetime | None = None
    expected: Inventory | None = None  # what the archive holds
    scratch_version: str = ""
    uploaded: bool = False
    restore_job: str = ""  # the child restore job
    restore_started_at: datetime | None = None
    rto_s: float | None = None  # from the drill's start to the restored manager
    restore_s: float | None = None  # the restore job alone
    # the verdict
    counts: Mapping[str, int] = field(default_factory=dict)
    manager_version: str = ""
    not_compared: tuple[str, ...] = ()
    differences: tuple[str, ...] = ()
    verdict: str = ""  # pass | fail
    rpo_s: float | None = None
    failed_step: str = ""

    def stored(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.started_at is not None:
            out["started_at"] = iso(self.started_at)
        if self.expected is not None:
            out["expected"] = self.expected.as_dict()
        if self.scratch_version:
            out["scratch_version"] = self.scratch_version
        if self.uploaded:
            out["uploaded"] = True
        if self.restore_job:
            out["restore_job"] = self.restore_job
        if self.restore_started_at is not None:
            out["restore_started_at"] = iso(self.restore_started_at)
        if self.rto_s is not None:
            out["rto_s"] = self.rto_s
        if self.restore_s is not None:
            out["restore_s"] = self.restore_s
        if self.verdict:  # the comparison's figures, all together
            out.update(counts=dict(self.counts), manager_version=self.manager_version,
                       not_compared=list(self.not_compared), differences=list(self.differences),
                       verdict=self.verdict, rpo_s=self.rpo_s)
        if self.failed_step:
            out["failed_step"] = self.failed_step
        return out

    @classmethod
    def from_stored(cls, raw: Mapping[str, Any]) -> DrillResult:
        expected = raw.get("expected")
        return cls(started_at=parse_time(raw.get("started_at") or None),
                   expected=Inventory.from_dict(expected) if isinstance(expected, dict) else None,
                   scratch_version=str(raw.get("scratch_version") or ""),
                   uploaded=bool(raw.get("uploaded")), restore_job=str(raw.get("restore_job") or ""),
                   restore_started_at=parse_time(raw.get("restore_started_at") or None),
                   rto_s=_number(raw.get("rto_s")), restore_s=_number(raw.get("restore_s")),
                   counts={str(k): int(v) for k, v in (raw.get("counts") or {}).items()},
                   manager_version=str(raw.get("manager_version") or ""),
                   not_compared=tuple(str(v) for v in raw.get("not_compared") or ()),
                   differences=tuple(str(v) for v in raw.get("differences") or ()),
                   verdict=str(raw.get("verdict") or ""), rpo_s=_number(raw.get("rpo_s")),
                   failed_step=str(raw.get("failed_step") or ""))


def params_of(job: Job) -> DrillParams:
    return DrillParams.from_stored(job.params)


def result_of(job: Job) -> DrillResult:
    return DrillResult.from_stored(job.result)
