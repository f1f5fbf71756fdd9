"""Cloudify REST v3.1 routes of the simulator: one handler class per area, registered here.

- routes_manager.ManagerRoutes: version, status, cluster-status, managers/brokers/db-nodes,
  tokens, users, tenants, license
- routes_resources.ResourceRoutes: deployments, nodes, blueprints, executions,
  execution-schedules, events, plugins-updates
- routes_snapshots.SnapshotRoutes: snapshots (create/list/get/delete/archive/restore),
  snapshot-status, maintenance mode
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from devtools.simulator.base import API
from devtools.simulator.routes_common import Route, body_json, bool_param, filtered, listing, one, validate_id
from devtools.simulator.routes_manager import ManagerRoutes
from devtools.simulator.routes_resources import ResourceRoutes
from devtools.simulator.routes_snapshots import SnapshotRoutes

if TYPE_CHECKING:
    from devtools.simulator.app import Simulator

__all__ = ["body_json", "bool_param", "filtered", "listing", "one", "register", "validate_id"]


def register(app: web.Application, sim: Simulator) -> None:
    manager = ManagerRoutes(sim)
    table: list[Route] = [*manager.table(), *ResourceRoutes(sim).table(),
                          *SnapshotRoutes(sim).table()]
    for method, path, handler in table:
        app.router.add_route(method, API + path, handler)
    # endpoint_mapper.py: Version is also mounted unversioned; the CLI's get_version() uses it
    app.router.add_route("GET", "/api/version", manager.version)
