"""`snapbot cfy …` from a terminal: env-only configuration, a simulator in its own process."""
from __future__ import annotations

import getpass
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from snapbot.main import main

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sim_url() -> Iterator[str]:
    proc = subprocess.Popen([sys.executable, "-m", "snapbot", "simulator", "--port", "0", "--speed", "200"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()  # "… listening on http://127.0.0.1:PORT"
        assert "listening on" in line, proc.stderr.read()
        yield line.strip().split()[-1]
    finally:
        proc.terminate()
        proc.wait(10)


def cfy_main(argv: list[str], **kwargs) -> int:
    """`snapbot cfy ARGV…` in this process."""
    return main(["cfy", *argv], **kwargs)


def cli_env(tmp_path: Path, url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLACK_", "SNAPBOT_", "CLOUDIFY_"))}
    env.update(CLOUDIFY_URL=url, CLOUDIFY_USERNAME="admin", CLOUDIFY_PASSWORD="admin",
               CLOUDIFY_TENANT="default_tenant", SNAPBOT_DB=str(tmp_path / "snapbot.db"),
               SNAPBOT_ARCHIVE_DIR=str(tmp_path / "archives"),
               SNAPBOT_TERMINAL_USERS=f"{getpass.getuser()}=U_OPS")
    return env


def snapbot(tmp_path: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "snapbot", "cfy", *args], env=cli_env(tmp_path, url),
                          capture_output=True, text=True, timeout=60)


def requests_seen(url: str) -> dict[str, int]:
    return httpx.get(url + "/_sim/state").json()["request_counts"]


def test_cfy_snapshots_list_works_with_env_only_config(tmp_path: Path, sim_url: str) -> None:
    done = snapbot(tmp_path, sim_url, "snapshots", "create", "cli-snap")
    assert done.returncode == 0, done.stderr
    listed = snapbot(tmp_path, sim_url, "snapshots", "list")
    assert listed.returncode == 0, listed.stderr
    assert "cli-snap" in listed.stdout


def test_cfy_create_waits_for_the_job_and_prints_its_progress(tmp_path: Path, sim_url: str) -> None:
    out: list[str] = []
    code = cfy_main(["snapshots", "create", "cli-wait"], env=cli_env(tmp_path, sim_url), write=out.append)
    text = "\n".join(out)
    assert code == 0
    assert "running" in text and "done" in text and "created" in text


def test_a_destructive_command_without_yes_exits_2_and_sends_nothing(tmp_path: Path, sim_url: str,
                                                                     capsys) -> None:
    before = requests_seen(sim_url)
    code = cfy_main(["snapshots", "delete", "cli-snap"], env=cli_env(tmp_path, sim_url))
    assert code == 2
    assert "--yes" in capsys.readouterr().err
    assert requests_seen(sim_url) == before
    assert not (tmp_path / "snapbot.db").exists()


def test_a_destructive_command_with_yes_runs_and_is_audited_as_the_local_user(tmp_path: Path,
                                                                             sim_url: str) -> None:
    env = cli_env(tmp_path, sim_url)
    del env["SNAPBOT_TERMINAL_USERS"]  # an unmapped login runs ungated commands as itself
    assert cfy_main(["snapshots", "create", "cli-del"], env=env, write=lambda _: None) == 0
    assert cfy_main(["--yes", "snapshots", "delete", "cli-del"], env=env, write=lambda _: None) == 0
    db = sqlite3.connect(tmp_path / "snapbot.db")
    rows = db.execute("select requester, state from jobs where kind = 'snapshot_delete'").fetchall()
    assert rows == [(f"local:{getpass.getuser()}", "done")]


def test_a_failed_job_makes_the_command_exit_1(tmp_path: Path, sim_url: str) -> None:
    out: list[str] = []
    env = cli_env(tmp_path, sim_url)
    assert cfy_main(["snapshots", "create", "cli-undeletable"], env=env, write=out.append) == 0
    httpx.post(sim_url + "/_sim/faults", json={"path": "/snapshots/cli-undeletable$", "method": "DELETE",
                                               "status": 400, "error_code": "illegal_action_error",
                                               "message": "snapshot in use", "count": 1}).raise_for_status()
    code = cfy_main(["--yes", "snapshots", "delete", "cli-undeletable"], env=env, write=out.append)
    assert code == 1
    assert "failed" in "\n".join(out)


def test_a_delete_of_an_id_the_manager_does_not_have_is_refused_with_exit_1(tmp_path: Path,
                                                                            sim_url: str, capsys) -> None:
    out: list[str] = []
    code = cfy_main(["--yes", "snapshots", "delete", "never-existed"], env=cli_env(tmp_path, sim_url),
                    write=out.append)
    assert code == 1
    assert "has no snapshot never-existed" in capsys.readouterr().err
    assert not [line for line in out if "[j-" in line]  # no job ran


def test_a_refused_restore_exits_1_and_records_no_job(tmp_path: Path, sim_url: str) -> None:
    env = cli_env(tmp_path, sim_url)
    assert cfy_main(["snapshots", "create", "cli-refused"], env=env, write=lambda _: None) == 0
    out: list[str] = []
    code = cfy_main(["--yes", "snapshots", "restore", "cli-refused"], env=env, write=out.append)
    assert code == 1
    assert "add --force" in "\n".join(out)
    db = sqlite3.connect(tmp_path / "snapbot.db")
    assert db.execute("select count(*) from jobs where kind = 'restore'").fetchone() == (0,)


def test_a_usage_error_exits_2_with_the_usage_line(tmp_path: Path, sim_url: str, capsys) -> None:
    assert cfy_main(["snapshots", "frobnicate"], env=cli_env(tmp_path, sim_url)) == 2
    assert "usage" in capsys.readouterr().err.lower()


def test_a_missing_manager_url_is_a_config_error_naming_the_key(tmp_path: Path, capsys) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SNAPBOT_", "CLOUDIFY_"))}
    env["SNAPBOT_DB"] = str(tmp_path / "db.sqlite")
    assert cfy_main(["snapshots", "list"], env=env) == 2
    assert "CLOUDIFY_URL" in capsys.readouterr().err


def test_cfy_dash_dash_help_shows_the_terminal_usage_with_yes_and_config(capsys) -> None:
    assert main(["cfy", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--yes" in out and "--config FILE" in out and "snapbot cfy help" in out


def test_an_unusable_ca_bundle_exits_2_with_one_line(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate")
    env = cli_env(tmp_path, "https://127.0.0.1:9")
    env["CLOUDIFY_CA_BUNDLE"] = str(bad)
    assert cfy_main(["snapshots", "list"], env=env) == 2
    err = capsys.readouterr().err
    assert err.startswith("snapbot cfy: configuration error in managers[0].ca_bundle (CLOUDIFY_CA_BUNDLE") and "Traceback" not in err


def test_unknown_subcommand_exits_2() -> None:
    assert main(["frobnicate"]) == 2


async def test_a_gated_command_from_the_terminal_waits_for_approval_in_slack(tmp_path: Path) -> None:
    from bot.commands.parser import parse
    from bot.config.settings import AccessConfig, ApprovalPolicy
    from snapbot.terminal import run_command
    from tests.jobs_support import APPROVERS, domain

    gated = ApprovalPolicy(approvers=APPROVERS, gated=frozenset({"snapshots.delete"}))
    mapped = AccessConfig(operators=frozenset({"U_OPS"}), terminal_users=(("ops", "U_OPS"),))
    async with domain(tmp_path, approvals=gated, access=mapped) as d:
        for name in ("snap-x", "snap-y"):
            await d.run(f"snapshots create {name}")
            await d.finish()
        out: list[str] = []
        code = await run_command(d.services, parse("snapshots delete snap-x"), confirmed=True,
                                 out=out.append, user="local:ops")
        job = d.last_job()
        assert code == 0 and job.state == "awaiting_approval" and job.requester == "U_OPS"
        assert any("approved in Slack" in line for line in out)
        # an unmapped login may not request what needs approval
        code = await run_command(d.services, parse("snapshots delete snap-y"), confirmed=True,
                                 out=out.append, user="local:stranger")
        assert code == 1 and d.last_job().id == job.id


def test_terminal_text_drops_emoji_and_markup_but_keeps_times_and_local_users() -> None:
    from snapbot.terminal import to_terminal
    text = to_terminal(":white_check_mark: `12:44:10` *done* by local:ops: <@U_LEAD1> :x:")
    assert text == "12:44:10 done by local:ops: @U_LEAD1 "


def test_terminal_text_keeps_the_asterisks_of_a_cron_and_names_local_users() -> None:
    from snapbot.terminal import to_terminal
    text = to_terminal("cron `0 3 * * *` in UTC, *next* run by <@local:root>")
    assert text == "cron 0 3 * * * in UTC, next run by @local:root"


def test_terminal_text_drops_italic_markup_but_keeps_underscores_in_ids() -> None:
    from snapbot.terminal import to_terminal
    text = to_terminal("_No archived copies._ delete my_snap_1 _(may need approval)_")
    assert text == "No archived copies. delete my_snap_1 (may need approval)"


def test_terminal_text_shows_a_slack_link_as_its_label_and_target() -> None:
    from snapbot.terminal import to_terminal
    text = to_terminal("follow the runbook: <README.md#runbook-cluster-split-brain|Cluster split brain>")
    assert text == "follow the runbook: Cluster split brain (README.md#runbook-cluster-split-brain)"


def test_daily_and_simulator_subcommands_are_parsed_by_the_one_parser(monkeypatch) -> None:
    import devtools.simulator
    import snapbot.terminal
    seen = []
    monkeypatch.setattr(snapbot.terminal, "daily_once", lambda manager, **kw: seen.append(("daily", manager)) or 0)
    monkeypatch.setattr(devtools.simulator, "run_simulator",
                        lambda options, host, port: seen.append(("simulator", options.speed, options.clock,
                                                                 port)) or 0)
    assert main(["daily", "--once", "--manager", "prod"]) == 0
    assert main(["simulator", "--port", "0", "--speed", "5"]) == 0
    assert main(["simulator", "--port", "0", "--clock", "manual"]) == 0
    assert seen == [("daily", "prod"), ("simulator", 5.0, "scaled", 0), ("simulator", 1.0, "manual", 0)]


def test_daily_without_once_exits_2_with_its_usage(capsys) -> None:
    assert main(["daily"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: snapbot daily") and "only --once is supported" in err


def test_yes_may_follow_the_command_words(tmp_path: Path, sim_url: str) -> None:
    env = cli_env(tmp_path, sim_url)
    assert cfy_main(["snapshots", "create", "cli-late-yes"], env=env, write=lambda _: None) == 0
    assert cfy_main(["snapshots", "delete", "cli-late-yes", "--yes"], env=env, write=lambda _: None) == 0


def test_cfy_help_prints_the_commands_without_slack_markup(tmp_path: Path, sim_url: str) -> None:
    out: list[str] = []
    assert cfy_main(["help"], env=cli_env(tmp_path, sim_url), write=out.append) == 0
    text = "\n".join(out)
    assert "snapshots create" in text and ":white_check_mark:" not in text and "`" not in text


def test_help_works_without_any_configuration(capsys: pytest.CaptureFixture[str]) -> None:
    rc = cfy_main(["help", "restore"], env={})
    captured = capsys.readouterr()
    assert rc == 0
    assert "snapshots restore" in captured.out
    assert "CLOUDIFY_URL" in captured.err


def test_terminal_commands_are_audited_with_source_terminal_and_shown_by_cfy_audit(
        tmp_path: Path, sim_url: str) -> None:
    # the audit log is for approvers: this login is mapped to one, and recorded as that user
    env = {**cli_env(tmp_path, sim_url), "SNAPBOT_APPROVERS": "U_LEAD1",
           "SNAPBOT_TERMINAL_USERS": f"{getpass.getuser()}=U_LEAD1"}
    assert cfy_main(["snapshots", "list"], env=env, write=lambda _: None) == 0
    assert cfy_main(["jobs", "show", "j-000000"], env=env, write=lambda _: None) == 1
    out: list[str] = []
    assert cfy_main(["audit", "--user", "U_LEAD1", "--since", "1h"], env=env,
                    write=out.append) == 0
    text = "\n".join(out)
    assert text.index("jobs show j-000000") < text.index("snapshots list")  # newest first
    assert "failed" in text and "no job" in text and "the terminal" in text
    db = sqlite3.connect(tmp_path / "snapbot.db")
    rows = db.execute("select user, source, channel, what, outcome from audit order by id").fetchall()
    me = "U_LEAD1"
    assert rows[:2] == [(me, "terminal", "", "snapshots list", "ok"),
                        (me, "terminal", "", "jobs show j-000000", "failed")]


def test_a_create_refused_by_the_manager_exits_1_with_one_line_and_no_traceback(tmp_path: Path,
                                                                                sim_url: str) -> None:
    live = httpx.post(sim_url + "/_sim/executions", json={"deployment_id": "dep-1", "workflow_id": "install",
                                                          "duration": None})
    live.raise_for_status()
    try:
        done = snapbot(tmp_path, sim_url, "snapshots", "create", "cli-refused-create")
    finally:  # the module's simulator is shared: end it, whichever phase it reached
        httpx.post(sim_url + f"/_sim/executions/{live.json()['id']}/finish",
                   json={"status": "terminated"}).raise_for_status()
    assert done.returncode == 1
    assert "Traceback" not in done.stderr + done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "existing_running_execution_error" in lines[0], done.stderr
    assert "failed" in done.stdout
