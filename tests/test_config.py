"""load_settings: env-only and YAML setups, one ConfigError naming the key, secrets kept out."""
from __future__ import annotations

import textwrap

import pytest

from bot.config.describe import describe_settings
from bot.config.load import load_settings
from bot.config.table import DEFAULT_MANAGER, SETTINGS
from bot.errors import ConfigError

SECRET = "s3cr3t-value-xyz"
BASE = {"CLOUDIFY_URL": "https://manager.example.com"}


def env(**extra: str) -> dict[str, str]:
    return {**BASE, **extra}


def config_error(environ: dict[str, str], path: str | None = None, **kw) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_settings(environ, path, **kw)
    return info.value


def write_yaml(tmp_path, text: str) -> str:
    p = tmp_path / "snapbot.yaml"
    p.write_text(textwrap.dedent(text))
    return str(p)


# --- env only ------------------------------------------------------------------------------------

def test_env_only_one_manager_setup():
    s = load_settings(env(CLOUDIFY_USERNAME="ops", CLOUDIFY_PASSWORD=SECRET,
                          CLOUDIFY_TENANT="t1", CLOUDIFY_CA_BUNDLE="/etc/ca.pem"))
    (mgr,) = s.managers
    assert (mgr.name, mgr.url, mgr.username, mgr.password, mgr.tenant, mgr.ca_bundle) == (
        DEFAULT_MANAGER, "https://manager.example.com", "ops", SECRET, "t1", "/etc/ca.pem")


def test_defaults():
    s = load_settings(env())
    assert (s.db_path, s.archive_dir, s.schedule.cron, s.schedule.timezone,
            s.retention.keep_on_manager, s.retention.keep_archived, s.approvals.required) == (
        "snapbot.db", "archives", "0 3 * * *", "UTC", 3, 14, 1)


def test_token_instead_of_password():
    assert load_settings(env(CLOUDIFY_TOKEN=SECRET)).managers[0].token == SECRET


def test_slack_and_snapbot_variables():
    s = load_settings(env(SLACK_BOT_TOKEN="xoxb-1", SLACK_SIGNING_SECRET="sig",
                          SLACK_APP_TOKEN="xapp-1", SLACK_API_URL="http://127.0.0.1:9/api",
                          SNAPBOT_CHANNEL="C123", SNAPBOT_APPROVERS="U1, U2,U3",
                          SNAPBOT_APPROVER_GROUPS="S1", SNAPBOT_APPROVALS_REQUIRED="2",
                          SNAPBOT_APPROVAL_TTL="600", SNAPBOT_DB="/data/x.db",
                          SNAPBOT_ARCHIVE_DIR="/data/a", SNAPBOT_SCHEDULE="30 2 * * *",
                          SNAPBOT_TIMEZONE="Europe/Paris", SNAPBOT_KEEP_ON_MANAGER="5",
                          SNAPBOT_KEEP_ARCHIVED="30", SNAPBOT_GATED="snapshots.delete,agents.install"))
    assert s.slack.api_url == "http://127.0.0.1:9/api/"
    assert s.slack.channel == "C123"
    assert s.approvals.approvers == {"U1", "U2", "U3"}
    assert s.approvals.approver_groups == {"S1"}
    assert (s.approvals.required, s.approvals.ttl_seconds) == (2, 600)
    assert s.approvals.gated == {"snapshots.delete", "agents.install"}
    assert (s.db_path, s.archive_dir) == ("/data/x.db", "/data/a")
    assert (s.schedule.cron, s.schedule.timezone) == ("30 2 * * *", "Europe/Paris")
    assert (s.retention.keep_on_manager, s.retention.keep_archived) == (5, 30)


def test_schedule_off_disables_it():
    assert load_settings(env(SNAPBOT_SCHEDULE="off")).schedule.enabled is False


def test_no_manager_at_all_names_cloudify_url():
    assert config_error({}).key == "CLOUDIFY_URL"


# --- validation: one error naming the key --------------------------------------------------------

@pytest.mark.parametrize("key,value", [
    ("CLOUDIFY_URL", "ftp://manager.example.com"),
    ("CLOUDIFY_URL", "manager.example.com"),
    ("SLACK_API_URL", "not a url"),
    ("SNAPBOT_KEEP_ARCHIVED", "0"),
    ("SNAPBOT_KEEP_ARCHIVED", "many"),
    ("SNAPBOT_KEEP_ON_MANAGER", "-1"),
    ("SNAPBOT_APPROVAL_TTL", "0"),
    ("SNAPBOT_APPROVALS_REQUIRED", "0"),
    ("SNAPBOT_SCHEDULE", "61 3 * * *"),
    ("SNAPBOT_SCHEDULE", "0 3 * *"),
    ("SNAPBOT_TIMEZONE", "Mars/Olympus"),
    ("SNAPBOT_GATED", "snapshots.nuke"),
    ("SNAPBOT_APPROVERS", "not-an-id"),
])
def test_invalid_env_value_names_the_key(key, value):
    assert config_error(env(**{key: value})).key == key


def test_required_approvals_cannot_exceed_approvers():
    err = config_error(env(SNAPBOT_APPROVERS="U1", SNAPBOT_APPROVALS_REQUIRED="2"))
    assert err.key == "SNAPBOT_APPROVALS_REQUIRED" and "only 1" in err.problem


def test_required_approvals_may_exceed_listed_users_when_groups_are_set():
    s = load_settings(env(SNAPBOT_APPROVERS="U1", SNAPBOT_APPROVER_GROUPS="S1",
                          SNAPBOT_APPROVALS_REQUIRED="2"))
    assert s.approvals.required == 2


def test_restore_in_gated_is_accepted_as_always_gated():
    assert load_settings(env(SNAPBOT_GATED="snapshots.restore")).approvals.gated == frozenset()


def test_url_with_credentials_is_refused_without_echoing_them():
    err = config_error({"CLOUDIFY_URL": f"https://admin:{SECRET}@m.example.com"})
    assert err.key == "CLOUDIFY_URL" and SECRET not in str(err)


# --- require_slack ------------------------------------------------------------------------------

def test_require_slack_needs_the_bot_token():
    assert config_error(env(SLACK_SIGNING_SECRET="x"), require_slack=True).key == "SLACK_BOT_TOKEN"


def test_require_slack_needs_the_signing_secret_in_http_mode():
    assert config_error(env(SLACK_BOT_TOKEN="xoxb-1"), require_slack=True).key == \
        "SLACK_SIGNING_SECRET"


def test_require_slack_socket_mode_needs_no_signing_secret():
    s = load_settings(env(SLACK_BOT_TOKEN="xoxb-1", SLACK_APP_TOKEN="xapp-1"), require_slack=True)
    assert s.slack.app_token == "xapp-1"


# --- YAML ----------------------------------------------------------------------------------------

YAML = """
channel: C0SNAP
managers:
  - name: prod
    url: https://prod.example.com/
    tenant: ops
    username: snapbot
    password_env: PROD_PW
    ca_bundle: /etc/ssl/prod-ca.pem
  - name: dr
    url: http://10.0.0.9
    token_env: DR_TOKEN
approvals:
  approvers: [U1, U2, U3]
  approver_groups: [S9]
  required: 2
  ttl_seconds: 900
  gated: [snapshots.delete, maintenance-mode.activate]
schedule:
  cron: "15 1 * * *"
  timezone: Europe/Berlin
retention:
  keep_on_manager: 2
  keep_archived: 7
runbook:
  safety_snapshot: false
  poll_interval_seconds: 1
"""


def test_yaml_several_managers_and_sections(tmp_path):
    s = load_settings({"PROD_PW": SECRET, "DR_TOKEN": "tok"}, write_yaml(tmp_path, YAML))
    prod, dr = s.managers
    assert (prod.name, prod.url, prod.tenant, prod.username, prod.password, prod.ca_bundle) == (
        "prod", "https://prod.example.com", "ops", "snapbot", SECRET, "/etc/ssl/prod-ca.pem")
    assert (dr.name, dr.token, dr.tenant) == ("dr", "tok", "default_tenant")
    assert s.slack.channel == "C0SNAP"
    assert (s.approvals.required, s.approvals.ttl_seconds, s.approvals.approver_groups) == (
        2, 900, {"S9"})
    assert (s.schedule.cron, s.schedule.timezone) == ("15 1 * * *", "Europe/Berlin")
    assert (s.retention.keep_on_manager, s.retention.keep_archived) == (2, 7)
    assert (s.runbook.safety_snapshot, s.runbook.poll_interval_seconds) == (False, 1.0)


def test_yaml_path_from_snapbot_config(tmp_path):
    path = write_yaml(tmp_path, YAML)
    s = load_settings({"SNAPBOT_CONFIG": path, "PROD_PW": "x", "DR_TOKEN": "y"})
    assert [m.name for m in s.managers] == ["prod", "dr"]


def test_env_overrides_yaml(tmp_path):
    s = load_settings({"PROD_PW": "x", "DR_TOKEN": "y", "SNAPBOT_KEEP_ARCHIVED": "99"},
                      write_yaml(tmp_path, YAML))
    assert s.retention.keep_archived == 99


def test_yaml_password_is_refused_without_echoing_it(tmp_path):
    path = write_yaml(tmp_path, f"""
        managers:
          - name: prod
            url: https://prod.example.com
            password: {SECRET}
        """)
    err = config_error({}, path)
    assert err.key == "managers[0].password" and "password_env" in err.problem
    assert SECRET not in str(err)


def test_yaml_password_env_must_be_set(tmp_path):
    path = write_yaml(tmp_path, """
        managers:
          - {name: prod, url: "https://prod.example.com", password_env: PROD_PW}
        """)
    err = config_error({}, path)
    assert err.key == "managers[0].password_env" and "PROD_PW" in err.problem


def test_yaml_bad_manager_url_names_its_index(tmp_path):
    path = write_yaml(tmp_path, """
        managers:
          - {name: a, url: "https://a.example.com"}
          - {name: b, url: "gopher://b.example.com"}
        """)
    assert config_error({}, path).key == "managers[1].url"


def test_yaml_duplicate_manager_names(tmp_path):
    path = write_yaml(tmp_path, """
        managers:
          - {name: a, url: "https://a.example.com"}
          - {name: a, url: "https://b.example.com"}
        """)
    err = config_error({}, path)
    assert err.key == "managers[1].name" and "duplicate" in err.problem


def test_yaml_unknown_key_is_refused(tmp_path):
    path = write_yaml(tmp_path, """
        managers:
          - {name: a, url: "https://a.example.com"}
        retention:
          keep_archive: 3
        """)
    assert config_error({}, path).key == "retention.keep_archive"


def test_yaml_required_more_than_approvers(tmp_path):
    path = write_yaml(tmp_path, """
        managers:
          - {name: a, url: "https://a.example.com"}
        approvals: {approvers: [U1], required: 3}
        """)
    assert config_error({}, path).key == "approvals.required"


def test_yaml_and_cloudify_url_together_are_refused(tmp_path):
    path = write_yaml(tmp_path, """
        managers:
          - {name: a, url: "https://a.example.com"}
        """)
    assert config_error(env(), path).key == "CLOUDIFY_URL"


def test_missing_yaml_file(tmp_path):
    assert config_error({}, str(tmp_path / "nope.yaml")).key == "SNAPBOT_CONFIG"


def test_invalid_yaml(tmp_path):
    assert config_error({}, write_yaml(tmp_path, "managers: [\n")).key == "SNAPBOT_CONFIG"


def test_yaml_bad_cron(tmp_path):
    path = write_yaml(tmp_path, """
        managers:
          - {name: a, url: "https://a.example.com"}
        schedule: {cron: "every night"}
        """)
    assert config_error({}, path).key == "schedule.cron"


# --- secrets never shown -------------------------------------------------------------------------

def test_secrets_not_in_repr_or_str():
    s = load_settings(env(CLOUDIFY_PASSWORD=SECRET + "1", CLOUDIFY_TOKEN=SECRET + "2",
                          SLACK_BOT_TOKEN=SECRET + "3", SLACK_SIGNING_SECRET=SECRET + "4",
                          SLACK_APP_TOKEN=SECRET + "5"))
    assert SECRET not in repr(s) and SECRET not in str(s)


def test_describe_settings_masks_secrets():
    s = load_settings(env(CLOUDIFY_PASSWORD=SECRET, SLACK_BOT_TOKEN=SECRET,
                          SLACK_SIGNING_SECRET=SECRET, SLACK_APP_TOKEN=SECRET))
    described = dict(describe_settings(s))
    assert SECRET not in repr(described)
    assert described["slack.bot_token"] == "set (hidden)"
    assert "auth=password" in described["managers[0]"]


def test_config_error_for_bad_number_does_not_echo_other_values():
    err = config_error(env(CLOUDIFY_PASSWORD=SECRET, SNAPBOT_KEEP_ARCHIVED="x"))
    assert SECRET not in str(err)


def test_yaml_manager_name_with_double_dot_is_refused(tmp_path):
    path = write_yaml(tmp_path, """
        managers:
          - {name: "a..b", url: "https://a.example.com"}
        """)
    assert config_error({}, path).key == "managers[0].name"


# --- the settings table ---------------------------------------------------------------------------

#: A valid non-default value for each section setting that has an environment variable.
SAMPLE_ENV_VALUES = {
    "SNAPBOT_APPROVERS": ("U0AAA1,U0AAA2", frozenset({"U0AAA1", "U0AAA2"})),
    "SNAPBOT_APPROVER_GROUPS": ("S0GRP1", frozenset({"S0GRP1"})),
    "SNAPBOT_APPROVALS_REQUIRED": ("2", 2),
    "SNAPBOT_APPROVAL_TTL": ("60", 60),
    "SNAPBOT_GATED": ("snapshots.delete", frozenset({"snapshots.delete"})),
    "SNAPBOT_SCHEDULE": ("5 4 * * *", "5 4 * * *"),
    "SNAPBOT_TIMEZONE": ("Europe/Paris", "Europe/Paris"),
    "SNAPBOT_KEEP_ON_MANAGER": ("5", 5),
    "SNAPBOT_KEEP_ARCHIVED": ("30", 30),
    "SNAPBOT_KEEP_AUDIT_DAYS": ("90", 90),
    "SNAPBOT_STALE_AFTER_HOURS": ("48", 48),
    "SNAPBOT_OPERATORS": ("U0OPS1,S0OPS", frozenset({"U0OPS1", "S0OPS"})),
    "SNAPBOT_VIEWERS": ("S0VIEW", frozenset({"S0VIEW"})),
    "SNAPBOT_CHANNELS": ("C0AAA1, C0AAA2", frozenset({"C0AAA1", "C0AAA2"})),
    "SNAPBOT_TERMINAL_USERS": ("bob=U0BOB,alice=U0ALICE", (("alice", "U0ALICE"), ("bob", "U0BOB"))),
    "SNAPBOT_TEAM_ID": ("T0TEAM", "T0TEAM"),
    "SNAPBOT_APP_ID": ("A0APP", "A0APP"),
    "SNAPBOT_ENTERPRISE_ID": ("E0ORG", "E0ORG"),
}


def test_every_section_setting_with_an_environment_variable_is_read_from_it():
    section_vars = {s.env: s.key for s in SETTINGS
                    if s.env and s.key.split(".")[0] in ("approvals", "access", "schedule", "retention")}
    assert set(section_vars) == set(SAMPLE_ENV_VALUES)
    for var, key in section_vars.items():
        raw, expected = SAMPLE_ENV_VALUES[var]
        extra = {"SNAPBOT_APPROVERS": "U0AAA1,U0AAA2"} if var == "SNAPBOT_APPROVALS_REQUIRED" else {}
        settings = load_settings(env(**{var: raw}, **extra))
        section, field = key.split(".")
        assert getattr(getattr(settings, section), field) == expected, var


def test_defaults_of_an_empty_configuration_are_the_tables():
    settings = load_settings(env())
    for s in SETTINGS:
        section, _, field = s.key.partition(".")
        if section in ("approvals", "access", "schedule", "retention", "runbook"):
            assert getattr(getattr(settings, section), field) == s.default, s.key
    assert (settings.db_path, settings.archive_dir, settings.log_format) == ("snapbot.db", "archives", "text")
    mgr = settings.managers[0]
    assert (mgr.username, mgr.tenant, mgr.snapshot_format) == ("admin", "default_tenant", "auto")


def _values(record: object) -> list[object]:
    """Every field value of a settings record, nested records and tuples walked."""
    import dataclasses
    out: list[object] = []
    for f in dataclasses.fields(record):
        value = getattr(record, f.name)
        items = value if isinstance(value, tuple) else (value,)
        for item in items:
            out.extend(_values(item) if dataclasses.is_dataclass(item) else [item])
    return out


@pytest.mark.parametrize("var", sorted(s.env for s in SETTINGS if s.secret and s.env))
def test_a_setting_the_table_marks_secret_is_loaded_but_never_shown(var):
    """Each secret of the table, set alone: the settings hold it, and neither their repr nor the
    start-up description shows it."""
    s = load_settings(env(**{var: SECRET}))
    assert SECRET in _values(s), f"{var} was not loaded"
    assert SECRET not in repr(s) and SECRET not in repr(describe_settings(s))
    assert SECRET in s.secret_values(), f"{var} is not handed to the log redactor"


def test_the_table_marks_every_secret_field_of_the_records_secret():
    """A field hidden from repr (a secret) is set by a setting the table marks secret: the
    table, not the records alone, says what is secret."""
    import dataclasses

    from bot.config import settings as records
    secret_names = {s.name for s in SETTINGS if s.secret}
    assert secret_names == {"managers[].password_env", "managers[].token_env", "SLACK_BOT_TOKEN",
                            "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"}
    hidden = {f"{cls.__name__}.{f.name}" for cls in (records.ManagerConfig, records.SlackConfig)
              for f in dataclasses.fields(cls) if not f.repr}
    assert hidden == {"ManagerConfig.password", "ManagerConfig.token", "SlackConfig.bot_token",
                      "SlackConfig.signing_secret", "SlackConfig.app_token"}


@pytest.mark.parametrize("key", sorted(s.key for s in SETTINGS if s.key.split(".")[0] in (
    "approvals", "access", "schedule", "retention", "runbook")))
def test_every_section_value_goes_through_the_tables_parser(tmp_path, key):
    """A value no parser takes (a mapping of a number), under any section key of the table, is
    refused naming that key; and the row's parser, called alone, refuses it the same way."""
    from bot.config.table import setting
    section, field = key.split(".")
    path = write_yaml(tmp_path, f"{section}:\n  {field}:\n    x: 1\n")
    err = config_error(env(), path)
    assert err.key == key
    with pytest.raises(ConfigError) as alone:
        setting(key).parse(key, {"x": 1})
    assert alone.value.problem == err.problem


#: For each setting of the table: the value a test gives it (YAML, or the environment for
#: environment-only ones), the start-up description line that shows it, and what that line then
#: says (None for a secret: the line exists and the value never appears).
DESCRIBED = {
    "managers[].name": ("prod-east", "managers[0]", "prod-east "),
    "managers[].url": ("https://prod.example.com", "managers[0]", "https://prod.example.com "),
    "managers[].tenant": ("tenant-x", "managers[0]", "tenant=tenant-x"),
    "managers[].username": ("ops-user", "managers[0]", "user=ops-user"),
    "managers[].password_env": ("SAMPLE_PASSWORD_VAR", "managers[1]", None),
    "managers[].token_env": ("SAMPLE_TOKEN_VAR", "managers[0]", None),
    "managers[].password_file": ("password.txt", "managers[0]", "auth=token (from file)"),
    "managers[].token_file": ("token.txt", "managers[1]", "auth=token (from file)"),
    "managers[].snapshot_format": ("new", "managers[0]", "snapshot_format=new"),
    "managers[].bootstrap_admin": ("root-admin", "managers[0]", "bootstrap_admin=root-admin"),
    "managers[].ca_bundle": ("/etc/sample-ca.pem", "managers[0]", "tls=/etc/sample-ca.pem"),
    "managers[].verify_tls": (False, "managers[1]", "tls=TLS NOT verified"),
    "managers[].scratch": (True, "managers[1]", " scratch"),
    "managers[].drill.target": ("scratch-1", "managers[0]", "drill=scratch-1@"),
    "managers[].drill.cron": ("5 4 * * 1", "managers[0]", "@'5 4 * * 1'"),
    "SLACK_BOT_TOKEN": (SECRET + "-bot", "slack.bot_token", None),
    "SLACK_SIGNING_SECRET": (SECRET + "-signing", "slack.signing_secret", None),
    "SLACK_APP_TOKEN": (SECRET + "-app", "slack.app_token", None),
    "SLACK_API_URL": ("https://slack.example.com/api", "slack.api_url", "https://slack.example.com/api/"),
    "channel": ("C0SAMPLE1", "channel", "C0SAMPLE1"),
    "approvals.approvers": (["U0AAA1", "U0AAA2"], "approvals.approvers", "U0AAA1, U0AAA2"),
    "approvals.approver_groups": (["S0GRP"], "approvals.approver_groups", "S0GRP"),
    "approvals.required": (2, "approvals.required", "2"),
    "approvals.ttl_seconds": (901, "approvals.ttl_seconds", "901"),
    "approvals.gated": (["plugins.update"], "approvals.gated", "plugins.update"),
    "access.operators": (["U0OPS1"], "access.operators", "U0OPS1"),
    "access.viewers": (["S0VIEW"], "access.viewers", "S0VIEW"),
    "access.channels": (["C0CHAN2"], "access.channels", "C0CHAN2"),
    "access.terminal_users": ({"bob": "U0BOB"}, "access.terminal_users", "bob=U0BOB"),
    "access.team_id": ("T0TEAM", "access.workspace", "team=T0TEAM"),
    "access.app_id": ("A0APP", "access.workspace", "app=A0APP"),
    "access.enterprise_id": ("E0ORG", "access.workspace", "enterprise=E0ORG"),
    "schedule.enabled": (True, "schedule", "0 5 * * *"),
    "schedule.cron": ("0 5 * * *", "schedule", "0 5 * * *"),
    "schedule.timezone": ("Europe/Paris", "schedule", "Europe/Paris"),
    "schedule.misfire_grace_seconds": (1234, "schedule", "misfire grace 1234 s"),
    "retention.keep_on_manager": (5, "retention", "keep 5 on manager"),
    "retention.keep_archived": (31, "retention", "31 archived"),
    "retention.keep_audit_days": (91, "retention", "audit 91 days"),
    "retention.stale_after_hours": (49, "retention", "stale after 49 h"),
    "retention.delete_foreign": (True, "retention", "may delete foreign snapshots"),
    "runbook.safety_snapshot": (False, "runbook", "safety snapshot off"),
    "runbook.poll_interval_seconds": (3.5, "runbook", "poll 3.5-"),
    "runbook.poll_max_interval_seconds": (17.5, "runbook", "-17.5 s"),
    "runbook.maintenance_timeout_seconds": (901, "runbook", "maintenance 901"),
    "runbook.restore_timeout_seconds": (3601, "runbook", "restore 3601"),
    "runbook.snapshot_timeout_seconds": (3602, "runbook", "snapshot 3602"),
    "runbook.queue_timeout_seconds": (1801, "runbook", "queue 1801"),
    "runbook.return_timeout_seconds": (1802, "runbook", "return 1802"),
    "runbook.snapshot_status_grace_seconds": (301, "runbook", "snapshot-status grace 301"),
    "runbook_base_url": ("https://docs.example.com/runbooks.md", "runbook_base_url",
                         "https://docs.example.com/runbooks.md"),
    "db_path": ("sample.db", "db_path", "sample.db"),
    "archive_dir": ("sample-archives", "archive", "directory sample-archives"),
    "archive.url": ("s3://sample-bucket/prefix", "archive", "s3://sample-bucket/prefix"),
    "SNAPBOT_LOG_FORMAT": ("json", "log_format", "json"),
    "SNAPBOT_CONFIG": ("snapbot.yaml", "config_file", "snapbot.yaml"),
}


def _described(tmp_path, names: set[str]) -> dict[str, str]:
    """The start-up description of a configuration giving each setting in `names` its value in
    DESCRIBED (the others keep their defaults)."""
    import yaml
    (tmp_path / "password.txt").write_text(SECRET + "-pw-file\n")
    (tmp_path / "token.txt").write_text(SECRET + "-token-file\n")
    managers: list[dict] = [{"name": "prod-east", "url": "https://prod.example.com"},
                            {"name": "scratch-1", "url": "https://scratch.example.com"}]
    data: dict = {"managers": managers}
    environ = {"SAMPLE_PASSWORD_VAR": SECRET + "-pw", "SAMPLE_TOKEN_VAR": SECRET + "-token"}
    for name in names:
        value, line, _ = DESCRIBED[name]
        s = next(s for s in SETTINGS if s.name == name)
        if not s.key:
            environ[s.env] = value
            continue
        if name.endswith("_file"):
            value = str(tmp_path / value)
        if s.key.startswith("managers[]."):
            target = managers[int(line[-2])]
            *parents, field = s.key.removeprefix("managers[].").split(".")
            for parent in parents:
                target = target.setdefault(parent, {})
            target[field] = value
        else:
            *parents, field = s.key.split(".")
            target = data
            for parent in parents:
                target = target.setdefault(parent, {})
            target[field] = value
    path = tmp_path / DESCRIBED["SNAPBOT_CONFIG"][0]
    path.write_text(yaml.safe_dump(data))
    settings = load_settings(environ, str(path))
    described = dict(describe_settings(settings))
    assert SECRET not in repr(described)
    return described


def test_the_start_up_description_shows_every_setting_of_the_table(tmp_path):
    """Each setting of the table, given a value of its own, is shown by the line DESCRIBED
    names (a secret only as set). The directory of the archives is shown when no object store
    is configured (a second configuration)."""
    assert set(DESCRIBED) == {s.name for s in SETTINGS}, "a setting of the table is not described"
    everything = set(DESCRIBED) - {"archive_dir", "managers[].password_file"}
    for names in (everything, {"archive_dir", "managers[].password_file", "managers[].token_env"}):
        described = _described(tmp_path, names)
        for name in sorted(names):
            _, line, shown = DESCRIBED[name]
            assert line in described, name
            if shown is not None:
                assert shown in described[line], (name, described[line])
