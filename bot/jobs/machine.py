"""A state machine is a literal table {state: {allowed next states}} plus the facts other modules
ask about its states (which wait for a person, where approval leads, the checklist and its
labels). States are `StrEnum` members, so SQLite keeps the same strings and a state read back
from the database compares equal to its member."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from bot.errors import InvalidTransition


@dataclass(frozen=True)
class StateMachine:
    name: str
    table: Mapping[str, frozenset[str]]
    initial: str
    #: states in which the job waits for a person (not resumed by the runner, not "running")
    waiting: frozenset[str] = frozenset()
    #: where an approval moves a job waiting for a person (None: the kind is never approved)
    approved: str | None = None
    #: the working states in order: the card's checklist
    steps: tuple[str, ...] = ()
    #: words for people, by state (a state without a label is shown as itself)
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def states(self) -> frozenset[str]:
        out = set(self.table)
        for targets in self.table.values():
            out |= targets
        return frozenset(out)

    @property
    def terminal(self) -> frozenset[str]:
        return frozenset(s for s in self.states if not self.table.get(s))

    @property
    def active(self) -> frozenset[str]:
        """States of a job that is not over yet (waiting for a person included)."""
        return self.states - self.terminal

    @property
    def awaiting(self) -> str:
        """The state a job waits in for approval (the machine's one waiting state)."""
        if len(self.waiting) != 1 or self.approved is None:
            raise ValueError(f"{self.name}: no single state waits for approval")
        return next(iter(self.waiting))

    def check(self, current: str, target: str) -> None:
        if target not in self.table.get(current, frozenset()):
            raise InvalidTransition(self.name, current, target)

    def is_terminal(self, state: str) -> bool:
        return state in self.terminal

    def label(self, state: str) -> str:
        return self.labels.get(state, str(state))

    def step_index(self, state: str) -> int:
        """Position of `state` in the checklist; a state outside it counts as the first step."""
        return self.steps.index(state) if state in self.steps else 0

    def after(self, state: str, step: str) -> bool:
        """True if `state` comes later in the checklist than `step` (so `step` was done)."""
        return self.step_index(state) > self.steps.index(step)

    def mermaid(self) -> str:
        """The table as a Mermaid stateDiagram (docs/architecture.md's diagram is checked against this)."""
        lines = ["stateDiagram-v2", f"    [*] --> {self.initial}"]
        for src in self.table:
            for dst in sorted(self.table[src]):
                lines.append(f"    {src} --> {dst}")
        for s in sorted(self.terminal):
            lines.append(f"    {s} --> [*]")
        return "\n".join(lines)


def table(**rows: Iterable[str]) -> dict[str, frozenset[str]]:
    return {k: frozenset(v) for k, v in rows.items()}


class SimpleState(StrEnum):
    AWAITING_APPROVAL = "awaiting_approval"
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    REJECTED = "rejected"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


_S = SimpleState

#: The machine of simple one-shot jobs (create, download, upload, delete, maintenance toggles...).
#: `awaiting_approval` is used only when config gates the action behind approval.
SIMPLE = StateMachine(
    name="job",
    initial=_S.QUEUED,
    waiting=frozenset({_S.AWAITING_APPROVAL}),
    approved=_S.QUEUED,
    steps=(_S.QUEUED, _S.RUNNING),
    table={
        _S.AWAITING_APPROVAL: frozenset({_S.QUEUED, _S.REJECTED, _S.EXPIRED, _S.CANCELLED}),
        _S.QUEUED: frozenset({_S.RUNNING, _S.CANCELLED, _S.FAILED}),
        _S.RUNNING: frozenset({_S.DONE, _S.FAILED, _S.CANCELLED}),
        _S.DONE: frozenset(),
        _S.FAILED: frozenset(),
        _S.REJECTED: frozenset(),
        _S.EXPIRED: frozenset(),
        _S.CANCELLED: frozenset(),
    },
)
