"""The payload keys that several job kinds share, as typed, frozen records. The job row keeps a
job's parameters and results as JSON (`Job.params`, `Job.result`); a kind's own keys have their
own payload module (`bot.jobs.daily.payload`, ...), and this one reads and writes the keys every
kind may hold:

- in `params`: the approval terms of a gated job (`expires_at`, `required_approvals`), the
  job that started this one (`parent_job`: a drill's restore) and the snapshot the job is about
  (`snapshot_id`, for the kinds that have one: the card's title names it);
- in `result`: who approved (`approved_by`, written by the store with the approval) and whose
  clicks were refused (`refused_clicks`), the executions a waiting job waits for
  (`waiting_for`), the archive transfer under way (`progress`) and the manager executions the
  job started (`execution_id`, `create_execution_id`, `restore_execution_id`).

Everything else asks `params_of` / `result_of` (or `approval_of`) and gets a record. Rows written
before a key existed load with the defaults the readers always used."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.clock import iso, parse_time
from bot.progress import TransferView
from bot.store import Job


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _texts(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, (list, tuple)) else ()


@dataclass(frozen=True)
class SharedParams:
    """The shared keys of a job's parameters."""

    expires_at: datetime | None = None  # a gated job: no decision by then, it expires
    required_approvals: int | None = None  # a gated job: approvals it needs (None: not set yet)
    parent_job: str = ""  # the job that started this one (a drill's restore)
    snapshot_id: str = ""  # the snapshot the job is about, for every kind that has one

    @property
    def has_terms(self) -> bool:
        """The approval terms were set (when the request opened)."""
        return self.expires_at is not None and self.required_approvals is not None

    def stored(self) -> dict[str, Any]:
        """The keys this record sets, for the job row's `params` (unset ones left out, so it
        merges into a kind's own parameters)."""
        out: dict[str, Any] = {}
        if self.expires_at is not None:
            out["expires_at"] = iso(self.expires_at)
        if self.required_approvals is not None:
            out["required_approvals"] = self.required_approvals
        if self.parent_job:
            out["parent_job"] = self.parent_job
        if self.snapshot_id:
            out["snapshot_id"] = self.snapshot_id
        return out

    @classmethod
    def from_stored(cls, raw: Mapping[str, Any]) -> SharedParams:
        required = raw.get("required_approvals")
        return cls(expires_at=parse_time(raw.get("expires_at") or None),
                   required_approvals=int(required) if required is not None else None,
                   parent_job=_text(raw.get("parent_job")), snapshot_id=_text(raw.get("snapshot_id")))


@dataclass(frozen=True)
class RefusedClick:
    """An approval click refused (not allowed to decide), kept on the job for the record."""

    user: str
    at: datetime | None
    action: str  # approve | reject
    reason: str

    def stored(self) -> dict[str, Any]:
        return {"user": self.user, "at": iso(self.at) if self.at else "", "action": self.action,
                "reason": self.reason}

    @classmethod
    def from_stored(cls, raw: Mapping[str, Any]) -> RefusedClick:
        return cls(user=_text(raw.get("user")), at=parse_time(raw.get("at") or None),
                   action=_text(raw.get("action")), reason=_text(raw.get("reason")))


@dataclass(frozen=True)
class Waiting:
    """The other executions a job waits for (its card names them, with a button for approvers
    to cancel them)."""

    what: str  # safety (the safety snapshot is queued behind them) | maintenance (activating)
    executions: tuple[str, ...]  # one line each, for people
    ids: tuple[str, ...] = ()  # their execution ids
    bound: float | None = None  # seconds the job waits before it gives up
    since: datetime | None = None

    def stored(self) -> dict[str, Any]:
        out: dict[str, Any] = {"what": self.what, "executions": list(self.executions), "ids": list(self.ids)}
        if self.bound is not None:
            out["bound"] = self.bound
        if self.since is not None:
            out["since"] = iso(self.since)
        return out

    @classmethod
    def from_stored(cls, raw: Any) -> Waiting | None:
        """The record, or None when the job waits for nothing (no key, or null)."""
        if not isinstance(raw, Mapping):
            return None
        bound = raw.get("bound")
        return cls(what=_text(raw.get("what")), executions=_texts(raw.get("executions")),
                   ids=_texts(raw.get("ids")), bound=float(bound) if bound is not None else None,
                   since=parse_time(raw.get("since") or None))


@dataclass(frozen=True)
class SharedResult:
    """The shared keys of a job's results."""

    approved_by: tuple[str, ...] = ()
    refused_clicks: tuple[RefusedClick, ...] = ()
    waiting_for: Waiting | None = None
    progress: TransferView | None = None
    execution_id: str = ""  # the one execution a simple job started (a snapshot's create)
    create_execution_id: str = ""  # a restore's safety snapshot
    restore_execution_id: str = ""  # a restore's restore execution

    @property
    def own_executions(self) -> list[str]:
        """The execution ids recorded under the shared keys, in the order a job starts them."""
        out: list[str] = []
        for eid in (self.execution_id, self.create_execution_id, self.restore_execution_id):
            if eid and eid not in out:
                out.append(eid)
        return out

    @classmethod
    def from_stored(cls, raw: Mapping[str, Any]) -> SharedResult:
        progress = raw.get("progress")
        return cls(approved_by=_texts(raw.get("approved_by")),
                   refused_clicks=tuple(RefusedClick.from_stored(c) for c in raw.get("refused_clicks") or ()
                                        if isinstance(c, Mapping)),
                   waiting_for=Waiting.from_stored(raw.get("waiting_for")),
                   progress=TransferView.from_dict(progress) if isinstance(progress, dict) else None,
                   execution_id=_text(raw.get("execution_id")),
                   create_execution_id=_text(raw.get("create_execution_id")),
                   restore_execution_id=_text(raw.get("restore_execution_id")))


def refused_clicks_stored(clicks: tuple[RefusedClick, ...] | list[RefusedClick]) -> list[dict[str, Any]]:
    """The value of the result's `refused_clicks`."""
    return [c.stored() for c in clicks]


def waiting_stored(waiting: Waiting | None) -> dict[str, Any] | None:
    """The value of the result's `waiting_for` (null: waiting for nothing)."""
    return waiting.stored() if waiting is not None else None


@dataclass(frozen=True)
class Approval:
    """A gated job's approval record, from both halves of the row: its terms (parameters) and
    the decisions so far (results)."""

    expires_at: datetime | None
    required: int | None  # None: the request has not opened yet
    approved_by: tuple[str, ...]
    refused_clicks: tuple[RefusedClick, ...]

    def need(self, default: int) -> int:
        """Approvals the job needs: its own terms, else `default`; at least one."""
        return int(self.required if self.required is not None else default) or 1


def params_of(job: Job) -> SharedParams:
    return SharedParams.from_stored(job.params)


def result_of(job: Job) -> SharedResult:
    return SharedResult.from_stored(job.result)


def approval_of(job: Job) -> Approval:
    params, result = params_of(job), result_of(job)
    return Approval(expires_at=params.expires_at, required=params.required_approvals,
                    approved_by=result.approved_by, refused_clicks=result.refused_clicks)
