"""The maintenance answers, in every shape a supported manager version sends them.

Source: cloudify-manager `rest-service/manager_rest/rest/resources_v2_1/maintenance_mode.py` at
5.1.4, 6.4.2 and 7.0.5-build: `GET` gives `remaining_executions` as a list while activating and
null otherwise; `POST /maintenance/activate` ends `state['remaining_executions'] =
remaining_executions,` (a trailing comma), so the list arrives inside a one-item list.
"""
from __future__ import annotations

from bot.cloudify.models import MaintenanceState

RUNNING = {"id": "e-1", "status": "started", "deployment_id": "dep-1", "workflow_id": "install"}


def test_get_while_activating_lists_the_running_executions() -> None:
    m = MaintenanceState.from_api({"status": "activating", "remaining_executions": [RUNNING]})
    assert [r["id"] for r in m.remaining_executions] == ["e-1"]


def test_activate_answer_with_the_list_inside_a_list_is_flattened() -> None:
    m = MaintenanceState.from_api({"status": "activating", "remaining_executions": [[RUNNING]],
                                   "activated_at": None, "requested_by": "admin"})
    assert m.remaining_executions == (RUNNING,)
    assert m.remaining_executions[0].get("workflow_id") == "install"


def test_activate_answer_with_nothing_running_has_no_remaining_executions() -> None:
    m = MaintenanceState.from_api({"status": "activated", "remaining_executions": [[]],
                                   "activated_at": "2026-01-01T00:00:00.000Z"})
    assert m.remaining_executions == ()
    assert m.activated_at is not None


def test_deactivated_get_with_null_and_empty_strings() -> None:
    m = MaintenanceState.from_api({"status": "deactivated", "activated_at": "",
                                   "remaining_executions": None, "requested_by": "",
                                   "activation_requested_at": ""})
    assert m.status == "deactivated" and m.remaining_executions == () and m.activated_at is None
