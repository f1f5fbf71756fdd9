"""The restore's pure facts: the overdue/re-queued report from the restore's log lines and the
manager's executions, and whether a restore is an upgrade (snapshot older than the manager)."""
from __future__ import annotations

import json
import re
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.clock import iso
from bot.cloudify.models import Execution, Version

OVERDUE_RE = re.compile(r"Execution (?P<id>\S+) scheduled for (?P<at>\S+) is overdue\.\s*Marking as FAILED")


@dataclass(frozen=True)
class ReportedExecution:
    id: str
    deployment_id: str
    workflow_id: str
    scheduled_for: str  # ISO, or "" when unknown
    source: str = ""  # "log", "state" or "log+state"

    def as_dict(self) -> dict[str, str]:
        return {"id": self.id, "deployment_id": self.deployment_id, "workflow_id": self.workflow_id,
                "scheduled_for": self.scheduled_for, "source": self.source}


def overdue_report(restore_started: datetime, log_lines: list[str], failed: list[Execution],
                   scheduled: list[Execution],
                   lookup: dict[str, Execution] | None = None) -> dict[str, list[dict[str, str]]]:
    """Executions the restore marked FAILED because overdue (from its log lines and from
    executions that went failed with scheduled_for before and ended_at after the restore began),
    and those re-queued (still `scheduled`, due after the restore began)."""
    lookup = dict(lookup or {})
    for e in [*failed, *scheduled]:
        lookup.setdefault(e.id, e)
    found: dict[str, ReportedExecution] = {}
    for line in log_lines:
        m = OVERDUE_RE.search(line)
        if not m:
            continue
        seen = lookup.get(m["id"])
        found[m["id"]] = ReportedExecution(m["id"], (seen.deployment_id or "") if seen else "",
                                           seen.workflow_id if seen else "", m["at"], "log")
    for e in failed:
        if e.status != "failed" or e.scheduled_for is None:
            continue
        if e.scheduled_for < restore_started and (e.ended_at is None or e.ended_at >= restore_started):
            prior = found.get(e.id)
            found[e.id] = ReportedExecution(e.id, e.deployment_id or "", e.workflow_id,
                                            iso(e.scheduled_for), "log+state" if prior else "state")
    requeued = [ReportedExecution(e.id, e.deployment_id or "", e.workflow_id, iso(e.scheduled_for), "state")
                for e in scheduled
                if e.status == "scheduled" and e.scheduled_for is not None and e.id not in found]
    return {"overdue": [r.as_dict() for r in sorted(found.values(), key=lambda r: (r.scheduled_for, r.id))],
            "requeued": [r.as_dict() for r in sorted(requeued, key=lambda r: (r.scheduled_for, r.id))]}


def snapshot_version_of(path: str | Path) -> str | None:
    """`snapshot_version` from an archive's metadata.json, or None."""
    try:
        with zipfile.ZipFile(path) as zf:
            return version_in_metadata(zf.read("metadata.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None


def version_in_metadata(data: bytes | None) -> str | None:
    """`snapshot_version` from the bytes of a snapshot's metadata.json, or None."""
    try:
        meta = json.loads(data) if data else None
    except ValueError:
        return None
    version = meta.get("snapshot_version") if isinstance(meta, dict) else None
    return str(version) if version else None


def is_upgrade(snapshot_version: str | None, manager_version: str | None) -> bool:
    if not snapshot_version or not manager_version:
        return False
    return Version(snapshot_version).tuple < Version(manager_version).tuple


def execution_line(r: dict[str, Any], *, held: bool = False) -> str:
    """One of the executions maintenance mode waits for, in a few words. `held`: this manager
    starts queued executions only once maintenance mode is off (6.x/7.x), so a queued one holds
    `activating` until it is cancelled."""
    eid = str(r.get("id", "?"))
    wf = r.get("workflow_id") or ""
    dep = r.get("deployment_id") or ""
    line = f"{eid}" + (f" ({wf}" + (f" on {dep}" if dep else "") + ")" if wf else "")
    if r.get("status") == "queued" and held:
        line += (" [queued: it never starts while maintenance mode is on, so it holds it until "
                 f"cancelled, `cfy executions cancel {eid}`]")
    elif r.get("status") in ("scheduled", "queued"):
        # maintenance.py get_running_executions counts every execution not in an end state
        line += (f" [{r['status']}: maintenance mode cannot activate until it has run or is cancelled,"
                 f" `cfy executions cancel {eid}`]")
    return line
