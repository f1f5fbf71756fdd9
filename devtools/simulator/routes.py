"""Cloudify REST v3.1 routes of the simulator."""
from __future__ import annotations

import asyncio
import os
import re
from string import ascii_letters
from typing import Any
from urllib.parse import quote

import aiohttp
from aiohttp import web

from bot.clock import iso, parse_time
from devtools.simulator.app import API, CUT_KEY, USER_KEY, ApiError, Simulator, not_found
from devtools.simulator.state import LIVE_STATUSES

_CHUNK = 256 * 1024


def listing(request: web.Request, items: list[dict[str, Any]],
            default_sort: str | None = None) -> web.Response:
    """Filter (`_include`), sort (`_sort`), paginate (`_size`, `_offset`) like the manager."""
    q = request.query
    sorts = q.getall("_sort", []) or ([default_sort] if default_sort else [])
    for key in reversed([s for part in sorts for s in part.split(",") if s]):
        desc = key.startswith("-")
        name = key.lstrip("-+")
        items = sorted(items, key=lambda i: (i.get(name) is None, str(i.get(name) or "")),
                       reverse=desc)
    total = len(items)
    try:
        size = int(q.get("_size", "1000"))
        offset = int(q.get("_offset", "0"))
    except ValueError:
        raise ApiError(400, "bad_parameters_error", "_size and _offset must be integers")
    items = items[offset:offset + size]
    include = [f for part in q.getall("_include", []) for f in part.split(",") if f]
    if include:
        items = [{k: i.get(k) for k in include} for i in items]
    return web.json_response({"items": items, "metadata": {
        "pagination": {"total": total, "size": size, "offset": offset}, "filtered": None}})


def one(item: dict[str, Any], request: web.Request, status: int = 200) -> web.Response:
    include = [f for part in request.query.getall("_include", []) for f in part.split(",") if f]
    if include:
        item = {k: item.get(k) for k in include}
    return web.json_response(item, status=status)


async def body_json(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        data = await request.json()
    except ValueError:
        raise ApiError(400, "bad_parameters_error", "Request body is not a valid JSON")
    return data if isinstance(data, dict) else {}


def register(app: web.Application, sim: Simulator) -> None:
    r = app.router
    s = sim

    def snap(snapshot_id: str) -> dict[str, Any]:
        item = s.state.snapshots.get(snapshot_id)
        if item is None:
            raise not_found("Snapshot", snapshot_id)
        return item

    def execution(execution_id: str) -> dict[str, Any]:
        item = s.state.executions.get(execution_id)
        if item is None:
            raise not_found("Execution", execution_id)
        return item

    # --- manager --------------------------------------------------------------------
    async def version(request: web.Request) -> web.Response:
        return web.json_response({"version": s.options.version, "edition": "premium",
                                  "date": "2023-12-01", "build": "", "commit": "",
                                  "distribution": "rhel", "distro_release": "Ootpa"})

    def _cluster() -> dict[str, Any]:
        nodes = {}
        for m in s.state.managers:
            ok = not m["down"]
            nodes[m["hostname"]] = {
                "status": "OK" if ok else "Fail", "version": m["version"],
                "public_ip": m["public_ip"], "private_ip": m["private_ip"],
                "services": {} if not ok else {
                    "Management Worker": {"status": "Active", "is_remote": False, "extra_info": {}},
                    "Restservice": {"status": "Active", "is_remote": False, "extra_info": {}},
                    "Webserver": {"status": "Active", "is_remote": False, "extra_info": {}}},
            }
        down = sum(1 for m in s.state.managers if m["down"])
        active = sum(1 for m in s.state.managers if m["active"] and not m["down"])
        if down == len(s.state.managers):
            status = "Fail"
        elif down or active > 1:
            status = "Degraded"
        else:
            status = "OK"
        return {"status": status, "services": {
            "manager": {"status": status, "is_external": False, "nodes": nodes},
            "db": {"status": "OK", "is_external": False, "nodes": {
                "db-1": {"status": "OK", "version": s.options.version, "public_ip": "10.0.0.2",
                         "private_ip": "10.0.0.2", "services": {}}}},
            "broker": {"status": "OK", "is_external": False, "nodes": {
                "broker-1": {"status": "OK", "version": s.options.version,
                             "public_ip": "10.0.0.3", "private_ip": "10.0.0.3", "services": {}}}},
        }}

    async def status(request: web.Request) -> web.Response:
        cluster = _cluster()
        services = cluster["services"]["manager"]["nodes"]
        first = next(iter(services.values()), {"services": {}})
        summary = request.query.get("summary", "").lower() == "true"
        if summary:
            return web.json_response({"status": cluster["status"], "services": {}})
        return web.json_response({"status": "OK" if cluster["status"] == "OK" else "Fail",
                                  "services": first.get("services", {})})

    async def cluster_status(request: web.Request) -> web.Response:
        cluster = _cluster()
        if request.query.get("summary", "").lower() == "true":
            return web.json_response({"status": cluster["status"], "services": {}})
        return web.json_response(cluster)

    async def managers(request: web.Request) -> web.Response:
        # `is_active` is not in Cloudify's schema: it lets tests stage an active/active split
        # brain that snapbot's `cluster status` must flag (a real manager omits it -> unknown).
        return listing(request, [{**m, "is_active": m["active"]} for m in s.state.managers])

    async def brokers(request: web.Request) -> web.Response:
        return listing(request, [{"name": "broker-1", "host": "10.0.0.3",
                                  "management_host": "10.0.0.3", "port": 5671,
                                  "networks": {"default": "10.0.0.3"}, "ca_cert_content": None,
                                  "is_external": False, "node_id": "broker-node-1"}])

    async def db_nodes(request: web.Request) -> web.Response:
        return listing(request, [{"name": "db-1", "host": "10.0.0.2", "is_external": False,
                                  "node_id": "db-node-1"}])

    async def provider_context(request: web.Request) -> web.Response:
        return web.json_response({"name": "provider", "context": {"cloudify": {
            "cloudify_agent": {"broker_port": 5671, "min_workers": 0, "max_workers": 5},
            "workflows": {"task_retries": 60, "task_retry_interval": 15}}}})

    async def tokens_get(request: web.Request) -> web.Response:
        return web.json_response(s.issue_token(request[USER_KEY]))

    async def tokens_post(request: web.Request) -> web.Response:
        data = await body_json(request)
        return web.json_response(s.issue_token(request[USER_KEY], data.get("description")), status=201)

    async def user(request: web.Request) -> web.Response:
        return web.json_response({"username": request[USER_KEY], "role": "sys_admin",
                                  "tenants": {s.options.tenant: {"tenant-role": "user",
                                                                 "roles": ["user"]}},
                                  "groups": [], "active": True, "last_login_at": None,
                                  "is_locked": False, "show_getting_started": False,
                                  "first_login_at": None, "created_at": None,
                                  "group_system_roles": {}, "user_tenants": {},
                                  "group_tenants": {}})

    async def tenants(request: web.Request) -> web.Response:
        return listing(request, [{"name": s.options.tenant, "groups": 0, "users": 1,
                                  "user_roles": {}, "rabbitmq_vhost": s.options.tenant}])

    async def license_(request: web.Request) -> web.Response:
        return listing(request, [])

    # --- deployments / blueprints --------------------------------------------------
    def _filtered(request: web.Request, items: list[dict[str, Any]],
                  keys: tuple[str, ...]) -> list[dict[str, Any]]:
        for key in keys:
            wanted = [v for part in request.query.getall(key, []) for v in part.split(",") if v]
            if wanted:
                items = [i for i in items if i.get(key) in wanted]
        return items

    async def deployments(request: web.Request) -> web.Response:
        items = _filtered(request, list(s.state.deployments.values()), ("id", "blueprint_id"))
        return listing(request, items, "created_at")

    def _node_instances() -> list[dict[str, Any]]:
        # one started Compute host per deployment: what `cfy agents install` looks for
        return [{"id": f"vm_{d['id']}", "node_id": "vm", "host_id": f"vm_{d['id']}",
                 "deployment_id": d["id"], "state": "started", "tenant_name": s.state.tenant,
                 "visibility": "tenant", "runtime_properties": {}, "relationships": [],
                 "version": 1, "index": 1, "scaling_groups": [], "created_by": d["created_by"],
                 "private_resource": False, "resource_availability": "tenant"}
                for d in s.state.deployments.values()]

    async def node_instances(request: web.Request) -> web.Response:
        return listing(request, _filtered(request, _node_instances(), ("id", "deployment_id")))

    async def nodes(request: web.Request) -> web.Response:
        items = [{"id": "vm", "deployment_id": d["id"], "blueprint_id": d["blueprint_id"],
                  "type": "cloudify.nodes.Compute", "type_hierarchy": ["cloudify.nodes.Root",
                  "cloudify.nodes.Compute"], "number_of_instances": 1,
                  "planned_number_of_instances": 1, "deploy_number_of_instances": 1,
                  "host_id": "vm", "tenant_name": s.state.tenant, "visibility": "tenant",
                  "properties": {}, "operations": {}, "relationships": [], "plugins": []}
                 for d in s.state.deployments.values()]
        return listing(request, _filtered(request, items, ("id", "deployment_id")))

    async def deployment(request: web.Request) -> web.Response:
        dep_id = request.match_info["id"]
        if dep_id not in s.state.deployments:
            raise not_found("Deployment", dep_id)
        return one(s.state.deployments[dep_id], request)

    async def blueprints(request: web.Request) -> web.Response:
        return listing(request, list(s.state.blueprints.values()), "created_at")

    # --- executions -------------------------------------------------------------
    async def executions(request: web.Request) -> web.Response:
        q = request.query
        items = list(s.state.executions.values())
        if q.get("_include_system_workflows", "false").lower() != "true":
            items = [e for e in items if not e["is_system_workflow"]]
        for key in ("status", "workflow_id", "deployment_id", "id", "blueprint_id"):
            wanted = [v for part in q.getall(key, []) for v in part.split(",") if v]
            if wanted:
                items = [e for e in items if e.get(key) in wanted]
        return listing(request, items, "created_at")

    async def execution_get(request: web.Request) -> web.Response:
        return one(execution(request.match_info["id"]), request)

    async def execution_start(request: web.Request) -> web.Response:
        data = await body_json(request)
        dep_id = data.get("deployment_id")
        workflow_id = data.get("workflow_id")
        if not workflow_id:
            raise ApiError(400, "bad_parameters_error", "Missing workflow_id in json request body")
        if dep_id and dep_id not in s.state.deployments:
            raise not_found("Deployment", dep_id)
        scheduled = data.get("scheduled_time")
        now = s.now()
        ex = s.state.execution(workflow_id, now, deployment_id=dep_id,
                               parameters=data.get("parameters") or {})
        if scheduled:
            when = parse_time(str(scheduled))
            if when is None:
                raise ApiError(400, "bad_parameters_error", f"Invalid scheduled_time {scheduled}")
            ex["status"] = ex["status_display"] = "scheduled"
            ex["scheduled_for"] = iso(when)
            s.state.executions[ex["id"]] = ex
        else:
            s.state.executions[ex["id"]] = ex
            s.enqueue_if_busy(ex)
            s._spawn(s._run_workflow(ex["id"]))
        return web.json_response(ex, status=201)

    async def execution_action(request: web.Request) -> web.Response:
        ex = execution(request.match_info["id"])
        data = await body_json(request)
        action = data.get("action", "cancel")
        if action in ("cancel", "force-cancel", "kill"):
            if ex["status"] not in LIVE_STATUSES and ex["status"] != "scheduled":
                raise ApiError(400, "illegal_action_error",
                               f"Can't {action} execution {ex['id']} in status {ex['status']}")
            s._set_status(ex, "cancelled")
        else:
            raise ApiError(400, "unknown_action", f"Unknown action: {action}")
        return web.json_response(ex)

    async def events(request: web.Request) -> web.Response:
        q = request.query
        items = list(s.state.events)
        ex_ids = [v for part in q.getall("execution_id", []) for v in part.split(",") if v]
        if ex_ids:
            items = [e for e in items if e["execution_id"] in ex_ids]
        types = q.getall("type", [])
        if types:
            items = [e for e in items if e["type"] in types]
        levels = q.getall("level", [])
        if levels:
            items = [e for e in items if e["level"] in levels]
        if not q.getall("_sort", []):
            request = request.clone(rel_url=request.rel_url.update_query({"_sort": "@timestamp"}))
        return listing(request, items)

    # --- plugins updates -------------------------------------------------------
    async def plugins_update_initiate(request: web.Request) -> web.Response:
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

    async def plugins_update_get(request: web.Request) -> web.Response:
        pu = s.state.plugins_updates.get(request.match_info["id"])
        if pu is None:
            raise not_found("PluginsUpdate", request.match_info["id"])
        return web.json_response(pu)

    async def plugins_updates(request: web.Request) -> web.Response:
        return listing(request, list(s.state.plugins_updates.values()), "created_at")

    # --- snapshots --------------------------------------------------------------
    async def snapshots(request: web.Request) -> web.Response:
        return listing(request, list(s.state.snapshots.values()))

    async def snapshot_get(request: web.Request) -> web.Response:
        return one(snap(request.match_info["id"]), request)

    async def snapshot_create(request: web.Request) -> web.Response:
        snapshot_id = request.match_info["id"]
        _validate_id("snapshot_id", snapshot_id)
        data = await body_json(request)
        if snapshot_id in s.state.snapshots:
            raise ApiError(409, "conflict_error",
                           f"<Snapshot id=`{snapshot_id}` tenant=`{s.state.tenant}`> already "
                           f"exists on <Tenant name=`{s.state.tenant}`> or with global visibility")
        params = {"snapshot_id": snapshot_id,
                  "include_credentials": _bool_param("include_credentials",
                                                     data.get("include_credentials", True)),
                  "include_logs": _bool_param("include_logs", data.get("include_logs", True)),
                  "include_events": _bool_param("include_events",
                                                data.get("include_events", True)),
                  "config": {}, "tempdir_path": data.get("tempdir_path"),
                  "legacy": _bool_param("legacy", data.get("legacy", False)),
                  "listener_timeout": data.get("listener_timeout")}
        now = s.now()
        s.state.snapshots[snapshot_id] = s.state.snapshot(snapshot_id, "creating", now)
        ex = s.state.execution("create_snapshot", now, parameters=params)
        s.state.executions[ex["id"]] = ex
        s.enqueue_if_busy(ex)
        s._spawn(s._run_create(ex["id"], snapshot_id))
        return web.json_response(ex, status=201)

    async def snapshot_delete(request: web.Request) -> web.Response:
        snapshot_id = request.match_info["id"]
        item = snap(snapshot_id)
        for e in s.state.executions.values():
            if (e["workflow_id"] in ("create_snapshot", "restore_snapshot")
                    and e["status"] in LIVE_STATUSES
                    and e["parameters"].get("snapshot_id") == snapshot_id):
                raise ApiError(400, "snapshot_action_error",
                               f"Cannot delete snapshot `{snapshot_id}` which has an active "
                               f"`{e['workflow_id']}` execution")
        del s.state.snapshots[snapshot_id]
        path = s.archive_path(snapshot_id)
        if os.path.exists(path):
            os.remove(path)
        return web.json_response(item)

    async def snapshot_download(request: web.Request) -> web.StreamResponse:
        snapshot_id = request.match_info["id"]
        item = snap(snapshot_id)
        if item["status"] == "failed":
            raise ApiError(400, "snapshot_action_error", "Failed snapshot cannot be downloaded")
        path = s.archive_path(snapshot_id)
        if not os.path.exists(path):
            raise ApiError(404, "not_found_error", f"Snapshot archive of `{snapshot_id}` not found")
        size = os.path.getsize(path)
        cut = request.get(CUT_KEY)
        headers = {"Content-Type": "application/octet-stream",
                   "Content-Disposition": f'attachment; filename="{snapshot_id}.zip"'}
        start = 0
        if s.options.range_downloads:  # as nginx serves the archive: `Range: bytes=N-` honoured
            headers["Accept-Ranges"] = "bytes"
            m = re.fullmatch(r"bytes=(\d+)-", request.headers.get("Range", ""))
            if m and int(m.group(1)) < size:
                start = int(m.group(1))
                headers["Content-Range"] = f"bytes {start}-{size - 1}/{size}"
        resp = web.StreamResponse(status=206 if start else 200, headers=headers)
        resp.content_length = size - start
        await resp.prepare(request)
        sent = 0
        with open(path, "rb") as fh:
            fh.seek(start)
            while True:
                want = _CHUNK if cut is None else min(_CHUNK, cut - sent)
                if want <= 0:
                    # let the bytes already written reach the client, then hang up mid-body
                    transport = request.transport
                    for _ in range(100):
                        if transport is None or transport.get_write_buffer_size() == 0:
                            break
                        await asyncio.sleep(0.005)
                    if transport is not None:
                        transport.close()
                    return resp
                chunk = fh.read(want)
                if not chunk:
                    break
                await resp.write(chunk)
                sent += len(chunk)
        await resp.write_eof()
        return resp

    async def snapshot_upload(request: web.Request) -> web.Response:
        snapshot_id = request.match_info["id"]
        url = request.query.get("snapshot_archive_url")
        existing = s.state.snapshots.get(snapshot_id)
        if existing is None:
            s.state.snapshots[snapshot_id] = s.state.snapshot(snapshot_id, "uploading", s.now())
        path = s.archive_path(snapshot_id)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = path + ".uploading"
        try:
            written = 0
            with open(tmp, "wb") as fh:
                if url:
                    session = await s.http_session()
                    try:
                        async with session.get(url) as resp:
                            if resp.status >= 400:
                                raise ApiError(400, "bad_parameters_error",
                                               f"Cannot download the snapshot archive from {url}: "
                                               f"HTTP {resp.status}")
                            async for chunk in resp.content.iter_chunked(_CHUNK):
                                fh.write(chunk)
                                written += len(chunk)
                    except aiohttp.ClientError as exc:
                        raise ApiError(400, "bad_parameters_error",
                                       f"Cannot download the snapshot archive from {url}: {exc}")
                else:
                    async for chunk in request.content.iter_chunked(_CHUNK):
                        fh.write(chunk)
                        written += len(chunk)
            if written == 0:
                raise ApiError(400, "bad_parameters_error", "Missing snapshot archive in request "
                               "body or 'snapshot_archive_url' in query string")
            os.replace(tmp, path)
        except BaseException:
            if existing is None:
                s.state.snapshots.pop(snapshot_id, None)
            if os.path.exists(tmp):
                os.remove(tmp)
            raise
        if existing is not None:
            # the manager only replaces the archive of an existing snapshot and answers {}
            return web.json_response({}, status=201)
        item = s.state.snapshots[snapshot_id]
        item["status"] = "uploaded"
        return web.json_response(item, status=201)

    async def snapshot_restore(request: web.Request) -> web.Response:
        snapshot_id = request.match_info["id"]
        data = await body_json(request)
        if s.options.version.startswith("5.") and "recreate_deployments_envs" not in data:
            # 5.1.0 resources_v2/snapshots.py: get_json_and_verify_params({...envs})
            raise ApiError(400, "bad_parameters_error",
                           "Missing recreate_deployments_envs in json request body")
        if "force" not in data:
            # request_dict['force'] -> KeyError -> an internal server error on 7.0
            raise ApiError(500, "internal_server_error", "'force'")
        force = _bool_param("force", data["force"])
        restore_certificates = _bool_param("restore_certificates",
                                           data.get("restore_certificates", False))
        no_reboot = _bool_param("no_reboot", data.get("no_reboot", False))
        if no_reboot and not restore_certificates:
            raise ApiError(400, "bad_parameters_error", "`no_reboot` is only relevant when "
                           "`restore_certificates` is activated")
        item = snap(snapshot_id)
        if item["status"] == "failed":
            raise ApiError(400, "snapshot_action_error", "Failed snapshot cannot be restored")
        params = {"snapshot_id": snapshot_id, "config": {}, "force": force,
                  "timeout": data.get("timeout", 300), "restore_certificates": restore_certificates,
                  "no_reboot": no_reboot, "premium_enabled": True, "user_is_bootstrap_admin": True,
                  "tenant_name": data.get("tenant_name")}
        ex = s.state.execution("restore_snapshot", s.now(), parameters=params)
        s.state.executions[ex["id"]] = ex
        s.state.restores.append(ex["id"])
        s.enqueue_if_busy(ex)
        s._spawn(s._run_restore(ex["id"], snapshot_id, params))
        # marshalled with the Snapshot model's fields (resources_v3_1/snapshots.py)
        trimmed = {k: ex.get(k) for k in ("id", "created_at", "status", "error", "created_by",
                                           "visibility", "tenant_name", "private_resource",
                                           "resource_availability")}
        trimmed["workflow_id"] = "restore_snapshot"
        return web.json_response(trimmed, status=200)

    async def snapshot_status(request: web.Request) -> web.Response:
        return web.json_response({"status": "running" if s.snapshot_restore_running()
                                  else "not-running"})

    # --- maintenance ------------------------------------------------------------
    def _maint_view() -> dict[str, Any]:
        m = s.state.maintenance
        return {"status": m["status"], "activated_at": m.get("activated_at", ""),
                "remaining_executions": m.get("remaining_executions") or [],
                "requested_by": m.get("requested_by", ""),
                "activation_requested_at": m.get("activation_requested_at", "")}

    async def maintenance(request: web.Request) -> web.Response:
        s._update_maintenance()
        return web.json_response(_maint_view())

    async def maintenance_activate(request: web.Request) -> web.Response:
        m = s.state.maintenance
        if m["status"] != "deactivated":
            return web.Response(status=304)
        m.update({"status": "activating", "activation_requested_at": iso(s.now()),
                  "requested_by": request[USER_KEY], "activated_at": ""})
        s._update_maintenance()
        return web.json_response(_maint_view())

    async def maintenance_deactivate(request: web.Request) -> web.Response:
        m = s.state.maintenance
        if m["status"] == "deactivated":
            return web.Response(status=304)
        view = _maint_view()
        s.state.maintenance = {"status": "deactivated"}
        view["status"] = "deactivated"
        return web.json_response(view)

    async def license_check(request: web.Request) -> web.Response:
        # resources_v3_1/license.py LicenseCheckPremium: "OK", 200
        return web.json_response("OK")

    async def maintenance_unknown(request: web.Request) -> web.Response:
        action = request.match_info["action"]
        raise ApiError(400, "bad_parameters_error", f"Invalid action: {action}, Valid action "
                       "values are: ['activate', 'deactivate']")

    async def ok(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    routes = [
        ("GET", "/version", version), ("GET", "/status", status), ("GET", "/ok", ok),
        ("GET", "/cluster-status", cluster_status), ("GET", "/managers", managers),
        ("GET", "/brokers", brokers), ("GET", "/db-nodes", db_nodes),
        ("GET", "/provider/context", provider_context), ("GET", "/tokens", tokens_get),
        ("POST", "/tokens", tokens_post), ("GET", "/user", user), ("GET", "/tenants", tenants),
        ("GET", "/license", license_), ("GET", "/license-check", license_check),
        ("GET", "/deployments", deployments), ("GET", "/deployments/{id}", deployment),
        ("GET", "/blueprints", blueprints),
        ("GET", "/node-instances", node_instances), ("GET", "/nodes", nodes),
        ("GET", "/executions", executions), ("POST", "/executions", execution_start),
        ("GET", "/executions/{id}", execution_get), ("POST", "/executions/{id}", execution_action),
        ("GET", "/events", events),
        ("POST", "/plugins-updates/{blueprint_id}/update/initiate", plugins_update_initiate),
        ("GET", "/plugins-updates/{id}", plugins_update_get),
        ("GET", "/plugins-updates", plugins_updates),
        ("GET", "/snapshots", snapshots), ("GET", "/snapshots/{id}", snapshot_get),
        ("PUT", "/snapshots/{id}", snapshot_create), ("DELETE", "/snapshots/{id}", snapshot_delete),
        ("GET", "/snapshots/{id}/archive", snapshot_download),
        ("PUT", "/snapshots/{id}/archive", snapshot_upload),
        ("POST", "/snapshots/{id}/restore", snapshot_restore),
        ("GET", "/snapshot-status", snapshot_status),
        ("GET", "/maintenance", maintenance),
        ("POST", "/maintenance/activate", maintenance_activate),
        ("POST", "/maintenance/deactivate", maintenance_deactivate),
        ("POST", "/maintenance/{action}", maintenance_unknown),
    ]
    for method, path, handler in routes:
        r.add_route(method, API + path, handler)
    # endpoint_mapper.py: Version is also mounted unversioned; the CLI's get_version() uses it
    r.add_route("GET", "/api/version", version)


def _validate_id(name: str, value: str) -> None:
    """rest_utils.validate_inputs: non-empty, <= 256 chars, URL-safe, starts with a letter."""
    prefix = f"The `{name}` argument"
    if not value:
        raise ApiError(400, "bad_parameters_error", f"{prefix} is empty")
    if len(value) > 256:
        raise ApiError(400, "bad_parameters_error",
                       f"{prefix} is too long. Maximum allowed length is 256 characters")
    if quote(value, safe="") != value:
        raise ApiError(400, "bad_parameters_error", f"{prefix} contains illegal characters. Only "
                       'letters, digits and the characters "-", "." and "_" are allowed')
    if value[0] not in ascii_letters:
        raise ApiError(400, "bad_parameters_error", f"{prefix} must begin with a letter")


def _bool_param(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "false"):
        return str(value).lower() == "true"
    raise ApiError(400, "bad_parameters_error",
                   f"Invalid parameter {name}: expected a boolean, got {value!r}")

