"""A state machine is a literal table {state: {allowed next states}} and nothing else."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from bot.errors import InvalidTransition


@dataclass(frozen=True)
class StateMachine:
    name: str
    table: Mapping[str, frozenset[str]]
    initial: str
    #: states in which the job waits for a person (not resumed by the runner, not "running")
    waiting: frozenset[str] = frozenset()

    @property
    def states(self) -> frozenset[str]:
        out = set(self.table)
        for targets in self.table.values():
            out |= targets
        return frozenset(out)

    @property
    def terminal(self) -> frozenset[str]:
        return frozenset(s for s in self.states if not self.table.get(s))

    def check(self, current: str, target: str) -> None:
        if target not in self.table.get(current, frozenset()):
            raise InvalidTransition(self.name, current, target)

    def is_terminal(self, state: str) -> bool:
        return state in self.terminal

    def mermaid(self) -> str:
        """The table as a Mermaid stateDiagram (docs/architecture.md's diagram is checked against this)."""
        lines = ["stateDiagram-v2", f"    [*] --> {self.initial}"]
        for src in self.table:
            for dst in sorted(self.table[src]):
                lines.append(f"    {src} --> {dst}")
        for s in sorted(self.terminal):
            lines.append(f"    {s} --> [*]")
        return "\n".join(lines)


def table(**rows: tuple[str, ...] | list[str]) -> dict[str, frozenset[str]]:
    return {k: frozenset(v) for k, v in rows.items()}


#: The machine of simple one-shot jobs (create, download, upload, delete, maintenance toggles...).
#: `awaiting_approval` is used only when config gates the action behind approval.
SIMPLE = StateMachine(
    name="job",
    initial="queued",
    waiting=frozenset({"awaiting_approval"}),
    table=table(
        awaiting_approval=("queued", "rejected", "expired", "cancelled"),
        queued=("running", "cancelled", "failed"),
        running=("done", "failed", "cancelled"),
        done=(),
        failed=(),
        rejected=(),
        expired=(),
        cancelled=(),
    ),
)
