"""A command is declared once: a simple command's job kind and card title come from its spec in
`bot.commands.registry`, its driver names the command and takes the kind from there, and no
module of the product types a simple job kind again."""
from __future__ import annotations

import ast
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.commands import model as m
from bot.commands.registry import COMMANDS, KIND_TITLES, kind_of, spec_for
from bot.jobs.simple import DRIVER_MODULES, SIMPLE_DRIVERS, SIMPLE_KINDS
from bot.jobs.simple_base import SimpleDriver
from bot.messages.jobs import job_card, jobs_list
from bot.store import Job

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ("bot", "handlers", "snapbot")
REGISTRY = ROOT / "bot" / "commands" / "registry.py"
T0 = datetime(2026, 1, 1, 3, 0, 0, tzinfo=UTC)


def test_every_simple_driver_takes_its_kind_from_its_commands_spec() -> None:
    assert SIMPLE_DRIVERS, "no simple driver declared"
    for driver in SIMPLE_DRIVERS:
        assert driver.kind == spec_for(driver.command).job_kind, driver
    # one driver per kind, and the drivers come in the order of their commands' specs
    assert len(set(SIMPLE_KINDS)) == len(SIMPLE_KINDS)
    order = [s.cls for s in COMMANDS]
    assert [order.index(d.command) for d in SIMPLE_DRIVERS] == \
        sorted(order.index(d.command) for d in SIMPLE_DRIVERS)


def test_every_job_kind_but_the_runbooks_has_a_simple_driver() -> None:
    declared = [d for module in DRIVER_MODULES for d in module.DRIVERS]
    assert sorted(d.kind for d in declared) == sorted(SIMPLE_KINDS)
    runbooks = {kind_of(m.SnapshotsRestore), kind_of(m.SnapshotsScheduleRunNow), kind_of(m.SnapshotsDrill)}
    assert {s.job_kind for s in COMMANDS if s.job_kind} - set(SIMPLE_KINDS) == runbooks


def test_every_job_kind_has_its_card_title_in_its_spec() -> None:
    for s in COMMANDS:
        if s.job_kind:
            assert s.title, f"{s.name} names a job kind but no card title"
            assert KIND_TITLES[s.job_kind] == s.title
        else:
            assert not s.title, f"{s.name} runs no job: a title would be shown nowhere"


@pytest.mark.parametrize("driver", SIMPLE_DRIVERS, ids=lambda d: d.kind)
def test_a_simple_jobs_card_and_list_line_show_its_specs_title(driver: type[SimpleDriver]) -> None:
    job = Job(id="j-abc123", kind=driver.kind, manager="prod", state="queued", params={},
              requester="U123", created_at=T0)
    title = spec_for(driver.command).title
    assert f"*{title}* on `prod`" in job_card(job, [])["blocks"][0]["text"]["text"]
    assert title in jobs_list([job])["text"]


def test_a_driver_for_a_command_that_runs_no_job_is_refused() -> None:
    with pytest.raises(LookupError, match="does not run as a job"):
        class Listing(SimpleDriver, command=m.SnapshotsList):
            pass


def test_kind_of_names_the_kind_a_spec_declares() -> None:
    assert kind_of(m.MaintenanceActivate) == spec_for(m.MaintenanceActivate).job_kind


def _string_literals(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(), str(path))
    return [(n.value, n.lineno) for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def test_no_simple_job_kind_is_typed_outside_the_registry() -> None:
    kinds = set(SIMPLE_KINDS)
    found = []
    for package in PRODUCT:
        for path in sorted((ROOT / package).rglob("*.py")):
            if path == REGISTRY:
                continue
            found += [f"{path.relative_to(ROOT)}:{line}: {value!r}"
                      for value, line in _string_literals(path) if value in kinds]
    assert not found, "a job kind typed again (refer to it with `kind_of`):\n" + "\n".join(found)
    # and the registry types each kind exactly once
    in_registry = [v for v, _ in _string_literals(REGISTRY) if v in kinds]
    assert sorted(in_registry) == sorted(kinds)
