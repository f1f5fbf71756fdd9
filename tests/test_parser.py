"""The `/cfy` grammar: one test per behaviour, every command of the table covered."""
from __future__ import annotations

from datetime import UTC

import pytest

from bot.commands import model as m
from bot.commands.grammar import SNAPSHOT_ID_MAX, validate_snapshot_id
from bot.commands.parser import normalize, parse
from bot.commands.registry import COMMANDS, spec
from bot.errors import UsageError


def usage_error(text: str) -> UsageError:
    with pytest.raises(UsageError) as info:
        parse(text)
    return info.value


# --- every command -------------------------------------------------------------------------------

@pytest.mark.parametrize("s", COMMANDS, ids=lambda s: s.name)
def test_every_help_example_parses_to_its_own_command(s):
    assert parse(s.example).name == s.name


def test_empty_text_is_help():
    assert parse("") == m.Help()


def test_help_with_topic():
    assert parse("help restore") == m.Help(topic="restore")


def test_help_with_two_word_topic():
    assert parse("help snapshots restore") == m.Help(topic="snapshots restore")


def test_snapshots_create_defaults_leave_id_to_the_caller():
    assert parse("snapshots create") == m.SnapshotsCreate()


def test_snapshots_create_with_id_and_exclusions():
    assert parse("snapshots create nightly-1 --exclude-logs --exclude-events --exclude-credentials"
                 " --manager prod") == m.SnapshotsCreate(
        snapshot_id="nightly-1", include_logs=False, include_events=False,
        include_credentials=False, manager="prod")


def test_snapshots_create_include_flags_are_accepted():
    assert parse("snapshots create --include-logs").include_logs is True


def test_snapshots_list():
    assert parse("snapshots list") == m.SnapshotsList()


def test_snapshots_status_with_manager():
    assert parse("snapshots status --manager dr") == m.SnapshotsStatus(manager="dr")


def test_snapshots_download():
    assert parse("snapshots download snap1") == m.SnapshotsDownload(snapshot_id="snap1")


def test_snapshots_upload_from_archive_without_manager_means_empty_string():
    assert parse("snapshots upload snap1 --from-archive") == m.SnapshotsUpload(
        snapshot_id="snap1", from_archive="")


def test_snapshots_upload_from_archive_of_another_manager():
    assert parse("snapshots upload snap1 --from-archive prod --manager dr") == m.SnapshotsUpload(
        snapshot_id="snap1", from_archive="prod", manager="dr")


def test_snapshots_upload_from_archive_before_the_id_does_not_swallow_it():
    assert parse("snapshots upload --from-archive snap1") == m.SnapshotsUpload(
        snapshot_id="snap1", from_archive="")


def test_snapshots_upload_from_archive_with_value_before_the_id():
    assert parse("snapshots upload --from-archive prod snap1").from_archive == "prod"


def test_snapshots_upload_with_url():
    assert parse("snapshots upload snap1 --url https://files.example.com/s.zip").url == \
        "https://files.example.com/s.zip"


def test_snapshots_upload_accepts_cfy_snapshot_id_option():
    assert parse("snapshots upload -s snap1 --from-archive").snapshot_id == "snap1"


def test_snapshots_restore_all_flags():
    assert parse("snapshots restore snap1 --tenant-name t1 --force --restore-certificates "
                 "--no-reboot --manager dr") == m.SnapshotsRestore(
        snapshot_id="snap1", tenant_name="t1", force=True, restore_certificates=True,
        no_reboot=True, manager="dr")


def test_snapshots_restore_short_flags_as_in_cfy():
    assert parse("snapshots restore snap1 -f -t t1") == m.SnapshotsRestore(
        snapshot_id="snap1", force=True, tenant_name="t1")


def test_snapshots_delete():
    assert parse("snapshots delete snap1 --manager prod") == m.SnapshotsDelete(
        snapshot_id="snap1", manager="prod")


def test_snapshots_schedule():
    assert parse("snapshots schedule") == m.SnapshotsSchedule()


def test_snapshots_schedule_run_now():
    assert parse("snapshots schedule run-now --manager prod") == m.SnapshotsScheduleRunNow(
        manager="prod")


@pytest.mark.parametrize("word,cls", [("status", m.MaintenanceStatus),
                                      ("activate", m.MaintenanceActivate),
                                      ("deactivate", m.MaintenanceDeactivate)])
def test_maintenance_mode_subcommands(word, cls):
    assert parse(f"maintenance-mode {word} --manager prod") == cls(manager="prod")


def test_agents_install():
    assert parse("agents install") == m.AgentsInstall()


def test_plugins_update_one_blueprint():
    assert parse("plugins update bp1") == m.PluginsUpdate(blueprint_id="bp1")


def test_plugins_update_all_accepts_cfy_spelling():
    assert parse("plugins update --all-blueprints") == m.PluginsUpdate(all_blueprints=True)


def test_cluster_status():
    assert parse("cluster status --manager prod") == m.ClusterStatus(manager="prod")


def test_jobs_alone_lists():
    assert parse("jobs") == m.JobsList()


def test_jobs_list():
    assert parse("jobs list") == m.JobsList()


def test_jobs_show():
    assert parse("jobs show r-1a2b3c") == m.JobsShow(job_id="r-1a2b3c")


def test_jobs_cancel():
    assert parse("jobs cancel d-00ff00") == m.JobsCancel(job_id="d-00ff00")


# --- syntax forms --------------------------------------------------------------------------------

def test_flag_equals_value_form():
    assert parse("snapshots list --manager=prod") == m.SnapshotsList(manager="prod")


def test_command_words_are_case_insensitive_but_ids_are_not():
    assert parse("Snapshots Download Snap1") == m.SnapshotsDownload(snapshot_id="Snap1")


def test_job_id_is_lowercased():
    assert parse("jobs show R-1A2B3C").job_id == "r-1a2b3c"


def test_leading_cfy_word_is_ignored():
    assert parse("cfy snapshots list") == m.SnapshotsList()


def test_help_flag_on_a_command_shows_its_help():
    assert parse("snapshots restore --help") == m.Help(topic="snapshots.restore")


def test_quoted_value():
    assert parse("snapshots list --manager 'prod'") == m.SnapshotsList(manager="prod")


# --- Slack's rewriting ---------------------------------------------------------------------------

def test_smart_quotes_are_plain_quotes():
    assert parse("snapshots download \u201csnap1\u201d") == m.SnapshotsDownload(snapshot_id="snap1")


def test_em_dash_typed_for_double_dash():
    assert parse("snapshots create \u2014exclude-logs").include_logs is False


def test_non_breaking_and_repeated_spaces():
    assert parse("snapshots\u00a0list  \u202f --manager\u00a0prod ") == m.SnapshotsList(manager="prod")


def test_slack_link_wrapping_of_a_url_is_undone():
    cmd = parse("snapshots upload snap1 --url <https://files.example.com/s.zip?a=1&amp;b=2>")
    assert cmd.url == "https://files.example.com/s.zip?a=1&b=2"


def test_slack_autolinked_domain_like_id_keeps_what_was_typed():
    assert parse("snapshots download <http://nightly.io|nightly.io>").snapshot_id == "nightly.io"


def test_zero_width_space_is_dropped():
    assert parse("snapshots\u200b list") == m.SnapshotsList()


def test_normalize_keeps_plain_text():
    assert normalize("snapshots list --manager prod") == "snapshots list --manager prod"


# --- errors --------------------------------------------------------------------------------------

def test_unknown_command_suggests_the_close_one():
    err = usage_error("snapshot list")
    assert "unknown command 'snapshot'" in err.problem and "snapshots" in err.problem
    assert err.usage == "/cfy help"


def test_unknown_subcommand_gives_the_group_usage():
    err = usage_error("snapshots restor snap1")
    assert "'restor'" in err.problem and "restore" in err.problem
    assert err.usage.startswith("/cfy snapshots create|list")


def test_missing_subcommand():
    assert "needs a subcommand" in usage_error("maintenance-mode").problem


def test_unknown_flag_names_it_and_gives_the_usage_line():
    err = usage_error("snapshots list --force")
    assert "--force" in err.problem
    assert err.usage == spec("snapshots.list").line


def test_duplicate_flag():
    assert "given twice" in usage_error("snapshots restore s1 --force --force").problem


def test_duplicate_manager():
    assert "given twice" in usage_error("snapshots list --manager a --manager b").problem


def test_contradicting_include_and_exclude():
    assert "cannot be used together" in usage_error(
        "snapshots create --include-logs --exclude-logs").problem


def test_boolean_flag_with_a_value():
    assert "takes no value" in usage_error("snapshots restore s1 --force=yes").problem


def test_flag_without_its_value():
    assert "--manager needs a value" in usage_error("snapshots list --manager").problem


def test_flag_followed_by_another_flag_has_no_value():
    assert "needs a value" in usage_error("snapshots restore s1 --tenant-name --force").problem


def test_missing_snapshot_id():
    err = usage_error("snapshots restore --force")
    assert "needs ID" in err.problem and err.usage == spec("snapshots.restore").line


def test_extra_argument():
    assert "unexpected argument 'b'" in usage_error("snapshots delete a b").problem


def test_from_archive_and_url_are_exclusive():
    assert "cannot be used together" in usage_error(
        "snapshots upload s1 --from-archive --url https://x.example/s.zip").problem


def test_url_must_be_http():
    assert "http" in usage_error("snapshots upload s1 --url ftp://x.example/s.zip").problem


def test_url_error_does_not_echo_credentials():
    err = usage_error("snapshots upload s1 --url ftp://user:hunter2@x.example/s.zip")
    assert "hunter2" not in str(err)


def test_plugins_update_needs_a_blueprint_or_all():
    assert "one is needed" in usage_error("plugins update").problem


def test_plugins_update_refuses_both():
    assert "not both" in usage_error("plugins update bp1 --all").problem


def test_invalid_job_id():
    assert "not a job id" in usage_error("jobs show 123").problem


def test_invalid_manager_name():
    assert "not a manager name" in usage_error("snapshots list --manager a/b").problem


def test_invalid_tenant_name():
    assert "tenant name" in usage_error("snapshots restore s1 --tenant-name 'a b'").problem


def test_unknown_help_topic_lists_topics():
    err = usage_error("help bogus")
    assert "unknown help topic" in err.problem and "snapshots" in err.problem


def test_unbalanced_quote():
    assert "could not read" in usage_error("snapshots download \"snap1").problem


def test_usage_error_text_names_problem_and_usage():
    err = usage_error("snapshots delete")
    assert str(err) == f"{err.problem}\nusage: {spec('snapshots.delete').line}"


# --- snapshot ids, as the manager validates them --------------------------------------------------
# Fact (cloudify-manager, rest-service/manager_rest/rest/rest_utils.py, `validate_inputs`, used by
# PUT /snapshots/<id>): the value must be non-empty, at most `len_input_value=256` characters,
# unchanged by `urlquote(value, safe='')` (so letters, digits, "-", "_", "."), and begin with an
# ASCII letter ("must begin with a letter"). snapbot additionally refuses ".." (ids become archive
# file names) and "~" (which Python 3's quote leaves alone, but the manager's message excludes).

@pytest.mark.parametrize("good", ["a", "snap-2026.01.01_03", "A" * SNAPSHOT_ID_MAX, "x.zip"])
def test_valid_snapshot_ids(good):
    assert validate_snapshot_id(good) == good


@pytest.mark.parametrize("bad,why", [
    ("", "empty"),
    ("a" * (SNAPSHOT_ID_MAX + 1), "too long"),
    ("1snap", "begin with a letter"),
    ("-snap", "begin with a letter"),
    ("_snap", "begin with a letter"),
    ("a/b", "'/'"),
    ("a..b", "'..'"),
    ("a b", "illegal characters"),
    ("a~b", "illegal characters"),
    ("snäp", "illegal characters"),
    ("a%2f", "illegal characters"),
])
def test_invalid_snapshot_ids(bad, why):
    with pytest.raises(UsageError) as info:
        validate_snapshot_id(bad, "USAGE")
    assert why in info.value.problem and info.value.usage == "USAGE"


def test_invalid_snapshot_id_in_a_command_gets_that_commands_usage():
    err = usage_error("snapshots download ../etc")
    assert err.usage == spec("snapshots.download").line


def test_question_mark_is_help():
    assert parse("?") == m.Help()


def test_manager_name_with_double_dot_is_refused():
    # manager names end up in archive paths and in daily snapshot ids (which refuse "..")
    assert "not a manager name" in usage_error("snapshots list --manager a..b").problem


def test_ids_snapbot_generates_pass_the_managers_rule():
    from datetime import datetime

    from bot.dispatch import generate_snapshot_id
    from bot.jobs.daily.retention import snapshot_id_for
    now = datetime(2026, 1, 1, 3, 0, 7, tzinfo=UTC)
    longest_manager = "m" * 64
    for sid in (generate_snapshot_id(now), snapshot_id_for(longest_manager, now, "UTC")):
        assert validate_snapshot_id(sid) == sid


def test_upload_url_with_credentials_is_refused_without_echoing_them():
    with pytest.raises(UsageError) as info:
        parse("snapshots upload snap-1 --url https://ops:hunter2@files.example.com/snap-1.zip")
    assert "credentials" in info.value.problem
    assert "hunter2" not in str(info.value)
