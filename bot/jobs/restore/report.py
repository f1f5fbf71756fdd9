"""The restore's pure facts: the overdue/re-queued report from the restore's log lines and the
manager's executions, and whether a restore is an upgrade (snapshot older than the manager)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from bot.clock import iso
from bot.cloudify.models import Execution

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
