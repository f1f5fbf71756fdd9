"""What a restore did to scheduled work, read from the API, true to the manager's version.

5.x (cloudify-manager 5.1.4 `workflows/cloudify_system_workflows/snapshots/snapshot_restore.py`
`_restore_scheduled_executions`): each `scheduled` execution whose time has passed is set FAILED
with the WARNING `Execution <id> scheduled for <t> is overdue. Marking as FAILED.`; the others are
re-queued and stay `scheduled` (the vendor guide's report).

6.0 on (6.4.2 same file, 7.0.5 `mgmtworker/...`): *every* `scheduled` execution is set FAILED with
`Marking original execution <id> scheduled for <t> as FAILED.`; the future ones are first
re-created as execution schedules named `<workflow>_restored_<hex>` (since = the old time,
count 1). Execution schedules come back with the database, `next_occurrence` as it was when the
snapshot was taken; the execution scheduler runs nothing while maintenance mode is activated and
skips an occurrence more than `slip` minutes + 60 s late (`execution_scheduler/main.py`
`should_run`), so runs that fell due between the snapshot and the end of the restore are lost
without a word. All times here are the manager's (the snapshot's and the restore execution's).
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from dateutil import rrule

from bot.clock import iso, parse_time
from bot.cloudify.models import Execution, ExecutionSchedule

ORIGINAL_FAILED_RE = re.compile(
    r"Marking original execution (?P<id>\S+) scheduled for (?P<at>\S+(?: \S+)?) as FAILED")
RESTORED_PREFIX = "_restored_"


def _close(a: datetime | None, b: datetime | None, seconds: float = 1.0) -> bool:
    return a is not None and b is not None and abs((a - b).total_seconds()) <= seconds


def failed_originals(log_lines: Iterable[str], failed: list[Execution],
                     lookup: dict[str, Execution], schedules: list[ExecutionSchedule],
                     restore_started: datetime) -> list[dict[str, Any]]:
    """The `scheduled` executions a 6.x/7.x restore marked FAILED, each with the `*_restored_*`
    schedule that replaced it (None when its time had passed: nothing replaced it)."""
    found: dict[str, dict[str, Any]] = {}
    by_id = {e.id: e for e in failed}
    by_id.update(lookup)
    for line in log_lines:
        m = ORIGINAL_FAILED_RE.search(line)
        if not m:
            continue
        e = by_id.get(m["id"])
        found[m["id"]] = {"id": m["id"], "deployment_id": (e.deployment_id or "") if e else "",
                          "workflow_id": e.workflow_id if e else "",
                          "scheduled_for": iso(e.scheduled_for) if e and e.scheduled_for else m["at"],
                          "source": "log"}
    for e in failed:  # the log may be gone (events not kept): the executions still say it
        if e.id in found or e.status != "failed" or e.scheduled_for is None:
            continue
        if e.ended_at is not None and e.ended_at >= restore_started and e.started_at is None:
            found[e.id] = {"id": e.id, "deployment_id": e.deployment_id or "",
                           "workflow_id": e.workflow_id, "scheduled_for": iso(e.scheduled_for),
                           "source": "state"}
    restored = [s for s in schedules if RESTORED_PREFIX in s.id]
    used: set[str] = set()
    for item in found.values():
        due = parse_time(item["scheduled_for"]) if item["scheduled_for"] else None
        match = next((s for s in restored if s.id not in used
                      and s.id.startswith(f"{item['workflow_id']}{RESTORED_PREFIX}")
                      and (s.deployment_id or "") == item["deployment_id"]
                      and (_close(s.since, due) or due is None)), None)
        if match is not None:
            used.add(match.id)
        item["schedule_id"] = match.id if match else None
    return sorted(found.values(), key=lambda r: (r["scheduled_for"], r["id"]))


#: how many due runs of one schedule the report lists
MAX_RUNS = 50
#: rrule's frequencies (YEARLY 0 … SECONDLY 6)
Frequency = Literal[0, 1, 2, 3, 4, 5, 6]
_UNITS: dict[str, Frequency] = {"sec": rrule.SECONDLY, "second": rrule.SECONDLY, "min": rrule.MINUTELY,
          "minute": rrule.MINUTELY, "h": rrule.HOURLY, "hour": rrule.HOURLY, "d": rrule.DAILY,
          "day": rrule.DAILY, "w": rrule.WEEKLY, "week": rrule.WEEKLY, "mo": rrule.MONTHLY,
          "month": rrule.MONTHLY, "y": rrule.YEARLY, "year": rrule.YEARLY}
_RECURRENCE = re.compile(r"(\d{1,9}) ?(sec(ond)?|min(ute)?|h(our)?|d(ay)?|w(eek)?|mo(nth)?|y(ear)?)s?$")
_WEEKDAY = re.compile(r"^(?P<n>[+-]?\d)?(?P<day>MO|TU|WE|TH|FR|SA|SU)$")


def rule_of(s: ExecutionSchedule) -> Any:
    """The schedule's runs as the manager computes them (rest-service utils.py get_rrule: an
    `rrule` string, or `recurrence` + `count` + `weekdays`, or `count: 1` at `since`), in naive
    UTC like the manager; None when the rule says nothing this can follow."""
    rule, since = s.rule, s.since
    if since is None:
        return None
    start = since.replace(tzinfo=None)
    until = s.until.replace(tzinfo=None) if s.until else None
    try:
        if rule.get("rrule"):
            parsed = rrule.rrulestr(str(rule["rrule"]), dtstart=start)
            names_its_end = "UNTIL=" in str(rule["rrule"]).upper()
            if until is not None and isinstance(parsed, rrule.rrule) and not names_its_end:
                parsed = parsed.replace(until=until)
            return parsed
        count = rule.get("count")
        if not rule.get("recurrence"):
            return rrule.rrule(rrule.DAILY, interval=1, dtstart=start, count=1) if count == 1 else None
        m = _RECURRENCE.match(str(rule["recurrence"]).strip())
        if m is None:
            return None
        days = [w for w in (_WEEKDAY.match(str(d).strip().upper()) for d in rule.get("weekdays") or []) if w]
        byweekday = [getattr(rrule, w["day"])(int(w["n"])) if w["n"] else getattr(rrule, w["day"])
                     for w in days] or None
        return rrule.rrule(_UNITS[m.group(2)], interval=int(m.group(1)), dtstart=start, until=until,
                           count=int(count) if count else None, byweekday=byweekday)
    except (ValueError, TypeError, KeyError):
        return None


def _aware(d: datetime) -> datetime:
    return d.replace(tzinfo=UTC)


def skipped_schedules(schedules: list[ExecutionSchedule], *, snapshot_at: datetime | None,
                      restore_ended: datetime) -> list[dict[str, Any]]:
    """Execution schedules with runs that fell due between the snapshot and the end of the
    restore: every such run (`due_runs`; `due` the first), and the true next run after the restore
    (`next`, from the rule; the manager's `next_occurrence` is still the snapshot's). `skipped` is
    True when the last due run was already more than slip + 60 s late at the end of the restore
    (the scheduler, which waits for maintenance mode to end, will skip it); False when it may
    still run late once maintenance mode is off (the earlier ones are lost either way)."""
    out: list[dict[str, Any]] = []
    for s in schedules:
        due = s.next_occurrence
        if not s.enabled or due is None or (RESTORED_PREFIX in s.id and due > restore_ended):
            continue
        if due > restore_ended or (snapshot_at is not None and due < snapshot_at - timedelta(seconds=60)):
            continue
        runs, nxt = [due], None
        rule = rule_of(s)
        if rule is not None:
            end = restore_ended.replace(tzinfo=None)
            runs = [_aware(r) for r in rule.between(due.replace(tzinfo=None), end, inc=True)[:MAX_RUNS]] or [due]
            after = rule.after(end)
            nxt = _aware(after) if after is not None else None
        late = (restore_ended - runs[-1]).total_seconds()
        out.append({"id": s.id, "deployment_id": s.deployment_id, "workflow_id": s.workflow_id,
                    "due": iso(runs[0]), "due_runs": [iso(r) for r in runs],
                    "next": iso(nxt) if nxt else "", "slip_minutes": s.slip,
                    "skipped": late > s.slip * 60 + 60})
    return sorted(out, key=lambda r: (r["due"], r["id"]))
