"""Deployment-side routes: deployments, nodes, blueprints, executions, execution schedules,
events and plugins updates."""
from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from aiohttp import web

import devtools.simulator.profiles as profiles
from bot.clock import iso, parse_time
from devtools.simulator.base import USER_KEY, ApiError, not_found
from devtools.simulator.routes_common import (
    Route,
    body_json,
    bool_param,
    filtered,
    listing,
    one,
    parse_when,
    validate_id,
)
from devtools.simulator.state import EXECUTION_STATES, FINAL_STATUSES, LIVE_STATUSES
from devtools.simulator.workflows import recurrence_seconds

if TYPE_CHECKING:
    from devtools.simulator.app import Simulator

# the keys of an Execution as the manager marshals it (storage/resource_models.py Execution)
_EXECUTION_KEYS = ("id", "workflow_id", "status", "status_display", "error", "deployment_id",
                   "blueprint_id", "deployment_display_name", "created_at", "started_at",
                   "ended_at", "scheduled_for", "is_system_workflow", "is_dry_run",
                   "allow_custom_parameters", "parameters", "created_by", "tenant_name",
                   "visibility", "private_resource", "resource_availability",
                   "total_operations", "finished_operations", "resume")


class ResourceRoutes:
    def __init__(self, sim: Simulator) -> None:
        self.s = sim

    def table(self) -> list[Route]:
        return [
            ("GET", "/deployments", self.deployments), ("GET", "/deployments/{id}", self.deployment),
            ("GET", "/blueprints", self.blueprints),
            ("GET", "/secrets", self.secrets), ("GET", "/plugins", self.plugins),
            ("GET", "/node-instances", self.node_instances), ("GET", "/nodes", self.nodes),
            ("GET", "/executions", self.executions), ("POST", "/executions", self.execution_start),
            ("GET", "/executions/{id}", self.execution_get),
            ("POST", "/executions/{id}", self.execution_action),
            ("PATCH", "/executions/{id}", self.execution_update),
            ("GET", "/execution-schedules", self.schedules),
            ("GET", "/execution-schedules/{id}", self.schedule_get),
            ("PUT", "/execution-schedules/{id}", self.schedule_create),
            ("PATCH", "/execution-schedules/{id}", self.schedule_update),
            ("DELETE", "/execution-schedules/{id}", self.schedule_delete),
            ("GET", "/events", self.events),
            ("POST", "/plugins-updates/{blueprint_id}/update/initiate", self.plugins_update_initiate),
            ("GET", "/plugins-updates/{id}", self.plugins_update_get),
            ("GET", "/plugins-updates", self.plugins_updates),
        ]

    def execution(self, execution_id: str) -> dict[str, Any]:
        item = self.s.state.executions.get(execution_id)
        if item is None:
            raise not_found("Execution", execution_id)
        return item

    # --- deployments / blueprints ------------------------------------------------------
    async def deployments(self, request: web.Request) -> web.Response:
        items = filtered(request, list(self.s.state.deployments.values()), ("id", "blueprint_id"))
        return listing(request, items, "created_at")

    async def deployment(self, request: web.Request) -> web.Response:
        dep_id = request.match_info["id"]
        if dep_id not in self.s.state.deployments:
            raise not_found("Deployment", dep_id)
        return one(self.s.state.deployments[dep_id], request)

    async def blueprints(self, request: web.Request) -> web.Response:
        return listing(request, list(self.s.state.blueprints.values()), "created_at")

    async def secrets(self, request: web.Request) -> web.Response:
        # a secret list never carries values (resources_v3/secrets.py SecretsList)
        items = [{k: v for k, v in x.items() if k != "value"} for x in self.s.state.secrets.values()]
        return listing(request, items, "key")

    async def plugins(self, request: web.Request) -> web.Response:
        return listing(request, list(self.s.state.plugins.values()), "uploaded_at")

    async def node_instances(self, request: web.Request) -> web.Response:
        # one started Compute host per deployment: what `cfy agents install` looks for
        st = self.s.state
        items = [{"id": f"vm_{d['id']}", "node_id": "vm", "host_id": f"vm_{d['id']}",
                  "deployment_id": d["id"], "state": "started", "tenant_name": st.tenant,
                  "visibility": "tenant", "runtime_properties": {}, "relationships": [],
                  "version": 1, "index": 1, "scaling_groups": [], "created_by": d["created_by"],
                  "private_resource": False, "resource_availability": "tenant"}
                 for d in st.deployments.values()]
        return listing(request, filtered(request, items, ("id", "deployment_id")))

    async def nodes(self, request: web.Request) -> web.Response:
        st = self.s.state
        items = [{"id": "vm", "deployment_id": d["id"], "blueprint_id": d["blueprint_id"],
                  "type": "cloudify.nodes.Compute", "type_hierarchy": ["cloudify.nodes.Root",
                  "cloudify.nodes.Compute"], "number_of_instances": 1,
                  "planned_number_of_instances": 1, "deploy_number_of_instances": 1,
                  "host_id": "vm", "tenant_name": st.tenant, "visibility": "tenant",
                  "properties": {}, "operations": {}, "relationships": [], "plugins": []}
                 for d in st.deployments.values()]
        return listing(request, filtered(request, items, ("id", "deployment_id")))

    # --- executions ---------------------------------------------------------------------
    async def executions(self, request: web.Request) -> web.Response:
        items = list(self.s.state.executions.values())
        if request.query.get("_include_system_workflows", "false").lower() != "true":
            items = [e for e in items if not e["is_system_workflow"]]
        items = filtered(request, items, ("status", "workflow_id", "deployment_id", "id",
                                          "blueprint_id"))
        return listing(request, items, "created_at")

    async def execution_get(self, request: web.Request) -> web.Response:
        return one(self.execution(request.match_info["id"]), request)

    async def execution_start(self, request: web.Request) -> web.Response:
        s = self.s
        data = await body_json(request)
        dep_id = data.get("deployment_id")
        workflow_id = data.get("workflow_id")
        if not workflow_id:
            raise ApiError(400, "bad_parameters_error", "Missing workflow_id in json request body")
        if dep_id and dep_id not in s.state.deployments:
            raise not_found("Deployment", dep_id)
        scheduled = data.get("scheduled_time")
        force_status = data.get("force_status")
        if force_status:
            return self._forced_execution(data, force_status, scheduled)
        when = None
        if scheduled:
            when = parse_when(scheduled)
            if when is None:
                raise ApiError(400, "bad_parameters_error", f"Invalid scheduled_time {scheduled}")
            if when <= s.now():  # resources_v1/executions.py _parse_scheduled_time
                raise ApiError(400, "bad_parameters_error",
                               f"Date `{scheduled}` has already passed, please provide valid date. "
                               "\nExpected format: YYYYMMDDHHMM+HHMM or YYYYMMDDHHMM-HHMM i.e: "
                               "201801012230-0500 (Jan-01-18 10:30pm EST)")
        if (when is not None and s.profile.execution_schedules
                and not s.compat(profiles.COMPAT_SCHEDULED_AS_EXECUTION)):
            # resources_v1/executions.py (6.x on): an execution schedule `<workflow>_<hex>`
            # with rule {"count": 1}; the answer is an unsaved Execution: status only, no id
            s.add_schedule(f"{workflow_id}_{uuid.uuid4().hex}", dep_id, workflow_id, since=when,
                           rule={"count": 1}, parameters=data.get("parameters"),
                           execution_arguments={
                               "allow_custom_parameters": bool(data.get("allow_custom_parameters")),
                               "force": bool(data.get("force")),
                               "is_dry_run": bool(data.get("dry_run")),
                               "wait_after_fail": data.get("wait_after_fail", 600)})
            answer: dict[str, Any] = dict.fromkeys(_EXECUTION_KEYS)
            # an unsaved models.Execution: its column defaults, the rest null
            answer.update(status="scheduled", status_display="scheduled", parameters_p=None,
                          total_operations=0, finished_operations=0,
                          allow_custom_parameters=False, private_resource=False)
            return web.json_response(answer, status=201)
        ex = s.state.execution(workflow_id, s.now(), deployment_id=dep_id,
                               parameters=data.get("parameters") or {})
        ex["allow_custom_parameters"] = bool(data.get("allow_custom_parameters"))
        if when is not None:  # 5.x: a `scheduled` execution the manager starts when due
            ex["status"] = ex["status_display"] = "scheduled"
            ex["scheduled_for"] = iso(when)
            s.state.executions[ex["id"]] = ex
        else:
            s.state.executions[ex["id"]] = ex
            s.enqueue_if_busy(ex)
            s._spawn(s._run_workflow(ex["id"]))
        return web.json_response(ex, status=201)

    def _forced_execution(self, data: dict[str, Any], status: str,
                          scheduled: Any) -> web.Response:
        """resources_v1/executions.py Executions.post with `force_status` (an admin's
        set_execution_details): the execution is stored in that status, without a deployment when
        `deployment_id` is empty, and nothing is queued or run."""
        if scheduled:
            raise ApiError(400, "bad_parameters_error",
                           "A status cannot be forced when scheduling an execution.")
        if status not in EXECUTION_STATES:
            raise ApiError(400, "bad_parameters_error",
                           f'Force status was set to invalid state "{status}". '
                           f"Valid states are: {','.join(EXECUTION_STATES)}")
        s = self.s
        ex = s.state.execution(str(data["workflow_id"]), s.now(),
                               deployment_id=data.get("deployment_id") or None,
                               parameters=data.get("parameters") or {}, status=status)
        ex["is_system_workflow"] = bool(data.get("is_system_workflow"))
        ex["error"] = data.get("error")  # the Execution's `error` column: null unless given
        s.state.executions[ex["id"]] = ex
        return web.json_response(ex, status=201)

    async def execution_update(self, request: web.Request) -> web.Response:
        """resources_v1/executions.py ExecutionsId.patch (the status updates the mgmtworker
        sends) -> resource_manager.py update_execution_status and _validate_execution_update."""
        ex = self.execution(request.match_info["id"])
        data = await body_json(request)
        if "status" not in data:
            raise ApiError(400, "bad_parameters_error", "Missing status in json request body")
        status = str(data["status"])
        current = ex["status"]
        cancel_refused = ("pending", "started", "cancelling", "force_cancelling",
                          "kill_cancelling", "terminated")
        allowed = current == status or not (
            (current in FINAL_STATUSES and ex["workflow_id"] != "create_snapshot")
            or (current == "cancelling" and status in cancel_refused)
            or (current == "force_cancelling" and status in cancel_refused + ("cancelling",)))
        if not allowed:
            raise ApiError(400, "invalid_exception_status_update",
                           f"Invalid relationship - can't change status from {current} to "
                           f'{status} for "{ex["id"]}" execution while running '
                           f'"{ex["workflow_id"]}" workflow.')
        self.s._set_status(ex, status, str(data.get("error", "")))
        return web.json_response(ex)

    async def execution_action(self, request: web.Request) -> web.Response:
        ex = self.execution(request.match_info["id"])
        data = await body_json(request)
        action = data.get("action", "cancel")
        if action not in ("cancel", "force-cancel", "kill"):
            raise ApiError(400, "unknown_action", f"Unknown action: {action}")
        if ex["status"] not in LIVE_STATUSES and ex["status"] != "scheduled":
            raise ApiError(400, "illegal_action_error",
                           f"Can't {action} execution {ex['id']} in status {ex['status']}")
        self.s._set_status(ex, "cancelled")
        return web.json_response(ex)

    # --- execution schedules (resources_v3_1/execution_schedules.py, 6.x on) -------------
    def _need_schedules(self) -> None:
        if not self.s.profile.execution_schedules:
            raise ApiError(404, "not_found_error", "The requested URL was not found on the "
                           "server. If you entered the URL manually please check your spelling "
                           "and try again.")

    def _schedule(self, request: web.Request) -> dict[str, Any]:
        self._need_schedules()
        dep_id = request.query.get("deployment_id")
        if not dep_id:
            raise ApiError(400, "bad_parameters_error", "Missing deployment_id in query string")
        sched = self.s.state.execution_schedules.get(request.match_info["id"])
        if sched is None or sched.get("deployment_id") != dep_id:
            raise not_found("ExecutionSchedule", request.match_info["id"])
        return sched

    async def schedules(self, request: web.Request) -> web.Response:
        self._need_schedules()
        items = [self.s.schedule_view(x) for x in self.s.state.execution_schedules.values()]
        items = filtered(request, items, ("id", "deployment_id", "workflow_id"))
        return listing(request, items, "created_at")

    async def schedule_get(self, request: web.Request) -> web.Response:
        return one(self.s.schedule_view(self._schedule(request)), request)

    async def schedule_create(self, request: web.Request) -> web.Response:
        self._need_schedules()
        s = self.s
        schedule_id = request.match_info["id"]
        validate_id("schedule_id", schedule_id)
        dep_id = request.query.get("deployment_id")
        if not dep_id:
            raise ApiError(400, "bad_parameters_error", "Missing deployment_id in query string")
        data = await body_json(request)
        for key in ("workflow_id", "since"):
            if key not in data:
                raise ApiError(400, "bad_parameters_error", f"Missing {key} in json request body")
        dep = s.state.deployments.get(dep_id)
        if dep is None:
            raise not_found("Deployment", dep_id)
        if data["workflow_id"] not in {w["name"] for w in dep.get("workflows") or []}:
            raise ApiError(400, "nonexistent_workflow_error",
                           f"Workflow {data['workflow_id']} does not exist in deployment {dep_id}")
        since = parse_when(data["since"]) if data.get("since") else s.now()
        until = parse_when(data["until"]) if data.get("until") else None
        if since is None:
            raise ApiError(400, "bad_parameters_error", f"Invalid since: {data['since']}")
        rule = {k: data[k] for k in ("recurrence", "count", "weekdays", "rrule") if data.get(k)}
        try:
            recurrence_seconds(rule.get("recurrence"))
        except ValueError as exc:
            raise ApiError(400, "bad_parameters_error", str(exc)) from None
        args = data.get("execution_arguments") or {}
        sched = s.add_schedule(schedule_id, dep_id, data["workflow_id"], since=since,
                               until=until, rule=rule, parameters=data.get("parameters"),
                               slip=int(data.get("slip") or 0),
                               stop_on_fail=bool_param("stop_on_fail",
                                                       data.get("stop_on_fail", False)),
                               enabled=bool(data.get("enabled", True)),
                               execution_arguments={
                                   "allow_custom_parameters": bool(args.get("allow_custom_parameters")),
                                   "force": bool(args.get("force")),
                                   "is_dry_run": bool(args.get("dry_run")),
                                   "wait_after_fail": args.get("wait_after_fail", 600)}
                               if args else {})
        return web.json_response(s.schedule_view(sched), status=201)

    async def schedule_update(self, request: web.Request) -> web.Response:
        sched = self._schedule(request)
        data = await body_json(request)
        for key in ("since", "until"):
            if data.get(key):
                sched[key] = iso(parse_when(data[key]) or self.s.now())
        for key in ("workflow_id", "slip"):
            if data.get(key) is not None:
                sched[key] = data[key]
        for key in ("stop_on_fail", "enabled"):
            if data.get(key) is not None:
                sched[key] = bool_param(key, data[key])
        for key in ("recurrence", "count", "weekdays", "rrule"):
            if data.get(key) is not None:
                sched["rule"][key] = data[key]
        replaced = self.s.add_schedule(
            sched["id"], sched["deployment_id"], sched["workflow_id"],
            since=parse_time(sched["since"]) or self.s.now(), until=parse_time(sched["until"]),
            rule=sched["rule"], parameters=sched["parameters"], slip=sched["slip"],
            stop_on_fail=sched["stop_on_fail"], enabled=sched["enabled"],
            execution_arguments=sched["execution_arguments"])
        replaced["created_at"] = sched["created_at"]
        return web.json_response(self.s.schedule_view(replaced), status=201)

    async def schedule_delete(self, request: web.Request) -> web.Response:
        sched = self._schedule(request)
        del self.s.state.execution_schedules[sched["id"]]
        return web.Response(status=204)

    # --- events ----------------------------------------------------------------------------
    async def events(self, request: web.Request) -> web.Response:
        q = request.query
        items = list(self.s.state.events)
        ex_ids = [v for part in q.getall("execution_id", []) for v in part.split(",") if v]
        if ex_ids:
            items = [e for e in items if e["execution_id"] in ex_ids]
        types = q.getall("type", [])
        if types:
            items = [e for e in items if e["type"] in types]
        levels = q.getall("level", [])
        if levels:
            items = [e for e in items if e["level"] in levels]
        # `@timestamp` (the elasticsearch-era name clients still sort by) is the `timestamp`
        sorts = [s.replace("@timestamp", "timestamp") for s in q.getall("_sort", [])]
        query = [(k, v) for k, v in q.items() if k != "_sort"]
        query += [("_sort", s) for s in (sorts or ["timestamp"])]
        request = request.clone(rel_url=request.rel_url.with_query(query))
        return listing(request, items, filtered=False)

    # --- plugins updates ----------------------------------------------------------------------
    async def plugins_update_initiate(self, request: web.Request) -> web.Response:
        s = self.s
        bp_id = request.match_info["blueprint_id"]
        if bp_id not in s.state.blueprints:
            raise not_found("Blueprint", bp_id)
        data = await body_json(request)
        now = s.now()
        ex = s.state.execution("update_plugin", now, parameters={})
        update = {"id": ex["id"][:8] + "-pu", "blueprint_id": bp_id, "state": "executing_workflow",
                  "forced": bool(data.get("force")), "created_at": iso(now),
                  "execution_id": ex["id"], "deployments_to_update":
                  [d["id"] for d in s.state.deployments.values() if d["blueprint_id"] == bp_id],
                  "temp_blueprint_id": None, "tenant_name": s.state.tenant,
                  "created_by": request[USER_KEY], "visibility": "tenant",
                  "private_resource": False, "resource_availability": "tenant"}
        ex["parameters"]["plugins_update_id"] = update["id"]
        s.state.executions[ex["id"]] = ex
        s.state.plugins_updates[update["id"]] = update
        s.enqueue_if_busy(ex)
        s._spawn(s._run_workflow(ex["id"]))
        return web.json_response(update)

    async def plugins_update_get(self, request: web.Request) -> web.Response:
        pu = self.s.state.plugins_updates.get(request.match_info["id"])
        if pu is None:
            raise not_found("PluginsUpdate", request.match_info["id"])
        return web.json_response(pu)

    async def plugins_updates(self, request: web.Request) -> web.Response:
        return listing(request, list(self.s.state.plugins_updates.values()), "created_at")
