"""RabbitMQ for the real manager: Debian's `rabbitmq-server`, a node of its own (its own epmd,
distribution port, cookie and database under the state directory) serving AMQP over TLS on 5671
and the management API over TLS on 15671, which Cloudify's clients use without a port setting.
So that two managers can run on one machine, each binds those ports on an address of its own
in 127.0.0.0/8."""
from __future__ import annotations

import random
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

from devtools.realmanager.processes import Service

RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")
AMQPS_PORT, MANAGEMENT_PORT = 5671, 15671
BROKER_USER, BROKER_PASSWORD = "cloudify", "c10udify"  # configure_manager's defaults


def pick_loopback_address() -> str:
    """An address in 127.0.0.0/8 (other than 127.0.0.1) where 5671 and 15671 are free."""
    for _ in range(50):
        address = f"127.{random.randint(1, 254)}.{random.randint(0, 255)}.{random.randint(1, 254)}"
        try:
            for port in (AMQPS_PORT, MANAGEMENT_PORT):
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                    s.bind((address, port))
        except OSError:
            continue
        return address
    raise OSError("no free loopback address for RabbitMQ")


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class BrokerFiles:
    base: Path  # state_dir/rabbitmq
    address: str
    epmd_port: int
    dist_port: int
    cacert: Path
    cert: Path
    key: Path

    def env(self, base_env: dict[str, str]) -> dict[str, str]:
        return base_env | {
            "HOME": str(self.base),  # the Erlang cookie
            "RABBITMQ_NODENAME": "rabbit@localhost",
            "RABBITMQ_CONFIG_FILE": str(self.base / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.base / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(self.base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.base / "log"),
            "RABBITMQ_LOGS": "-",
            "RABBITMQ_PID_FILE": str(self.base / "rabbit.pid"),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_CONF_ENV_FILE": str(self.base / "rabbitmq-env.conf"),
            "ERL_EPMD_PORT": str(self.epmd_port),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            # Erlang distribution on loopback only
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
            "RABBITMQ_CTL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }

    def write(self) -> None:
        shutil.rmtree(self.base, ignore_errors=True)
        (self.base / "log").mkdir(parents=True)
        (self.base / "rabbitmq-env.conf").write_text("")  # not Debian's /etc/rabbitmq one
        (self.base / "enabled_plugins").write_text("[rabbitmq_management].\n")
        tls = (f"cacertfile = {self.cacert}\n", f"certfile = {self.cert}\n", f"keyfile = {self.key}\n")
        (self.base / "rabbitmq.conf").write_text("".join([
            "listeners.tcp = none\n",
            f"listeners.ssl.default = {self.address}:{AMQPS_PORT}\n",
            *(f"ssl_options.{line}" for line in tls),
            "ssl_options.verify = verify_none\n",
            "ssl_options.fail_if_no_peer_cert = false\n",
            f"management.ssl.ip = {self.address}\n",
            f"management.ssl.port = {MANAGEMENT_PORT}\n",
            *(f"management.ssl.{line}" for line in tls),
            f"default_user = {BROKER_USER}\n",
            f"default_pass = {BROKER_PASSWORD}\n",
            "default_user_tags.administrator = true\n",
            "default_permissions.configure = .*\n",
            "default_permissions.read = .*\n",
            "default_permissions.write = .*\n",
            "loopback_users = none\n",
            "disk_free_limit.absolute = 50MB\n",
        ]))
        cookie = self.base / ".erlang.cookie"
        cookie.write_text("".join(random.choices("ABCDEFGHIJKLMNOPQRSTUVWXYZ", k=20)))
        cookie.chmod(0o400)

    def services(self, base_env: dict[str, str], logs: Path) -> list[Service]:
        """epmd (run here in the foreground, so that no daemonised epmd outlives us) and the node."""
        env = self.env(base_env)
        epmd = Service("epmd", ["epmd", "-port", str(self.epmd_port), "-address", "127.0.0.1"],
                       log=logs / "epmd.log", env=env)
        rabbit = Service("rabbitmq", [str(RABBIT_BIN / "rabbitmq-server")], log=logs / "rabbitmq.log",
                         env=env, stop_timeout=30)
        return [epmd, rabbit]
