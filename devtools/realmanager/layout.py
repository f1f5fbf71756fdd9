"""Where the real manager's files go. By default everything is under the state directory. With
the single-host layout (`--system-layout`, for disposable root machines such as CI), the paths
Cloudify's snapshot workflows hard-code are laid out too, from Cloudify's own trees:

    /opt/manager/env                      -> the REST service's virtualenv
    /opt/manager/{cloudify-rest,rest-security}.conf, resources/, resources/cloudify/migrations,
    /opt/manager/scripts/                 (cloudify-manager packaging/rest-service)
    /opt/cloudify/encryption/update-encryption-key      (same)
    /opt/cloudify/mgmtworker/*            (cloudify-manager-install, components/mgmtworker/scripts)
    /opt/mgmtworker/work/admin_token      (the mgmtworker's token, where cloudify-common reads it)
    /etc/cloudify/ssl/cloudify_internal_*.pem
    /usr/bin/supervisorctl                (a stand-in: service control of this tool's processes)

A directory of those that exists without this tool's marker is refused (it would be a real
Cloudify install); what the tool laid out is removed again by stop()."""
from __future__ import annotations

import fcntl
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from devtools.realmanager.source import CloudifySource

MARKER = ".snapbot-realmanager"
SYSTEM_DIRS = (Path("/opt/manager"), Path("/opt/mgmtworker"), Path("/opt/cloudify"),
               Path("/etc/cloudify"), Path("/var/log/cloudify"))
SUPERVISORCTL = Path("/usr/bin/supervisorctl")
STANDIN_TAG = "# snapbot realmanager stand-in"
SYSTEM_LOCK = Path("/tmp/snapbot-realmanager-system-layout.lock")
RESTORE_FLAG_DIR = Path("/tmp/cloudify")  # cloudify.snapshots.SNAPSHOT_RESTORE_FLAG_FILE's


class LayoutError(Exception):
    """The single-host layout cannot be laid out here."""


@dataclass(frozen=True)
class Layout:
    state: Path
    system: bool

    @property
    def etc(self) -> Path:
        """cloudify-rest.conf and rest-security.conf."""
        return Path("/opt/manager") if self.system else self.state / "etc"

    @property
    def ssl(self) -> Path:
        return Path("/etc/cloudify/ssl") if self.system else self.state / "ssl"

    @property
    def resources(self) -> Path:
        return Path("/opt/manager/resources") if self.system else self.state / "resources"

    @property
    def work(self) -> Path:
        """The mgmtworker's work directory (its broker config, the admin token)."""
        return Path("/opt/mgmtworker/work") if self.system else self.state / "mgmtworker" / "work"

    @property
    def logs(self) -> Path:
        return self.state / "logs"

    @property
    def rest_conf(self) -> Path:
        return self.etc / "cloudify-rest.conf"

    @property
    def security_conf(self) -> Path:
        return self.etc / "rest-security.conf"

    @property
    def ca_cert(self) -> Path:
        return self.ssl / "cloudify_internal_ca_cert.pem"

    @property
    def ca_key(self) -> Path:
        return self.ssl / "cloudify_internal_ca_key.pem"

    @property
    def cert(self) -> Path:
        return self.ssl / "cloudify_internal_cert.pem"

    @property
    def key(self) -> Path:
        return self.ssl / "cloudify_internal_key.pem"

    def make_dirs(self) -> None:
        for path in (self.etc, self.ssl, self.resources, self.work, self.logs,
                     self.state / "maintenance", self.state / "run"):
            path.mkdir(parents=True, exist_ok=True)


class SystemLayout:
    """Lays out and removes the single-host paths; one at a time per machine (a lock file)."""

    def __init__(self, layout: Layout, src: CloudifySource, rest_venv: Path, control_socket: Path) -> None:
        self.layout = layout
        self.src = src
        self.rest_venv = rest_venv
        self.control_socket = control_socket
        self._lock: IO[str] | None = None
        self._made: list[Path] = []

    def install(self, lock_wait: float = 0.0) -> None:
        """Lay out the paths; waits up to `lock_wait` seconds for another such manager to stop."""
        self._lock = SYSTEM_LOCK.open("w")
        deadline = time.monotonic() + lock_wait
        while True:
            try:
                fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() < deadline:
                    time.sleep(1)
                    continue
            self._lock.close()
            self._lock = None
            raise LayoutError("another `snapbot realmanager --system-layout` runs on this machine "
                              "(the single-host paths can serve one manager at a time)") from None
        try:
            self._lay_out()
        except BaseException:
            self.remove()  # what was laid out so far, and the lock
            raise

    def _lay_out(self) -> None:
        for path in SYSTEM_DIRS:
            if path.exists() and not (path / MARKER).exists():
                raise LayoutError(f"{path} exists and was not laid out by snapbot realmanager "
                                  "(a real Cloudify install?); refusing to touch it")
        if SUPERVISORCTL.exists() and STANDIN_TAG not in SUPERVISORCTL.read_text(errors="replace"):
            raise LayoutError(f"{SUPERVISORCTL} exists and is not this tool's stand-in; "
                              "refusing to replace it")
        for path in SYSTEM_DIRS:
            shutil.rmtree(path, ignore_errors=True)
            path.mkdir(parents=True)
            (path / MARKER).write_text("laid out by snapbot realmanager; removed when it stops\n")
            self._made.append(path)
        self._copy_cloudify_files()
        self._write_supervisorctl()
        if not RESTORE_FLAG_DIR.exists():
            self._made.append(RESTORE_FLAG_DIR)  # the restore workflow makes it for its flag file

    def _copy_cloudify_files(self) -> None:
        manager, resources = Path("/opt/manager"), self.layout.resources
        (manager / "env").symlink_to(self.rest_venv)
        for sub in ("scripts", "snapshot_status"):
            (manager / sub).mkdir()
        resources.mkdir(exist_ok=True)
        # as the rest-service package lays them out
        shutil.copytree(self.src.manager / "resources" / "rest-service" / "cloudify", resources / "cloudify")
        shutil.copytree(self.src.rest_service / "migrations", resources / "cloudify" / "migrations")
        packaged = self.src.manager / "packaging" / "rest-service" / "files" / "opt"
        shutil.copytree(packaged / "manager" / "scripts", manager / "scripts", dirs_exist_ok=True)
        shutil.copytree(packaged / "cloudify", Path("/opt/cloudify"), dirs_exist_ok=True)
        shutil.copytree(self.src.install / "cfy_manager" / "components" / "mgmtworker" / "scripts",
                        Path("/opt/cloudify/mgmtworker"))
        for directory in (manager / "scripts", Path("/opt/cloudify")):
            for file in directory.rglob("*"):
                if file.is_file() and file.name != MARKER:
                    file.chmod(0o755)
        for sub in ("rest", "mgmtworker", "execution-scheduler"):
            (Path("/var/log/cloudify") / sub).mkdir()
        Path("/etc/cloudify/ssl").mkdir()
        self.layout.work.mkdir(parents=True, exist_ok=True)

    def _write_supervisorctl(self) -> None:
        script = (Path(__file__).parent / "scripts" / "supervisorctl.py").read_text()
        script = script.replace("@CONTROL_SOCKET@", str(self.control_socket))
        SUPERVISORCTL.write_text(script)
        SUPERVISORCTL.chmod(0o755)
        self._made.append(SUPERVISORCTL)

    def remove(self) -> None:
        for path in reversed(self._made):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        self._made.clear()
        if self._lock is not None:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None


def chown_tree(path: Path, uid: int, gid: int) -> None:
    os.chown(path, uid, gid)
    for file in path.rglob("*"):
        os.chown(file, uid, gid, follow_symlinks=False)
