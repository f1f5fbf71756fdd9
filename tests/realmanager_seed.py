"""Putting work on a real manager through its own REST API: a blueprint with no imports (nothing
to fetch from the internet) and a deployment of it, made by the manager's own upload_blueprint and
create_deployment_environment workflows (so the mgmtworker must be running)."""
from __future__ import annotations

import asyncio
import io
import zipfile
from typing import Any

import httpx

BLUEPRINT_ID = "snapbot-seed"
DEPLOYMENT_ID = "snapbot-seed-1"
#: no `imports`: the node type, the plugin and the workflows are declared here, so parsing needs
#: no types.yaml; install/uninstall run the standard workflows on a node without operations
BLUEPRINT = """\
tosca_definitions_version: cloudify_dsl_1_4
description: snapbot's seed deployment (no operations)
plugins:
  default_workflows:
    executor: central_deployment_agent
    install: false
workflows:
  install: default_workflows.cloudify.plugins.workflows.install
  uninstall: default_workflows.cloudify.plugins.workflows.uninstall
node_types:
  snapbot.nodes.Idle: {}
node_templates:
  idle:
    type: snapbot.nodes.Idle
"""


def blueprint_archive() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(f"{BLUEPRINT_ID}/blueprint.yaml", BLUEPRINT)
    return buf.getvalue()


def api(url: str, timeout: float = 60.0) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=url.rstrip("/") + "/api/v3.1", auth=("admin", "admin"),
                             headers={"Tenant": "default_tenant"}, timeout=timeout)


async def _poll(get: Any, done: Any, what: str, attempts: int = 600,
                interval: float = 0.25) -> Any:
    value = None
    for _ in range(attempts):
        value = await get()
        if done(value):
            return value
        await asyncio.sleep(interval)
    raise AssertionError(f"{what}: still {value!r}")


async def ensure_deployment(url: str, deployment_id: str = DEPLOYMENT_ID) -> str:
    """The deployment (made once per manager: later calls find it); returns its id."""
    async with api(url) as http:
        if (await http.get(f"/deployments/{deployment_id}")).status_code == 200:
            return deployment_id
        if (await http.get(f"/blueprints/{BLUEPRINT_ID}")).status_code == 404:
            resp = await http.put(f"/blueprints/{BLUEPRINT_ID}", content=blueprint_archive(),
                                  headers={"Content-Type": "application/octet-stream"},
                                  params={"application_file_name": "blueprint.yaml",
                                          "visibility": "tenant"})
            assert resp.status_code in (200, 201), resp.text

        async def blueprint() -> dict[str, Any]:
            return dict((await http.get(f"/blueprints/{BLUEPRINT_ID}")).json())
        bp = await _poll(blueprint, lambda b: b.get("state") in ("uploaded", "failed_uploading",
                                                                  "failed_extracting",
                                                                  "failed_parsing"),
                         "the seed blueprint's upload")
        assert bp["state"] == "uploaded", bp.get("error")
        resp = await http.put(f"/deployments/{deployment_id}",
                              json={"blueprint_id": BLUEPRINT_ID, "inputs": {}})
        assert resp.status_code in (200, 201), resp.text

        async def created() -> list[dict[str, Any]]:
            page = (await http.get("/executions", params={
                "deployment_id": deployment_id, "workflow_id": "create_deployment_environment",
                "_include_system_workflows": "true"})).json()
            return list(page.get("items") or [])
        done = await _poll(created, lambda items: items and items[0]["status"] in
                           ("terminated", "failed", "cancelled"),
                           "the seed deployment's environment")
        assert done[0]["status"] == "terminated", done[0].get("error")
    return deployment_id
