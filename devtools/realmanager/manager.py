"""A real Cloudify Manager, from Cloudify's own source, on loopback: PostgreSQL 15 (a cluster of
its own, run as a system user when we are root), the schema by alembic, the bootstrap data by
`manager_rest.configure_manager`, and the REST service under gunicorn.

    with RealManager(RealManagerOptions(source=path)) as manager:
        manager.url   # http://127.0.0.1:PORT, admin/admin, tenant default_tenant

Everything it starts runs in a session of its own and is stopped by `stop()`."""
from __future__ import annotations

import base64
import json
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

from devtools.realmanager.processes import RunAs, Service
from devtools.realmanager.source import CloudifySource, resolve_source
from devtools.realmanager.venvs import Venv, ensure_venv, rest_requirements

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_USER = "snapbot-pg"
DB_NAME = "cloudify_db"
DB_USER = "cloudify"
USERNAME, PASSWORD, TENANT = "admin", "admin", "default_tenant"
SCRIPTS = Path(__file__).parent / "scripts"


class RealManagerError(Exception):
    """The manager could not be prepared or started; the message says which step and where its log is."""


def default_cache_dir() -> Path:
    return Path(os.environ.get("SNAPBOT_CFY_VENV_DIR") or Path.home() / ".cache" / "snapbot")


def _stderr(line: str) -> None:
    print(f"realmanager: {line}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class RealManagerOptions:
    source: str
    state_dir: Path | None = None  # None: a temporary directory, removed by stop()
    host: str = "127.0.0.1"
    port: int = 0  # 0: a free port
    cache_dir: Path = field(default_factory=default_cache_dir)
    system_layout: bool = False  # lay out /opt/manager, /opt/cloudify, /etc/cloudify (CI)
    log: Callable[[str], None] = _stderr


@dataclass
class Timings:
    """Seconds spent in each step of the last start (venv builds are 0 when cached)."""
    steps: dict[str, float] = field(default_factory=dict)

    def total(self) -> float:
        return sum(self.steps.values())


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _system_user(name: str, log: Callable[[str], None]) -> RunAs:
    """The system user `name`, created (no home, no login) if missing."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        log(f"creating system user {name}")
        subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
                        "--shell", "/usr/sbin/nologin", name], check=True)
        entry = pwd.getpwnam(name)
    return RunAs(name, entry.pw_uid, entry.pw_gid, Path(entry.pw_dir))


def _traversable_by_others(path: Path) -> bool:
    """Whether a user other than the owner may pass through every directory down to `path`."""
    return all(os.stat(p).st_mode & 0o001 for p in [path, *path.resolve().parents])


def _run(argv: list[str], *, log: Path, env: dict[str, str] | None = None, cwd: Path | None = None,
         run_as: RunAs | None = None, what: str) -> None:
    """Run one set-up step to completion, its output appended to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        out.write(f"\n$ {' '.join(argv)}\n".encode())
        out.flush()
        extra: dict[str, object] = {}
        if run_as is not None:
            extra = {"user": run_as.uid, "group": run_as.gid, "extra_groups": []}
        done = subprocess.run(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out,  # type: ignore[call-overload]
                              stderr=subprocess.STDOUT, check=False, **extra)
    if done.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise RealManagerError(f"{what} failed (exit {done.returncode}); log {log}:\n{tail}")


def _base_env() -> dict[str, str]:
    keep = ("PATH", "LANG", "LC_ALL", "TZ")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.setdefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    env.setdefault("LANG", "C.UTF-8")
    env["HOME"] = os.environ.get("HOME", "/root")
    return env


class RealManager:
    """A real Cloudify Manager 7.0.5 on loopback. `start()` prepares what is missing and returns
    once `GET /api/v3.1/version` answers; `stop()` stops every process it started."""

    def __init__(self, options: RealManagerOptions) -> None:
        self.options = options
        self.log = options.log
        self.timings = Timings()
        self.services: list[Service] = []
        self._own_state_dir = options.state_dir is None
        self.state_dir = Path(options.state_dir or tempfile.mkdtemp(prefix="snapbot-realmanager-"))
        self.port = options.port
        self.pg_port = 0
        self.db_password = secrets.token_urlsafe(18)
        self.src: CloudifySource | None = None
        self.rest_venv: Venv | None = None
        self.run_as: RunAs | None = None
        self._pg_tmp: Path | None = None

    # -- public --------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.options.host}:{self.port}"

    @property
    def credentials(self) -> tuple[str, str, str]:
        return USERNAME, PASSWORD, TENANT

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> Self:
        try:
            self._step("source", self._prepare_source)
            self._step("virtualenvs", self._prepare_venvs)
            self._step("state dir", self._prepare_state_dir)
            self._step("postgresql", self._start_postgres)
            self._step("schema", self._migrate)
            self._step("bootstrap", self._bootstrap)
            self._step("rest service", self._start_rest)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every service, last started first; remove a temporary state directory."""
        while self.services:
            self.services.pop().stop()
        if self._pg_tmp is not None:
            shutil.rmtree(self._pg_tmp, ignore_errors=True)
            self._pg_tmp = None
        if self._own_state_dir:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def pids(self) -> list[int]:
        return [s.pid for s in self.services if s.pid is not None]

    # -- steps ---------------------------------------------------------------------------------

    def _step(self, name: str, fn: Callable[[], None]) -> None:
        started = time.monotonic()
        fn()
        self.timings.steps[name] = time.monotonic() - started

    def _prepare_source(self) -> None:
        self.src = resolve_source(self.options.source, self.options.cache_dir)

    def _prepare_venvs(self) -> None:
        assert self.src is not None
        self.rest_venv, spent = ensure_venv(
            self.options.cache_dir, "rest", rest_requirements(self.src),
            [self.src.rest_service, self.src.execution_scheduler], self.log)
        if spent:
            self.log(f"rest virtualenv built in {spent:.0f} s")

    def _prepare_state_dir(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        for sub in ("etc", "logs", "ssl", "resources", "maintenance", "run"):
            (self.state_dir / sub).mkdir(exist_ok=True)
        shutil.rmtree(self.state_dir / "pg", ignore_errors=True)
        if os.geteuid() == 0:
            self.run_as = _system_user(PG_USER, self.log)
            self.state_dir.chmod(0o711)  # the PostgreSQL user must reach its cluster inside
            if not _traversable_by_others(self.state_dir):
                # a parent the PostgreSQL user cannot pass (pytest's tmp_path, a home directory):
                # the cluster goes to a temporary directory of its own, removed by stop()
                self._pg_tmp = Path(tempfile.mkdtemp(prefix="snapbot-realmanager-pg-"))
                self._pg_tmp.chmod(0o711)
        self._make_certs()

    @property
    def pg_dir(self) -> Path:
        return self._pg_tmp if self._pg_tmp is not None else self.state_dir / "pg"

    def _make_certs(self) -> None:
        """A CA and a certificate it signs for 127.0.0.1/localhost (the manager row needs a CA;
        the broker serves TLS with the signed one)."""
        ssl = self.state_dir / "ssl"
        log = self.state_dir / "logs" / "setup.log"
        _run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
              "-subj", "/CN=snapbot-realmanager-ca", "-keyout", str(ssl / "ca.key"),
              "-out", str(ssl / "ca.pem")], log=log, what="making the CA")
        ext = ssl / "server.ext"
        ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                       "extendedKeyUsage=serverAuth,clientAuth\n")
        _run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
              "-keyout", str(ssl / "server.key"), "-out", str(ssl / "server.csr")],
             log=log, what="making the server key")
        _run(["openssl", "x509", "-req", "-in", str(ssl / "server.csr"), "-CA", str(ssl / "ca.pem"),
              "-CAkey", str(ssl / "ca.key"), "-CAcreateserial", "-days", "30",
              "-extfile", str(ext), "-out", str(ssl / "server.pem")],
             log=log, what="signing the server certificate")
        for name in ("server.key", "server.pem", "ca.pem"):
            (ssl / name).chmod(0o644)

    def _start_postgres(self) -> None:
        pgdata, pgrun = self.pg_dir / "data", self.pg_dir / "run"
        pgrun.mkdir(parents=True)
        pgdata.mkdir(mode=0o700)
        pwfile = pgrun / "pw"
        pwfile.write_text(self.db_password + "\n")
        if self.run_as is not None:
            for path in (pgdata, pgrun, pwfile):
                os.chown(path, self.run_as.uid, self.run_as.gid)
        env = _base_env()
        env["HOME"] = str(pgrun)
        log = self.state_dir / "logs" / "postgresql.log"
        _run([str(PG_BIN / "initdb"), "-D", str(pgdata), "-U", DB_USER, "--pwfile", str(pwfile),
              "--auth=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8"],
             log=log, env=env, run_as=self.run_as, what="initdb")
        pwfile.unlink()
        self.pg_port = free_port(self.options.host)
        pg = Service("postgresql", [str(PG_BIN / "postgres"), "-D", str(pgdata), "-p", str(self.pg_port),
                                    "-h", self.options.host, "-k", str(pgrun)],
                     log=log, env=env, run_as=self.run_as, stop_signal=2)  # SIGINT: fast shutdown
        pg.start()
        self.services.append(pg)
        client_env = _base_env() | {"PGPASSWORD": self.db_password}
        deadline = time.monotonic() + 60
        while True:
            ready = subprocess.run([str(PG_BIN / "pg_isready"), "-h", self.options.host,
                                    "-p", str(self.pg_port), "-U", DB_USER, "-d", "postgres"],
                                   capture_output=True, check=False)
            if ready.returncode == 0:
                break
            if not pg.running() or time.monotonic() > deadline:
                raise RealManagerError(f"PostgreSQL did not start; log {log}:\n{pg.tail()}")
            time.sleep(0.2)
        _run([str(PG_BIN / "createdb"), "-h", self.options.host, "-p", str(self.pg_port),
              "-U", DB_USER, DB_NAME], log=log, env=client_env, what="createdb")

    def _rest_env(self) -> dict[str, str]:
        env = _base_env()
        env["MANAGER_REST_CONFIG_PATH"] = str(self.state_dir / "etc" / "cloudify-rest.conf")
        env["MANAGER_REST_SECURITY_CONFIG_PATH"] = str(self.state_dir / "etc" / "rest-security.conf")
        assert self.rest_venv is not None
        env["PATH"] = f"{self.rest_venv.path / 'bin'}:{env['PATH']}"
        env["PYTHONPATH"] = str(SCRIPTS / "sitecustomize")
        env["SNAPBOT_REALMANAGER_SECURITY_CONF"] = env["MANAGER_REST_SECURITY_CONFIG_PATH"]
        return env

    def _write_rest_config(self) -> None:
        etc = self.state_dir / "etc"
        rest_conf = {
            "postgresql_bin_path": str(PG_BIN) + "/",
            "postgresql_db_name": DB_NAME,
            "postgresql_host": f"{self.options.host}:{self.pg_port}",
            "postgresql_username": DB_USER,
            "postgresql_password": self.db_password,
            "postgresql_ssl_enabled": False,
            "ca_cert_path": str(self.state_dir / "ssl" / "ca.pem"),
            "manager_hostname": "snapbot-realmanager",
            "file_server_type": "local",
            "file_server_root": str(self.state_dir / "resources"),
        }
        security = {
            "hash_salt": secrets.token_urlsafe(32),
            "secret_key": secrets.token_urlsafe(32),
            "encoding_alphabet": "".join(secrets.SystemRandom().sample(
                "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 62)),
            "encoding_block_size": 24,
            "encoding_min_length": 5,
            # cloudify.cryptography_utils.Fernet256.generate_key(): 64 random bytes, urlsafe base64
            "encryption_key": base64.urlsafe_b64encode(os.urandom(64)).decode(),
        }
        for name, content in (("cloudify-rest.conf", rest_conf), ("rest-security.conf", security)):
            path = etc / name
            path.write_text(json.dumps(content, indent=2))
            path.chmod(0o600)

    def _migrate(self) -> None:
        assert self.src is not None and self.rest_venv is not None
        self._write_rest_config()
        _run([str(self.rest_venv.bin("alembic")), "upgrade", "head"], cwd=self.src.rest_service / "migrations",
             env=self._rest_env(), log=self.state_dir / "logs" / "setup.log", what="alembic upgrade head")

    def _user_config(self) -> dict[str, object]:
        ca = (self.state_dir / "ssl" / "ca.pem").read_text()
        return {
            "manager": {
                "hostname": "snapbot-realmanager",
                "private_ip": self.options.host,
                "public_ip": self.options.host,
                "ca_cert": ca,
                "file_server_type": "local",
                "file_server_root": str(self.state_dir / "resources"),
                "file_server_url": f"{self.url}/resources",
                "internal_rest_port": self.port,
                "security": {"admin_username": USERNAME, "admin_password": PASSWORD},
            },
            "rabbitmq": {
                "username": "cloudify",
                "password": "c10udify",
                "ca_path": str(self.state_dir / "ssl" / "ca.pem"),
                "cluster_members": {"rabbitmq": {"networks": {"default": self.options.host}}},
            },
        }

    def _bootstrap(self) -> None:
        assert self.rest_venv is not None
        if not self.port:
            self.port = free_port(self.options.host)
        etc = self.state_dir / "etc"
        user_config = etc / "user-config.yaml"
        user_config.write_text(json.dumps(self._user_config()))  # JSON is YAML
        user_config.chmod(0o600)
        logs = self.state_dir / "logs"
        paths = etc / "config-paths.json"
        paths.write_text(json.dumps({
            "maintenance_folder": str(self.state_dir / "maintenance"),
            "rest_service_log_path": str(logs / "cloudify-rest-service.log"),
            "api_service_log_path": str(logs / "cloudify-api-service.log"),
        }))
        _run([str(self.rest_venv.python), str(SCRIPTS / "bootstrap_manager.py"), str(user_config),
              str(paths), "--no-broker"], env=self._rest_env(), log=logs / "setup.log",
             what="bootstrap (configure_manager)")

    def _start_rest(self) -> None:
        assert self.rest_venv is not None
        logs = self.state_dir / "logs"
        rest = Service("rest", [str(self.rest_venv.bin("gunicorn")), "--chdir", "/", "--workers", "2",
                                "--max-requests", "1000", "--timeout", "300",
                                "--bind", f"{self.options.host}:{self.port}", "manager_rest.wsgi:app",
                                "--access-logfile", str(logs / "rest-access.log")],
                       log=logs / "rest.log", env=self._rest_env())
        rest.start()
        self.services.append(rest)
        deadline = time.monotonic() + 120
        while True:
            if self._version_answers():
                return
            if not rest.running() or time.monotonic() > deadline:
                raise RealManagerError(f"the REST service did not answer; log {rest.log}:\n{rest.tail()}")
            time.sleep(0.2)

    def _version_answers(self) -> bool:
        request = urllib.request.Request(f"{self.url}/api/v3.1/version", headers={
            "Authorization": "Basic " + base64.b64encode(
                f"{USERNAME}:{PASSWORD}".encode()).decode(),
            "Tenant": TENANT})
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:
                return bool(answer.status == 200)
        except (urllib.error.URLError, OSError):
            return False
