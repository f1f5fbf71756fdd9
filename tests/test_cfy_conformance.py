"""The real `cfy` CLI of each supported version against `python -m devtools.simulator` running
that version's profile (`--manager-version V`): 7.0.5, 6.4.2 and 5.1.4.

Each CLI pins libraries that clash with ours (and each other's), so it lives in its own cached
virtualenv, ${SNAPBOT_CFY_VENV_DIR:-~/.cache/snapbot}/cfy-venv-<V>, created on first use under a
file lock and reused once `cloudify==V` imports there. 7.0.5 installs as published. 6.4.2 and
5.1.4 were published for Python <= 3.6-era libraries: `cloudify` and `cloudify-common` go in with
--no-deps and their dependencies from the lists below, which keep their pins where a Python 3.11
build exists and lift them where not (networkx 2.8.8 for dsl_parser; PyYAML 6.0.1, current
cryptography/cffi/pynacl; 5.1.4 also pika 1.1.0 (0.11.2 uses `async` as a name), requests-toolbelt
0.9.1 with urllib3 < 2 (0.8.0 imports collections.Mapping)). `cfy --version` then fails in those
venvs (pkg_resources re-checks every pin); nothing else does. No registry -> the version is skipped.

Facts used (the CLI and cloudify_rest_client as installed): `profiles use` calls /status,
/provider/context, /managers, /brokers, /db-nodes; `snapshots upload` first calls the unversioned
/api/version and /license-check; `snapshots create` defaults to `--legacy` on 7.0.5;
`snapshots restore` prints "Started workflow execution. The execution's id is <id>." and exits 0
even when the workflow later fails (5.1.4 also sends recreate_deployments_envs); `snapshots status`
prints "Snapshot restore in progress..." / "No snapshot is currently being restored";
`executions start --schedule T` prints "Execution is scheduled for T." and, from 6.x, points at
`cfy deployments schedule list`; `users set-password` posts to /users/<name>.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.conformance

SPEED = "20"
VERSIONS = ("7.0.5", "6.4.2", "5.1.4")
# dependencies of cloudify==V + cloudify-common==V (installed with --no-deps) on Python 3.11
_DEPS_6 = ["click>7,<8", "wagon>=0.10.1", "retrying==1.3.3", "requests>=2.27.1,<3",
           "click_didyoumean==0.0.3", "backports.shutil_get_terminal_size==1.0.0",
           "ipaddress==1.0.23", "cryptography", "pynacl", "fabric==2.5.0", "pyyaml==6.0.1",
           "proxy_tools==0.1.0", "markupsafe<2.1", "networkx==2.8.8", "pika==1.1.0"]
NO_DEPS_RECIPES: dict[str, list[str]] = {
    "6.4.2": _DEPS_6 + ["colorama==0.4.4", "bottle==0.12.19", "jinja2==2.11.3",
                        "requests_toolbelt==0.9.1", "pytz==2021.3", "fasteners==0.17.3"],
    "5.1.4": _DEPS_6 + ["colorama==0.3.3", "bottle==0.12.18", "jinja2>=2.10,<2.11",
                        "requests_toolbelt==0.9.1", "urllib3<2", "fasteners==0.13.0"],
}


def _venv_dir(version: str) -> Path:
    base = os.environ.get("SNAPBOT_CFY_VENV_DIR", str(Path.home() / ".cache" / "snapbot"))
    return Path(base).expanduser() / f"cfy-venv-{version}"


def _installed(venv: Path, version: str) -> bool:
    python = venv / "bin" / "python"
    if not (venv / "bin" / "cfy").exists() or not python.exists():
        return False
    probe = subprocess.run([str(python), "-c", "import importlib.metadata as m, cloudify_cli.main; "
                            "print(m.version('cloudify'))"], capture_output=True, text=True,
                           timeout=120)
    return probe.returncode == 0 and probe.stdout.strip() == version


def _pip(venv: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", *args],
                          capture_output=True, text=True, timeout=1800)


def ensure_cfy(version: str) -> Path:
    """The `cfy` of `version` in its cached virtualenv, installed on first use."""
    venv = _venv_dir(version)
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(str(venv) + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel runs wait for one installer
        if _installed(venv, version):
            return venv / "bin" / "cfy"
        base = "python3.11" if subprocess.run(["which", "python3.11"], capture_output=True
                                              ).returncode == 0 else "python3"
        made = subprocess.run([base, "-m", "venv", "--clear", str(venv)], capture_output=True,
                              text=True)
        if made.returncode != 0:
            pytest.skip(f"cannot create the cfy virtualenv at {venv}: {made.stderr.strip()}")
        started = time.monotonic()
        if version in NO_DEPS_RECIPES:
            pip = _pip(venv, "--no-deps", f"cloudify=={version}", f"cloudify-common=={version}")
            if pip.returncode == 0:
                pip = _pip(venv, *NO_DEPS_RECIPES[version])
        else:
            pip = _pip(venv, f"cloudify=={version}")
        if pip.returncode != 0 or not _installed(venv, version):
            pytest.skip(f"cloudify=={version} could not be installed from the package "
                        f"registry: {pip.stderr.strip()[-400:]}")
        print(f"\ncfy {version}: virtualenv created in {time.monotonic() - started:.0f} s",
              file=sys.stderr)
        return venv / "bin" / "cfy"


@dataclass
class Manager:
    version: str
    port: str


@pytest.fixture(scope="module", params=VERSIONS)
def simulator(request: pytest.FixtureRequest,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[Manager]:
    version = request.param
    data = tmp_path_factory.mktemp(f"sim-data-{version}")
    proc = subprocess.Popen([sys.executable, "-m", "devtools.simulator", "--port", "0", "--speed",
                             SPEED, "--manager-version", version, "--data-dir", str(data)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
    if not match:
        proc.kill()
        raise AssertionError(f"simulator did not start: {line}{proc.stdout.read()}")
    try:
        yield Manager(version, match.group(1))
    finally:
        proc.terminate()
        proc.wait(timeout=10)


class Cfy:
    def __init__(self, binary: Path, workdir: Path, version: str) -> None:
        self.binary, self.workdir, self.version = binary, workdir, version

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.binary), *args], capture_output=True, text=True,
                              timeout=120, env={**os.environ, "CFY_WORKDIR": str(self.workdir)})


@pytest.fixture(scope="module")
def cfy(simulator: Manager, tmp_path_factory: pytest.TempPathFactory) -> Cfy:
    runner = Cfy(ensure_cfy(simulator.version),
                 tmp_path_factory.mktemp(f"cfy-workdir-{simulator.version}"), simulator.version)
    used = runner("profiles", "use", "127.0.0.1", "-u", "admin", "-p", "admin", "-t",
                  "default_tenant", "--rest-port", simulator.port)
    assert used.returncode == 0, used.stdout + used.stderr
    return runner


def sim_get(m: Manager, path: str) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{m.port}/_sim{path}", timeout=10) as resp:
        return json.load(resp)


def sim_post(m: Manager, path: str, body: dict[str, Any]) -> Any:
    req = urllib.request.Request(f"http://127.0.0.1:{m.port}/_sim{path}", method="POST",
                                 data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.load(resp)


def sim_state(m: Manager) -> dict[str, Any]:
    """/_sim/state, retried: during a reboot the whole port refuses connections."""
    for _ in range(200):
        try:
            return sim_get(m, "/state")
        except OSError:
            time.sleep(0.05)
    raise AssertionError("simulator unreachable")


def wait_snapshot(m: Manager, snapshot_id: str, status: str) -> None:
    for _ in range(200):
        snaps = {s["id"]: s["status"] for s in sim_state(m)["snapshots"]}
        if snaps.get(snapshot_id) == status:
            return
        time.sleep(0.05)
    raise AssertionError(f"{snapshot_id} never became {status}")


def wait_execution(m: Manager, execution_id: str) -> dict[str, Any]:
    for _ in range(400):
        for ex in sim_state(m)["executions"]:
            if ex["id"] == execution_id and ex["status"] in ("terminated", "failed", "cancelled"):
                return ex
        time.sleep(0.05)
    raise AssertionError(f"{execution_id} never finished")


def started_execution_id(output: str) -> str:
    match = re.search(r"execution's id is ([0-9a-f-]{36})", output)
    assert match, output
    return match.group(1)


def created(cfy: Cfy, m: Manager, snapshot_id: str) -> None:
    out = cfy("snapshots", "create", snapshot_id)
    assert out.returncode == 0, out.stdout + out.stderr
    wait_snapshot(m, snapshot_id, "created")


def test_the_cli_calls_no_endpoint_the_simulator_lacks(cfy: Cfy, simulator: Manager) -> None:
    for args in (["snapshots", "list"], ["snapshots", "status"], ["maintenance-mode", "status"],
                 ["executions", "list"], ["status"]):
        cfy(*args)
    assert sim_get(simulator, "/state")["unknown_requests"] == []


def test_profiles_use_sees_the_cluster_nodes(cfy: Cfy, simulator: Manager) -> None:
    out = cfy("profiles", "use", "127.0.0.1", "-u", "admin", "-p", "admin", "-t",
              "default_tenant", "--rest-port", simulator.port)
    assert out.returncode == 0
    assert "Using manager 127.0.0.1" in out.stdout + out.stderr


def test_snapshots_create_ends_created_in_list(cfy: Cfy, simulator: Manager) -> None:
    out = cfy("snapshots", "create", "conf-a")
    assert out.returncode == 0, out.stderr
    assert "Started workflow execution" in out.stdout + out.stderr
    wait_snapshot(simulator, "conf-a", "created")
    listed = cfy("snapshots", "list")
    assert listed.returncode == 0
    assert re.search(r"conf-a\s*\|.*\|\s*created\s*\|", listed.stdout)


def test_the_cli_creates_legacy_snapshots(cfy: Cfy, simulator: Manager) -> None:
    # 7.0.5: `--legacy/--no-legacy` defaults to legacy; earlier CLIs have no such option
    created(cfy, simulator, "conf-fmt")
    [ex] = [e for e in sim_state(simulator)["executions"]
            if e["workflow_id"] == "create_snapshot"
            and e["parameters"]["snapshot_id"] == "conf-fmt"]
    assert ex["parameters"].get("legacy", True) is True


def test_snapshots_download_writes_a_valid_zip(cfy: Cfy, simulator: Manager,
                                               tmp_path: Path) -> None:
    created(cfy, simulator, "conf-dl")
    out = tmp_path / "conf-dl.zip"
    done = cfy("snapshots", "download", "conf-dl", "-o", str(out))
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(out) as zf:
        metadata = json.loads(zf.read("metadata.json"))
    assert metadata["snapshot_version"] == simulator.version
    assert "schema_revision" in metadata  # a legacy (database dump) archive


def test_snapshots_upload_makes_an_uploaded_snapshot(cfy: Cfy, simulator: Manager,
                                                     tmp_path: Path) -> None:
    created(cfy, simulator, "conf-up-src")
    out = tmp_path / "src.zip"
    cfy("snapshots", "download", "conf-up-src", "-o", str(out))
    up = cfy("snapshots", "upload", str(out), "-s", "conf-up")
    assert up.returncode == 0, up.stdout + up.stderr
    assert "Snapshot uploaded. The snapshot's id is conf-up" in up.stdout + up.stderr
    assert re.search(r"conf-up\s*\|.*\|\s*uploaded\s*\|", cfy("snapshots", "list").stdout)


def test_restore_without_force_is_refused_by_the_workflow(cfy: Cfy, simulator: Manager) -> None:
    created(cfy, simulator, "conf-nf")
    started = cfy("snapshots", "restore", "conf-nf")
    assert started.returncode == 0, started.stdout + started.stderr
    ex = wait_execution(simulator, started_execution_id(started.stdout + started.stderr))
    assert ex["status"] == "failed"
    assert "Pass the --force flag" in ex["error"]
    shown = cfy("executions", "get", ex["id"])
    assert shown.returncode == 0 and "failed" in shown.stdout


def test_restore_with_force_completes_and_empties_the_snapshot_list(cfy: Cfy,
                                                                    simulator: Manager) -> None:
    created(cfy, simulator, "conf-rf")
    started = cfy("snapshots", "restore", "conf-rf", "--force")
    assert started.returncode == 0, started.stdout + started.stderr
    ex = wait_execution(simulator, started_execution_id(started.stdout + started.stderr))
    assert ex["status"] == "terminated"
    for _ in range(50):
        status = cfy("snapshots", "status")
        if "No snapshot is currently being restored" in status.stdout + status.stderr:
            break
    else:
        raise AssertionError("snapshot-status never went back to not-running")
    listed = cfy("snapshots", "list")
    assert listed.returncode == 0 and "conf-rf" not in listed.stdout


def test_snapshots_status_reports_a_restore_in_progress(cfy: Cfy, simulator: Manager,
                                                        tmp_path: Path) -> None:
    # on 7.0.5 a restore of a broken archive leaves /snapshot-status `running` for good (the
    # workflow's cleanup crashes), which holds still for as long as a slow CLI needs
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip")
    try:
        up = cfy("snapshots", "upload", str(junk), "-s", "conf-junk")
        assert up.returncode == 0, up.stdout + up.stderr
        started = cfy("snapshots", "restore", "conf-junk", "--force")
        ex = wait_execution(simulator, started_execution_id(started.stdout + started.stderr))
        assert ex["status"] == "failed"
        status = cfy("snapshots", "status")
        if simulator.version == "7.0.5":
            assert "Snapshot restore in progress" in status.stdout + status.stderr
        else:  # 6.4.2/5.1.4: the workflow's `finally` always removes the flag file
            assert "No snapshot is currently being restored" in status.stdout + status.stderr
    finally:
        sim_post(simulator, "/reset", {})


def test_restore_is_refused_while_an_execution_runs(cfy: Cfy, simulator: Manager) -> None:
    created(cfy, simulator, "conf-busy")
    live = sim_post(simulator, "/executions", {"deployment_id": "dep-1", "workflow_id": "install"})
    try:
        out = cfy("snapshots", "restore", "conf-busy", "--force")
    finally:
        sim_post(simulator, f"/executions/{live['id']}/finish", {"status": "terminated"})
        # 7.0.5 keeps the refused restore's execution `pending` (resource_manager.py
        # restore_snapshot stores it before prepare_executions refuses), and it blocks every
        # later system workflow until cancelled, as an operator would
        for e in sim_state(simulator)["executions"]:
            if e["workflow_id"] == "restore_snapshot" and e["status"] == "pending":
                cancelled = cfy("executions", "cancel", e["id"])
                assert cancelled.returncode == 0, cancelled.stdout + cancelled.stderr
    assert out.returncode != 0
    assert "other executions running" in out.stdout + out.stderr


def test_snapshots_delete_removes_it(cfy: Cfy, simulator: Manager) -> None:
    created(cfy, simulator, "conf-del")
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


def test_maintenance_mode_activate_with_a_running_execution_waits(cfy: Cfy,
                                                                  simulator: Manager) -> None:
    # the activate answer nests remaining_executions ([[...]]); the CLI must not mind
    live = sim_post(simulator, "/executions", {"deployment_id": "dep-2", "workflow_id": "install"})
    try:
        activated = cfy("maintenance-mode", "activate")
        assert activated.returncode == 0, activated.stdout + activated.stderr
        status = cfy("maintenance-mode", "status")
        assert status.returncode == 0 and "activating" in status.stdout
        assert "one running or pending execution" in status.stdout
    finally:
        sim_post(simulator, f"/executions/{live['id']}/finish", {"status": "terminated"})
        cfy("maintenance-mode", "deactivate")


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


def test_executions_list_shows_system_workflows(cfy: Cfy, simulator: Manager) -> None:
    created(cfy, simulator, "conf-sys")
    listed = cfy("executions", "list", "--include-system-workflows")
    assert listed.returncode == 0, listed.stderr
    assert "create_snapshot" in listed.stdout


def test_executions_start_with_a_schedule(cfy: Cfy, simulator: Manager) -> None:
    out = cfy("executions", "start", "heal", "-d", "dep-1", "--schedule", "209901012230+0000")
    text = out.stdout + out.stderr
    assert out.returncode == 0, text
    assert "Execution is scheduled for 209901012230+0000." in text
    state = sim_state(simulator)
    if simulator.version == "5.1.4":  # a `scheduled` execution
        assert [e["scheduled_for"] for e in state["executions"]
                if e["workflow_id"] == "heal"] == ["2099-01-01T22:30:00.000Z"]
    else:  # an execution schedule, listed by `cfy deployments schedule list`
        [sched] = [x for x in state["execution_schedules"] if x["workflow_id"] == "heal"]
        assert sched["next_occurrence"] == "2099-01-01T22:30:00.000Z"
        listed = cfy("deployments", "schedule", "list")
        assert listed.returncode == 0, listed.stdout + listed.stderr
        assert sched["id"] in listed.stdout


def test_deployments_schedule_create_and_delete(cfy: Cfy, simulator: Manager) -> None:
    if simulator.version == "5.1.4":
        pytest.skip("execution schedules arrived in 6.0; the 5.1.4 CLI has no `schedule` group")
    out = cfy("deployments", "schedule", "create", "dep-2", "install", "-n", "nightly",
              "-s", "2099-01-01 02:00", "-r", "1 day")
    assert out.returncode == 0, out.stdout + out.stderr
    shown = cfy("deployments", "schedule", "get", "dep-2", "nightly")
    assert shown.returncode == 0 and "nightly" in shown.stdout, shown.stdout + shown.stderr
    deleted = cfy("deployments", "schedule", "delete", "dep-2", "nightly")
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr
    assert "nightly" not in {x["id"] for x in sim_state(simulator)["execution_schedules"]}


def test_users_set_password_then_a_legacy_restore_brings_the_old_one_back(
        cfy: Cfy, simulator: Manager) -> None:
    created(cfy, simulator, "conf-pw")
    changed = cfy("users", "set-password", "admin", "-p", "n3w-pass")
    assert changed.returncode == 0, changed.stdout + changed.stderr
    refused = cfy("snapshots", "list")
    assert refused.returncode != 0 and "401" in refused.stdout + refused.stderr
    assert cfy("profiles", "set", "-p", "n3w-pass").returncode == 0
    started = cfy("snapshots", "restore", "conf-pw", "--force")
    assert started.returncode == 0, started.stdout + started.stderr
    ex = wait_execution(simulator, started_execution_id(started.stdout + started.stderr))
    assert ex["status"] == "terminated"
    # the database (users included) is the snapshot's again: the old password is back
    assert cfy("snapshots", "list").returncode != 0
    assert cfy("profiles", "set", "-p", "admin").returncode == 0
    assert cfy("snapshots", "list").returncode == 0


def test_cluster_status_shows_the_three_services(cfy: Cfy) -> None:
    out = cfy("cluster", "status")
    assert out.returncode == 0, out.stderr
    for service in ("manager", "db", "broker"):
        assert re.search(rf"\|\s*{service}\s*\|\s*OK\s*\|", out.stdout)


def test_agents_install_runs_install_new_agents_per_deployment(cfy: Cfy,
                                                               simulator: Manager) -> None:
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


def test_the_whole_run_hit_no_unknown_endpoint(cfy: Cfy, simulator: Manager) -> None:
    assert sim_get(simulator, "/state")["unknown_requests"] == []
