"""The restore runbook's states and their one literal transition table.

`preflight -> maintenance_activating` is the path taken when the safety snapshot is disabled
(settings.runbook.safety_snapshot = false); a pending request can be cancelled. Until the restore
execution starts (`restoring`), a cancel, a time-out or a failure goes through `unwinding`: snapbot
undoes what it did (its own queued safety snapshot, maintenance mode it activated) and ends
`cancelled` or `failed`, saying what it left. From `restoring` on, a restore ends done or failed,
with one exception: a restore request the manager refused (other executions running) started
nothing, so `restoring -> unwinding` undoes what snapbot did as before it.
"""
from __future__ import annotations

from enum import StrEnum

from bot.jobs.machine import StateMachine

KIND = "restore"


class RestoreState(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    PREFLIGHT = "preflight"
    SAFETY_SNAPSHOT = "safety_snapshot"
    MAINTENANCE_ACTIVATING = "maintenance_activating"
    MAINTENANCE_ACTIVE = "maintenance_active"
    RESTORING = "restoring"
    RESTORED = "restored"
    #: the restore is over but snapbot's credentials stopped working (a legacy restore gives the
    #: manager the snapshot's users and tokens): polls until they work, then goes back to the step
    #: that got the 401; resumed after a restart like any running step
    AWAITING_CREDENTIALS = "awaiting_credentials"
    REPORTING = "reporting"
    MAINTENANCE_DEACTIVATING = "maintenance_deactivating"
    #: undoing what snapbot did before the restore execution started (after a cancel, a
    #: time-out or a failure); resumed after a restart like any running step
    UNWINDING = "unwinding"
    DONE = "done"
    FAILED = "failed"
    REJECTED = "rejected"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


S = RestoreState

RESTORE = StateMachine(
    name="restore",
    initial=S.REQUESTED,
    waiting=frozenset({S.REQUESTED}),
    approved=S.APPROVED,
    # The runbook's steps in order (the card's checklist).
    steps=(S.PREFLIGHT, S.SAFETY_SNAPSHOT, S.MAINTENANCE_ACTIVATING, S.MAINTENANCE_ACTIVE,
           S.RESTORING, S.RESTORED, S.REPORTING, S.MAINTENANCE_DEACTIVATING),
    labels={
        S.PREFLIGHT: "Preflight checks",
        S.SAFETY_SNAPSHOT: "Safety snapshot (created, downloaded, verified)",
        S.MAINTENANCE_ACTIVATING: "Maintenance mode activating",
        S.MAINTENANCE_ACTIVE: "Maintenance mode verified",
        S.RESTORING: "Restoring",
        S.RESTORED: "Manager back after restore",
        S.AWAITING_CREDENTIALS: "Waiting for working credentials",
        S.REPORTING: "Scheduled work report",
        S.MAINTENANCE_DEACTIVATING: "Maintenance mode off",
        S.UNWINDING: "Undoing what snapbot did",
    },
    table={
        S.REQUESTED: frozenset({S.APPROVED, S.REJECTED, S.EXPIRED, S.CANCELLED}),
        S.APPROVED: frozenset({S.PREFLIGHT, S.CANCELLED, S.FAILED}),
        S.PREFLIGHT: frozenset({S.SAFETY_SNAPSHOT, S.MAINTENANCE_ACTIVATING, S.UNWINDING, S.FAILED}),
        S.SAFETY_SNAPSHOT: frozenset({S.MAINTENANCE_ACTIVATING, S.UNWINDING, S.FAILED}),
        S.MAINTENANCE_ACTIVATING: frozenset({S.MAINTENANCE_ACTIVE, S.UNWINDING, S.FAILED}),
        S.MAINTENANCE_ACTIVE: frozenset({S.RESTORING, S.UNWINDING, S.FAILED}),
        S.RESTORING: frozenset({S.RESTORED, S.UNWINDING, S.FAILED}),
        S.RESTORED: frozenset({S.REPORTING, S.AWAITING_CREDENTIALS, S.FAILED}),
        S.AWAITING_CREDENTIALS: frozenset({S.RESTORED, S.REPORTING, S.MAINTENANCE_DEACTIVATING,
                                           S.FAILED}),
        S.REPORTING: frozenset({S.MAINTENANCE_DEACTIVATING, S.AWAITING_CREDENTIALS, S.FAILED}),
        S.MAINTENANCE_DEACTIVATING: frozenset({S.DONE, S.AWAITING_CREDENTIALS, S.FAILED}),
        S.UNWINDING: frozenset({S.CANCELLED, S.FAILED}),
        S.DONE: frozenset(),
        S.FAILED: frozenset(),
        S.REJECTED: frozenset(),
        S.EXPIRED: frozenset(),
        S.CANCELLED: frozenset(),
    },
)

#: The checklist (kept as a name: tests and the card read it).
STEPS = RESTORE.steps
#: The steps a cancel, a time-out or a failure unwinds from (before the restore execution starts;
#: from `restoring` only a refused restore request unwinds).
UNWINDABLE = frozenset(s for s, targets in RESTORE.table.items() if S.UNWINDING in targets) - {S.RESTORING}
