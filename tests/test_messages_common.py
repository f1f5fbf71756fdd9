"""Common Block Kit builders: content, fallback text, and Slack's limits."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from bot.cloudify.models import ArchiveInfo, MaintenanceState, ManagerNode, Snapshot
from bot.commands.registry import COMMANDS
from bot.errors import ConfigError, ManagerUnavailable, NotAuthorized, NotFound, SnapbotError, UsageError
from bot.messages import blocks
from bot.messages import common as c
from bot.messages.cluster import cluster_status
from bot.messages.errors import error_message, not_authorized, usage_error
from bot.messages.help import help_message
from bot.messages.manager import maintenance_status, snapshot_status
from bot.messages.snapshots import snapshot_table
from bot.notifier import plain_text

T0 = datetime(2026, 1, 1, 3, 0, tzinfo=UTC)


def assert_within_limits(msg: dict) -> None:
    assert msg["text"]
    assert 0 < len(msg["blocks"]) <= c.MAX_BLOCKS
    for b in msg["blocks"]:
        if b["type"] == "section":
            assert len(b["text"]["text"]) <= c.SECTION_MAX
        if b["type"] == "header":
            assert len(b["text"]["text"]) <= blocks.HEADER_MAX
    json.dumps(msg)  # serializable as is


def rendered(msg: dict) -> str:
    return plain_text(msg)


# --- help ----------------------------------------------------------------------------------------

def test_help_lists_every_command_and_the_managers():
    msg = help_message(None, ["prod", "dr"])
    text = rendered(msg)
    assert all(s.line in text for s in COMMANDS)
    assert "`prod` (default)" in text and "`dr`" in text
    assert_within_limits(msg)


def test_help_topic_shows_only_its_rows_with_examples():
    text = rendered(help_message("maintenance-mode", ["prod"]))
    assert "maintenance-mode activate" in text and "Example: `/cfy maintenance-mode status`" in text
    assert "snapshots create" not in text


def test_help_restore_says_it_needs_approval():
    assert "needs approval" in rendered(help_message("restore"))


def test_help_unknown_topic_falls_back_to_everything():
    text = rendered(help_message("bogus"))
    assert "No help topic `bogus`" in text and "/cfy jobs [list]" in text


# --- errors --------------------------------------------------------------------------------------

def test_usage_error_shows_problem_and_usage_line():
    msg = usage_error(UsageError("unknown flag '--x'", "/cfy snapshots list [--manager M]"))
    text = rendered(msg)
    assert "unknown flag '--x'" in text and "Usage: `/cfy snapshots list [--manager M]`" in text
    assert_within_limits(msg)


def test_error_message_for_usage_error_is_the_usage_message():
    err = UsageError("bad", "/cfy jobs [list]")
    assert error_message(err) == usage_error(err)


def test_error_message_for_manager_error_gives_its_code_and_message():
    err = NotFound("Requested `Snapshot` with ID `x` was not found", status=404,
                   method="GET", path="/api/v3.1/snapshots/x")
    text = rendered(error_message(err))
    assert "not_found_error" in text and "was not found" in text


def test_error_message_for_unreachable_manager():
    text = rendered(error_message(ManagerUnavailable("connection refused")))
    assert "could not be reached" in text


def test_error_message_for_snapbot_error_uses_its_message():
    assert "configuration error in SNAPBOT_DB" in rendered(
        error_message(ConfigError("SNAPBOT_DB", "bad")))


def test_error_message_for_unexpected_exception_hides_its_text():
    text = rendered(error_message(RuntimeError("password=hunter2 Traceback (most recent call")))
    assert "hunter2" not in text and "Traceback" not in text and "log" in text


def test_error_message_for_not_authorized():
    assert "Not authorized" in rendered(error_message(NotAuthorized("only approvers may")))


def test_not_authorized_names_the_action():
    text = rendered(not_authorized("you asked for it yourself", "snapshots.restore"))
    assert "`snapshots.restore`" in text and "you asked for it yourself" in text


def test_confirmation():
    assert rendered(c.confirmation("done")) == ":white_check_mark: done"


def test_plain_snapbot_error():
    assert "no such job" in rendered(error_message(SnapbotError("no such job")))


# --- snapshots -----------------------------------------------------------------------------------

def test_snapshot_table_newest_first_with_status_emoji():
    snaps = [Snapshot("old", "created", T0), Snapshot("new", "failed", T0 + timedelta(days=1),
                                                     error="boom"),
             Snapshot("mid", "creating", T0 + timedelta(hours=1))]
    text = rendered(snapshot_table("prod", snaps, []))
    assert text.index("`new`") < text.index("`mid`") < text.index("`old`")
    assert ":x: `new`" in text and ":white_check_mark: `old`" in text and "boom" in text


def test_snapshot_table_archived_copies_with_size_and_sha_prefix():
    info = ArchiveInfo(path="/a/prod/snap1.zip", size=3 * 1024 * 1024, sha256="ab" * 32)
    text = rendered(snapshot_table("prod", [], [info]))
    assert "`snap1`" in text and "3.0 MB" in text and "`abababababab…`" in text
    assert "No snapshots on the manager" in text


def test_snapshot_table_reads_archived_paths_and_their_sidecars(tmp_path):
    p = tmp_path / "snap2.zip"
    p.write_bytes(b"x" * 10)
    (tmp_path / "snap2.zip.sha256").write_text("cd" * 32 + "  snap2.zip\n")
    text = rendered(snapshot_table("prod", [], [p]))
    assert "`snap2`" in text and "10 B" in text and "`cdcdcdcdcdcd…`" in text


def test_snapshot_table_truncates_long_lists():
    snaps = [Snapshot(f"s{i:03d}", "created", T0 + timedelta(minutes=i)) for i in range(200)]
    msg = snapshot_table("prod", snaps, [])
    assert f"…and {200 - c.LIST_MAX} more" in rendered(msg)
    assert_within_limits(msg)


def test_snapshot_status_running_with_jobs():
    from bot.store import Job
    job = Job(id="r-1a2b3c", kind="restore", manager="prod", state="running",
              params={"snapshot_id": "s1"}, requester="U1")
    text = rendered(snapshot_status("prod", "running", [job]))
    assert "restore is in progress" in text and "r-1a2b3c" in text


def test_snapshot_status_idle():
    assert "no job" in rendered(snapshot_status("prod", "not-running", []))


def test_maintenance_status_lists_remaining_executions():
    state = MaintenanceState("activating", activation_requested_at=T0, requested_by="admin",
                             remaining_executions=({"id": "e1", "workflow_id": "install",
                                                    "deployment_id": "d1", "status": "started"},))
    text = rendered(maintenance_status("prod", state))
    assert "*activating*" in text and "`e1` install on `d1`" in text and "by admin" in text


def test_maintenance_status_activated():
    text = rendered(maintenance_status("prod", MaintenanceState("activated", activated_at=T0)))
    assert ":red_circle:" in text and "activated 2026-01-01" in text


def test_cluster_status_healthy_has_no_split_brain_warning():
    nodes = [ManagerNode("m1", "10.0.0.1", version="7.0.0", is_active=True),
             ManagerNode("m2", "10.0.0.2", version="7.0.0", is_active=False)]
    msg = cluster_status("prod", {"status": "OK", "services": {}}, nodes)
    text = rendered(msg)
    assert "Split brain" not in text and "`m1`" in text and "active" in text
    assert_within_limits(msg)


def test_cluster_status_warns_about_split_brain_and_links_the_runbook_absolutely():
    nodes = [ManagerNode("m1", is_active=True), ManagerNode("m2", is_active=True)]
    msg = cluster_status("prod", {"status": "OK"}, nodes,
                           runbook_base_url="https://wiki.example.com/snapbot/README.md")
    text = rendered(msg)
    assert "Split brain" in text and "m1, m2" in text
    assert "<https://wiki.example.com/snapbot/README.md#runbook-cluster-split-brain|" in text
    assert "SPLIT BRAIN" in msg["text"]


def test_without_a_runbook_base_url_the_split_brain_steps_go_inline_not_a_relative_path():
    nodes = [ManagerNode("m1", is_active=True), ManagerNode("m2", is_active=True)]
    text = rendered(cluster_status("prod", {"status": "OK"}, nodes))
    assert "README.md" not in text and "<" not in text.replace("<@", "")
    assert "1. Do not restore" in text and "5. Run `/cfy cluster status` again" in text


def test_cluster_status_names_the_node_that_is_down():
    cluster = {"status": "Degraded", "services": {
        "manager": {"status": "Degraded", "nodes": {"manager-1": {"status": "OK"},
                                                    "manager-2": {"status": "Fail"}}}}}
    msg = cluster_status("prod", {"status": "OK"}, [ManagerNode("manager-1"), ManagerNode("manager-2")], cluster)
    assert "manager manager-2" in rendered(msg) and "down: manager manager-2" in msg["text"]


def test_cluster_status_shows_services_from_cluster_status():
    cluster = {"status": "Degraded", "services": {"manager": {"status": "OK"},
                                                  "db": {"status": "Fail"}}}
    text = rendered(cluster_status("prod", {"status": "OK"}, [], cluster, version="7.0.0"))
    assert "Degraded" in text and "db: :red_circle: Fail" in text and "7.0.0" in text


# --- limits --------------------------------------------------------------------------------------

def test_section_text_is_truncated_to_the_limit():
    assert len(c.section("x" * 5000)["text"]["text"]) == c.SECTION_MAX


def test_message_keeps_at_most_fifty_blocks():
    msg = c.message("t", [c.section(str(i)) for i in range(80)])
    assert len(msg["blocks"]) == c.MAX_BLOCKS and "31 more" in msg["blocks"][-1]["elements"][0]["text"]


def test_long_lines_are_packed_into_several_sections():
    blocks = c.line_sections(["y" * 900] * 7)  # 3 lines (2702 chars) fit in one
    assert len(blocks) == 3 and all(len(b["text"]["text"]) <= c.SECTION_MAX for b in blocks)


def test_help_for_a_dotted_topic_from_a_help_flag():
    text = rendered(help_message("snapshots.restore"))
    assert "/cfy snapshots restore ID" in text and "snapshots list" not in text
