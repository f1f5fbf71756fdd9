"""Real workflows on the real manager (`realmanager` tier): snapbot creates, downloads (zip and
sha256 verified), uploads and restores snapshots, and Cloudify's own mgmtworker runs them.

These need the single-host layout (SNAPBOT_REALMANAGER_SYSTEM_LAYOUT=1, as CI sets). The tests
share the session's manager, made fresh for them, and run in file order: the legacy restore,
which replaces the database, is last."""
from __future__ import annotations

import hashlib
import json
import time
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from devtools.realmanager import RealManager
from devtools.realmanager.processes import process_tree
from snapbot.main import main
from tests.realmanager_support import (
    api,
    as_premium_writes_it,
    system_layout_or_skip,
    wait_for_execution,
    wait_until_answering,
)

pytestmark = [pytest.mark.realmanager, pytest.mark.slow]
# what the new-format dump asks for first that community refuses (snapshot_create.py dumps
# tenants, permissions, user_groups, users in that order)
PREMIUM_FIRST = "GET /api/v3.1/user-groups"


@pytest.fixture(scope="module")
def manager(real_manager: RealManager) -> RealManager:
    """The session's manager, made fresh (same URL) if other tests have called it."""
    system_layout_or_skip(real_manager)
    return real_manager if real_manager.untouched() else real_manager.restart()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """snapbot's SQLite file and archive directory, shared by the module's tests."""
    return tmp_path_factory.mktemp("snapbot")


def snapbot_cfy(manager: RealManager, workdir: Path, *words: str) -> tuple[int, str]:
    """`snapbot cfy WORDS --yes` against the real manager; (exit code, what it printed)."""
    username, password, tenant = manager.credentials
    env = {"CLOUDIFY_URL": manager.url, "CLOUDIFY_USERNAME": username, "CLOUDIFY_PASSWORD": password,
           "CLOUDIFY_TENANT": tenant, "SNAPBOT_DB": str(workdir / "snapbot.db"),
           "SNAPBOT_ARCHIVE_DIR": str(workdir / "archives"), "PATH": "/usr/bin:/bin"}
    printed: list[str] = []
    code = main(["cfy", *words, "--yes"], env=env, write=printed.append)
    return code, "\n".join(printed)


def system_executions(client: httpx.Client, workflow_id: str) -> list[dict[str, Any]]:
    answer = client.get("/executions", params={"_include_system_workflows": "true", "workflow_id": workflow_id,
                                               "_sort": "created_at"})
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def archive(workdir: Path, snapshot_id: str) -> Path:
    return workdir / "archives" / "default" / f"{snapshot_id}.zip"


def test_snapbot_creates_a_legacy_snapshot_on_the_real_manager(manager: RealManager, workdir: Path) -> None:
    code, printed = snapbot_cfy(manager, workdir, "snapshots", "create", "rm-first")
    assert code == 0, printed
    with api(manager) as client:
        snapshot = client.get("/snapshots/rm-first").json()
        assert snapshot["status"] == "created"
        [execution] = [e for e in system_executions(client, "create_snapshot")
                       if e["parameters"]["snapshot_id"] == "rm-first"]
    assert execution["status"] == "terminated"
    assert execution["parameters"]["legacy"] is True


def test_snapbot_downloads_it_and_verifies_zip_and_sha256(manager: RealManager, workdir: Path) -> None:
    code, printed = snapbot_cfy(manager, workdir, "snapshots", "download", "rm-first")
    assert code == 0, printed
    path = archive(workdir, "rm-first")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert Path(f"{path}.sha256").read_text().split()[0] == digest
    assert digest in printed
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None
        metadata = json.loads(zf.read("metadata.json"))
        assert "pg_data" in zf.namelist()  # the legacy format: a database dump
    assert metadata["snapshot_version"].startswith("7.0.5")
    # community writes no UI schema revisions (the UIs are premium): see the restore tests below
    assert "stage_schema_revision" not in metadata and "composer_schema_revision" not in metadata


def test_a_new_format_snapshot_fails_in_community_on_a_premium_only_list(manager: RealManager) -> None:
    access_log = manager.layout.logs / "nginx-access.log"
    seen = len(access_log.read_text().splitlines())
    with api(manager) as client:
        started = client.put("/snapshots/rm-newformat", json={"legacy": False})
        assert started.status_code == 201, started.text
        execution = wait_for_execution(client, started.json()["id"])
        snapshot = client.get("/snapshots/rm-newformat").json()
    assert execution["status"] == "failed"
    assert snapshot["status"] == "failed"
    assert "only in the premium edition" in execution["error"]
    # the workflow's own calls: the first one refused is the dump of a premium-only list
    refused = [line.split('"')[1] for line in access_log.read_text().splitlines()[seen:] if '" 404 ' in line]
    assert refused and refused[0].startswith(PREMIUM_FIRST), refused


def test_restoring_a_community_snapshot_terminates_but_restores_nothing(manager: RealManager) -> None:
    # Cloudify 7.0.5 takes a snapshot for legacy only when its metadata names the stage and
    # composer schema revisions, which community never writes: its own legacy snapshot is read as
    # the new format, holding none of that format's entities, and nothing is restored
    with api(manager) as client:
        assert client.put("/secrets/rm-made-after-the-snapshot", json={"value": "x"}).status_code == 200
        started = client.post("/snapshots/rm-first/restore", json={"force": True, "restore_certificates": False})
        assert started.status_code == 200, started.text
        execution = wait_for_execution(client, started.json()["id"])
        assert execution["status"] == "terminated", execution["error"]
        assert client.get("/maintenance").json()["status"] == "deactivated"
        assert client.get("/snapshot-status").json()["status"] == "not-running"
        assert client.get("/secrets/rm-made-after-the-snapshot").status_code == 200
        assert client.delete("/secrets/rm-made-after-the-snapshot").status_code == 204


def test_a_legacy_restore_runs_to_completion_stopping_and_starting_services(manager: RealManager,
                                                                             workdir: Path) -> None:
    as_premium_writes_it(archive(workdir, "rm-first"), archive(workdir, "rm-legacy"))
    code, printed = snapbot_cfy(manager, workdir, "snapshots", "upload", "rm-legacy", "--from-archive")
    assert code == 0, printed
    control_log = manager.service_control_log
    calls_before = control_log.read_text().splitlines() if control_log.exists() else []
    with api(manager) as client:
        assert client.get("/snapshots/rm-legacy").json()["status"] == "uploaded"
        assert client.put("/secrets/rm-gone-after-restore", json={"value": "x"}).status_code == 200
        started = client.post("/snapshots/rm-legacy/restore", json={"force": True, "restore_certificates": False})
        assert started.status_code == 200, started.text
        execution = wait_for_execution(client, started.json()["id"])
        assert execution["status"] == "terminated", execution["error"]
        # the restore flag file goes with the commands it leaves to run after the workflow:
        # until then /snapshot-status says running
        _wait_for_post_restore_commands(manager)
        wait_until_answering(client, "/version")
        assert client.get("/maintenance").json()["status"] == "deactivated"
        assert client.get("/snapshot-status").json()["status"] == "not-running"
        # the database was replaced by the snapshot's
        assert client.get("/secrets/rm-gone-after-restore").status_code == 404
    calls = [line.split(" ", 1)[1] for line in control_log.read_text().splitlines()[len(calls_before):]]
    assert "supervisorctl stop cloudify-restservice -> 0" in calls
    assert "supervisorctl start cloudify-restservice -> 0" in calls
    assert "supervisorctl restart cloudify-restservice -> 0" in calls
    assert "supervisorctl stop cloudify-execution-scheduler -> 0" in calls
    assert manager.service("rest").running() and manager.service("scheduler").running()


def _wait_for_post_restore_commands(manager: RealManager) -> None:
    """A legacy restore leaves a shell behind that, once the workflow has ended, resets the admin
    user and makes the mgmtworker a new token (`sudo create-admin-token.py`): wait for it."""
    worker = manager.service("mgmtworker")
    assert worker.pid is not None
    deadline = time.monotonic() + 120
    while any(b"snapshot-data" in _cmdline(pid) for pid in process_tree(worker.pid)):
        assert time.monotonic() < deadline, "the post-restore commands did not finish"
        time.sleep(0.5)


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def test_the_manager_works_after_the_legacy_restore(manager: RealManager, workdir: Path) -> None:
    code, printed = snapbot_cfy(manager, workdir, "snapshots", "create", "rm-after")
    assert code == 0, printed
    code, printed = snapbot_cfy(manager, workdir, "snapshots", "download", "rm-after")
    assert code == 0, printed
    assert zipfile.is_zipfile(archive(workdir, "rm-after"))
