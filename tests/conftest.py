"""Shared fixtures. Keep this file small and tidy; several helpers append to it."""
from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from bot.cloudify.client import CloudifyClient
from bot.cloudify.errors import quiet_httpx_urls
from devtools.realmanager import RealManager
from devtools.simulator import Simulator, SimulatorOptions, start_simulator
from handlers.server import start_http
from tests.client_support import FakeSleep, RecordingTransport
from tests.process_state import changes, snapshot

# Fast enough that simulated minutes pass in fractions of a second, slow enough that each
# phase of a workflow stays observable over loopback.
SIM_SPEED = 40.0


# What every process that makes a Cloudify client has (its first client attaches it, once): done
# before any test, so that no test is the one seen changing httpx's logger.
quiet_httpx_urls()


@pytest.fixture(autouse=True)
def _process_state_kept() -> Iterator[None]:
    """Every test leaves the process as it found it (tests/process_state.py): environment,
    working directory, umask, signal handlers, the root logger."""
    before = snapshot()
    yield
    changed = changes(before, snapshot())
    assert not changed, f"the test changed process-wide state: {', '.join(changed)}"


@pytest.fixture
async def sim(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Simulator]:
    """A fresh simulator on a free loopback port; archives under tmp_path. A test module may set
    its own `SIM_SPEED`, or `SIM_CLOCK = "manual"` (time moves only when a wait advances it:
    tests/waiting.py); `@pytest.mark.sim_options(**SimulatorOptions fields)` on a test adds
    options (e.g. compat flags pinning a simplified behaviour, or a manager_version)."""
    marker = request.node.get_closest_marker("sim_options")
    options = {"speed": getattr(request.module, "SIM_SPEED", SIM_SPEED),
               "clock": getattr(request.module, "SIM_CLOCK", "scaled"),
               "data_dir": str(tmp_path / "sim"), **(marker.kwargs if marker else {})}
    s = await start_simulator(port=0, options=SimulatorOptions(**options))
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
async def api(sim: Simulator) -> AsyncIterator[httpx.AsyncClient]:
    """Raw httpx client on /api/v3.1 with admin/admin and the default tenant."""
    async with httpx.AsyncClient(base_url=sim.url + "/api/v3.1", auth=("admin", "admin"),
                                 headers={"Tenant": "default_tenant"}, timeout=10) as client:
        yield client


@pytest.fixture
async def control(sim: Simulator) -> AsyncIterator[httpx.AsyncClient]:
    """Raw httpx client on the simulator's /_sim/ control surface."""
    async with httpx.AsyncClient(base_url=sim.url + "/_sim", timeout=10) as client:
        yield client


@pytest.fixture
async def file_server(tmp_path: Path) -> AsyncIterator[tuple[Path, str]]:
    """A plain HTTP file server on loopback, standing in for wherever archives are kept:
    yields (the directory it serves, its base URL)."""
    root = tmp_path / "served"
    root.mkdir()
    app = web.Application()
    app.router.add_static("/", root)
    server = await start_http(app)
    try:
        yield root, server.url
    finally:
        await server.close()


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A real S3 protocol server (moto, server mode) on a free loopback port, in its own process."""
    from tests.s3_support import moto_process
    with moto_process() as url:
        yield url


@pytest.fixture
def s3_env(s3_endpoint: str) -> dict[str, str]:
    """AWS_* variables for the loopback S3 server, plus a fresh bucket in SNAPBOT_ARCHIVE_URL."""
    from tests.s3_support import env_for, new_bucket
    bucket = new_bucket(s3_endpoint)
    return {**env_for(s3_endpoint), "SNAPBOT_ARCHIVE_URL": f"s3://{bucket}/snapbot",
            "TEST_BUCKET": bucket}


# -- the Cloudify client on the simulator (tests/test_client*.py) -------------------------------

@pytest.fixture
def recorder() -> RecordingTransport:
    return RecordingTransport()


@pytest.fixture
def fake_sleep() -> FakeSleep:
    return FakeSleep()


@pytest.fixture
async def client(sim: Simulator, recorder: RecordingTransport,
                 fake_sleep: FakeSleep) -> AsyncIterator[CloudifyClient]:
    """admin/admin client on the simulator; records requests; backoff sleeps are recorded."""
    c = CloudifyClient(sim.url, username="admin", password="admin", transport=recorder,
                       retries=3, backoff=0.5, sleep=fake_sleep)
    try:
        yield c
    finally:
        await c.aclose()


# -- the real Cloudify Manager (tests/test_realmanager*.py; skipped without SNAPBOT_CLOUDIFY_SRC) --

@pytest.fixture(scope="session")
def real_manager() -> Iterator[RealManager]:
    """One real Cloudify Manager 7.0.5 for the session (tests/realmanager_support.py)."""
    from tests.realmanager_support import running_real_manager
    with running_real_manager() as manager:
        yield manager


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests on the real manager run last (in their own order), so that its services, started
    once for the session, are not running beside the rest of the suite."""
    items.sort(key=lambda item: "real_manager" in getattr(item, "fixturenames", ())
               or item.get_closest_marker("realmanager") is not None)
