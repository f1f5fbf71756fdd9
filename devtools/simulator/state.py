"""The simulator's in-memory manager state and the shapes of the REST resources it returns."""
from __future__ import annotations

import copy
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.clock import iso

LIVE_STATUSES = ("pending", "queued", "started", "cancelling", "force_cancelling", "kill_cancelling")
# cloudify.models_states.ExecutionState.ACTIVE_STATES (queued and scheduled are not active)
ACTIVE_STATUSES = ("pending", "started", "cancelling", "force_cancelling", "kill_cancelling")
FINAL_STATUSES = ("terminated", "failed", "cancelled")
# cloudify.models_states.ExecutionState.STATES (cloudify-common), in its order
EXECUTION_STATES = ("terminated", "failed", "cancelled", "pending", "started", "cancelling",
                    "force_cancelling", "kill_cancelling", "queued", "scheduled")
# workflows every seeded deployment has (types.yaml's cloudify.nodes.Root workflows, in part)
SEED_WORKFLOWS = ("install", "uninstall", "update", "scale", "heal", "execute_operation",
                  "install_new_agents", "start", "stop", "restart", "validate_agents")
SYSTEM_WORKFLOWS = ("create_snapshot", "restore_snapshot", "upload_blueprint", "update_plugin")
# what /managers says of each node's CA (`ca_cert_content`): a PEM text; no client verifies it
# (the simulator speaks plain HTTP)
SIM_CA_CERT = ("-----BEGIN CERTIFICATE-----\nc25hcGJvdCBzaW11bGF0b3IgQ0EgKG5vdCBhIGNlcnRpZmljYXRlKQ==\n"
               "-----END CERTIFICATE-----\n")


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
    #: rest-security.conf's secret_key (signs 5.x tokens); a legacy snapshot carries it (4.4 on)
    secret_key: str = field(default_factory=lambda: uuid.uuid4().hex)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)  # username -> {password, ...}
    execution_schedules: dict[str, dict[str, Any]] = field(default_factory=dict)
    secrets: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> {key, value, ...}
    plugins: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> plugin
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
            "status_display": display_status(status), "error": None,  # until a status update
            "deployment_id": deployment_id, "blueprint_id": blueprint_id,
            "deployment_display_name": deployment_id,
            "created_at": iso(now), "started_at": None, "ended_at": None,
            "scheduled_for": scheduled_for, "is_system_workflow": workflow_id in SYSTEM_WORKFLOWS,
            "is_dry_run": False, "allow_custom_parameters": False,
            "parameters": parameters or {}, "created_by": self.username,
            "tenant_name": self.tenant, "visibility": "tenant", "private_resource": False,
            "resource_availability": "tenant", "total_operations": 0, "finished_operations": 0,
            "resume": False, "parameters_p": None,  # resource_models.py Execution's column
        }

    def seed(self, count: int, now: datetime) -> None:
        """Blueprints and deployments with the keys 7.0.5 answers (storage/resource_models.py
        Blueprint and Deployment as marshalled; the `*_p` pickle columns are null). Their
        upload and create executions are not kept as executions here: the ids are for shape."""
        for i in range(1, count + 1):
            bp = f"bp-{i}"
            upload = self.execution("upload_blueprint", now, status="terminated")
            upload["parameters"] = {"blueprint_id": bp}
            self.blueprints[bp] = {
                "id": bp, "main_file_name": "blueprint.yaml", "created_at": iso(now),
                "updated_at": iso(now), "state": "uploaded", "description": f"blueprint {i}",
                "created_by": self.username, "tenant_name": self.tenant,
                "visibility": "tenant", "private_resource": False, "labels": [],
                "plan": {}, "plan_p": None, "error": None, "error_traceback": None,
                "requirements": {"parent_capabilities": [], "secrets": []}, "is_hidden": False,
                "resource_availability": "tenant", "upload_execution": upload,
            }
            dep = f"dep-{i}"
            create = new_id()
            self.deployments[dep] = {
                "id": dep, "display_name": dep, "blueprint_id": bp, "created_at": iso(now),
                "updated_at": iso(now), "created_by": self.username, "tenant_name": self.tenant,
                "visibility": "tenant", "private_resource": False, "site_name": None,
                "installation_status": "active", "deployment_status": "good",
                "latest_execution_status": "completed", "labels": [],
                "workflows": [{"name": w, "created_at": None, "plugin": "", "operation": "",
                               "parameters": {}, "is_cascading": False, "is_available": True,
                               "availability_rules": None} for w in SEED_WORKFLOWS],
                "inputs": {}, "outputs": {}, "description": f"deployment {i}",
                "resource_availability": "tenant", "runtime_only_evaluation": False,
                "groups": {}, "policy_triggers": {}, "policy_types": {}, "capabilities": {},
                "scaling_groups": {}, "resource_tags": {}, "permalink": None,
                **{f"{k}_p": None for k in ("inputs", "groups", "policy_triggers",
                                            "policy_types", "outputs", "capabilities",
                                            "scaling_groups", "workflows")},
                "sub_services_status": None, "sub_environments_status": None,
                "sub_services_count": 0, "sub_environments_count": 0,
                "drifted_instances": 0, "unavailable_instances": 0,
                "latest_execution": create, "create_execution": create,
                "latest_execution_workflow_id": "create_deployment_environment",
                "latest_execution_finished_operations": 0,
                "latest_execution_total_operations": 0, "environment_type": "",
                "has_sub_deployments": False, "workdir_zip": None, "deployment_groups": [],
            }

        self.secrets["db_password"] = {
            "key": "db_password", "id": "db_password", "value": "sim-secret-value",
            "created_at": iso(now), "tenant_name": self.tenant, "visibility": "tenant",
            "is_hidden_value": False, "created_by": self.username}
        self.plugins["plugin-1"] = {
            "id": "plugin-1", "package_name": "cloudify-utilities-plugin",
            "package_version": "1.25.0", "uploaded_at": iso(now), "tenant_name": self.tenant,
            "visibility": "tenant", "created_by": self.username}

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
            "secrets": list(self.secrets.values()), "plugins": list(self.plugins.values()),
            "users": self.users, "tokens": self.tokens, "secret_key": self.secret_key,
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


def manager_node(index: int, version: str, now: datetime, *, active: bool = True,
                 ip: str | None = None, edition: str = "premium") -> dict[str, Any]:
    """A /managers item. `ip`: the address it advertises (the simulator's own host, so a real
    CLI that fails over to it stays on loopback); None = 10.0.0.x (COMPAT_OFF_LOOPBACK_NODES)."""
    ip = ip or f"10.0.0.{10 + index}"
    return {
        "id": index, "hostname": f"manager-{index}", "private_ip": ip, "public_ip": ip,
        # storage/management_models.py Manager's columns, plus its CA's content
        "version": version, "edition": edition, "distribution": "rhel",
        "distro_release": "Ootpa", "fs_sync_node_id": None, "networks": {"default": ip},
        "last_seen": iso(now), "status_report_frequency": 0,
        "ca_cert_content": SIM_CA_CERT,
        # not in Cloudify's schema: lets tests stage an active/active split brain
        "active": active, "down": False,
    }
