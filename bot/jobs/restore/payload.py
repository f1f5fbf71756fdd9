"""The restore job's parameters and results as typed, frozen records. The job row keeps them as
JSON (`Job.params`, `Job.result`, flat keys); this module is the one place that reads or writes
those keys for the restore kind: everything else asks `params_of` / `result_of` and gets a record,
and writes a part of the result as `ctx.merge_result(**part.stored())`.

A row stored by an earlier version loads too: every key may be missing, and comes back as the
default the code always assumed (a restore stopped mid-way resumes from what it recorded).

The parameters: what was asked (`RestoreRequest`), what the request found on the manager and in
the archive (`RequestFacts`) and where the request came from (`RequestOrigin`: a retry or a
rollback). The result, one record per step that writes it: the preflight, the safety snapshot,
maintenance mode, the restore execution, what came after it (with the scheduled-work report),
the credentials and how the restore ended (`RestoreOutcome`). The keys every kind may hold (the
approval terms and decisions, `waiting_for`, the transfer progress) are `bot.jobs.payload`'s.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from bot.cloudify import versions
from bot.jobs.restore.machine import RESTORE
from bot.jobs.restore.machine import RestoreState as S
from bot.store import Job


def _text(raw: Mapping[str, Any], key: str) -> str:
    value = raw.get(key)
    return "" if value is None else str(value)


def _maybe_text(raw: Mapping[str, Any], key: str) -> str | None:
    value = raw.get(key)
    return None if value is None else str(value)


def _maybe_int(raw: Mapping[str, Any], key: str) -> int | None:
    value = raw.get(key)
    return None if value is None else int(value)


def _texts(raw: Mapping[str, Any], key: str) -> tuple[str, ...]:
    return tuple(str(v) for v in raw.get(key) or ())


def _set(**values: Any) -> dict[str, Any]:
    """The keys with a value (a key never written stays out of the row)."""
    return {k: v for k, v in values.items() if v is not None}


# -- the parameters ------------------------------------------------------------------------------

@dataclass(frozen=True)
class RestoreRequest:
    """What was asked: the snapshot and the restore's flags."""

    snapshot_id: str
    tenant_name: str | None = None  # passed on; the manager restores every tenant whatever it says
    force: bool = False
    restore_certificates: bool = False
    no_reboot: bool = False
    safety_snapshot: bool = True  # settings.runbook.safety_snapshot when it was asked

    def stored(self) -> dict[str, Any]:
        return {"snapshot_id": self.snapshot_id, "tenant_name": self.tenant_name, "force": self.force,
                "restore_certificates": self.restore_certificates, "no_reboot": self.no_reboot,
                "safety_snapshot": self.safety_snapshot}

    @classmethod
    def from_stored(cls, raw: Mapping[str, Any]) -> RestoreRequest:
        return cls(snapshot_id=_text(raw, "snapshot_id"), tenant_name=_maybe_text(raw, "tenant_name"),
                   force=bool(raw.get("force")), restore_certificates=bool(raw.get("restore_certificates")),
                   no_reboot=bool(raw.get("no_reboot")), safety_snapshot=bool(raw.get("safety_snapshot", True)))


@dataclass(frozen=True)
class ClusterOverride:
    """An approver's --ignore-cluster-health: what blocked the restore, who overrode it, and the
    anchor of the runbook that applies."""

    why: str
    by: str
    runbook: str

    def stored(self) -> dict[str, str]:
        return {"why": self.why, "by": self.by, "runbook": self.runbook}

    @classmethod
    def from_stored(cls, raw: object) -> ClusterOverride | None:
        if not isinstance(raw, Mapping) or not raw:
            return None
        return cls(why=_text(raw, "why"), by=_text(raw, "by"), runbook=_text(raw, "runbook"))


@dataclass(frozen=True)
class RequestFacts:
    """What the request found, before any change: the manager, the snapshot, its archived copy
    (when there is one), the format it restores in (None: unknown), who snapbot acts as, and the
    cluster's health."""

    manager_version: str | None = None
    manager_edition: str | None = None
    deployments: int | None = None  # None: the manager would not say (maintenance mode)
    snapshot_created_at: str = ""  # ISO, "" when unknown
    snapshot_status: str = ""
    restore_format: str | None = None
    bootstrap_admin: str | None = None
    configured_user: str | None = None
    # the archived copy the snapshot came from
    snapshot_size: int | None = None
    snapshot_version: str | None = None
    archive_path: str | None = None
    archive_manager: str | None = None
    # the cluster
    cluster_down: tuple[str, ...] = ()
    cluster_override: ClusterOverride | None = None

    def stored(self) -> dict[str, Any]:
        return {"manager_version": self.manager_version, "deployments": self.deployments,
                "snapshot_created_at": self.snapshot_created_at, "snapshot_status": self.snapshot_status,
                "restore_format": self.restore_format, "bootstrap_admin": self.bootstrap_admin,
                "configured_user": self.configured_user, "manager_edition": self.manager_edition,
                **_set(snapshot_size=self.snapshot_size, snapshot_version=self.snapshot_version,
                       archive_path=self.archive_path, archive_manager=self.archive_manager,
                       cluster_down=list(self.cluster_down) or None,
                       cluster_override=self.cluster_override.stored() if self.cluster_override else None)}

    @classmethod
    def from_stored(cls, raw: Mapping[str, Any]) -> RequestFacts:
        return cls(manager_version=_maybe_text(raw, "manager_version"),
                   manager_edition=_maybe_text(raw, "manager_edition"),
                   deployments=_maybe_int(raw, "deployments"),
                   snapshot_created_at=_text(raw, "snapshot_created_at"),
                   snapshot_status=_text(raw, "snapshot_status"),
                   restore_format=_maybe_text(raw, "restore_format"),
                   bootstrap_admin=_maybe_text(raw, "bootstrap_admin"),
                   configured_user=_maybe_text(raw, "configured_user"),
                   snapshot_size=_maybe_int(raw, "snapshot_size"),
                   snapshot_version=_maybe_text(raw, "snapshot_version"),
                   archive_path=_maybe_text(raw, "archive_path"),
                   archive_manager=_maybe_text(raw, "archive_manager"),
                   cluster_down=_texts(raw, "cluster_down"),
                   cluster_override=ClusterOverride.from_stored(raw.get("cluster_override")))


@dataclass(frozen=True)
class RequestOrigin:
    """Where a request came from when not typed by a person: a rollback to another restore's
    safety snapshot (whose archived copy, if the manager lost it, is uploaded once approved), or
    a retry of a failed restore from its failed step."""

    rollback_of: str = ""
    upload_before_restore: str = ""  # the manager whose archived copy to push first
    retry_of: str = ""
    retry_from: str = ""

    def stored(self) -> dict[str, str]:
        return {k: v for k, v in (("rollback_of", self.rollback_of),
                                  ("upload_before_restore", self.upload_before_restore),
                                  ("retry_of", self.retry_of), ("retry_from", self.retry_from)) if v}

    @classmethod
    def from_stored(cls, raw: Mapping[str, Any]) -> RequestOrigin:
        return cls(rollback_of=_text(raw, "rollback_of"),
                   upload_before_restore=_text(raw, "upload_before_restore"),
                   retry_of=_text(raw, "retry_of"), retry_from=_text(raw, "retry_from"))


@dataclass(frozen=True)
class RestoreParams:
    """A restore's parameters (the approval terms beside them: `bot.jobs.payload.SharedParams`)."""

    request: RestoreRequest
    facts: RequestFacts = field(default_factory=RequestFacts)
    origin: RequestOrigin = field(default_factory=RequestOrigin)

    @property
    def snapshot_id(self) -> str:
        return self.request.snapshot_id

    def stored(self) -> dict[str, Any]:
        """The job row's `params` (without the approval window)."""
        return {**self.request.stored(), **self.facts.stored(), **self.origin.stored()}

    @classmethod
    def from_stored(cls, raw: Mapping[str, Any]) -> RestoreParams:
        return cls(request=RestoreRequest.from_stored(raw), facts=RequestFacts.from_stored(raw),
                   origin=RequestOrigin.from_stored(raw))


# -- the result ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Preflight:
    """What the approved runbook's preflight read: the manager's version then, and the format
    the archive showed when the request could not tell."""

    manager_version: str | None = None
    restore_format: str | None = None

    def stored(self) -> dict[str, Any]:
        return _set(manager_version=self.manager_version, restore_format=self.restore_format)

    @classmethod
    def from_stored(cls, raw: Mapping[str, Any]) -> Preflight:
        return cls(manager_version=_maybe_text(raw, "manager_version"),
                   restore_format=_maybe_text(raw, "restore_format"))


@dataclass(frozen=True)
class SafetyCopy:
    """snapbot's safety snapshot: its id once chosen, its archived copy once verified."""

    snapshot_id: str | None = None
    archive_path: str = ""
    sha256: str = ""
    size: int | None = None

    @property
    def archived(self) -> bool:
        return bool(self.snapshot_id and self.archive_path)

    def stored(self) -> dict[str, Any]:
        return _set(safety_snapshot_id=self.snapshot_id, safety_archive_path=self.archive_path or None,
                    safety_sha256=self.sha256 or None, safety_size=self.size)

    @classmethod
    def from_stored(cls, raw: Mapping[str, Any]) -> SafetyCopy:
        return cls(snapshot_id=_maybe_text(raw, "safety_snapshot_id") or None,
                   archive_path=_text(raw, "safety_archive_path"), sha256=_text(raw, "safety_sha256"),
                   size=_maybe_int(raw, "safety_size"))


@dataclass(frozen=True)
class Maintenance:
    """The mode snapbot found before it first asked for maintenance (None: not asked yet; if
    it was `deactivated`, snapbot turned it on and an unwind turns it off), and the executions
    the manager still waits for while it activates."""

    before: str | None = None
    remaining: tuple[str, ...] = ()

    def stored(self) -> dict[str, Any]:
        return _set(maintenance_before=self.before,
                    maintenance_remaining=list(self.remaining)
                    if self.remaining or self.before is not None else None)

    @classmethod
    def from_stored(cls, raw: Mapping[str, Any]) -> Maintenance:
        return cls(before=_maybe_text(raw, "maintenance_before"), remaining=_texts(raw, "maintenance_remaining"))


@dataclass(frozen=True)
class RestoreExecution:
    """The manager's restore execution. `posted`: a POST may have reached the manager, so the
    execution is looked for before posting again; `known_ids` are the restore executions it
    listed before (None: it hides executions in maintenance mode). `status_unknown`: followed
    without working credentials, how it ended is read once they work."""

    posted: bool = False
    known_ids: tuple[str, ...] | None = None
    posted_at: str | None = None
    execution_id: str | None = None
    started_at: str | None = None
    status: str | None = None
    status_unknown: bool = False
    ended_at: str | None = None

    def stored(self) -> dict[str, Any]:
        known = {"restore_known_ids": None if self.known_ids is None else list(self.known_ids)} \
            if self.posted else {}
        return {**known, **_set(restore_posted_at=self.posted_at, restore_execution_id=self.execution_id,
                                restore_started_at=self.started_at, restore_status=self.status,
                                restore_ended_at=self.ended_at),
                **({"restore_status_unknown": self.status_unknown} if self.status is not None else {})}

    @classmethod
    def from_stored(cls, raw: Mapping[str, Any]) -> RestoreExecution:
        known = raw.get("restore_known_ids")
        return cls(posted="restore_known_ids" in raw,
                   known_ids=None if known is None else tuple(str(k) for k in known),
                   posted_at=_maybe_text(raw, "restore_posted_at"),
                   execution_id=_maybe_text(raw, "restore_execution_id"),
                   started_at=_maybe_text(raw, "restore_started_at"),
                   status=_maybe_text(raw, "restore_status"),
                   status_unknown=bool(raw.get("restore_status_unknown")),
                   ended_at=_maybe_text(raw, "restore_ended_at"))


#: one execution or schedule the report names, as the report's producers shape it
#: (`bot.jobs.restore.report`, `bot.jobs.scheduled_work`)
ReportItem = Mapping[str, Any]


@dataclass(frozen=True)
class ScheduledWorkReport:
    """What the restore did to scheduled work, read from the manager right after it, the way
    its version does it. `overdue` style (5.x): overdue executions marked FAILED, later ones
    re-queued. `schedules` style (6.x/7.x): scheduled executions marked FAILED (each with the
    schedule that replaced it, if any) and schedules whose runs fell due during the restore.
    Either way, what could not be read, the items a new-format restore could not merge and the
    manager's snapshot count after it."""

    style: str = "overdue"
    format: str | None = None
    version: str | None = None
    restore_started_at: str | None = None
    overdue: tuple[ReportItem, ...] = ()
    requeued: tuple[ReportItem, ...] = ()
    failed_originals: tuple[ReportItem, ...] = ()
    skipped_schedules: tuple[ReportItem, ...] = ()
    schedules_checked: bool = False
    unread: tuple[str, ...] = ()
    merge_errors: tuple[str, ...] = ()
    snapshots_after: int | None = None

    @property
    def by_schedules(self) -> bool:
        """The 6.x/7.x way (any style but `overdue`)."""
        return self.style != "overdue"

    def stored(self) -> dict[str, Any]:
        """The result's `report` (the keys of the other style are left out)."""
        schedules = {"failed_originals": [dict(e) for e in self.failed_originals],
                     "skipped_schedules": [dict(s) for s in self.skipped_schedules],
                     "schedules_checked": self.schedules_checked} if self.by_schedules else {}
        return {"style": self.style, "format": self.format, "version": self.version,
                **({"unread": list(self.unread)} if self.unread else {}), **schedules,
                "overdue": [dict(e) for e in self.overdue], "requeued": [dict(e) for e in self.requeued],
                **({"merge_errors": list(self.merge_errors)} if self.format == versions.NEW else {}),
                "snapshots_after": self.snapshots_after, "restore_started_at": self.restore_started_at}

    @classmethod
    def from_stored(cls, raw: Mapping[str, Any]) -> ScheduledWorkReport:
        def items(key: str) -> tuple[ReportItem, ...]:
            return tuple(e for e in raw.get(key) or () if isinstance(e, Mapping))

        return cls(style=_text(raw, "style") or "overdue", format=_maybe_text(raw, "format"),
                   version=_maybe_text(raw, "version"), restore_started_at=_maybe_text(raw, "restore_started_at"),
                   overdue=items("overdue"), requeued=items("requeued"),
                   failed_originals=items("failed_originals"), skipped_schedules=items("skipped_schedules"),
                   schedules_checked=bool(raw.get("schedules_checked")), unread=_texts(raw, "unread"),
                   merge_errors=_texts(raw, "merge_errors"), snapshots_after=_maybe_int(raw, "snapshots_after"))


@dataclass(frozen=True)
class AfterRestore:
    """What came after the restore execution: the manager's version when it answered again,
    whether /snapshot-status stayed `running`, the scheduled-work report (None: not read yet;
    `report_after_deactivation`: the manager refused the maintenance bypass, so it is read
    after), and whether the restore was an upgrade."""

    manager_version: str | None = None
    snapshot_status_stuck: bool = False
    report: ScheduledWorkReport | None = None
    report_after_deactivation: bool = False
    upgrade: bool = False

    def stored(self) -> dict[str, Any]:
        return {**_set(manager_version_after=self.manager_version,
                       report=self.report.stored() if self.report is not None else None),
                **{k: True for k, on in (("snapshot_status_stuck", self.snapshot_status_stuck),
                                         ("report_after_deactivation", self.report_after_deactivation),
                                         ("upgrade", self.upgrade)) if on}}

    @classmethod
    def from_stored(cls, raw: Mapping[str, Any]) -> AfterRestore:
        report = raw.get("report")
        return cls(manager_version=_maybe_text(raw, "manager_version_after"),
                   snapshot_status_stuck=bool(raw.get("snapshot_status_stuck")),
                   report=ScheduledWorkReport.from_stored(report) if isinstance(report, Mapping) else None,
                   report_after_deactivation=bool(raw.get("report_after_deactivation")),
                   upgrade=bool(raw.get("upgrade")))


@dataclass(frozen=True)
class Credentials:
    """snapbot's credentials after a restore: the step that got the 401 (resumed once they
    work), when they stopped and when they worked again."""

    resume_state: str | None = None
    lost_at: str | None = None
    back_at: str | None = None

    def stored(self) -> dict[str, Any]:
        return _set(credentials_resume_state=self.resume_state, credentials_lost_at=self.lost_at,
                    credentials_back_at=self.back_at)

    @classmethod
    def from_stored(cls, raw: Mapping[str, Any]) -> Credentials:
        return cls(resume_state=_maybe_text(raw, "credentials_resume_state"),
                   lost_at=_maybe_text(raw, "credentials_lost_at"),
                   back_at=_maybe_text(raw, "credentials_back_at"))


@dataclass(frozen=True)
class RestoreOutcome:
    """How a restore ended, when not done: the step that failed and what the manager said, why
    it unwound (`failed` or `cancelled`, and by whom), what the unwind undid (None: not yet)
    and left, and the maintenance mode the manager was left in, for people."""

    failed_step: str | None = None
    manager_error: str = ""
    manager_state: str | None = None
    unwind_for: str | None = None
    unwind_error: str | None = None
    cancelled_by: str | None = None
    unwound: tuple[str, ...] | None = None
    left: tuple[str, ...] = ()

    def stored(self) -> dict[str, Any]:
        return {**_set(failed_step=self.failed_step, manager_state=self.manager_state,
                       unwind_for=self.unwind_for, unwind_error=self.unwind_error,
                       cancelled_by=self.cancelled_by,
                       unwound=list(self.unwound) if self.unwound is not None else None),
                **({"manager_error": self.manager_error} if self.failed_step is not None else {}),
                **({"left": list(self.left)} if self.unwound is not None or self.left else {})}

    @classmethod
    def from_stored(cls, raw: Mapping[str, Any]) -> RestoreOutcome:
        unwound = raw.get("unwound")
        return cls(failed_step=_maybe_text(raw, "failed_step"), manager_error=_text(raw, "manager_error"),
                   manager_state=_maybe_text(raw, "manager_state"), unwind_for=_maybe_text(raw, "unwind_for"),
                   unwind_error=_maybe_text(raw, "unwind_error"), cancelled_by=_maybe_text(raw, "cancelled_by"),
                   unwound=None if unwound is None else tuple(str(u) for u in unwound),
                   left=_texts(raw, "left"))


@dataclass(frozen=True)
class RestoreResult:
    """What a restore found and did, as far as it got (the approvals, the wait and the transfer
    progress beside it: `bot.jobs.payload.SharedResult`)."""

    preflight: Preflight = field(default_factory=Preflight)
    safety: SafetyCopy = field(default_factory=SafetyCopy)
    maintenance: Maintenance = field(default_factory=Maintenance)
    execution: RestoreExecution = field(default_factory=RestoreExecution)
    after: AfterRestore = field(default_factory=AfterRestore)
    credentials: Credentials = field(default_factory=Credentials)
    outcome: RestoreOutcome = field(default_factory=RestoreOutcome)

    def safety_id(self, job_id: str) -> str:
        """The safety snapshot's id: the one recorded, else the job's own."""
        return self.safety.snapshot_id or f"safety-{job_id}"

    def carried_over(self, failed_step: str) -> RestoreResult:
        """What a retry from `failed_step` keeps: the safety copy once its step was passed; the
        restore execution (and the format the preflight read) once it had started."""
        kept = RestoreResult()
        if RESTORE.after(failed_step, S.SAFETY_SNAPSHOT):
            kept = replace(kept, safety=self.safety)
        if RESTORE.after(failed_step, S.RESTORING):
            kept = replace(kept, execution=self.execution,
                           preflight=Preflight(restore_format=self.preflight.restore_format))
        return kept

    def stored(self) -> dict[str, Any]:
        """The job row's `result` for these parts (merged into what is there)."""
        return {**self.preflight.stored(), **self.safety.stored(), **self.maintenance.stored(),
                **self.execution.stored(), **self.after.stored(), **self.credentials.stored(),
                **self.outcome.stored()}

    @classmethod
    def from_stored(cls, raw: Mapping[str, Any]) -> RestoreResult:
        return cls(preflight=Preflight.from_stored(raw), safety=SafetyCopy.from_stored(raw),
                   maintenance=Maintenance.from_stored(raw), execution=RestoreExecution.from_stored(raw),
                   after=AfterRestore.from_stored(raw), credentials=Credentials.from_stored(raw),
                   outcome=RestoreOutcome.from_stored(raw))


def manager_version(params: RestoreParams, result: RestoreResult, *, after: bool = False) -> str | None:
    """The manager's version as last seen: after the restore (`after`), else at the preflight,
    else at the request."""
    return (result.after.manager_version if after else None) or result.preflight.manager_version \
        or params.facts.manager_version


def params_of(job: Job) -> RestoreParams:
    return RestoreParams.from_stored(job.params)


def result_of(job: Job) -> RestoreResult:
    return RestoreResult.from_stored(job.result)
