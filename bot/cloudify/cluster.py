"""What a manager cluster's health means for a restore, from what the version exposes.

- `GET /cluster-status` (5.1 on, `cluster_status_manager.py`): `{"status": "OK"|"Degraded"|"Fail",
  "services": {"manager"|"db"|"broker": {"status", "is_external", "nodes": {name: {"status",
  "private_ip", "public_ip", "version", ...}}}}}`. Each service is OK when every node is, Degraded
  while a quorum is (db and broker: n // 2 + 1; manager: 1), Fail below it; the whole is the
  worst service. `?summary=true` answers HTTP **500** when the status is Fail.
- `GET /managers`: none of 5.1.4, 6.4.2, 7.0.5 has `is_active` in its Manager model (every
  manager is active). The vendor guide's split brain ("two active managers") belongs to the
  active/standby era; `is_active` on two nodes is still read as one where a manager sends it.
- A node's `failures` (6.4, 7.0 `_get_node_state`) say why it is Fail: `No metrics` /
  `No services.` mean Prometheus reports nothing for it (no monitoring, not necessarily down),
  `Service X not active.` / `Metric X not healthy.` a real failure. 5.1 says Fail only.
- The 7.x equivalent: managers share one Patroni database cluster that keeps a single leader only
  with a quorum. A `db` service in Fail while some of its nodes still answer OK is a partition:
  the two sides can no longer agree on one database, which is what the guide's split brain is.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.cloudify.models import ManagerNode

OK = "OK"
FAIL = "Fail"


@dataclass(frozen=True)
class ClusterHealth:
    status: str | None  # OK | Degraded | Fail, None when the manager does not say
    down: tuple[str, ...] = ()  # "manager node-2", "db db-1": nodes whose status is not OK
    split_brain: str = ""  # why it is a split brain, "" when it is not
    active: tuple[str, ...] = field(default=())  # nodes that say is_active (where sent)

    @property
    def failed(self) -> bool:
        return self.status == FAIL

    @property
    def blocks_restore(self) -> str:
        """Why a restore must not start now ("" when it may)."""
        if self.split_brain:
            return f"split brain: {self.split_brain}"
        if self.failed:
            what = ", ".join(self.down) if self.down else "the cluster reports Fail"
            return f"the cluster status is Fail ({what})"
        return ""


#: node failures that mean "the monitoring says nothing", not "the node is down"
#: (cluster_status_manager.py _get_node_state, 6.4.2/7.0.5)
NO_DATA = ("No metrics", "No services.")


def _why(failures: Any) -> str:
    """' (reasons)' from a node's `failures`, saying when it is only missing monitoring data."""
    if not isinstance(failures, list) or not failures:
        return ""
    said = "; ".join(str(f).rstrip(".") for f in failures[:5])
    if all(str(f) in NO_DATA for f in failures):
        said += ": no monitoring data from Prometheus for this node, which is not the same as down"
    return f" ({said})"


def _service_nodes(cluster: dict[str, Any], service: str) -> dict[str, dict[str, Any]]:
    svc = (cluster.get("services") or {}).get(service)
    if not isinstance(svc, dict):
        return {}
    nodes = svc.get("nodes")
    return {str(k): v for k, v in nodes.items() if isinstance(v, dict)} if isinstance(nodes, dict) else {}


def assess(nodes: Sequence[ManagerNode], cluster: dict[str, Any] | None,
           summary_status: str | None = None) -> ClusterHealth:
    """Health, nodes down and split brain from `/managers`, `/cluster-status` (full answer, or
    None) and the summary's status (`Fail` when the summary answered 500)."""
    cluster = cluster if isinstance(cluster, dict) else {}
    status = cluster.get("status") or summary_status
    down: list[str] = []
    for service in ("manager", "db", "broker"):
        for name, node in _service_nodes(cluster, service).items():
            if node.get("status") and node.get("status") != OK:
                down.append(f"{service} {name}" + _why(node.get("failures")))
    for n in nodes:  # a node /managers lists that cluster-status does not cover
        if n.status and n.status != OK and not any(d.split(" (")[0] == f"manager {n.hostname}" for d in down):
            down.append(f"manager {n.hostname}")
    active = tuple(n.hostname for n in nodes if n.is_active)
    why = ""
    if len(active) > 1:
        why = f"{len(active)} managers claim to be active ({', '.join(active)})"
    else:
        db = _service_nodes(cluster, "db")
        db_status = ((cluster.get("services") or {}).get("db") or {}).get("status")
        healthy = [k for k, v in db.items() if v.get("status") == OK]
        if len(db) > 1 and db_status == FAIL and healthy:
            lost = [k for k in db if k not in healthy]
            why = (f"the database cluster lost its quorum ({len(healthy)} of {len(db)} nodes OK: "
                   f"{', '.join(healthy)}; not OK: {', '.join(lost)}), so its sides cannot agree "
                   "on one database")
    return ClusterHealth(status=str(status) if status else None, down=tuple(down),
                         split_brain=why, active=active)
