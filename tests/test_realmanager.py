"""`snapbot realmanager`: a real Cloudify Manager 7.0.5 from Cloudify's own source.

The tests marked `realmanager` run it (skipped without SNAPBOT_CLOUDIFY_SRC); the others check the
tool's own parts (arguments, the source, stopping a process tree) and run everywhere."""
from __future__ import annotations

import fcntl
import os
import re
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import httpx
import pytest

from devtools.realmanager import RealManager, SourceError, layout
from devtools.realmanager.control import ControlServer
from devtools.realmanager.layout import Layout, LayoutError, SystemLayout
from devtools.realmanager.manager import SCRIPTS
from devtools.realmanager.processes import Service, descendants, process_tree
from devtools.realmanager.source import TREES, CloudifySource, resolve_source
from snapbot.main import main
from tests.realmanager_support import SKIP_REASON, source_or_skip


def _listening(port: int) -> set[str]:
    """The local addresses a TCP port listens on (from /proc/net/tcp and tcp6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                if len(address) == 8:
                    found.add(".".join(str(int(address[i:i + 2], 16)) for i in (6, 4, 2, 0)))
                else:
                    found.add(address)
    return found


# -- the tool's own parts -------------------------------------------------------------------


def test_without_a_source_it_names_the_setting(capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SNAPBOT_CLOUDIFY_SRC", raising=False)
    assert main(["realmanager"]) == 2
    assert "SNAPBOT_CLOUDIFY_SRC" in capsys.readouterr().err


def test_a_host_off_loopback_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["realmanager", "--source", "/nowhere", "--host", "0.0.0.0"]) == 2
    assert "loopback" in capsys.readouterr().err


def test_a_missing_source_fails_saying_where(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["realmanager", "--source", str(tmp_path / "nowhere"),
                 "--cache-dir", str(tmp_path / "cache")]) == 1
    assert str(tmp_path / "nowhere") in capsys.readouterr().err


def test_a_directory_without_the_three_trees_is_refused(tmp_path: Path) -> None:
    (tmp_path / "cloudify-manager").mkdir()
    with pytest.raises(SourceError, match="cloudify-agent"):
        resolve_source(tmp_path, tmp_path / "cache")


def test_a_tarball_is_unpacked_once_into_the_cache(tmp_path: Path) -> None:
    trees = tmp_path / "src" / "cloudify-7.0.5"
    for tree in TREES:
        (trees / tree).mkdir(parents=True)
        (trees / tree / "README.md").write_text(tree)
    archive = tmp_path / "src.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(trees, arcname="cloudify-7.0.5")
    first = resolve_source(archive, tmp_path / "cache")
    assert (first.agent / "README.md").read_text() == "cloudify-agent"
    (first.agent / "marker").write_text("kept")
    assert resolve_source(archive, tmp_path / "cache") == first
    assert (first.agent / "marker").exists()  # not unpacked again


def test_stopping_a_service_ends_its_whole_process_tree(tmp_path: Path) -> None:
    # a parent that ignores SIGTERM, a child in a session of its own (as PostgreSQL's backends)
    # and a grandchild: all must be gone after stop()
    script = ("import os, signal, subprocess, sys, time\n"
              "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
              "subprocess.Popen([sys.executable, '-c', 'import os,time,subprocess,sys; os.setsid(); "
              "subprocess.Popen([sys.executable, \"-c\", \"import time; time.sleep(600)\"]); "
              "time.sleep(600)'])\n"
              "print('ready', flush=True)\n"
              "time.sleep(600)\n")
    service = Service("stubborn", [sys.executable, "-c", script], log=tmp_path / "log",
                      env=dict(os.environ), stop_timeout=1.0)
    service.start()
    assert service.pid is not None
    root = service.pid
    deadline = time.monotonic() + 30
    while len(process_tree(root)) < 3:
        assert time.monotonic() < deadline, "the stub's children did not start"
        time.sleep(0.05)
    tree = process_tree(root)
    service.stop()
    assert not _alive(tree)


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.add(pid)
    return alive


def test_the_tier_skips_with_one_line_naming_the_setting() -> None:
    assert "SNAPBOT_CLOUDIFY_SRC" in SKIP_REASON and "\n" not in SKIP_REASON


# -- the real manager -----------------------------------------------------------------------


@pytest.mark.realmanager
def test_it_answers_as_community_7_0_5_on_loopback(real_manager: RealManager) -> None:
    answer = httpx.get(f"{real_manager.url}/api/v3.1/version", auth=("admin", "admin"),
                       headers={"Tenant": "default_tenant"}, timeout=30)
    assert answer.status_code == 200
    version = answer.json()
    assert version["edition"] == "community"
    assert version["version"].startswith("7.0.5")
    assert _listening(real_manager.port) == {"127.0.0.1"}
    assert _listening(real_manager.pg_port) == {"127.0.0.1"}


@pytest.mark.realmanager
def test_a_wrong_password_is_refused_by_the_real_service(real_manager: RealManager) -> None:
    answer = httpx.get(f"{real_manager.url}/api/v3.1/version", auth=("admin", "wrong"),
                       headers={"Tenant": "default_tenant"}, timeout=30)
    assert answer.status_code == 401
    assert answer.json()["error_code"] == "unauthorized_error"


@pytest.mark.realmanager
@pytest.mark.slow
def test_sigterm_leaves_no_process_of_it(tmp_path: Path) -> None:
    source = source_or_skip()
    proc = subprocess.Popen([sys.executable, "-m", "snapbot", "realmanager", "--source", source,
                             "--state-dir", str(tmp_path / "state")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert re.search(r"listening on http://127\.0\.0\.1:\d+", line), \
            f"it did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}"
        tree = descendants({proc.pid})
        assert {"postgres", "gunicorn", "nginx", "epmd", "mgmtworker.worker",
                "cloudify-execution-scheduler"} <= _cmd_names(tree)
        assert "beam.smp" in _cmd_names(tree)  # RabbitMQ
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 0
        assert not _alive(tree - {proc.pid})
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _cmd_names(pids: set[int]) -> set[str]:
    names: set[str] = set()
    for pid in pids:
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            names.add(Path(f"/proc/{pid}/comm").read_text().strip())
        except OSError:
            continue
        names.update(Path(a.decode()).name for a in argv[:4] if a)
    return names


def test_the_supervisorctl_stand_in_acts_on_the_tools_services(tmp_path: Path) -> None:
    # the script Cloudify's restore runs as `sudo /usr/bin/supervisorctl -c /etc/supervisord.conf
    # ACTION NAME`, talking to a control server whose actions are recorded here
    acted: list[tuple[str, str]] = []

    def act(action: str, service: str) -> str:
        if service == "scheduler" and action == "start":
            raise ValueError("spawn error")
        acted.append((action, service))
        return "done"

    server = ControlServer(tmp_path / "control.sock", act, tmp_path / "control.log")
    server.start()
    script = tmp_path / "supervisorctl"
    script.write_text((SCRIPTS / "supervisorctl.py").read_text().replace("@CONTROL_SOCKET@",
                                                                          str(tmp_path / "control.sock")))

    def supervisorctl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, str(script), "-c", "/etc/supervisord.conf", *args],
                              capture_output=True, text=True, timeout=30, check=False)
    try:
        assert supervisorctl("stop", "cloudify-restservice").returncode == 0
        assert supervisorctl("restart", "cloudify-execution-scheduler").returncode == 0
        not_run = supervisorctl("stop", "cloudify-api:*")
        assert not_run.returncode == 0 and "not run by this manager" in not_run.stdout
        unknown = supervisorctl("start", "cloudify-nonesuch")
        assert unknown.returncode == 1 and "no such process" in unknown.stdout
        failed = supervisorctl("start", "cloudify-execution-scheduler")
        assert failed.returncode == 1 and "spawn error" in failed.stdout
    finally:
        server.close()
    assert acted == [("stop", "rest"), ("restart", "scheduler")]
    assert "supervisorctl stop cloudify-restservice -> 0" in (tmp_path / "control.log").read_text()
    assert supervisorctl("status", "cloudify-restservice").returncode == 7  # no server: refused


def _system_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SystemLayout:
    """A SystemLayout whose checked paths are under tmp_path (its refusals run before it writes)."""
    monkeypatch.setattr(layout, "SYSTEM_DIRS", (tmp_path / "opt-manager",))
    monkeypatch.setattr(layout, "SUPERVISORCTL", tmp_path / "supervisorctl")
    monkeypatch.setattr(layout, "SYSTEM_LOCK", tmp_path / "layout.lock")
    src = CloudifySource(tmp_path / "src")
    return SystemLayout(Layout(tmp_path / "state", system=True), src, tmp_path / "venv", tmp_path / "sock")


def test_the_system_layout_refuses_a_directory_it_did_not_lay_out(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    system = _system_layout(tmp_path, monkeypatch)
    (tmp_path / "opt-manager").mkdir()
    (tmp_path / "opt-manager" / "cloudify-rest.conf").write_text("a real install's")
    with pytest.raises(LayoutError, match="not laid out by snapbot realmanager"):
        system.install()
    assert (tmp_path / "opt-manager" / "cloudify-rest.conf").read_text() == "a real install's"


def test_the_system_layout_refuses_a_real_supervisorctl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    system = _system_layout(tmp_path, monkeypatch)
    (tmp_path / "supervisorctl").write_text("#!/usr/bin/python3\n# supervisor's own\n")
    with pytest.raises(LayoutError, match="not this tool's stand-in"):
        system.install()
    assert "supervisor's own" in (tmp_path / "supervisorctl").read_text()


def test_one_system_layout_at_a_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    system = _system_layout(tmp_path, monkeypatch)
    (tmp_path / "opt-manager").mkdir()  # not ours: an install that gets the lock stops there
    with (tmp_path / "layout.lock").open("w") as held:  # as another manager holds it
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(LayoutError, match="another `snapbot realmanager --system-layout`"):
            system.install()
    with pytest.raises(LayoutError, match="not laid out"):  # free again; a refusal releases it
        system.install()
    with pytest.raises(LayoutError, match="not laid out"):
        system.install()


@pytest.mark.realmanager
def test_restart_gives_a_fresh_manager_on_the_same_url(real_manager: RealManager) -> None:
    url, old_pids = real_manager.url, set(real_manager.pids())
    auth, headers = ("admin", "admin"), {"Tenant": "default_tenant"}
    made = httpx.put(f"{url}/api/v3.1/secrets/rm-before-restart", json={"value": "x"}, auth=auth,
                     headers=headers, timeout=30)
    assert made.status_code == 200, made.text
    assert not real_manager.untouched()
    real_manager.restart()
    assert real_manager.untouched()
    assert real_manager.url == url
    assert not _alive(old_pids)
    gone = httpx.get(f"{url}/api/v3.1/secrets/rm-before-restart", auth=auth, headers=headers, timeout=30)
    assert gone.status_code == 404
    assert gone.json()["error_code"] == "not_found_error"
