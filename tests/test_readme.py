"""The README stays true: its command and configuration tables are generated from the code, and
its YAML example loads. Regenerate the tables with `python -m tests.test_readme`."""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import yaml

from bot import config
from bot.commands.help import readme_command_table
from bot.config import ENV_VARS, YAML_KEYS, load_settings, readme_config_table
from bot.runbooks import ALL as RUNBOOKS
from bot.runbooks import readme_runbooks

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
GENERATED = {"commands": readme_command_table, "config": readme_config_table,
             "runbooks": readme_runbooks}


def between(text: str, name: str) -> str:
    start, end = f"<!-- {name}:start -->\n", f"<!-- {name}:end -->"
    assert start in text and end in text, f"README lacks the {name} markers"
    return text.split(start, 1)[1].split(end, 1)[0]


def regenerate(text: str) -> str:
    for name, render in GENERATED.items():
        old = between(text, name)
        text = text.replace(f"<!-- {name}:start -->\n{old}", f"<!-- {name}:start -->\n{render()}", 1)
    return text


def readme() -> str:
    return README.read_text(encoding="utf-8")


def test_command_table_is_the_generated_one():
    assert between(readme(), "commands") == readme_command_table(), \
        "run `python -m tests.test_readme` to regenerate"


def test_config_table_is_the_generated_one():
    assert between(readme(), "config") == readme_config_table(), \
        "run `python -m tests.test_readme` to regenerate"


def test_every_env_var_load_settings_reads_is_documented():
    source = Path(config.__file__).read_text(encoding="utf-8")
    read = set(re.findall(r'(?:_env\(env, |env\.get\()"([A-Z][A-Z0-9_]+)"', source))
    assert read, "the scan found nothing: update the pattern"
    assert read <= set(ENV_VARS)
    section = between(readme(), "config")
    assert all(f"`{name}`" in section for name in read)


def test_every_yaml_field_is_documented():
    sections = {"approvals": config.ApprovalPolicy, "schedule": config.ScheduleConfig,
                "retention": config.RetentionConfig, "runbook": config.RunbookConfig}
    expected = {f"{name}.{f.name}" for name, cls in sections.items()
                for f in dataclasses.fields(cls)}
    expected |= {f"managers[].{k}" for k in config._MANAGER_KEYS}
    expected |= config._TOP_KEYS - {"managers", "archive", *sections}
    expected |= {"archive.url"}
    assert expected == set(YAML_KEYS)


def test_yaml_example_loads(tmp_path):
    text = readme()
    example = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "snapbot.yaml"
    path.write_text(example)
    settings = load_settings({"PROD_CFY_PASSWORD": "x", "DR_CFY_TOKEN": "y"}, str(path))
    assert [m.name for m in settings.managers] == ["prod", "dr"]
    assert yaml.safe_load(example)["approvals"]["required"] == settings.approvals.required


def test_quick_start_has_the_two_commands():
    quick = readme().split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```sh\n(.*?)\n```", quick, re.S)
    assert commands == [
        "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/snapbot demo",
        "python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && .venv/bin/python -m pytest",
    ]


def test_marked_sections_are_well_formed():
    text = readme()
    for name in re.findall(r"<!-- ([a-z]+):start -->", text):
        assert text.count(f"<!-- {name}:start -->") == 1
        assert text.index(f"<!-- {name}:start -->") < text.index(f"<!-- {name}:end -->")


def test_every_runbook_anchor_is_a_readme_heading():
    headings = re.findall(r"^#+ (.+)$", readme(), re.M)
    slugs = {re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-") for h in headings}
    assert {rb.anchor for rb in RUNBOOKS} <= slugs


def test_runbook_sections_are_the_generated_ones():
    assert between(readme(), "runbooks") == readme_runbooks(), \
        "run `python -m tests.test_readme` to regenerate"


def test_dockerfile_runs_the_documented_command_as_non_root_with_a_data_volume():
    # Statically here (.ci/docker-smoke builds and runs the image): the probe is valid Python.
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "FROM python:3.11-slim" in text
    assert re.search(r"^USER (?!root)\S+", text, re.M)
    assert "VOLUME /data" in text and "EXPOSE 3000" in text
    assert "SNAPBOT_DB=/data/snapbot.db" in text and "SNAPBOT_ARCHIVE_DIR=/data/archives" in text
    assert 'CMD ["snapbot", "run"]' in text and "PORT=3000" in text  # snapbot run reads $PORT
    probe = re.search(r'HEALTHCHECK .*?CMD \["python", "-c", "(.*?)"\]', text, re.S).group(1)
    compile(probe, "healthcheck", "exec")
    assert "/healthz" in probe


if __name__ == "__main__":  # python -m tests.test_readme
    README.write_text(regenerate(readme()), encoding="utf-8")
    print(f"regenerated the tables in {README}")
