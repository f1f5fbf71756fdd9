"""The command table drives help, usage lines and the README."""
from __future__ import annotations

from bot.commands.help import ALWAYS, SPECS, group_usage, readme_command_table, spec, topic_specs
from bot.commands.model import COMMAND_NAMES


def test_one_spec_per_command_of_the_model():
    assert sorted(s.name for s in SPECS) == sorted(COMMAND_NAMES.values())


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
    assert len(topic_specs(None)) == len(SPECS)


def test_unknown_topic_is_empty():
    assert topic_specs("nonsense") == []


def test_group_usage_lists_subcommands():
    assert group_usage("jobs") == "/cfy jobs list|show|cancel ..."


def test_readme_table_has_a_row_per_command_with_escaped_pipes():
    table = readme_command_table()
    assert table.count("\n") == len(SPECS) + 2
    assert "`/cfy maintenance-mode activate [--manager M]`" in table
    assert "BLUEPRINT_ID\\|--all" in table
