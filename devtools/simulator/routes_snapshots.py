"""Snapshot and maintenance-mode routes (resources_v2/snapshots.py, resources_v3_1/snapshots.py,
resources_v2_1/maintenance_mode.py)."""
from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web

import devtools.simulator.profiles as profiles
from bot.clock import iso
from devtools.simulator.base import CUT_KEY, USER_KEY, ApiError, not_found
from devtools.simulator.routes_common import CHUNK, Route, body_json, bool_param, listing, one, validate_id
from devtools.simulator.state import ACTIVE_STATUSES, LIVE_STATUSES

if TYPE_CHECKING:
    from devtools.simulator.app import Simulator
    from devtools.simulator.clock import SimClock


class SnapshotRoutes:
    def __init__(self, sim: Simulator) -> None:
        self.s = sim

    def table(self) -> list[Route]:
        return [
            ("GET", "/snapshots", self.snapshots), ("GET", "/snapshots/{id}", self.snapshot_get),
            ("PUT", "/snapshots/{id}", self.create), ("DELETE", "/snapshots/{id}", self.delete),
            ("GET", "/snapshots/{id}/archive", self.download),
            ("PUT", "/snapshots/{id}/archive", self.upload),
            ("POST", "/snapshots/{id}/restore", self.restore),
            ("GET", "/snapshot-status", self.snapshot_status),
            ("GET", "/maintenance", self.maintenance),
            ("POST", "/maintenance/activate", self.maintenance_activate),
            ("POST", "/maintenance/deactivate", self.maintenance_deactivate),
            ("POST", "/maintenance/{action}", self.maintenance_unknown),
        ]

    def snap(self, snapshot_id: str) -> dict[str, Any]:
        item = self.s.state.snapshots.get(snapshot_id)
        if item is None:
            raise not_found("Snapshot", snapshot_id)
        return item

    def refuse_if_active(self, exclude: str | None = None) -> None:
        """resource_manager.py prepare_executions -> _check_for_running_executions with
        queue=False: a blocking system workflow is refused while any execution is active."""
        active = [e["id"] for e in self.s.state.executions.values()
                  if e["status"] in ACTIVE_STATUSES and e["id"] != exclude]
        if active:
            raise ApiError(400, "existing_running_execution_error",
                           self.s.profile.busy_refusal(active))

    # --- snapshots -------------------------------------------------------------------------
    async def snapshots(self, request: web.Request) -> web.Response:
        return listing(request, list(self.s.state.snapshots.values()))

    async def snapshot_get(self, request: web.Request) -> web.Response:
        return one(self.snap(request.match_info["id"]), request)

    async def create(self, request: web.Request) -> web.Response:
        s = self.s
        snapshot_id = request.match_info["id"]
        validate_id("snapshot_id", snapshot_id)
        data = await body_json(request)
        if snapshot_id in s.state.snapshots:
            raise ApiError(409, "conflict_error",
                           f"<Snapshot id=`{snapshot_id}` tenant=`{s.state.tenant}`> already "
                           f"exists on <Tenant name=`{s.state.tenant}`> or with global visibility")
        queue = bool_param("queue", data.get("queue", False))
        params: dict[str, Any] = {
            "snapshot_id": snapshot_id,
            "include_credentials": bool_param("include_credentials",
                                              data.get("include_credentials", True)),
            "include_logs": bool_param("include_logs", data.get("include_logs", True)),
            "include_events": bool_param("include_events", data.get("include_events", True)),
            "config": {}, "tempdir_path": data.get("tempdir_path")}
        if s.profile.snapshot_formats:  # 7.0.x: `legacy`, server default false
            params["legacy"] = bool_param("legacy", data.get("legacy", False))
            params["listener_timeout"] = data.get("listener_timeout")
        # prepare_executions / is_blocking_execution: every create but a new-format one is
        # refused while an execution is active (queued instead with queue=true); a new-format
        # create without queue is not checked at all and runs alongside
        blocking = params.get("legacy", True)
        old_queueing = s.compat(profiles.COMPAT_QUEUE_INSTEAD_OF_REFUSING)
        busy = (blocking or queue) and not old_queueing and any(
            e["status"] in ACTIVE_STATUSES for e in s.state.executions.values())
        if busy and not queue:
            self.refuse_if_active()
        now = s.now()
        s.state.snapshots[snapshot_id] = s.state.snapshot(snapshot_id, "creating", now)
        ex = s.state.execution("create_snapshot", now, parameters=params)
        s.state.executions[ex["id"]] = ex
        if busy:
            ex["status"] = ex["status_display"] = "queued"
            s._queue.append(ex["id"])
        elif old_queueing:
            s.enqueue_if_busy(ex)  # queued behind system workflows only
        s._spawn(s._run_create(ex["id"], snapshot_id))
        return web.json_response(ex, status=201)

    async def delete(self, request: web.Request) -> web.Response:
        s = self.s
        snapshot_id = request.match_info["id"]
        item = self.snap(snapshot_id)
        for e in s.state.executions.values() if s.profile.delete_checks_executions else ():
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

    async def download(self, request: web.Request) -> web.StreamResponse:
        s = self.s
        snapshot_id = request.match_info["id"]
        item = self.snap(snapshot_id)
        if item["status"] == "failed":
            raise ApiError(400, "snapshot_action_error", "Failed snapshot cannot be downloaded")
        path = s.archive_path(snapshot_id)
        if not os.path.exists(path):
            raise ApiError(404, "not_found_error", f"Snapshot archive of `{snapshot_id}` not found")
        cut = request.get(CUT_KEY)
        size = os.path.getsize(path)
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
                want = CHUNK if cut is None else min(CHUNK, cut - sent)
                if want <= 0:
                    await _hang_up(request, s.clock)
                    return resp
                chunk = fh.read(want)
                if not chunk:
                    break
                await resp.write(chunk)
                sent += len(chunk)
        await resp.write_eof()
        return resp

    async def upload(self, request: web.Request) -> web.Response:
        """SnapshotsIdArchive.put: the archive is stored first, then the record is created as
        `uploaded` (there is no `uploading` state); an existing id only gets its archive
        replaced and the answer is a Snapshot whose fields are all null."""
        s = self.s
        snapshot_id = request.match_info["id"]
        url = request.query.get("snapshot_archive_url")
        path = s.archive_path(snapshot_id)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = path + ".uploading"
        try:
            written = await self._receive(request, url, tmp)
            if written == 0:
                raise ApiError(400, "bad_parameters_error", "Missing snapshot archive in request "
                               "body or 'snapshot_archive_url' in query string")
            if snapshot_id in s.state.snapshots and s.profile.upload_over_existing_conflicts:
                raise ApiError(409, "conflict_error",
                               f"<Snapshot id=`{snapshot_id}` tenant=`{s.state.tenant}`> already "
                               f"exists on <Tenant name=`{s.state.tenant}`> or with global visibility")
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
        if snapshot_id in s.state.snapshots:
            # SnapshotsIdArchive.put returns {} through marshal_with(models.Snapshot): every
            # field of a Snapshot, null
            blank = dict.fromkeys(s.state.snapshot(snapshot_id, "uploaded", s.now()))
            return web.json_response(blank, status=201)
        item = s.state.snapshot(snapshot_id, "uploaded", s.now())
        s.state.snapshots[snapshot_id] = item
        return web.json_response(item, status=201)

    async def _receive(self, request: web.Request, url: str | None, tmp: str) -> int:
        written = 0
        with open(tmp, "wb") as fh:
            if not url:
                async for chunk in request.content.iter_chunked(CHUNK):
                    fh.write(chunk)
                    written += len(chunk)
                return written
            session = await self.s.http_session()
            try:
                async with session.get(url) as resp:
                    if resp.status >= 400:
                        raise ApiError(400, "bad_parameters_error", "Cannot download the snapshot "
                                       f"archive from {url}: HTTP {resp.status}")
                    async for chunk in resp.content.iter_chunked(CHUNK):
                        fh.write(chunk)
                        written += len(chunk)
            except aiohttp.ClientError as exc:
                raise ApiError(400, "bad_parameters_error",
                               f"Cannot download the snapshot archive from {url}: {exc}") from None
        return written

    async def restore(self, request: web.Request) -> web.Response:
        s = self.s
        snapshot_id = request.match_info["id"]
        data = await body_json(request)
        if s.profile.restore_needs_recreate_envs and "recreate_deployments_envs" not in data:
            # 5.1 resources_v2/snapshots.py: get_json_and_verify_params({...envs})
            raise ApiError(400, "bad_parameters_error",
                           "Missing recreate_deployments_envs in json request body")
        if "force" not in data:
            # request_dict['force'] -> KeyError -> an internal server error
            raise ApiError(500, "internal_server_error", "'force'")
        force = bool_param("force", data["force"])
        restore_certificates = bool_param("restore_certificates",
                                          data.get("restore_certificates", False))
        no_reboot = bool_param("no_reboot", data.get("no_reboot", False))
        if no_reboot and not restore_certificates:
            raise ApiError(400, "bad_parameters_error", "`no_reboot` is only relevant when "
                           "`restore_certificates` is activated")
        item = self.snap(snapshot_id)
        if item["status"] == "failed":
            raise ApiError(400, "snapshot_action_error", "Failed snapshot cannot be restored")
        queue = s.compat(profiles.COMPAT_QUEUE_INSTEAD_OF_REFUSING)
        params = {"snapshot_id": snapshot_id, "config": {}, "force": force,
                  "timeout": data.get("timeout", 300), "restore_certificates": restore_certificates,
                  "no_reboot": no_reboot, "premium_enabled": s.options.edition == "premium",
                  # resource_manager.py restore_snapshot: current_user.is_bootstrap_admin (id 0)
                  "user_is_bootstrap_admin":
                      request[USER_KEY] == (s.options.bootstrap_admin or s.options.username)}
        if s.profile.restore_needs_recreate_envs:
            params["recreate_deployments_envs"] = bool_param(
                "recreate_deployments_envs", data["recreate_deployments_envs"])
        ex = s.state.execution("restore_snapshot", s.now(), parameters=params)
        if s.restore_meets:
            racer = s.state.execution(s.restore_meets, s.now())
            s.restore_meets = None
            s.state.executions[racer["id"]] = racer
            s._spawn(s._run_workflow(racer["id"], duration=0.0, manual=True))
        if not queue:
            try:
                self.refuse_if_active()
            except ApiError:
                if s.profile.refused_restore_stays_pending:
                    s.state.executions[ex["id"]] = ex  # stored, refused, never run
                raise
        s.state.executions[ex["id"]] = ex
        s.state.restores.append(ex["id"])
        if queue:
            s.enqueue_if_busy(ex)  # queued behind system workflows only
        s._spawn(s._run_restore(ex["id"], snapshot_id, params))
        # marshalled with the Snapshot model's fields (resources_v2/snapshots.py): no workflow_id
        trimmed = {k: ex.get(k) for k in ("id", "created_at", "status", "error", "created_by",
                                           "visibility", "tenant_name", "private_resource",
                                           "resource_availability")}
        if s.compat(profiles.COMPAT_RESTORE_ANSWER_WORKFLOW_ID):
            trimmed["workflow_id"] = "restore_snapshot"
        return web.json_response(trimmed, status=200)

    async def snapshot_status(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "running" if self.s.snapshot_restore_running()
                                  else "not-running"})

    # --- maintenance -----------------------------------------------------------------------
    def _maint_view(self) -> dict[str, Any]:
        m = self.s.state.maintenance
        # activated_at is null while activating (store_maintenance_state(activated_at=None))
        return {"status": m["status"], "activated_at": m.get("activated_at", ""),
                "remaining_executions": m.get("remaining_executions") or [],
                "requested_by": m.get("requested_by", ""),
                "activation_requested_at": m.get("activation_requested_at", "")}

    async def maintenance(self, request: web.Request) -> web.Response:
        self.s._update_maintenance()
        view = self._maint_view()
        if view["status"] != "activating":
            # MaintenanceMode.get: no state -> None; activated -> the stored state, whose
            # to_dict() (storage/management_models.py MaintenanceMode) has no such key
            view["remaining_executions"] = None
        return web.json_response(view)

    async def maintenance_activate(self, request: web.Request) -> web.Response:
        s = self.s
        m = s.state.maintenance
        if m["status"] != "deactivated":
            return web.Response(status=304)
        m.update({"status": "activating", "activation_requested_at": iso(s.now()),
                  "requested_by": request[USER_KEY], "activated_at": None})
        s._update_maintenance()
        view = self._maint_view()
        if s.profile.activate_answer_nested and not s.compat(profiles.COMPAT_FLAT_MAINTENANCE_ANSWER):
            # MaintenanceModeAction.post: `... = remaining_executions,` -> a 1-tuple -> [[...]]
            view["remaining_executions"] = [view["remaining_executions"]]
        return web.json_response(view)

    async def maintenance_deactivate(self, request: web.Request) -> web.Response:
        s = self.s
        if s.state.maintenance["status"] == "deactivated":
            return web.Response(status=304)
        view = self._maint_view()
        s.state.maintenance = {"status": "deactivated"}
        # remove_maintenance_state: the stored row's to_dict() (no remaining_executions: null)
        view.update(status="deactivated", remaining_executions=None)
        return web.json_response(view)

    async def maintenance_unknown(self, request: web.Request) -> web.Response:
        action = request.match_info["action"]
        raise ApiError(400, "bad_parameters_error", f"Invalid action: {action}, Valid action "
                       "values are: ['activate', 'deactivate']")


async def _hang_up(request: web.Request, clock: SimClock) -> None:
    """Let the bytes already written reach the client, then close the connection mid-body."""
    transport = request.transport
    for _ in range(100):
        if transport is None or transport.get_write_buffer_size() == 0:
            break
        await clock.pause(0.005)
    if transport is not None:
        transport.close()
