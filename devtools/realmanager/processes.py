"""Child processes the real manager is made of: each started in a session of its own, so that
stopping it reaches every process it forked (PostgreSQL's backends, gunicorn's workers, Erlang's
port programs), and nothing it started outlives it."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO


@dataclass(frozen=True)
class RunAs:
    """A system user to run a process as (PostgreSQL refuses root)."""
    name: str
    uid: int
    gid: int
    home: Path


def _proc_table() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, session id) of every live, non-zombie process (read from /proc)."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # the command name, in parentheses, may hold spaces: split after its closing parenthesis
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] != "Z":
            table[int(entry)] = (int(fields[1]), int(fields[3]))
    return table


def process_tree(root: int) -> set[int]:
    """`root`, its descendants, and every process in the session it leads: PostgreSQL's backends
    call setsid(), so the session alone would miss them; a daemon that double-forks leaves the
    tree but stays in the session unless it calls setsid() too."""
    table = _proc_table()
    found = {pid for pid, (_, sid) in table.items() if sid == root}
    if root in table:
        found.add(root)
    return descendants(found, table)


def descendants(roots: set[int], table: dict[int, tuple[int, int]] | None = None) -> set[int]:
    """`roots` and every process below them (from `table`, default: the live one)."""
    table = _proc_table() if table is None else table
    found = set(roots)
    grew = True
    while grew:
        grew = False
        for pid, (ppid, _) in table.items():
            if ppid in found and pid not in found:
                found.add(pid)
                grew = True
    return found


@dataclass
class Service:
    """One long-running program: `argv` started in its own session, output to `log`."""
    name: str
    argv: list[str]
    log: Path
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    run_as: RunAs | None = None
    stop_signal: int = signal.SIGTERM
    stop_timeout: float = 20.0
    popen: subprocess.Popen[bytes] | None = None
    _log_file: IO[bytes] | None = None

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self._log_file = self.log.open("ab")
        kwargs: dict[str, object] = {}
        if self.run_as is not None:
            kwargs = {"user": self.run_as.uid, "group": self.run_as.gid, "extra_groups": []}
        self.popen = subprocess.Popen(
            self.argv, env=self.env, cwd=self.cwd, stdin=subprocess.DEVNULL,
            stdout=self._log_file, stderr=subprocess.STDOUT, start_new_session=True,
            **kwargs)  # type: ignore[call-overload]

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen is not None else None

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self) -> None:
        """Stop at once: SIGKILL to the program and everything it started (state to be discarded)."""
        self.stop_signal, self.stop_timeout = signal.SIGKILL, 0.0
        self.stop()

    def stop(self) -> None:
        """Stop the program and everything in its session; SIGKILL what is left after the timeout."""
        if self.popen is None:
            return
        root = self.popen.pid
        members = process_tree(root)
        if self.popen.poll() is None:
            try:
                os.killpg(root, self.stop_signal)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + self.stop_timeout
        while time.monotonic() < deadline:
            self.popen.poll()
            alive = members & set(_proc_table())
            if self.popen.returncode is not None and not alive and not process_tree(root) - {root}:
                break
            time.sleep(0.1)
        leftovers = (members & set(_proc_table())) | (process_tree(root) - {root})
        for pid in leftovers:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 5  # SIGKILL is delivered asynchronously
        while leftovers & set(_proc_table()) and time.monotonic() < deadline:
            time.sleep(0.05)
        try:
            self.popen.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self.popen = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""
