"""The README and docs/ stay true: the command table (README), the configuration tables
(docs/configuration.md) and the runbook sections (docs/runbooks.md) are generated from the code,
the YAML example loads, and every relative link points at a file and heading that exist.
Regenerate with `python -m tests.test_readme`."""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import yaml

from bot.commands.registry import ALWAYS, COMMANDS, CONFIGURABLE
from bot.config import load as config_load
from bot.config import settings as records
from bot.config.load import load_settings
from bot.config.table import SETTINGS, configuration_markdown
from bot.runbooks import ALL as RUNBOOKS
from bot.runbooks import readme_runbooks

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
CONFIGURATION = DOCS / "configuration.md"
RUNBOOKS_DOC = DOCS / "runbooks.md"
#: marker name -> (the file holding it, its renderer)
def _md_cell(text: str) -> str:
    return text.replace("|", "\\|")


def readme_command_table() -> str:
    """The README's command table, rendered from COMMANDS (Markdown, ends with a newline)."""
    rows = ["| Command | What it does | Example | Approval |", "|---|---|---|---|"]
    for s in COMMANDS:
        approval = {ALWAYS: "**always**", CONFIGURABLE: "configurable"}.get(s.approval, "–")
        rows.append(f"| `{_md_cell(s.line)}` | {_md_cell(s.summary)} | "
                    f"`{_md_cell(s.example_line)}` | {approval} |")
    return "\n".join(rows) + "\n"


GENERATED = {"commands": (README, readme_command_table),
             "config": (CONFIGURATION, configuration_markdown),
             "runbooks": (RUNBOOKS_DOC, readme_runbooks)}


def between(text: str, name: str) -> str:
    start, end = f"<!-- {name}:start -->\n", f"<!-- {name}:end -->"
    assert start in text and end in text, f"the {name} markers are missing"
    return text.split(start, 1)[1].split(end, 1)[0]


def regenerate() -> None:
    for name, (path, render) in GENERATED.items():
        text = path.read_text(encoding="utf-8")
        old = between(text, name)
        text = text.replace(f"<!-- {name}:start -->\n{old}", f"<!-- {name}:start -->\n{render()}", 1)
        path.write_text(text, encoding="utf-8")


def readme() -> str:
    return README.read_text(encoding="utf-8")


def doc(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def slugs(text: str) -> set[str]:
    """GitHub-style anchors of the Markdown headings in `text`."""
    headings = re.findall(r"^#+ (.+)$", text, re.MULTILINE)
    return {re.sub(r"[^a-z0-9 _-]", "", h.lower()).replace(" ", "-") for h in headings}


def test_command_table_is_the_generated_one():
    assert between(readme(), "commands") == readme_command_table(), \
        "run `python -m tests.test_readme` to regenerate"


def test_config_table_is_the_generated_one():
    assert between(doc(CONFIGURATION), "config") == configuration_markdown(), \
        "run `python -m tests.test_readme` to regenerate"


def test_every_env_var_load_settings_reads_is_documented():
    source = Path(config_load.__file__).read_text(encoding="utf-8")
    read = set(re.findall(r'"((?:CLOUDIFY|SLACK|SNAPBOT)_[A-Z0-9_]+)"', source))
    assert read, "the scan found nothing: update the pattern"
    assert read <= {s.env for s in SETTINGS}
    section = between(doc(CONFIGURATION), "config")
    assert all(f"`{name}`" in section for name in read)


def test_every_yaml_field_is_documented():
    sections = {"approvals": records.ApprovalPolicy, "access": records.AccessConfig,
                "schedule": records.ScheduleConfig,
                "retention": records.RetentionConfig, "runbook": records.RunbookConfig}
    expected = {f"{name}.{f.name}" for name, cls in sections.items()
                for f in dataclasses.fields(cls)}
    expected |= {f"managers[].{f.name}" for f in dataclasses.fields(records.ManagerConfig)
                 if f.name not in ("name", "url", "password", "token", "drill")}
    expected |= {f"managers[].drill.{f.name}" for f in dataclasses.fields(records.DrillConfig)}
    expected |= {"managers[].name", "managers[].url", "managers[].password_env",
                 "managers[].token_env", "channel", "db_path", "archive_dir", "runbook_base_url",
                 "archive.url"}
    assert expected == {s.key for s in SETTINGS if s.key}


def test_yaml_example_loads(tmp_path):
    text = doc(CONFIGURATION)
    example = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "snapbot.yaml"
    path.write_text(example)
    settings = load_settings({"PROD_CFY_PASSWORD": "x", "DR_CFY_TOKEN": "y",
                              "SCRATCH_CFY_PASSWORD": "z"}, str(path))
    assert [m.name for m in settings.managers] == ["prod", "dr", "scratch"]
    assert settings.managers[0].drill is not None and settings.managers[2].scratch
    assert yaml.safe_load(example)["approvals"]["required"] == settings.approvals.required


def test_quick_start_has_the_two_commands():
    quick = readme().split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```sh\n(.*?)\n```", quick, re.DOTALL)
    assert commands == [
        "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/snapbot demo",
        "python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && .venv/bin/mypy"
        " && .venv/bin/ruff check && .venv/bin/python -m pytest",
    ]


def test_ci_runs_the_quick_start_checks():
    ci = (README.parent / ".ci" / "run").read_text(encoding="utf-8")
    for command in (".venv/bin/mypy", ".venv/bin/ruff check", ".venv/bin/python -m pytest"):
        assert f"\n{command}\n" in ci


def test_marked_sections_are_well_formed():
    for path in [README, *sorted(DOCS.glob("*.md"))]:
        text = doc(path)
        for name in re.findall(r"<!-- ([a-z]+):start -->", text):
            assert text.count(f"<!-- {name}:start -->") == 1, path
            assert text.index(f"<!-- {name}:start -->") < text.index(f"<!-- {name}:end -->"), path


def test_every_runbook_anchor_is_a_heading_of_the_runbooks_page():
    assert {rb.anchor for rb in RUNBOOKS} <= slugs(doc(RUNBOOKS_DOC))


def test_runbook_sections_are_the_generated_ones():
    assert between(doc(RUNBOOKS_DOC), "runbooks") == readme_runbooks(), \
        "run `python -m tests.test_readme` to regenerate"


def test_dockerfile_runs_the_documented_command_as_non_root_with_a_data_volume():
    # Statically here (.ci/docker-smoke builds and runs the image): the probe is valid Python.
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "FROM python:3.11-slim" in text
    assert re.search(r"^USER (?!root)\S+", text, re.MULTILINE)
    assert "VOLUME /data" in text and "EXPOSE 3000" in text
    assert "SNAPBOT_DB=/data/snapbot.db" in text and "SNAPBOT_ARCHIVE_DIR=/data/archives" in text
    assert 'CMD ["snapbot", "run"]' in text and "PORT=3000" in text  # snapbot run reads $PORT
    probe = re.search(r'HEALTHCHECK .*?CMD \["python", "-c", "(.*?)"\]', text, re.DOTALL).group(1)
    compile(probe, "healthcheck", "exec")
    assert "/healthz" in probe


def test_every_relative_link_points_at_a_file_and_heading_that_exist():
    broken = []
    for path in [README, *sorted(DOCS.glob("*.md"))]:
        for target in re.findall(r"\]\(([^)\s]+)\)", doc(path)):
            if re.match(r"[a-z]+:", target):
                continue
            file, _, anchor = target.partition("#")
            dest = (path.parent / file).resolve() if file else path
            if not dest.exists():
                broken.append(f"{path.relative_to(ROOT)}: {target}")
            elif anchor and dest.suffix == ".md" and anchor not in slugs(doc(dest)):
                broken.append(f"{path.relative_to(ROOT)}: {target} (no such heading)")
    assert broken == []


def test_the_readme_stays_short_and_points_at_every_doc():
    text = readme()
    assert len(text.splitlines()) <= 200
    for path in sorted(DOCS.glob("*.md")):
        assert f"(docs/{path.name})" in text, f"the README does not link docs/{path.name}"


if __name__ == "__main__":  # python -m tests.test_readme
    regenerate()
    print("regenerated the generated sections of README.md and docs/")
