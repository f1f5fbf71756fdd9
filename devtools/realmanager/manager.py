"""A real Cloudify Manager, from Cloudify's own source, on loopback: PostgreSQL 15 (a cluster of
its own, run as a system user when we are root), RabbitMQ (Debian's, TLS), the schema by alembic,
the bootstrap data by `manager_rest.configure_manager`, the REST service under gunicorn, the
mgmtworker (which runs the workflows) and the execution scheduler.

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
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

from devtools.realmanager.broker import (
    AMQPS_PORT,
    BROKER_PASSWORD,
    BROKER_USER,
    MANAGEMENT_PORT,
    RABBIT_BIN,
    BrokerFiles,
    pick_loopback_address,
    port_open,
)
from devtools.realmanager.control import ControlServer
from devtools.realmanager.layout import Layout, LayoutError, SystemLayout
from devtools.realmanager.processes import RunAs, Service
from devtools.realmanager.source import CloudifySource, resolve_source
from devtools.realmanager.venvs import Venv, ensure_venv, mgmtworker_requirements, rest_requirements

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_USER = "snapbot-pg"
DB_NAME = "cloudify_db"
DB_USER = "cloudify"
USERNAME, PASSWORD, TENANT = "admin", "admin", "default_tenant"
MANAGER_HOSTNAME = "snapbot-realmanager"
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
    layout_wait: float = 0.0  # seconds to wait for another system-layout manager to stop
    log: Callable[[str], None] = _stderr


@dataclass
class Timings:
    """Seconds spent in each step of the last start (virtualenv builds are ~0 when cached)."""
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


def _ensure_debian_packages(needed: dict[str, str], log: Callable[[str], None]) -> float:
    """Install the Debian packages (name -> a file it provides) whose file is missing; seconds spent."""
    missing = [name for name, path in needed.items() if not Path(path).exists()]
    if not missing:
        return 0.0
    if os.geteuid() != 0:
        raise RealManagerError(f"missing Debian packages: {' '.join(missing)} (apt-get install them, "
                               "or run as root to have them installed)")
    started = time.monotonic()
    log(f"installing Debian packages: {' '.join(missing)}")
    env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update", "-qq"],
                 ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing]):
        done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RealManagerError(f"{' '.join(argv)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return time.monotonic() - started


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


def _wait(what: str, ready: Callable[[], bool], alive: Callable[[], bool], timeout: float,
          detail: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if not alive():
            raise RealManagerError(f"{what} stopped while starting:\n{detail()}")
        if time.monotonic() > deadline:
            raise RealManagerError(f"{what} not ready after {timeout:.0f} s:\n{detail()}")
        time.sleep(0.25)


class RealManager:
    """A real Cloudify Manager 7.0.5 on loopback. `start()` prepares what is missing and returns
    once `GET /api/v3.1/version` answers and the mgmtworker consumes its queue; `stop()` stops
    every process it started."""

    def __init__(self, options: RealManagerOptions) -> None:
        self.options = options
        self.log = options.log
        self.timings = Timings()
        self._own_state_dir = options.state_dir is None
        self.state_dir = Path(options.state_dir or tempfile.mkdtemp(prefix="snapbot-realmanager-"))
        self.layout = Layout(self.state_dir.resolve(), options.system_layout)
        self.port = options.port  # nginx, in front as on a real manager
        self.rest_port = 0  # gunicorn, behind nginx
        self.pg_port = 0
        self.broker_address = ""
        self.db_password = secrets.token_urlsafe(18)
        self.src: CloudifySource | None = None
        self.rest_venv: Venv | None = None
        self.mgmtworker_venv: Venv | None = None
        self.run_as: RunAs | None = None
        self._pg_tmp: Path | None = None
        self._services: dict[str, Service] = {}
        self._order: list[str] = []
        self._lock = threading.RLock()
        self._control: ControlServer | None = None
        self._system: SystemLayout | None = None
        self._access_mark = -1

    # -- public --------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.options.host}:{self.port}"

    @property
    def credentials(self) -> tuple[str, str, str]:
        return USERNAME, PASSWORD, TENANT

    @property
    def service_control_log(self) -> Path:
        """Every service-control call a workflow made (`supervisorctl ACTION NAME -> CODE`)."""
        return self.layout.logs / "service-control.log"

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> Self:
        try:
            self._step("source", self._prepare_source)
            self._step("debian packages", self._prepare_packages)
            self._step("virtualenvs", self._prepare_venvs)
            self._step("state dir and certificates", self._prepare_state_dir)
            self._step("rabbitmq start", self._start_broker)
            self._step("postgresql", self._start_postgres)
            self._step("schema", self._migrate)
            self._step("rabbitmq ready", self._wait_broker)
            self._step("bootstrap", self._bootstrap)
            self._step("rest service", self._start_rest)
            self._step("mgmtworker and scheduler", self._start_workers)
        except BaseException:
            self.stop()
            raise
        self._access_mark = self._access_lines()
        return self

    def stop(self) -> None:
        """Stop every service, last started first; remove what was laid out and temporary dirs."""
        self._stop_services()
        if self._own_state_dir:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def restart(self) -> Self:
        """A fresh manager on the same URL: every service stopped, then the database, broker,
        files and bootstrap data made anew (for tests that need a known state on a manager
        other tests have changed)."""
        self._stop_services(discard=True)
        self.db_password = secrets.token_urlsafe(18)
        self.timings = Timings()
        return self.start()

    def untouched(self) -> bool:
        """Whether nothing has called the manager since start() returned (nginx's access log)."""
        return self._access_lines() == self._access_mark

    def _access_lines(self) -> int:
        try:
            return len((self.layout.logs / "nginx-access.log").read_bytes().splitlines())
        except OSError:
            return 0

    def _stop_services(self, discard: bool = False) -> None:
        """Stop the services; `discard`: at once (SIGKILL), their state being thrown away."""
        with self._lock:
            if self._control is not None:
                self._control.close()
                self._control = None
            while self._order:
                service = self._services.pop(self._order.pop())
                if discard:
                    service.kill()
                else:
                    service.stop()
        if self._system is not None:
            self._system.remove()
            self._system = None
        if self._pg_tmp is not None:
            shutil.rmtree(self._pg_tmp, ignore_errors=True)
            self._pg_tmp = None

    def pids(self) -> list[int]:
        with self._lock:
            return [s.pid for s in self._services.values() if s.pid is not None]

    def service(self, name: str) -> Service:
        """One of: postgresql, epmd, rabbitmq, rest, mgmtworker, scheduler."""
        return self._services[name]

    def control(self, action: str, name: str) -> str:
        """Start, stop, restart or report one of this manager's services (the service control
        Cloudify's workflows call); returns a supervisorctl-like status word."""
        with self._lock:
            service = self._services.get(name)
            if service is None:
                raise ValueError("no such process")
            if action == "status":
                return "RUNNING" if service.running() else "STOPPED"
            if action in ("stop", "restart") and service.running():
                service.stop()
            if action in ("start", "restart") and not service.running():
                service.start()
            return "started" if action != "stop" else "stopped"

    # -- steps ---------------------------------------------------------------------------------

    def _step(self, name: str, fn: Callable[[], None]) -> None:
        started = time.monotonic()
        fn()
        self.timings.steps[name] = time.monotonic() - started

    def _add(self, service: Service) -> Service:
        with self._lock:
            self._services[service.name] = service
            self._order.append(service.name)
            service.start()
        return service

    def _prepare_source(self) -> None:
        self.src = resolve_source(self.options.source, self.options.cache_dir)

    def _prepare_packages(self) -> None:
        needed = {"rabbitmq-server": str(RABBIT_BIN / "rabbitmq-server"),
                  "postgresql-15": str(PG_BIN / "postgres"), "openssl": "/usr/bin/openssl",
                  "nginx": "/usr/sbin/nginx"}
        if self.options.system_layout:
            needed["sudo"] = "/usr/bin/sudo"  # the snapshot workflows run their helpers with sudo
        spent = _ensure_debian_packages(needed, self.log)
        if spent:
            self.log(f"Debian packages installed in {spent:.0f} s")

    def _prepare_venvs(self) -> None:
        assert self.src is not None
        self.rest_venv, spent = ensure_venv(
            self.options.cache_dir, "rest", rest_requirements(self.src),
            [self.src.rest_service, self.src.execution_scheduler], self.log)
        if spent:
            self.log(f"rest virtualenv built in {spent:.0f} s")
        self.mgmtworker_venv, spent = ensure_venv(
            self.options.cache_dir, "mgmtworker", mgmtworker_requirements(self.src),
            [self.src.mgmtworker], self.log, path_trees=(self.src.agent,))
        if spent:
            self.log(f"mgmtworker virtualenv built in {spent:.0f} s")

    def _prepare_state_dir(self) -> None:
        assert self.src is not None and self.rest_venv is not None
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if self.options.system_layout:
            if os.geteuid() != 0:
                raise RealManagerError("--system-layout writes under /opt, /etc and /usr/bin: run as root")
            self._system = SystemLayout(self.layout, self.src, self.rest_venv.path,
                                        self.state_dir / "run" / "control.sock")
            try:
                self._system.install(lock_wait=self.options.layout_wait)
            except LayoutError as exc:
                self._system = None
                raise RealManagerError(str(exc)) from None
            _system_user("cfyuser", self.log)  # Cloudify's create-admin-token.py chowns to it
        if not self.layout.system:  # a fresh manager: no files of an earlier one
            for path in (self.layout.resources, self.layout.work, self.state_dir / "maintenance"):
                shutil.rmtree(path, ignore_errors=True)
        self.layout.make_dirs()
        shutil.rmtree(self.state_dir / "pg", ignore_errors=True)
        if os.geteuid() == 0:
            self.run_as = _system_user(PG_USER, self.log)
            self.state_dir.chmod(0o711)  # the PostgreSQL user must reach its cluster inside
            if not _traversable_by_others(self.state_dir):
                # a parent the PostgreSQL user cannot pass (pytest's tmp_path, a home directory):
                # the cluster goes to a temporary directory of its own, removed by stop()
                self._pg_tmp = Path(tempfile.mkdtemp(prefix="snapbot-realmanager-pg-"))
                self._pg_tmp.chmod(0o711)
        if self._system is not None:
            self._control = ControlServer(self.state_dir / "run" / "control.sock", self.control,
                                          self.service_control_log)
            self._control.start()
        self.broker_address = pick_loopback_address()
        if not self.port:
            self.port = free_port(self.options.host)
        self.rest_port = free_port(self.options.host)
        self._make_certs()

    @property
    def pg_dir(self) -> Path:
        return self._pg_tmp if self._pg_tmp is not None else self.state_dir / "pg"

    def _make_certs(self) -> None:
        """A CA and a certificate it signs for the loopback addresses in use (the manager row
        holds the CA; RabbitMQ serves TLS with the signed certificate)."""
        lay = self.layout
        log = lay.logs / "setup.log"
        _run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
              "-subj", "/CN=snapbot-realmanager-ca", "-keyout", str(lay.ca_key),
              "-out", str(lay.ca_cert)], log=log, what="making the CA")
        ext = self.state_dir / "run" / "server.ext"
        ext.write_text(f"subjectAltName=IP:127.0.0.1,IP:{self.broker_address},DNS:localhost\n"
                       "extendedKeyUsage=serverAuth,clientAuth\n")
        csr = self.state_dir / "run" / "server.csr"
        _run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={self.broker_address}",
              "-keyout", str(lay.key), "-out", str(csr)], log=log, what="making the server key")
        _run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(lay.ca_cert), "-CAkey", str(lay.ca_key),
              "-CAcreateserial", "-CAserial", str(self.state_dir / "run" / "ca.srl"), "-days", "30",
              "-extfile", str(ext), "-out", str(lay.cert)], log=log, what="signing the server certificate")
        for path in (lay.key, lay.cert, lay.ca_cert):
            path.chmod(0o644)

    def _broker_files(self) -> BrokerFiles:
        return BrokerFiles(self.state_dir / "rabbitmq", self.broker_address, free_port("127.0.0.1"),
                           free_port("127.0.0.1"), self.layout.ca_cert, self.layout.cert, self.layout.key)

    def _start_broker(self) -> None:
        files = self._broker_files()
        files.write()
        for service in files.services(_base_env(), self.layout.logs):
            self._add(service)
            if service.name == "epmd":
                _wait("epmd", lambda: port_open("127.0.0.1", files.epmd_port), service.running, 30,
                      service.tail)

    def _wait_broker(self) -> None:
        rabbit = self._services["rabbitmq"]
        _wait("RabbitMQ", lambda: port_open(self.broker_address, AMQPS_PORT)
              and port_open(self.broker_address, MANAGEMENT_PORT), rabbit.running, 120, rabbit.tail)

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
        log = self.layout.logs / "postgresql.log"
        _run([str(PG_BIN / "initdb"), "-D", str(pgdata), "-U", DB_USER, "--pwfile", str(pwfile),
              "--auth=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8"],
             log=log, env=env, run_as=self.run_as, what="initdb")
        pwfile.unlink()
        self.pg_port = free_port(self.options.host)
        pg = self._add(Service("postgresql", [str(PG_BIN / "postgres"), "-D", str(pgdata),
                                              "-p", str(self.pg_port), "-h", self.options.host,
                                              "-k", str(pgrun)],
                               log=log, env=env, run_as=self.run_as, stop_signal=2))  # SIGINT: fast shutdown

        def ready() -> bool:
            return subprocess.run([str(PG_BIN / "pg_isready"), "-h", self.options.host, "-p", str(self.pg_port),
                                   "-U", DB_USER, "-d", "postgres"], capture_output=True, check=False).returncode == 0
        _wait("PostgreSQL", ready, pg.running, 60, pg.tail)
        _run([str(PG_BIN / "createdb"), "-h", self.options.host, "-p", str(self.pg_port),
              "-U", DB_USER, DB_NAME], log=log, env=_base_env() | {"PGPASSWORD": self.db_password},
             what="createdb")

    def _rest_env(self) -> dict[str, str]:
        assert self.rest_venv is not None
        env = _base_env()
        env["MANAGER_REST_CONFIG_PATH"] = str(self.layout.rest_conf)
        env["MANAGER_REST_SECURITY_CONFIG_PATH"] = str(self.layout.security_conf)
        env["PATH"] = f"{self.rest_venv.path / 'bin'}:{env['PATH']}"
        if not self.layout.system:
            # cloudify-common reads the encryption key from /opt/manager/rest-security.conf only
            env["PYTHONPATH"] = str(SCRIPTS / "sitecustomize")
            env["SNAPBOT_REALMANAGER_SECURITY_CONF"] = str(self.layout.security_conf)
        return env

    def _write_rest_config(self) -> None:
        rest_conf = {
            "postgresql_bin_path": str(PG_BIN) + "/",
            "postgresql_db_name": DB_NAME,
            "postgresql_host": f"{self.options.host}:{self.pg_port}",
            "postgresql_username": DB_USER,
            "postgresql_password": self.db_password,
            "postgresql_ssl_enabled": False,
            "ca_cert_path": str(self.layout.ca_cert),
            "manager_hostname": MANAGER_HOSTNAME,
            "file_server_type": "local",
            "file_server_root": str(self.layout.resources),
        }
        security = {
            "hash_salt": secrets.token_urlsafe(32),
            "secret_key": secrets.token_urlsafe(32),
            "encoding_alphabet": "".join(secrets.SystemRandom().sample(
                "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 62)),
            "encoding_block_size": 24,
            "encoding_min_length": 5,
            # as cloudify.cryptography_utils.Fernet256.generate_key(): 64 random bytes, urlsafe base64
            "encryption_key": base64.urlsafe_b64encode(os.urandom(64)).decode(),
        }
        for path, content in ((self.layout.rest_conf, rest_conf), (self.layout.security_conf, security)):
            path.write_text(json.dumps(content, indent=2))
            path.chmod(0o600)

    def _migrate(self) -> None:
        assert self.src is not None and self.rest_venv is not None
        self._write_rest_config()
        _run([str(self.rest_venv.bin("alembic")), "upgrade", "head"], cwd=self.src.rest_service / "migrations",
             env=self._rest_env(), log=self.layout.logs / "setup.log", what="alembic upgrade head")

    def _user_config(self) -> dict[str, object]:
        return {
            "manager": {
                "hostname": MANAGER_HOSTNAME,
                "private_ip": self.options.host,
                "public_ip": self.options.host,
                "ca_cert": self.layout.ca_cert.read_text(),
                "file_server_type": "local",
                "file_server_root": str(self.layout.resources),
                "file_server_url": f"{self.url}/resources",
                "internal_rest_port": self.port,
                "security": {"admin_username": USERNAME, "admin_password": PASSWORD},
            },
            "rabbitmq": {
                "username": BROKER_USER,
                "password": BROKER_PASSWORD,
                "ca_path": str(self.layout.ca_cert),
                "cluster_members": {"rabbitmq": {"networks": {"default": self.broker_address}}},
            },
        }

    def _bootstrap(self) -> None:
        assert self.rest_venv is not None
        run = self.state_dir / "run"
        user_config = run / "user-config.yaml"
        user_config.write_text(json.dumps(self._user_config()))  # JSON is YAML
        user_config.chmod(0o600)
        paths = run / "config-paths.json"
        paths.write_text(json.dumps({
            "maintenance_folder": str(self.state_dir / "maintenance"),
            "rest_service_log_path": str(self.layout.logs / "cloudify-rest-service.log"),
            "api_service_log_path": str(self.layout.logs / "cloudify-api-service.log"),
        }))
        log = self.layout.logs / "setup.log"
        _run([str(self.rest_venv.python), str(SCRIPTS / "bootstrap_manager.py"), str(user_config), str(paths)],
             env=self._rest_env(), log=log, what="bootstrap (configure_manager)")
        # the mgmtworker's token, made as Cloudify's installer makes it
        token = self.layout.work / "admin_token"
        _run([str(self.rest_venv.python), "-m", "manager_rest.configure_manager", "--create-admin-token",
              str(token)], env=self._rest_env(), log=log, what="creating the mgmtworker's admin token")
        token.chmod(0o600)

    def _start_rest(self) -> None:
        assert self.rest_venv is not None
        logs = self.layout.logs
        rest = self._add(Service("rest", [str(self.rest_venv.bin("gunicorn")), "--chdir", "/", "--workers", "2",
                                          "--max-requests", "1000", "--timeout", "300",
                                          "--bind", f"{self.options.host}:{self.rest_port}", "manager_rest.wsgi:app",
                                          "--access-logfile", str(logs / "rest-access.log")],
                                 log=logs / "rest.log", env=self._rest_env()))
        nginx = self._add(Service("nginx", ["/usr/sbin/nginx", "-c", str(self._write_nginx_conf()),
                                            "-e", str(logs / "nginx-error.log")],
                                  log=logs / "nginx.log", env=_base_env()))
        _wait("the REST service", self._version_answers, lambda: rest.running() and nginx.running(), 120,
              lambda: rest.tail() + "\n" + nginx.tail())

    def _write_nginx_conf(self) -> Path:
        """nginx in front of gunicorn, as on a real manager: the REST service answers file
        downloads with `X-Accel-Redirect: /resources-local/PATH`, which nginx serves from the
        file server root; while gunicorn restarts, nginx answers 502."""
        run, logs = self.state_dir / "run", self.layout.logs
        temp = "\n".join(f"    {kind}_temp_path {run / ('nginx-' + kind)};"
                         for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        conf = run / "nginx.conf"
        conf.write_text(f"""daemon off;
worker_processes 1;
{"user root root;" if os.geteuid() == 0 else ""}
pid {run / "nginx.pid"};
error_log {logs / "nginx-error.log"};
events {{ worker_connections 256; }}
http {{
    access_log {logs / "nginx-access.log"};
{temp}
    default_type application/octet-stream;
    client_max_body_size 0;
    server {{
        listen {self.options.host}:{self.port};
        location /resources-local/ {{
            internal;
            alias {self.layout.resources}/;
        }}
        # as Cloudify's rest-proxy.cloudify: request buffering on (a chunked upload reaches
        # gunicorn with a Content-Length, as the REST service needs), audit headers hidden
        location / {{
            proxy_pass http://{self.options.host}:{self.rest_port};
            proxy_redirect off;
            proxy_set_header Host $host;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Server-Port $server_port;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_hide_header X-Cloudify-Audit-Auth-Method;
            proxy_hide_header X-Cloudify-Audit-Tenant;
            proxy_hide_header X-Cloudify-Audit-Username;
            proxy_read_timeout 300s;
        }}
    }}
}}
""")
        return conf

    def _mgmtworker_env(self) -> dict[str, str]:
        assert self.mgmtworker_venv is not None
        lay = self.layout
        env = self._rest_env() | {
            "PATH": f"{self.mgmtworker_venv.path / 'bin'}:{_base_env()['PATH']}",
            "MGMTWORKER_HOME": str(lay.work.parent),
            "VIRTUALENV_DIR": str(self.mgmtworker_venv.path),
            "AGENT_WORK_DIR": str(lay.work),
            "AGENT_LOG_DIR": str(lay.logs / "mgmtworker"),
            "AGENT_LOG_LEVEL": "DEBUG",
            "MANAGEMENT_USER": "root",
            "MANAGER_NAME": MANAGER_HOSTNAME,
            "REST_HOST": self.options.host,
            "REST_PORT": str(self.port),
            "REST_PROTOCOL": "http",  # no nginx in front: gunicorn on loopback
            "LOCAL_REST_CERT_FILE": str(lay.ca_cert),
            "BROKER_SSL_CERT_PATH": str(lay.ca_cert),
            "KERBEROS_ENV": "false",
            "MANAGER_FILE_SERVER_URL": f"{self.url}/resources",
            "MANAGER_FILE_SERVER_ROOT": str(lay.resources),
            "MAX_WORKERS": "4",
            "MIN_WORKERS": "1",
        }
        if not lay.system:
            # cloudify-common reads the token from /opt/mgmtworker/work/admin_token unless given
            env["ADMIN_API_TOKEN"] = (lay.work / "admin_token").read_text().strip()
        # as installed: HOME=/etc/cloudify holding the .pgpass the snapshot's pg_dump/psql use
        env["HOME"] = str(self._mgmtworker_home())
        return env

    def _mgmtworker_home(self) -> Path:
        home = Path("/etc/cloudify") if self.layout.system else self.state_dir / "mgmtworker"
        pgpass = home / ".pgpass"
        pgpass.write_text(f"{self.options.host}:{self.pg_port}:*:{DB_USER}:{self.db_password}\n")
        pgpass.chmod(0o600)
        return home

    def _start_workers(self) -> None:
        assert self.mgmtworker_venv is not None and self.rest_venv is not None
        logs = self.layout.logs
        (logs / "mgmtworker").mkdir(exist_ok=True)
        worker = self._add(Service("mgmtworker", [str(self.mgmtworker_venv.python), "-m", "mgmtworker.worker",
                                                  "--queue", "cloudify.management", "--max-workers", "4",
                                                  "--hooks-queue", "cloudify-hooks"],
                                   log=logs / "mgmtworker.log", env=self._mgmtworker_env(), cwd=self.layout.work))
        self._add(Service("scheduler", [str(self.rest_venv.bin("cloudify-execution-scheduler")),
                                        "--logfile", str(logs / "execution-scheduler.log")],
                          log=logs / "execution-scheduler.out", env=self._rest_env()))
        _wait("the mgmtworker", self._mgmtworker_consumes, worker.running, 120,
              lambda: worker.tail() + "\n" + (logs / "mgmtworker" / "mgmtworker.log").read_text(errors="replace")[-3000:]
              if (logs / "mgmtworker" / "mgmtworker.log").exists() else worker.tail())

    def _mgmtworker_consumes(self) -> bool:
        """Whether a consumer is on the workflow queue (RabbitMQ's management API)."""
        context = ssl.create_default_context(cafile=str(self.layout.ca_cert))
        request = urllib.request.Request(
            f"https://{self.broker_address}:{MANAGEMENT_PORT}/api/queues/%2F/cloudify.management_workflow",
            headers={"Authorization": "Basic " + base64.b64encode(
                f"{BROKER_USER}:{BROKER_PASSWORD}".encode()).decode()})
        try:
            with urllib.request.urlopen(request, timeout=5, context=context) as answer:
                return int(json.load(answer).get("consumers", 0)) > 0
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def _version_answers(self) -> bool:
        request = urllib.request.Request(f"{self.url}/api/v3.1/version", headers={
            "Authorization": "Basic " + base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode(),
            "Tenant": TENANT})
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:
                return bool(answer.status == 200)
        except (urllib.error.URLError, OSError):
            return False
