"""`snapbot demo` as a person runs it: a subprocess that prints the conversation and exits 0."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def demo_run() -> subprocess.CompletedProcess:
    snapbot = Path(sys.executable).parent / "snapbot"
    cmd = [str(snapbot)] if snapbot.exists() else [sys.executable, "-m", "snapbot"]
    return subprocess.run(cmd + ["demo"], cwd=ROOT, capture_output=True, text=True, timeout=240)


@pytest.mark.slow
def test_demo_exits_zero(demo_run):
    assert demo_run.returncode == 0, demo_run.stdout[-3000:] + demo_run.stderr[-3000:]
    assert "demo OK" in demo_run.stdout


@pytest.mark.slow
def test_demo_shows_who_typed_each_command(demo_run):
    for typed in ("› /cfy help", "› /cfy snapshots create nightly-1", "› /cfy snapshots list",
                  "› /cfy snapshots download nightly-1"):
        assert typed in demo_run.stdout


@pytest.mark.slow
def test_demo_marks_ephemeral_answers(demo_run):
    assert "(only alice (operator) sees this) ›" in demo_run.stdout


@pytest.mark.slow
def test_demo_follows_the_create_until_created(demo_run):
    assert "card updated" in demo_run.stdout
    assert "snapshot `nightly-1` created" in demo_run.stdout
    assert "(in thread)" in demo_run.stdout


@pytest.mark.slow
def test_demo_prints_the_downloaded_archive_sha256_and_path(demo_run):
    lines = [line for line in demo_run.stdout.splitlines() if line.strip().startswith("(sha256 ")]
    assert lines and len(lines[0].split()[1]) == 64
    assert "nightly-1.zip" in demo_run.stdout
