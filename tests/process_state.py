"""What a test must leave as it found it: the process-wide state every later test in the same
process would inherit. tests/conftest.py takes a `snapshot()` before each test and fails the test
whose end shows `changes(...)`: set the environment through monkeypatch or pass an env dict,
change the umask, the working directory or a signal's handler only in a child process, and
restore the root logger after configuring it (`kept_logging`)."""
from __future__ import annotations

import contextlib
import logging
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bot.logs import CHATTY

#: pytest's own variable, set for each phase of each test
PYTEST_OWN = frozenset({"PYTEST_CURRENT_TEST"})
#: loggers snapbot's log set-up touches besides the root
NAMED_LOGGERS = CHATTY


def _umask() -> str | None:
    """The umask, read without changing it (Linux: /proc/self/status)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return line.split()[1]
    except OSError:
        pass
    return None


def _ours(handler: logging.Handler) -> bool:
    """pytest attaches its own capture handlers around each phase of a test: not ours."""
    return not type(handler).__module__.startswith("_pytest")


@dataclass(frozen=True)
class ProcessState:
    environ: tuple[tuple[str, str], ...]
    cwd: str
    umask: str | None
    signals: tuple[tuple[str, object], ...]
    root_level: int
    root_handlers: tuple[logging.Handler, ...]
    logging_disabled: int
    named_loggers: tuple[tuple[str, int, tuple[object, ...]], ...]


def snapshot() -> ProcessState:
    sigs = []
    for sig in sorted(signal.valid_signals()):
        try:
            sigs.append((signal.Signals(sig).name, signal.getsignal(sig)))
        except (ValueError, OSError):
            continue
    root = logging.getLogger()
    return ProcessState(
        environ=tuple(sorted((k, v) for k, v in os.environ.items() if k not in PYTEST_OWN)), cwd=os.getcwd(), umask=_umask(),
        signals=tuple(sigs), root_level=root.level,
        root_handlers=tuple(h for h in root.handlers if _ours(h)),
        logging_disabled=logging.root.manager.disable,
        named_loggers=tuple((n, logging.getLogger(n).level, tuple(logging.getLogger(n).filters))
                            for n in NAMED_LOGGERS))


def changes(before: ProcessState, after: ProcessState) -> list[str]:
    """What differs, named so the failing test says what it changed."""
    out = []
    env_before, env_after = dict(before.environ), dict(after.environ)
    for key in sorted(set(env_before) | set(env_after)):
        if env_before.get(key) != env_after.get(key):
            out.append(f"os.environ[{key!r}]")  # the name only: a value may be a secret
    if before.cwd != after.cwd:
        out.append(f"the working directory ({before.cwd} -> {after.cwd})")
    if before.umask != after.umask:
        out.append(f"the umask ({before.umask} -> {after.umask})")
    sig_before = dict(before.signals)
    out += [f"the {name} handler" for name, handler in after.signals if sig_before.get(name) is not handler]
    if before.root_level != after.root_level:
        out.append(f"the root logger's level ({before.root_level} -> {after.root_level})")
    if before.root_handlers != after.root_handlers:
        out.append("the root logger's handlers")
    if before.logging_disabled != after.logging_disabled:
        out.append("logging.disable")
    out += [f"the {name} logger's level or filters"
            for (name, *b), (_, *a) in zip(before.named_loggers, after.named_loggers, strict=True) if a != b]
    return out


@contextlib.contextmanager
def kept_logging() -> Iterator[None]:
    """Run code that configures logging for a whole process (an entry point called in process),
    then put the root logger and snapbot's named loggers back as they were."""
    root = logging.getLogger()
    saved = (root.level, root.handlers[:],
             [(lg, lg.level, lg.filters[:]) for lg in map(logging.getLogger, NAMED_LOGGERS)])
    try:
        yield
    finally:
        level, handlers, named = saved
        for h in root.handlers[:]:
            if h not in handlers:
                root.removeHandler(h)
                h.close()
        for h in handlers:
            if h not in root.handlers:
                root.addHandler(h)
        root.setLevel(level)
        for lg, lg_level, filters in named:
            lg.setLevel(lg_level)
            lg.filters[:] = filters
