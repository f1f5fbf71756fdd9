"""The simulator's in-memory manager state and the shapes of the REST resources it returns."""
from __future__ import annotations

import copy
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.clock import iso

LIVE_STATUSES = ("pending", "queued", "started", "cancelling", "force_cancelling", "kill_cancelling")
# cloudify.models_states.ExecutionState.ACTIVE_STATES (queued and scheduled are not active)
ACTIVE_STATUSES = ("pending", "started", "cancelling", "force_cancelling", "kill_cancelling")
FINAL_STATUSES = ("terminated", "failed", "cancelled")
# workflows every seeded deployment has (types.yaml's cloudify.nodes.Root workflows, in part)
SEED_WORKFLOWS = ("install", "uninstall", "update", "scale", "heal", "execute_operation",
                  "install_new_agents", "start", "stop", "restart", "validate_agents")
SYSTEM_WORKFLOWS = ("create_snapshot", "restore_snapshot", "upload_blueprint", "update_plugin")


class SimClock:
    """Real UTC time plus a manual offset (`/_sim/clock`)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.offset)

    def advance(self, seconds: float) -> None:
        self.offset += seconds


def new_id() -> str:
    return str(uuid.uuid4())


@dataclass
class SimState:
    tenant: str
    username: str
    snapshots: dict[str, dict[str, Any]] = field(default_factory=dict)
    executions: dict[str, dict[str, Any]] = field(default_factory=dict)
    deployments: dict[str, dict[str, Any]] = field(default_factory=dict)
    blueprints: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    maintenance: dict[str, Any] = field(default_factory=lambda: {"status": "deactivated"})
    managers: list[dict[str, Any]] = field(default_factory=list)
    plugins_updates: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)  # username -> {password, ...}
    execution_schedules: dict[str, dict[str, Any]] = field(default_factory=dict)
    restores: list[str] = field(default_factory=list)
    request_counts: Counter = field(default_factory=Counter)
    unknown_requests: list[str] = field(default_factory=list)

    # --- resource builders -------------------------------------------------------------
    def snapshot(self, snapshot_id: str, status: str, now: datetime) -> dict[str, Any]:
        return {
            "id": snapshot_id, "created_at": iso(now), "status": status, "error": "",
            "created_by": self.username, "visibility": "private", "tenant_name": self.tenant,
            "private_resource": True, "resource_availability": "private",
        }

    def execution(self, workflow_id: str, now: datetime, *, deployment_id: str | None = None,
                  parameters: dict[str, Any] | None = None, status: str = "pending",
                  scheduled_for: str | None = None) -> dict[str, Any]:
        blueprint_id = None
        if deployment_id and deployment_id in self.deployments:
            blueprint_id = self.deployments[deployment_id]["blueprint_id"]
        return {
            "id": new_id(), "workflow_id": workflow_id, "status": status,
            "status_display": display_status(status), "error": "",
            "deployment_id": deployment_id, "blueprint_id": blueprint_id,
            "deployment_display_name": deployment_id,
            "created_at": iso(now), "started_at": None, "ended_at": None,
            "scheduled_for": scheduled_for, "is_system_workflow": workflow_id in SYSTEM_WORKFLOWS,
            "is_dry_run": False, "allow_custom_parameters": False,
            "parameters": parameters or {}, "created_by": self.username,
            "tenant_name": self.tenant, "visibility": "tenant", "private_resource": False,
            "resource_availability": "tenant", "total_operations": 0, "finished_operations": 0,
            "resume": False,
        }

    def seed(self, count: int, now: datetime) -> None:
        for i in range(1, count + 1):
            bp = f"bp-{i}"
            self.blueprints[bp] = {
                "id": bp, "main_file_name": "blueprint.yaml", "created_at": iso(now),
                "updated_at": iso(now), "state": "uploaded", "description": None,
                "created_by": self.username, "tenant_name": self.tenant,
                "visibility": "tenant", "private_resource": False, "labels": [],
                "plan": {}, "error": None,
            }
            dep = f"dep-{i}"
            self.deployments[dep] = {
                "id": dep, "display_name": dep, "blueprint_id": bp, "created_at": iso(now),
                "updated_at": iso(now), "created_by": self.username, "tenant_name": self.tenant,
                "visibility": "tenant", "private_resource": False, "site_name": None,
                "installation_status": "active", "deployment_status": "good",
                "latest_execution_status": "completed", "labels": [],
                "workflows": [{"name": w, "created_at": None, "plugin": "", "operation": "",
                               "parameters": {}, "is_cascading": False, "is_available": True,
                               "availability_rules": None} for w in SEED_WORKFLOWS],
                "inputs": {}, "outputs": {}, "description": None,
            }

    def live_executions(self) -> list[dict[str, Any]]:
        return [e for e in self.executions.values() if e["status"] in LIVE_STATUSES]

    def capture(self) -> dict[str, Any]:
        """The state a snapshot archive holds (the snapshot list rides along for the
        COMPAT_SNAPSHOT_LIST_FROM_ARCHIVE behaviour; a real dump leaves that table out)."""
        return copy.deepcopy({
            "deployments": list(self.deployments.values()),
            "blueprints": list(self.blueprints.values()),
            "executions": list(self.executions.values()),
            "snapshots": list(self.snapshots.values()),
            "execution_schedules": list(self.execution_schedules.values()),
            "users": self.users, "tokens": self.tokens,
        })

    def public(self, now: datetime, version: str) -> dict[str, Any]:
        return {
            "version": version, "now": iso(now),
            "snapshots": list(self.snapshots.values()),
            "executions": list(self.executions.values()),
            "deployments": list(self.deployments.values()),
            "blueprints": list(self.blueprints.values()),
            "maintenance": self.maintenance, "managers": self.managers,
            "execution_schedules": list(self.execution_schedules.values()),
            "plugins_updates": list(self.plugins_updates.values()),
            "restores": list(self.restores), "events": len(self.events),
            "request_counts": dict(self.request_counts),
            "unknown_requests": list(self.unknown_requests),
        }


def display_status(status: str) -> str:
    # storage/resource_models.py Execution.STATUS_DISPLAY_NAMES: only terminated is renamed
    return "completed" if status == "terminated" else status


def manager_node(index: int, version: str, *, active: bool = True,
                 ip: str | None = None) -> dict[str, Any]:
    """A /managers item. `ip`: the address it advertises (the simulator's own host, so a real
    CLI that fails over to it stays on loopback); None = 10.0.0.x (COMPAT_OFF_LOOPBACK_NODES)."""
    ip = ip or f"10.0.0.{10 + index}"
    return {
        "id": index, "hostname": f"manager-{index}", "private_ip": ip, "public_ip": ip,
        "version": version, "edition": "premium", "distribution": "rhel",
        "distro_release": "Ootpa", "fs_sync_node_id": "", "networks": {"default": ip},
        "node_id": f"node-{index}", "last_seen": None, "status_report_frequency": None,
        "ca_cert_content": None, "monitoring_username": None,
        # not in Cloudify's schema: lets tests stage an active/active split brain
        "active": active, "down": False,
    }
