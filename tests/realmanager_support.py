"""The real Cloudify Manager for the `realmanager` tier: started once per session from the source
named by SNAPBOT_CLOUDIFY_SRC (a directory of the three trees or their .tar.gz); every test of the
tier is skipped, with one line naming the setting, when it is unset.
SNAPBOT_REALMANAGER_SYSTEM_LAYOUT=1 (CI) also lays out the single-host paths the snapshot
workflows need (`snapbot realmanager --system-layout`)."""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from devtools.realmanager import SOURCE_ENV, RealManager, RealManagerOptions

LAYOUT_ENV = "SNAPBOT_REALMANAGER_SYSTEM_LAYOUT"
SKIP_REASON = f"{SOURCE_ENV} is not set (a Cloudify 7.0.5 source tree or .tar.gz): no real manager"


def source_or_skip() -> str:
    source = os.environ.get(SOURCE_ENV, "")
    if not source:
        pytest.skip(SKIP_REASON)
    return source


def system_layout() -> bool:
    return os.environ.get(LAYOUT_ENV, "") not in ("", "0")


@contextmanager
def running_real_manager() -> Iterator[RealManager]:
    """A real manager on a free loopback port, stopped (every process) on exit."""
    manager = RealManager(RealManagerOptions(source=source_or_skip(), system_layout=system_layout()))
    manager.start()
    try:
        yield manager
    finally:
        manager.stop()
