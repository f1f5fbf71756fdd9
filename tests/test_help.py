"""The command table drives help, usage lines and the README."""
from __future__ import annotations

from bot.commands import model as m
from bot.commands.help import group_usage, topic_specs
from bot.commands.registry import ALWAYS, COMMANDS, GATEABLE, spec, spec_for
from tests.test_readme import readme_command_table


def test_one_spec_per_command_class():
    # every command class, in bot.commands.model or beside its spec in the registry
    classes = m.Command.__subclasses__()
    assert {c.__name__ for c in vars(m).values() if isinstance(c, type) and issubclass(c, m.Command)
            and c is not m.Command} <= {c.__name__ for c in classes}
    assert sorted(s.cls.__name__ for s in COMMANDS) == sorted(c.__name__ for c in classes)
    assert len({s.name for s in COMMANDS}) == len(COMMANDS)
    assert all(spec_for(c).cls is c and spec(c.name).cls is c for c in classes)


def test_gateable_commands_are_the_configurable_ones():
    assert {"snapshots.upload", "snapshots.delete", "maintenance-mode.activate",
                        "maintenance-mode.deactivate", "agents.install", "plugins.update",
                        "snapshots.schedule.run-now"} == GATEABLE


def test_commands_that_change_a_manager_are_the_ones_approval_can_gate():
    # a drill changes only a manager marked scratch (a throw-away one): never behind approval
    assert {s.name for s in COMMANDS if s.changes_manager} == \
        GATEABLE | {"snapshots.restore", "snapshots.drill"}


def test_every_command_that_creates_a_job_names_its_kind():
    assert {s.name: s.job_kind for s in COMMANDS if s.job_kind} == {
        "snapshots.create": "snapshot_create", "snapshots.download": "snapshot_download",
        "snapshots.upload": "snapshot_upload", "snapshots.restore": "restore",
        "snapshots.delete": "snapshot_delete", "snapshots.schedule.run-now": "daily",
        "maintenance-mode.activate": "maintenance_activate",
        "maintenance-mode.deactivate": "maintenance_deactivate", "agents.install": "agents_install",
        "plugins.update": "plugins_update", "snapshots.drill": "drill"}


def test_restore_always_requires_approval():
    assert spec("snapshots.restore").approval == ALWAYS


def test_usage_line_has_the_slash_command_prefix():
    assert spec("snapshots.list").line == "/cfy snapshots list [--manager M]"


def test_topic_by_group_lists_its_commands():
    assert [s.name for s in topic_specs("maintenance-mode")] == [
        "maintenance-mode.status", "maintenance-mode.activate", "maintenance-mode.deactivate"]


def test_topic_by_subcommand_word():
    assert [s.name for s in topic_specs("restore")] == ["snapshots.restore"]


def test_topic_by_two_words():
    assert [s.name for s in topic_specs("snapshots restore")] == ["snapshots.restore"]


def test_no_topic_is_everything():
    assert len(topic_specs(None)) == len(COMMANDS)


def test_unknown_topic_is_empty():
    assert topic_specs("nonsense") == []


def test_group_usage_lists_subcommands():
    assert group_usage("jobs") == "/cfy jobs list|show|cancel ..."


def test_readme_table_has_a_row_per_command_with_escaped_pipes():
    table = readme_command_table()
    assert table.count("\n") == len(COMMANDS) + 2
    assert "`/cfy maintenance-mode activate [--ignore-cluster-health] [--manager M]`" in table
    assert "BLUEPRINT_ID\\|--all" in table


def test_the_dispatcher_runs_every_command_of_the_registry():
    from bot.dispatch import Dispatcher
    handlers = Dispatcher(*(None,) * 11)._handlers  # the map comes from the registry alone
    assert set(handlers) == {s.cls for s in COMMANDS}
