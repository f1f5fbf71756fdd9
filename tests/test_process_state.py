"""The guard every test runs under (tests/conftest.py, tests/process_state.py) sees each kind of
process-wide change, named without its value; seen on recorded states, so this test changes
nothing itself."""
from __future__ import annotations

import dataclasses
import logging
import signal

from tests.process_state import changes, kept_logging, snapshot


def test_the_guard_names_every_kind_of_process_wide_change() -> None:
    before = snapshot()
    assert changes(before, snapshot()) == []
    after = dataclasses.replace(
        before,
        environ=(*before.environ, ("SNAPBOT_TEST_SECRET", "hunter2")),
        cwd="/elsewhere", umask="0077",
        signals=tuple((n, signal.SIG_IGN if n == "SIGTERM" else h) for n, h in before.signals),
        root_level=before.root_level + 1,
        root_handlers=(*before.root_handlers, logging.NullHandler()),
        logging_disabled=logging.CRITICAL,
        named_loggers=tuple((n, lvl + 1, f) for n, lvl, f in before.named_loggers))
    found = changes(before, after)
    assert found[:3] == ["os.environ['SNAPBOT_TEST_SECRET']",
                         f"the working directory ({before.cwd} -> /elsewhere)",
                         f"the umask ({before.umask} -> 0077)"]
    assert "the SIGTERM handler" in found and "logging.disable" in found
    assert "the root logger's handlers" in found and "the httpx logger's level or filters" in found
    assert not any("hunter2" in f for f in found)


def test_kept_logging_puts_the_root_logger_back() -> None:
    from bot import logs
    before = snapshot()
    with kept_logging():
        logs.configure("DEBUG", "json")
        assert changes(before, snapshot())  # configured for a whole process meanwhile
    assert changes(before, snapshot()) == []
