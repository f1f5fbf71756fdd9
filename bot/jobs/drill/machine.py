"""The drill job's states and their one literal transition table."""
from __future__ import annotations

from enum import StrEnum

from bot.jobs.machine import StateMachine

KIND = "drill"


class DrillState(StrEnum):
    QUEUED = "queued"
    UPLOADING = "uploading"
    RESTORING = "restoring"
    COMPARING = "comparing"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


S = DrillState

DRILL = StateMachine(
    name="drill",
    initial=S.QUEUED,
    steps=(S.QUEUED, S.UPLOADING, S.RESTORING, S.COMPARING),
    labels={S.QUEUED: "queued", S.UPLOADING: "uploading the archive to the scratch manager",
            S.RESTORING: "restoring it through the runbook",
            S.COMPARING: "comparing the manager with the archive", S.DONE: "passed",
            S.FAILED: "failed", S.CANCELLED: "cancelled"},
    table={
        S.QUEUED: frozenset({S.UPLOADING, S.FAILED, S.CANCELLED}),
        S.UPLOADING: frozenset({S.RESTORING, S.FAILED, S.CANCELLED}),
        S.RESTORING: frozenset({S.COMPARING, S.FAILED}),
        S.COMPARING: frozenset({S.DONE, S.FAILED}),
        S.DONE: frozenset(),
        S.FAILED: frozenset(),
        S.CANCELLED: frozenset(),
    },
)
