"""The daily job's states and their one literal transition table."""
from __future__ import annotations

from enum import StrEnum

from bot.jobs.machine import StateMachine

KIND = "daily"

#: the gated action name of `schedule run-now` (config `approvals.gated`)
GATE = "snapshots.schedule.run-now"


class DailyState(StrEnum):
    AWAITING_APPROVAL = "awaiting_approval"
    QUEUED = "queued"
    CREATING = "creating"
    DOWNLOADING = "downloading"
    RETENTION = "retention"
    REPORTING = "reporting"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    EXPIRED = "expired"


S = DailyState

DAILY = StateMachine(
    name="daily",
    initial=S.QUEUED,
    #: a gated `schedule run-now` waits for approval first (bot.approvals moves it to queued)
    waiting=frozenset({S.AWAITING_APPROVAL}),
    approved=S.QUEUED,
    steps=(S.QUEUED, S.CREATING, S.DOWNLOADING, S.RETENTION, S.REPORTING),
    labels={S.QUEUED: "queued", S.CREATING: "creating the snapshot",
            S.DOWNLOADING: "downloading to the archive", S.RETENTION: "applying retention",
            S.REPORTING: "recording the run", S.DONE: "done", S.FAILED: "failed",
            S.CANCELLED: "cancelled"},
    table={
        S.AWAITING_APPROVAL: frozenset({S.QUEUED, S.REJECTED, S.EXPIRED, S.CANCELLED}),
        S.QUEUED: frozenset({S.CREATING, S.FAILED, S.CANCELLED}),
        S.CREATING: frozenset({S.DOWNLOADING, S.FAILED, S.CANCELLED}),
        S.DOWNLOADING: frozenset({S.RETENTION, S.FAILED, S.CANCELLED}),
        S.RETENTION: frozenset({S.REPORTING, S.FAILED, S.CANCELLED}),
        S.REPORTING: frozenset({S.DONE, S.FAILED}),
        S.DONE: frozenset(),
        S.FAILED: frozenset(),
        S.CANCELLED: frozenset(),
        S.REJECTED: frozenset(),
        S.EXPIRED: frozenset(),
    },
)
