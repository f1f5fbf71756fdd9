"""The real `cfy` CLI (cloudify==7.0.5, in its own virtualenv) against `python -m devtools.simulator`.

The CLI pins aiohttp 3.10.x (clashes with slack-bolt's), so it lives in a cached virtualenv at
${SNAPBOT_CFY_VENV:-~/.cache/snapbot/cfy-venv-7.0.5}; it is created on first use (under a file
lock) and reused when `bin/cfy --version` says 7.0.5. No registry -> the module is skipped.

Facts used (cloudify-cli / cloudify_rest_client 7.0.5 as installed): `profiles use` calls
/status, /provider/context, /managers, /brokers, /db-nodes; `snapshots upload` first calls the
unversioned /api/version and /license-check; `snapshots restore` prints "Started workflow
execution. The execution's id is <id>." and exits 0 even when the workflow later fails;
`snapshots status` prints "Snapshot restore in progress..." / "No snapshot is currently being
restored" for /snapshot-status running / not-running.
"""
from __future__ import annotations

import fcntl
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.conformance

CFY_VERSION = "7.0.5"
SPEED = "20"


def _venv_dir() -> Path:
    default = Path.home() / ".cache" / "snapbot" / f"cfy-venv-{CFY_VERSION}"
    return Path(os.environ.get("SNAPBOT_CFY_VENV", str(default))).expanduser()


def _cfy_ok(cfy: Path) -> bool:
    if not cfy.exists():
        return False
    try:
        out = subprocess.run([str(cfy), "--version"], capture_output=True, text=True, timeout=120,
                             env={**os.environ, "CFY_WORKDIR": str(cfy.parent.parent / "workdir")})
    except (OSError, subprocess.TimeoutExpired):
        return False
    return f"Cloudify CLI {CFY_VERSION}" in out.stdout


@pytest.fixture(scope="session")
def cfy_bin() -> Path:
    venv = _venv_dir()
    cfy = venv / "bin" / "cfy"
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(str(venv) + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel runs wait for one installer
        if _cfy_ok(cfy):
            return cfy
        base = "python3.11" if subprocess.run(["which", "python3.11"], capture_output=True
                                              ).returncode == 0 else "python3"
        made = subprocess.run([base, "-m", "venv", "--clear", str(venv)], capture_output=True,
                              text=True)
        if made.returncode != 0:
            pytest.skip(f"cannot create the cfy virtualenv at {venv}: {made.stderr.strip()}")
        pip = subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet",
                              f"cloudify=={CFY_VERSION}"], capture_output=True, text=True,
                             timeout=1800)
        if pip.returncode != 0 or not _cfy_ok(cfy):
            pytest.skip(f"cloudify=={CFY_VERSION} could not be installed from the package "
                        f"registry: {pip.stderr.strip()[-400:]}")
        return cfy


@pytest.fixture(scope="module")
def simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = tmp_path_factory.mktemp("sim-data")
    proc = subprocess.Popen([sys.executable, "-m", "devtools.simulator", "--port", "0", "--speed",
                             SPEED, "--data-dir", str(data)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
    if not match:
        proc.kill()
        raise AssertionError(f"simulator did not start: {line}{proc.stdout.read()}")
    try:
        yield match.group(1)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


class Cfy:
    def __init__(self, binary: Path, workdir: Path) -> None:
        self.binary, self.workdir = binary, workdir

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.binary), *args], capture_output=True, text=True,
                              timeout=120, env={**os.environ, "CFY_WORKDIR": str(self.workdir)})


@pytest.fixture(scope="module")
def cfy(cfy_bin: Path, simulator: str, tmp_path_factory: pytest.TempPathFactory) -> Cfy:
    runner = Cfy(cfy_bin, tmp_path_factory.mktemp("cfy-workdir"))
    used = runner("profiles", "use", "127.0.0.1", "-u", "admin", "-p", "admin", "-t",
                  "default_tenant", "--rest-port", simulator)
    assert used.returncode == 0, used.stdout + used.stderr
    return runner


def sim_get(port: str, path: str) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_sim{path}", timeout=10) as resp:
        return json.load(resp)


def sim_post(port: str, path: str, body: dict[str, Any]) -> Any:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/_sim{path}", method="POST",
                                 data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.load(resp)


def sim_state(port: str) -> dict[str, Any]:
    """/_sim/state, retried: during a restore's outage the whole port refuses connections."""
    for _ in range(200):
        try:
            return sim_get(port, "/state")
        except OSError:
            time.sleep(0.05)
    raise AssertionError("simulator unreachable")


def wait_snapshot(port: str, snapshot_id: str, status: str) -> None:
    for _ in range(200):
        snaps = {s["id"]: s["status"] for s in sim_state(port)["snapshots"]}
        if snaps.get(snapshot_id) == status:
            return
        time.sleep(0.05)
    raise AssertionError(f"{snapshot_id} never became {status}")


def wait_execution(port: str, execution_id: str) -> dict[str, Any]:
    for _ in range(400):
        for ex in sim_state(port)["executions"]:
            if ex["id"] == execution_id and ex["status"] in ("terminated", "failed", "cancelled"):
                return ex
        time.sleep(0.05)
    raise AssertionError(f"{execution_id} never finished")


def started_execution_id(output: str) -> str:
    match = re.search(r"execution's id is ([0-9a-f-]{36})", output)
    assert match, output
    return match.group(1)


def test_the_cli_calls_no_endpoint_the_simulator_lacks(cfy: Cfy, simulator: str) -> None:
    for args in (["snapshots", "list"], ["snapshots", "status"], ["maintenance-mode", "status"],
                 ["executions", "list"], ["status"]):
        cfy(*args)
    assert sim_get(simulator, "/state")["unknown_requests"] == []


def test_profiles_use_sees_the_cluster_nodes(cfy: Cfy, simulator: str) -> None:
    out = cfy("profiles", "use", "127.0.0.1", "-u", "admin", "-p", "admin", "-t",
              "default_tenant", "--rest-port", simulator)
    assert out.returncode == 0
    assert "Using manager 127.0.0.1" in out.stdout + out.stderr


def test_snapshots_create_ends_created_in_list(cfy: Cfy, simulator: str) -> None:
    created = cfy("snapshots", "create", "conf-a")
    assert created.returncode == 0, created.stderr
    assert "Started workflow execution" in created.stdout + created.stderr
    wait_snapshot(simulator, "conf-a", "created")
    listed = cfy("snapshots", "list")
    assert listed.returncode == 0
    assert re.search(r"conf-a\s*\|.*\|\s*created\s*\|", listed.stdout)


def test_snapshots_download_writes_a_valid_zip(cfy: Cfy, simulator: str, tmp_path: Path) -> None:
    cfy("snapshots", "create", "conf-dl")
    wait_snapshot(simulator, "conf-dl", "created")
    out = tmp_path / "conf-dl.zip"
    done = cfy("snapshots", "download", "conf-dl", "-o", str(out))
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(out) as zf:
        assert json.loads(zf.read("metadata.json"))["snapshot_version"] == "7.0.0"


def test_snapshots_upload_makes_an_uploaded_snapshot(cfy: Cfy, simulator: str,
                                                     tmp_path: Path) -> None:
    cfy("snapshots", "create", "conf-up-src")
    wait_snapshot(simulator, "conf-up-src", "created")
    out = tmp_path / "src.zip"
    cfy("snapshots", "download", "conf-up-src", "-o", str(out))
    up = cfy("snapshots", "upload", str(out), "-s", "conf-up")
    assert up.returncode == 0, up.stdout + up.stderr
    assert "Snapshot uploaded. The snapshot's id is conf-up" in up.stdout + up.stderr
    assert re.search(r"conf-up\s*\|.*\|\s*uploaded\s*\|", cfy("snapshots", "list").stdout)


def test_restore_without_force_is_refused_by_the_workflow(cfy: Cfy, simulator: str) -> None:
    cfy("snapshots", "create", "conf-nf")
    wait_snapshot(simulator, "conf-nf", "created")
    started = cfy("snapshots", "restore", "conf-nf")
    assert started.returncode == 0, started.stderr
    ex = wait_execution(simulator, started_execution_id(started.stdout + started.stderr))
    assert ex["status"] == "failed"
    assert "Pass the --force flag" in ex["error"]
    shown = cfy("executions", "get", ex["id"])
    assert shown.returncode == 0 and "failed" in shown.stdout


def test_restore_with_force_completes(cfy: Cfy, simulator: str) -> None:
    cfy("snapshots", "create", "conf-rf")
    wait_snapshot(simulator, "conf-rf", "created")
    started = cfy("snapshots", "restore", "conf-rf", "--force")
    assert started.returncode == 0, started.stderr
    ex = wait_execution(simulator, started_execution_id(started.stdout + started.stderr))
    assert ex["status"] == "terminated"
    for _ in range(50):
        status = cfy("snapshots", "status")
        if "No snapshot is currently being restored" in status.stdout + status.stderr:
            break
    else:
        raise AssertionError("snapshot-status never went back to not-running")


def test_snapshots_status_reports_a_restore_in_progress(cfy: Cfy, simulator: str) -> None:
    cfy("snapshots", "create", "conf-st")
    wait_snapshot(simulator, "conf-st", "created")
    sim_post(simulator, "/config", {"restore_seconds": 80, "outage_mode": "503",
                                    "restore_outage_seconds": 1})
    try:
        started = cfy("snapshots", "restore", "conf-st", "--force")
        status = cfy("snapshots", "status")
        assert "Snapshot restore in progress" in status.stdout + status.stderr
        wait_execution(simulator, started_execution_id(started.stdout + started.stderr))
    finally:
        sim_post(simulator, "/config", {"restore_seconds": 6, "outage_mode": "refuse",
                                        "restore_outage_seconds": 2})


def test_snapshots_delete_removes_it(cfy: Cfy, simulator: str) -> None:
    cfy("snapshots", "create", "conf-del")
    wait_snapshot(simulator, "conf-del", "created")
    deleted = cfy("snapshots", "delete", "conf-del")
    assert deleted.returncode == 0, deleted.stderr
    assert "conf-del" not in cfy("snapshots", "list").stdout


def test_maintenance_mode_activate_status_deactivate(cfy: Cfy) -> None:
    activated = cfy("maintenance-mode", "activate")
    assert activated.returncode == 0, activated.stderr
    status = cfy("maintenance-mode", "status")
    assert status.returncode == 0 and "activated" in status.stdout
    deactivated = cfy("maintenance-mode", "deactivate")
    assert deactivated.returncode == 0, deactivated.stderr
    assert "Maintenance mode is off" in deactivated.stdout + deactivated.stderr


def test_maintenance_mode_blocks_executions_list_but_not_snapshots(cfy: Cfy) -> None:
    cfy("maintenance-mode", "activate")
    try:
        blocked = cfy("executions", "list")
        snapshots = cfy("snapshots", "list")
    finally:
        cfy("maintenance-mode", "deactivate")
    assert blocked.returncode != 0
    assert "maintenance mode" in blocked.stdout + blocked.stderr
    assert snapshots.returncode == 0


def test_executions_list_shows_system_workflows(cfy: Cfy) -> None:
    listed = cfy("executions", "list", "--include-system-workflows")
    assert listed.returncode == 0, listed.stderr
    assert "create_snapshot" in listed.stdout


def test_cluster_status_shows_the_three_services(cfy: Cfy) -> None:
    out = cfy("cluster", "status")
    assert out.returncode == 0, out.stderr
    for service in ("manager", "db", "broker"):
        assert re.search(rf"\|\s*{service}\s*\|\s*OK\s*\|", out.stdout)


def test_agents_install_runs_install_new_agents_per_deployment(cfy: Cfy, simulator: str) -> None:
    out = cfy("agents", "install")
    assert out.returncode == 0, out.stdout + out.stderr
    runs = [e for e in sim_state(simulator)["executions"]
            if e["workflow_id"] == "install_new_agents"]
    assert sorted(e["deployment_id"] for e in runs) == ["dep-1", "dep-2", "dep-3"]
    assert all(e["status"] == "terminated" for e in runs)


def test_plugins_update_finishes(cfy: Cfy) -> None:
    out = cfy("plugins", "update", "bp-1")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Successfully updated plugins for blueprint bp-1" in out.stdout + out.stderr


def test_executions_start_and_events_list(cfy: Cfy) -> None:
    out = cfy("executions", "start", "install", "-d", "dep-1")
    assert out.returncode == 0, out.stdout + out.stderr
    match = re.search(r"cfy events list ([0-9a-f-]{36})", out.stdout + out.stderr)
    assert match, out.stdout
    events = cfy("events", "list", match.group(1))
    assert events.returncode == 0 and "workflow execution succeeded" in events.stdout


def test_the_whole_run_hit_no_unknown_endpoint(cfy: Cfy, simulator: str) -> None:
    assert sim_get(simulator, "/state")["unknown_requests"] == []
