"""The daily job's state machine: the literal table, and its diagram in docs/architecture.md."""
from __future__ import annotations

import re
from datetime import UTC
from pathlib import Path

import pytest

from bot.errors import InvalidTransition
from bot.jobs.daily.machine import DAILY
from bot.jobs.daily.retention import snapshot_id_for

README = Path(__file__).resolve().parent.parent / "docs" / "architecture.md"


def test_readme_diagram_matches_the_daily_transition_table():
    text = README.read_text()
    block = re.search(r"<!-- daily:start -->(.*?)<!-- daily:end -->", text, re.DOTALL).group(1)
    diagram = re.search(r"```mermaid\n(.*?)```", block, re.DOTALL).group(1).strip()
    assert diagram == DAILY.mermaid()


def test_every_working_state_can_fail():
    for state in ("queued", "creating", "downloading", "retention", "reporting"):
        DAILY.check(state, "failed")


def test_steps_cannot_be_skipped():
    with pytest.raises(InvalidTransition):
        DAILY.check("creating", "retention")
    with pytest.raises(InvalidTransition):
        DAILY.check("queued", "done")


def test_terminal_states():
    assert DAILY.terminal == {"done", "failed", "cancelled", "rejected", "expired"}


def test_a_gated_run_waits_for_approval_and_is_not_resumed():
    assert DAILY.waiting == {"awaiting_approval"}
    DAILY.check("awaiting_approval", "queued")


def test_snapshot_ids_use_the_slot_in_the_configured_zone():
    from datetime import datetime
    slot = datetime(2026, 7, 1, 1, 0, tzinfo=UTC)
    assert snapshot_id_for("prod", slot, "Europe/Paris") == "daily-prod-20260701-0300"
    manual = datetime(2026, 7, 1, 9, 15, 42, tzinfo=UTC)
    assert snapshot_id_for("prod", manual, "UTC") == "daily-prod-20260701-091542"
