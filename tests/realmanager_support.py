"""The real Cloudify Manager for the `realmanager` tier: started once per session from the source
named by SNAPBOT_CLOUDIFY_SRC (a directory of the three trees or their .tar.gz); every test of the
tier is skipped, with one line naming the setting, when it is unset.
SNAPBOT_REALMANAGER_SYSTEM_LAYOUT=1 (CI) also lays out the single-host paths the snapshot
workflows need (`snapbot realmanager --system-layout`)."""
from __future__ import annotations

import hashlib
import json
import os
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
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


LAYOUT_SKIP_REASON = (f"needs the single-host layout the snapshot workflows use: set {LAYOUT_ENV}=1 "
                      "(root, on a disposable machine; CI does)")


def system_layout_or_skip(manager: RealManager) -> None:
    if not manager.layout.system:
        pytest.skip(LAYOUT_SKIP_REASON)


def api(manager: RealManager) -> httpx.Client:
    """admin/admin on the manager's /api/v3.1, the default tenant."""
    username, password, tenant = manager.credentials
    return httpx.Client(base_url=f"{manager.url}/api/v3.1", auth=(username, password),
                        headers={"Tenant": tenant}, timeout=60)


def wait_for_execution(client: httpx.Client, execution_id: str, *, limit: float = 600) -> dict[str, Any]:
    """Poll an execution until it ends (through a legacy restore's 502s while services restart);
    its final JSON. `limit` only bounds a hung workflow; nothing asserts on the time taken."""
    deadline = time.monotonic() + limit
    while True:
        try:
            answer = client.get(f"/executions/{execution_id}")
        except httpx.TransportError:
            answer = None
        if answer is not None and answer.status_code == 200:
            execution: dict[str, Any] = answer.json()
            if execution["status"] in ("terminated", "failed", "cancelled"):
                return execution
        assert time.monotonic() < deadline, f"execution {execution_id} still running after {limit:.0f} s"
        time.sleep(1)


def wait_until_answering(client: httpx.Client, path: str, *, limit: float = 120) -> httpx.Response:
    deadline = time.monotonic() + limit
    while True:
        try:
            answer = client.get(path)
            if answer.status_code == 200:
                return answer
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"{path} did not answer 200 within {limit:.0f} s"
        time.sleep(1)


def as_premium_writes_it(source: Path, target: Path) -> None:
    """The same archive with the UI schema revisions a premium manager's metadata names (empty:
    no UI data), which is what makes 7.0.5 restore it as a legacy snapshot: community writes
    neither, so its own snapshots are restored as the new format, which restores nothing of them.
    Writes `target` and its `.sha256` beside it, as snapbot's archive directory keeps them."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "metadata.json":
                metadata = json.loads(data) | {"stage_schema_revision": "", "composer_schema_revision": ""}
                data = json.dumps(metadata).encode()
            dst.writestr(item, data)
    Path(f"{target}.sha256").write_text(f"{hashlib.sha256(target.read_bytes()).hexdigest()}  {target.name}\n")


@contextmanager
def running_real_manager() -> Iterator[RealManager]:
    """A real manager on a free loopback port, stopped (every process) on exit."""
    # another session's system-layout manager (a developer's) may be running: wait for it
    manager = RealManager(RealManagerOptions(source=source_or_skip(), system_layout=system_layout(),
                                             layout_wait=900))
    manager.start()
    try:
        yield manager
    finally:
        manager.stop()
