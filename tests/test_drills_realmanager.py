"""What a restore drill compares, read from the real Cloudify Manager 7.0.5 (`snapbot
realmanager`): the names the manager answers with (a secret by its key only), and what a
community manager cannot list. Skipped without SNAPBOT_CLOUDIFY_SRC (tests/realmanager_support)."""
from __future__ import annotations

import asyncio

import httpx
import pytest

from bot.cloudify.client import CloudifyClient
from bot.jobs.drill.inventory import Inventory, compare, manager_inventory
from devtools.realmanager import RealManager

pytestmark = pytest.mark.realmanager

SECRET_VALUE = "drill-secret-value-never-read"


def _api(manager: RealManager, method: str, path: str, **kwargs: object) -> httpx.Response:
    return httpx.request(method, f"{manager.url}/api/v3.1{path}", auth=("admin", "admin"),
                         headers={"Tenant": "default_tenant"}, timeout=30, **kwargs)  # type: ignore[arg-type]


def test_the_drill_reads_the_real_managers_names_and_never_a_secrets_value(
        real_manager: RealManager) -> None:
    created = _api(real_manager, "PUT", "/secrets/drill_probe", json={"value": SECRET_VALUE})
    assert created.status_code in (200, 201), created.text
    try:
        seen: list[httpx.Request] = []

        class Recording(httpx.AsyncHTTPTransport):
            async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
                seen.append(request)
                return await super().handle_async_request(request)

        async def read() -> Inventory:
            client = CloudifyClient(real_manager.url, name="real", username="admin",
                                    password="admin", tenant="default_tenant",
                                    transport=Recording())
            try:
                return await manager_inventory(client)
            finally:
                await client.aclose()

        inventory = asyncio.run(read())
    finally:
        _api(real_manager, "DELETE", "/secrets/drill_probe")
    assert inventory.version.startswith("7.0.5")
    assert inventory.names["tenants"] == {"default_tenant"}
    assert "drill_probe" in inventory.names["secrets"]
    # GET /users is premium-only: a community manager answers 404, so users are not compared
    assert inventory.unavailable == {"users"}
    secrets_calls = [r for r in seen if r.url.path.endswith("/secrets")]
    assert secrets_calls and all(r.url.params.get("_include") == "key" for r in secrets_calls)
    # the archive's users cannot fail a drill on a manager that does not list them (the other
    # kinds are the manager's own: the session's manager holds what earlier tests of the tier made)
    archived = Inventory("7.0.5", {**inventory.names, "users": frozenset({"admin", "bob"})},
                         fmt="legacy")
    assert compare(archived, inventory).differences == []
