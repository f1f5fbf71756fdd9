"""Version-related settings: snapshot_format per manager, password/token files, runbook_base_url."""
from __future__ import annotations

import textwrap

import pytest

from bot.config.describe import describe_settings
from bot.config.load import load_settings
from bot.errors import ConfigError

SECRET = "s3cr3t-from-file"
BASE = {"CLOUDIFY_URL": "https://manager.example.com"}


def _yaml(tmp_path, text: str) -> str:
    p = tmp_path / "snapbot.yaml"
    p.write_text(textwrap.dedent(text))
    return str(p)


def test_snapshot_format_defaults_to_auto_and_takes_legacy_or_new(tmp_path):
    assert load_settings(BASE).managers[0].snapshot_format == "auto"
    assert load_settings({**BASE, "CLOUDIFY_SNAPSHOT_FORMAT": "new"}).managers[0].snapshot_format == "new"
    path = _yaml(tmp_path, """
        managers:
          - {name: prod, url: "https://p.example.com", snapshot_format: legacy}
          - {name: dr, url: "https://d.example.com"}
    """)
    s = load_settings({}, path)
    assert [m.snapshot_format for m in s.managers] == ["legacy", "auto"]


def test_an_unknown_snapshot_format_names_the_key(tmp_path):
    path = _yaml(tmp_path, """
        managers:
          - {name: prod, url: "https://p.example.com", snapshot_format: zip}
    """)
    with pytest.raises(ConfigError) as info:
        load_settings({}, path)
    assert info.value.key == "managers[0].snapshot_format"


def test_password_file_is_read_and_never_shown(tmp_path):
    secret = tmp_path / "pw"
    secret.write_text(SECRET + "\n")
    s = load_settings({**BASE, "CLOUDIFY_PASSWORD_FILE": str(secret)})
    mgr = s.managers[0]
    assert (mgr.password, mgr.password_file) == (SECRET, str(secret))
    assert SECRET not in repr(s) and SECRET not in str(describe_settings(s))
    assert "(from file)" in dict(describe_settings(s))["managers[0]"]


def test_token_file_in_yaml(tmp_path):
    secret = tmp_path / "tok"
    secret.write_text(SECRET)
    path = _yaml(tmp_path, f"""
        managers:
          - {{name: prod, url: "https://p.example.com", token_file: "{secret}"}}
    """)
    mgr = load_settings({}, path).managers[0]
    assert (mgr.token, mgr.token_file) == (SECRET, str(secret))


@pytest.mark.parametrize("content,why", [(None, "does not exist"), ("  \n", "is empty")])
def test_an_unusable_password_file_names_the_key(tmp_path, content, why):
    secret = tmp_path / "pw"
    if content is not None:
        secret.write_text(content)
    with pytest.raises(ConfigError) as info:
        load_settings({**BASE, "CLOUDIFY_PASSWORD_FILE": str(secret)})
    assert info.value.key == "CLOUDIFY_PASSWORD_FILE" and why in str(info.value)


def test_password_file_and_password_env_together_are_refused(tmp_path):
    secret = tmp_path / "pw"
    secret.write_text(SECRET)
    path = _yaml(tmp_path, f"""
        managers:
          - {{name: prod, url: "https://p.example.com", password_env: PW, password_file: "{secret}"}}
    """)
    with pytest.raises(ConfigError) as info:
        load_settings({"PW": "x"}, path)
    assert info.value.key == "managers[0].password_file"
    with pytest.raises(ConfigError) as info:
        load_settings({**BASE, "CLOUDIFY_PASSWORD": "x", "CLOUDIFY_PASSWORD_FILE": str(secret)})
    assert info.value.key == "CLOUDIFY_PASSWORD_FILE"


def test_runbook_base_url_from_env_or_yaml(tmp_path):
    assert load_settings(BASE).runbook_base_url is None
    s = load_settings({**BASE, "SNAPBOT_RUNBOOK_BASE_URL": "https://wiki.example.com/snapbot/"})
    assert s.runbook_base_url == "https://wiki.example.com/snapbot"
    path = _yaml(tmp_path, """
        runbook_base_url: "https://git.example.com/ops/snapbot/-/blob/main"
        managers:
          - {name: prod, url: "https://p.example.com"}
    """)
    assert load_settings({}, path).runbook_base_url == "https://git.example.com/ops/snapbot/-/blob/main"


def test_a_relative_runbook_base_url_is_refused():
    with pytest.raises(ConfigError) as info:
        load_settings({**BASE, "SNAPBOT_RUNBOOK_BASE_URL": "README.md"})
    assert info.value.key == "SNAPBOT_RUNBOOK_BASE_URL"
