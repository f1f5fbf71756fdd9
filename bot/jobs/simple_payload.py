"""The simple jobs' parameters and results as typed, frozen records (snapshots create, download,
upload and delete; maintenance mode on and off; agents install; plugins update). The job row
keeps them as JSON (`Job.params`, `Job.result`); this module is the one place that reads or
writes those keys for the simple kinds: their drivers and cards ask `params_of` / `result_of`
and get a record, and a driver's `work` returns a `SimpleResult`.

A simple job's parameters are its command's fields (plus what the dispatcher checked, such as an
upload's archive and checksum). `SimpleResult` also reads the result of a job of any kind for
the lines `/cfy jobs show` prints (snapshot, archive, size, checksum, source, took), which every
kind that has them stores under the same keys. Rows written before a key existed load with the
defaults the readers always used."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.store import Job


def _text(value: Any) -> str:
    return str(value) if value is not None else ""


def _number(value: Any) -> float | None:
    return float(value) if value is not None else None


def _names(value: Any) -> tuple[str, ...] | None:
    return tuple(str(v) for v in value) if isinstance(value, (list, tuple)) else None


@dataclass(frozen=True)
class SimpleParams:
    """What a simple job was asked to do (the fields its kind's command has)."""

    snapshot_id: str = ""  # the snapshot kinds
    include_credentials: bool = True  # snapshots create
    include_logs: bool = True
    include_events: bool = True
    url: str = ""  # snapshots upload --url: shown form only (a signature stays in memory)
    archive_path: str = ""  # snapshots upload from the archive: the verified copy
    archive_manager: str = ""  # ... the manager it was archived from ("": from its path)
    archive_snapshot_id: str = ""  # ... its id there ("": the snapshot's own)
    sha256: str = ""  # ... its checksum when the upload was accepted
    blueprint_id: str = ""  # plugins update
    all_blueprints: bool = False

    @classmethod
    def from_stored(cls, raw: Mapping[str, Any]) -> SimpleParams:
        return cls(snapshot_id=_text(raw.get("snapshot_id")),
                   include_credentials=bool(raw.get("include_credentials", True)),
                   include_logs=bool(raw.get("include_logs", True)),
                   include_events=bool(raw.get("include_events", True)),
                   url=_text(raw.get("url")), archive_path=_text(raw.get("archive_path")),
                   archive_manager=_text(raw.get("archive_manager")),
                   archive_snapshot_id=_text(raw.get("archive_snapshot_id")),
                   sha256=_text(raw.get("sha256")), blueprint_id=_text(raw.get("blueprint_id")),
                   all_blueprints=bool(raw.get("all_blueprints")))


@dataclass(frozen=True)
class ItemOutcome:
    """One deployment's `install_new_agents` execution, or one blueprint's plugins update."""

    status: str = ""
    ok: bool = False
    final: bool = False  # nothing more happens to it (a restart does not follow it again)
    error: str = ""
    execution_id: str = ""
    update_id: str = ""

    def stored(self) -> dict[str, Any]:
        optional = {"final": self.final, "error": self.error, "execution_id": self.execution_id,
                    "update_id": self.update_id}
        return {"status": self.status, "ok": self.ok, **{k: v for k, v in optional.items() if v}}

    @classmethod
    def from_stored(cls, raw: Mapping[str, Any]) -> ItemOutcome:
        return cls(status=_text(raw.get("status")), ok=bool(raw.get("ok")), final=bool(raw.get("final")),
                   error=_text(raw.get("error")), execution_id=_text(raw.get("execution_id")),
                   update_id=_text(raw.get("update_id")))


Outcomes = Mapping[str, ItemOutcome]


def outcomes_stored(outcomes: Outcomes) -> dict[str, dict[str, Any]]:
    """Per-item outcomes as the result keeps them (`deployments`, `blueprints`)."""
    return {name: o.stored() for name, o in outcomes.items()}


def _outcomes(value: Any) -> dict[str, ItemOutcome]:
    if not isinstance(value, Mapping):
        return {}
    return {str(k): ItemOutcome.from_stored(v) for k, v in value.items() if isinstance(v, Mapping)}


@dataclass(frozen=True)
class SimpleResult:
    """What a simple job found and did. Only what is set is stored (`stored` merges into the
    result recorded while the job ran); `failure` fails the job and is not stored."""

    snapshot_id: str = ""
    status: str = ""  # the snapshot's status on the manager
    archive_path: str = ""
    sha256: str = ""
    size: int | None = None
    source: str = ""  # where an upload came from (URL shown form, or archive path)
    deleted: bool = False
    maintenance: str = ""  # the mode the job left: activated | deactivated
    maintenance_before: str = ""  # what maintenance mode was before this job (its undo)
    deployment_ids: tuple[str, ...] | None = None  # agents install: the deployments it covers
    deployments: Outcomes = field(default_factory=dict)
    blueprint_ids: tuple[str, ...] | None = None  # plugins update: the blueprints it covers
    blueprints: Outcomes = field(default_factory=dict)
    duration_s: float | None = None
    failure: str = ""

    def stored(self) -> dict[str, Any]:
        texts = {"snapshot_id": self.snapshot_id, "status": self.status,
                 "archive_path": self.archive_path, "sha256": self.sha256, "source": self.source,
                 "maintenance": self.maintenance, "maintenance_before": self.maintenance_before}
        out: dict[str, Any] = {k: v for k, v in texts.items() if v}
        if self.size is not None:
            out["size"] = self.size
        if self.deleted:
            out["deleted"] = True
        if self.deployment_ids is not None:
            out["deployment_ids"] = list(self.deployment_ids)
        if self.blueprint_ids is not None:
            out["blueprint_ids"] = list(self.blueprint_ids)
        if self.deployments:
            out["deployments"] = outcomes_stored(self.deployments)
        if self.blueprints:
            out["blueprints"] = outcomes_stored(self.blueprints)
        if self.duration_s is not None:
            out["duration_s"] = self.duration_s
        return out

    @classmethod
    def from_stored(cls, raw: Mapping[str, Any]) -> SimpleResult:
        size = raw.get("size")
        return cls(snapshot_id=_text(raw.get("snapshot_id")), status=_text(raw.get("status")),
                   archive_path=_text(raw.get("archive_path")), sha256=_text(raw.get("sha256")),
                   size=int(size) if size is not None else None, source=_text(raw.get("source")),
                   deleted=bool(raw.get("deleted")), maintenance=_text(raw.get("maintenance")),
                   maintenance_before=_text(raw.get("maintenance_before")),
                   deployment_ids=_names(raw.get("deployment_ids")),
                   deployments=_outcomes(raw.get("deployments")),
                   blueprint_ids=_names(raw.get("blueprint_ids")),
                   blueprints=_outcomes(raw.get("blueprints")),
                   duration_s=_number(raw.get("duration_s")))


def params_of(job: Job) -> SimpleParams:
    return SimpleParams.from_stored(job.params)


def result_of(job: Job) -> SimpleResult:
    return SimpleResult.from_stored(job.result)
