"""Service control for Cloudify's workflows: a Unix socket the `supervisorctl` stand-in talks to,
mapping Cloudify's service names onto the processes this tool started. Every call is logged."""
from __future__ import annotations

import json
import socketserver
import threading
import time
from collections.abc import Callable
from pathlib import Path

# Cloudify's service name -> this tool's service name
SERVICES = {
    "cloudify-restservice": "rest",
    "cloudify-execution-scheduler": "scheduler",
    "cloudify-mgmtworker": "mgmtworker",
    "cloudify-rabbitmq": "rabbitmq",
}
# services a real single-host manager has and this one does not run (the API service, the
# AMQP-Postgres bridge and the UIs are not in the source it runs): stopping or starting them
# is a no-op, as it would be for a stopped program
NOT_RUN_HERE = ("cloudify-amqp-postgres", "cloudify-api", "cloudify-stage", "cloudify-composer")

Act = Callable[[str, str], str]  # (action, service) -> status line; raises ValueError if refused


class _Handler(socketserver.StreamRequestHandler):
    server: ControlServer

    def handle(self) -> None:
        try:
            request = json.loads(self.rfile.read())
            code, output = self.server.control(str(request["action"]), [str(n) for n in request["names"]])
        except Exception as exc:
            code, output = 1, f"ERROR ({exc})"
        self.wfile.write(json.dumps({"code": code, "output": output}).encode())


class ControlServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, path: Path, act: Act, log: Path) -> None:
        path.unlink(missing_ok=True)
        super().__init__(str(path), _Handler)
        path.chmod(0o600)
        self.act = act
        self.log = log
        self._thread = threading.Thread(target=self.serve_forever, name="realmanager-control", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self.shutdown()
        self.server_close()
        Path(str(self.server_address)).unlink(missing_ok=True)

    def control(self, action: str, names: list[str]) -> tuple[int, str]:
        if action not in ("start", "stop", "restart", "status"):
            return 2, f"*** Unknown syntax: {action}"
        code, lines = 0, []
        for name in names:
            base = name.split(":", 1)[0]
            if base in SERVICES:
                try:
                    lines.append(f"{name}: {self.act(action, SERVICES[base])}")
                except ValueError as exc:
                    code, line = 1, f"{name}: ERROR ({exc})"
                    lines.append(line)
            elif base in NOT_RUN_HERE:
                lines.append(f"{name}: not run by this manager ({action} is a no-op)")
            else:
                code = 1
                lines.append(f"{name}: ERROR (no such process)")
        with self.log.open("a") as out:
            out.write(f"{time.strftime('%H:%M:%S')} supervisorctl {action} {' '.join(names)} -> {code}\n")
        return code, "\n".join(lines)
