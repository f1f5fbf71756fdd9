"""Cluster health from the shapes the supported versions send (bot.cloudify.cluster).

Shapes: cloudify-manager 7.0.5-build `rest-service/manager_rest/cluster_status_manager.py`
(`_get_cluster_service_state`, quorum n // 2 + 1 for db and broker, `_get_overall_state`) and
`resources_v3_1/cluster_status.py` (summary: HTTP 500 when Fail); `/managers` items carry no
`is_active` in 5.1.4, 6.4.2 or 7.0.5 (`storage/management_models.py` Manager)."""
from __future__ import annotations

from bot.cloudify.cluster import assess
from bot.cloudify.models import ManagerNode


def _node(status: str) -> dict:
    return {"status": status, "private_ip": "127.0.0.1", "public_ip": "127.0.0.1", "version": "7.0.5"}


def _cluster(status: str, manager: dict, db: dict, db_status: str = "OK") -> dict:
    return {"status": status, "services": {
        "manager": {"status": status, "is_external": False, "nodes": manager},
        "db": {"status": db_status, "is_external": False, "nodes": db},
        "broker": {"status": "OK", "is_external": False, "nodes": {"broker-1": _node("OK")}}}}


MANAGERS_7X = [ManagerNode("manager-1"), ManagerNode("manager-2")]  # no is_active on 7.x


def test_a_healthy_7x_cluster_without_is_active_blocks_nothing():
    h = assess(MANAGERS_7X, _cluster("OK", {"manager-1": _node("OK"), "manager-2": _node("OK")},
                                     {"db-1": _node("OK")}))
    assert (h.status, h.down, h.split_brain, h.blocks_restore) == ("OK", (), "", "")


def test_a_manager_node_down_is_named_and_degraded_does_not_block():
    h = assess(MANAGERS_7X, _cluster("Degraded", {"manager-1": _node("OK"), "manager-2": _node("Fail")},
                                     {"db-1": _node("OK")}))
    assert h.down == ("manager manager-2",) and h.blocks_restore == ""


def test_the_database_cluster_below_quorum_with_a_side_still_ok_is_the_7x_split_brain():
    db = {"db-1": _node("OK"), "db-2": _node("Fail"), "db-3": _node("Fail")}
    h = assess(MANAGERS_7X, _cluster("Fail", {"manager-1": _node("OK"), "manager-2": _node("OK")}, db,
                                     db_status="Fail"))
    assert "quorum" in h.split_brain and "db-1" in h.split_brain
    assert h.blocks_restore.startswith("split brain")
    assert set(h.down) == {"db db-2", "db db-3"}


def test_two_managers_claiming_active_is_a_split_brain_where_is_active_is_sent():
    nodes = [ManagerNode("manager-1", is_active=True), ManagerNode("manager-2", is_active=True)]
    h = assess(nodes, None)
    assert "manager-1, manager-2" in h.split_brain


def test_a_summary_that_answered_500_means_fail_and_blocks_the_restore():
    h = assess(MANAGERS_7X, None, "Fail")
    assert h.failed and h.blocks_restore.startswith("the cluster status is Fail")
