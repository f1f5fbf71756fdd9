"""`snapbot run` as a process: config errors, HTTP mode with /healthz and /slack/events, SIGTERM."""
from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from devtools.standin.slack import SlackStandin
from tests.waiting import until

SNAPBOT = [str(Path(sys.executable).parent / "snapbot")]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "PYTHONUNBUFFERED": "1",
           "CLOUDIFY_URL": "http://127.0.0.1:9", "CLOUDIFY_USERNAME": "admin", "CLOUDIFY_PASSWORD": "admin",
           "SNAPBOT_DB": str(tmp_path / "snapbot.db"), "SNAPBOT_ARCHIVE_DIR": str(tmp_path / "archives"),
           "SNAPBOT_CHANNEL": "C_OPS", "SNAPBOT_SCHEDULE": "off"}
    env.update(extra)
    return env


def test_run_without_a_bot_token_exits_2_with_one_line_naming_the_key(tmp_path):
    proc = subprocess.run(SNAPBOT + ["run", "--port", "0"], env=_env(tmp_path), capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "SLACK_BOT_TOKEN" in lines[0]


def test_run_with_a_bad_manager_url_names_the_key(tmp_path):
    env = _env(tmp_path, SLACK_BOT_TOKEN="xoxb-x", SLACK_SIGNING_SECRET="s", CLOUDIFY_URL="ftp://nope")
    proc = subprocess.run(SNAPBOT + ["run"], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "CLOUDIFY_URL" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_run_with_an_unusable_ca_bundle_exits_2_naming_it_without_a_traceback(tmp_path):
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate")
    env = _env(tmp_path, SLACK_BOT_TOKEN="xoxb-x", SLACK_SIGNING_SECRET="s",
               CLOUDIFY_URL="https://127.0.0.1:9", CLOUDIFY_CA_BUNDLE=str(bad))
    proc = subprocess.run(SNAPBOT + ["run", "--port", "0"], env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2 and "configuration error in managers[0].ca_bundle (CLOUDIFY_CA_BUNDLE" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
async def test_run_serves_healthz_and_signed_commands_then_stops_on_sigterm(tmp_path):
    async with SlackStandin(bot_token="xoxb-run-test", signing_secret="run-secret") as slack:
        env = _env(tmp_path, SLACK_BOT_TOKEN="xoxb-run-test", SLACK_SIGNING_SECRET="run-secret",
                   CLOUDIFY_PASSWORD="pw-run-test-7731",
                   SLACK_API_URL=slack.api_url)
        proc = await asyncio.create_subprocess_exec(
            *SNAPBOT, "run", "--host", "127.0.0.1", "--port", "0", env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        try:
            url = None
            startup = []
            while url is None:
                line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
                assert line, "snapbot run exited before listening"
                startup.append(line)
                if m := re.search(r"listening on (http://\S+)", line):
                    url = m.group(1)
            log = "".join(startup)
            assert "config slack.bot_token: set (hidden)" in log and "config managers[0]" in log
            assert "xoxb-run-test" not in log and "run-secret" not in log
            assert env["CLOUDIFY_PASSWORD"] not in log
            async with aiohttp.ClientSession() as http, http.get(url + "/healthz") as resp:
                assert resp.status == 200 and (await resp.json())["status"] == "ok"
            resp = await slack.send_command(url + "/slack/events", "help", user="U_OPS")
            assert resp.status == 200
            responses = await until(slack.responses, what="the answer to /cfy help")
            assert responses[0]["response_type"] == "ephemeral"
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(proc.wait(), 30) == 0
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


@pytest.mark.parametrize("extra, key", [
    ({"SNAPBOT_DB": "/nonexistent-dir/snapbot.db"}, "SNAPBOT_DB"),
    ({"SNAPBOT_DB": "{tmp}"}, "SNAPBOT_DB"),
    ({"PORT": "abc"}, "PORT"),
    ({"PORT": "70000"}, "PORT"),
    ({"SNAPBOT_CHANNEL": ""}, "SNAPBOT_CHANNEL"),
    ({"SNAPBOT_CHANNEL": "  "}, "SNAPBOT_CHANNEL"),
    ({"SNAPBOT_CHANNEL": "#ops"}, "SNAPBOT_CHANNEL"),
])
def test_each_start_up_error_is_one_line_naming_the_setting_and_exit_2(tmp_path, extra, key):
    extra = {k: v.format(tmp=tmp_path) for k, v in extra.items()}
    env = _env(tmp_path, SLACK_BOT_TOKEN="xoxb-x", SLACK_SIGNING_SECRET="s", **extra)
    proc = subprocess.run(SNAPBOT + ["run"], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"snapbot: configuration error in {key}"), lines
    assert "Traceback" not in proc.stderr


def test_the_config_log_shows_no_query_string_or_credentials_of_any_url() -> None:
    from bot.config.describe import describe_settings
    from bot.config.load import load_settings
    env = {"CLOUDIFY_URL": "https://cfy.example:8443/base?token=sekrit-abc#frag",
           "CLOUDIFY_USERNAME": "admin", "CLOUDIFY_PASSWORD": "pw",
           "SLACK_API_URL": "https://slack.example/api?key=sekrit-def",
           "SNAPBOT_RUNBOOK_BASE_URL": "https://docs.example/runbooks.md?private_token=sekrit-ghi",
           "SNAPBOT_ARCHIVE_URL": "s3://bucket/prefix?sig=sekrit-jkl"}
    lines = " ".join(value for _, value in describe_settings(load_settings(env, None)))
    assert "sekrit" not in lines and "frag" not in lines
    assert "https://cfy.example:8443/base?…" in lines
