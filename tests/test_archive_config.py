"""archive.url / SNAPBOT_ARCHIVE_URL / SNAPBOT_ARCHIVE_DIR and SNAPBOT_LOG_FORMAT."""
from __future__ import annotations

import pytest

from bot.config.load import load_settings
from bot.errors import ConfigError

BASE = {"CLOUDIFY_URL": "http://127.0.0.1:1"}


def test_env_url_selects_object_storage_and_keeps_the_aws_variables_out_of_repr():
    s = load_settings({**BASE, "SNAPBOT_ARCHIVE_URL": "s3://bucket/pre/", "AWS_SECRET_ACCESS_KEY": "s3cr3t",
                       "AWS_REGION": "eu-west-1"})
    assert s.archive_location == "s3://bucket/pre"
    assert dict(s.archive_env)["AWS_REGION"] == "eu-west-1"
    assert "s3cr3t" not in repr(s)


def test_archive_dir_keeps_working_and_a_directory_url_is_a_directory(tmp_path):
    assert load_settings({**BASE, "SNAPBOT_ARCHIVE_DIR": "/data/a"}).archive_location == "/data/a"
    s = load_settings({**BASE, "SNAPBOT_ARCHIVE_URL": "/data/b"})
    assert (s.archive_url, s.archive_dir) == ("", "/data/b")


def test_yaml_archive_url_and_env_dir_overrides_it(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("managers: [{name: prod, url: 'http://127.0.0.1:1'}]\narchive: {url: 's3://b/x'}\n")
    assert load_settings({}, str(cfg)).archive_location == "s3://b/x"
    assert load_settings({"SNAPBOT_ARCHIVE_DIR": "/d"}, str(cfg)).archive_location == "/d"


@pytest.mark.parametrize("url,problem", [("http://store/bucket", "must be s3://"),
                                         ("s3://key:secret@bucket/p", "credentials"),
                                         ("s3:///p", "no bucket")])
def test_bad_archive_urls_name_the_setting(url, problem):
    with pytest.raises(ConfigError, match=problem) as err:
        load_settings({**BASE, "SNAPBOT_ARCHIVE_URL": url})
    assert "SNAPBOT_ARCHIVE_URL" in str(err.value) and "secret" not in str(err.value)


def test_log_format_is_text_or_json():
    assert load_settings({**BASE, "SNAPBOT_LOG_FORMAT": "JSON"}).log_format == "json"
    with pytest.raises(ConfigError, match="SNAPBOT_LOG_FORMAT"):
        load_settings({**BASE, "SNAPBOT_LOG_FORMAT": "xml"})
