"""Typed values for what the manager returns. Built from the manager's JSON with `from_api`.

Unknown fields are ignored, missing optional ones default, so the models survive 5.x-7.x.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.clock import parse_time

LIVE_EXECUTION_STATUSES = frozenset({
    "pending", "queued", "scheduled", "started", "cancelling", "force_cancelling", "kill_cancelling",
})
FINAL_EXECUTION_STATUSES = frozenset({"terminated", "failed", "cancelled"})
USABLE_SNAPSHOT_STATUSES = frozenset({"created", "uploaded"})


@dataclass(frozen=True)
class Version:
    version: str
    edition: str = ""
    build: str | None = None
    commit: str | None = None

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> Version:
        return cls(version=str(d.get("version", "")), edition=d.get("edition") or "",
                   build=d.get("build"), commit=d.get("commit"))

    @property
    def tuple(self) -> tuple[int, ...]:
        """(7, 0, 0) from '7.0.0' / '7.0.0-ga'; (7, 0, 5) from '7.0.5.dev1' (a manager built from
        source): the release numbers only, so a build tag never reads as a newer release."""
        parts: list[int] = []
        for p in self.version.split("-")[0].split(".")[:3]:
            if not p.isdigit():
                break
            parts.append(int(p))
        return tuple(parts)


@dataclass(frozen=True)
class Snapshot:
    id: str
    status: str
    created_at: datetime | None = None
    error: str = ""
    created_by: str = ""
    visibility: str = ""
    tenant_name: str = ""

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> Snapshot:
        return cls(id=d["id"], status=d.get("status") or "", created_at=parse_time(d.get("created_at")),
                   error=d.get("error") or "", created_by=d.get("created_by") or "",
                   visibility=d.get("visibility") or "", tenant_name=d.get("tenant_name") or "")

    @property
    def usable(self) -> bool:
        return self.status in USABLE_SNAPSHOT_STATUSES


@dataclass(frozen=True)
class Execution:
    id: str
    workflow_id: str
    status: str
    error: str = ""
    deployment_id: str | None = None
    blueprint_id: str | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    scheduled_for: datetime | None = None
    is_system_workflow: bool = False
    parameters: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> Execution:
        # id is null in the answer to a scheduled POST /executions on 6.x/7.x (an execution
        # schedule was made instead: resources_v1/executions.py)
        return cls(id=str(d.get("id") or ""), workflow_id=d.get("workflow_id") or "", status=d.get("status") or "",
                   error=d.get("error") or "", deployment_id=d.get("deployment_id"),
                   blueprint_id=d.get("blueprint_id"), created_at=parse_time(d.get("created_at")),
                   started_at=parse_time(d.get("started_at")), ended_at=parse_time(d.get("ended_at")),
                   scheduled_for=parse_time(d.get("scheduled_for")),
                   is_system_workflow=bool(d.get("is_system_workflow")),
                   parameters=dict(d.get("parameters") or {}))

    @property
    def finished(self) -> bool:
        return self.status in FINAL_EXECUTION_STATUSES


@dataclass(frozen=True)
class MaintenanceState:
    status: str  # deactivated | activating | activated
    activated_at: datetime | None = None
    activation_requested_at: datetime | None = None
    remaining_executions: tuple[dict[str, Any], ...] = ()
    requested_by: str = ""

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> MaintenanceState:
        return cls(status=d.get("status") or "", activated_at=parse_time(d.get("activated_at")),
                   activation_requested_at=parse_time(d.get("activation_requested_at")),
                   remaining_executions=remaining_executions(d.get("remaining_executions")),
                   requested_by=d.get("requested_by") or "")


def remaining_executions(value: Any) -> tuple[dict[str, Any], ...]:
    """The executions a maintenance answer says are still running, whatever its shape.

    `GET /maintenance` sends a list of {id, status, deployment_id, workflow_id} while activating
    and null otherwise. `POST /maintenance/activate` sends that list *inside* a one-item list
    (a trailing comma in `rest/resources_v2_1/maintenance_mode.py`, the same on 5.1.4, 6.4.2 and
    7.0.5): `[[...]]`, and `[[]]` when nothing runs. Nested lists are flattened; anything that
    is not an execution record (a bare id string, null) is kept as far as it says something."""
    out: list[dict[str, Any]] = []

    def walk(v: Any) -> None:
        if isinstance(v, dict):
            if v.get("id") is not None:
                out.append(dict(v))
        elif isinstance(v, (list, tuple)):
            for item in v:
                walk(item)
        elif isinstance(v, str) and v:
            out.append({"id": v})

    walk(value)
    return tuple(out)


@dataclass(frozen=True)
class ExecutionSchedule:
    """An execution schedule (6.0+ `/execution-schedules`; `POST /executions` with
    `scheduled_time` makes one). `next_occurrence` is when it next falls due; the execution
    scheduler skips a due time more than `slip` minutes + 60 s old (execution_scheduler/main.py
    should_run), and does not run anything while maintenance mode is activated."""
    id: str
    deployment_id: str = ""
    workflow_id: str = ""
    next_occurrence: datetime | None = None
    since: datetime | None = None
    until: datetime | None = None
    slip: int = 0
    enabled: bool = True
    rule: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    all_next_occurrences: tuple[str, ...] = ()

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> ExecutionSchedule:
        rule = d.get("rule")
        return cls(id=str(d.get("id") or ""), deployment_id=d.get("deployment_id") or "",
                   workflow_id=d.get("workflow_id") or "",
                   next_occurrence=parse_time(d.get("next_occurrence")),
                   since=parse_time(d.get("since")), until=parse_time(d.get("until")),
                   slip=int(d.get("slip") or 0), enabled=d.get("enabled") is not False,
                   rule=dict(rule) if isinstance(rule, dict) else {},
                   created_at=parse_time(d.get("created_at")),
                   all_next_occurrences=tuple(str(x) for x in d.get("all_next_occurrences") or ()))


@dataclass(frozen=True)
class ManagerNode:
    hostname: str
    private_ip: str = ""
    public_ip: str = ""
    version: str = ""
    edition: str = ""
    status: str = ""  # from /cluster-status when known: OK | Fail | ...
    is_active: bool | None = None

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> ManagerNode:
        return cls(hostname=d.get("hostname") or "", private_ip=d.get("private_ip") or "",
                   public_ip=d.get("public_ip") or "", version=d.get("version") or "",
                   edition=d.get("edition") or "", status=d.get("status") or "",
                   is_active=d.get("is_active"))


@dataclass(frozen=True)
class Event:
    timestamp: datetime | None
    message: str
    level: str = ""
    execution_id: str | None = None
    type: str = ""

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> Event:
        msg = d.get("message")
        if isinstance(msg, dict):  # older shapes nest the text
            msg = msg.get("text", "")
        return cls(timestamp=parse_time(d.get("@timestamp") or d.get("timestamp") or d.get("reported_timestamp")),
                   message=msg or "", level=d.get("level") or "", execution_id=d.get("execution_id"),
                   type=d.get("type") or "")


@dataclass(frozen=True)
class Deployment:
    id: str
    blueprint_id: str = ""

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> Deployment:
        return cls(id=d["id"], blueprint_id=d.get("blueprint_id") or "")


@dataclass(frozen=True)
class PluginsUpdate:
    id: str
    state: str
    blueprint_id: str = ""
    execution_id: str | None = None

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> PluginsUpdate:
        return cls(id=d["id"], state=d.get("state") or "", blueprint_id=d.get("blueprint_id") or "",
                   execution_id=d.get("execution_id"))


@dataclass(frozen=True)
class ArchiveInfo:
    """A verified snapshot archive on local disk."""
    path: str
    size: int
    sha256: str


def items_of(data: Any) -> list[dict[str, Any]]:
    if isinstance(data, dict):
        return list(data.get("items") or [])
    return list(data or [])


def pagination_total(page: Any) -> int | None:
    if not isinstance(page, dict):
        return None
    total = ((page.get("metadata") or {}).get("pagination") or {}).get("total")
    return int(total) if total is not None else None
