"""The `/_sim/` test-control surface (not part of Cloudify's API; no auth). See devtools.simulator."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

import devtools.simulator.profiles as profiles
from bot.clock import iso
from devtools.simulator.base import Fault
from devtools.simulator.clock import ManualClock
from devtools.simulator.options import SimulatorOptions
from devtools.simulator.state import FINAL_STATUSES

if TYPE_CHECKING:
    from devtools.simulator.app import Simulator

_CONFIG_FIELDS = SimulatorOptions.field_names() - {"data_dir", "username", "password", "tenant", "clock"}


def _bad(message: str) -> web.Response:
    return web.json_response({"message": message}, status=400)


async def _json(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    data = await request.json()
    return data if isinstance(data, dict) else {}


def register(app: web.Application, sim: Simulator) -> None:
    s = sim

    async def state(request: web.Request) -> web.Response:
        s._update_maintenance()
        data = s.state.public(s.now(), s.options.version)
        data["snapshot_status"] = "running" if s.snapshot_restore_running() else "not-running"
        data["faults"] = [vars(f) for f in s.faults]
        # seconds left of the current outage on the clock's timer (real seconds on the scaled
        # clock; only readable in the 502/503 modes)
        data["outage"] = {"remaining_seconds": max(0.0, s.clock.left(s._outage_until)),
                          "mode": s._outage_mode}
        data["options"] = {k: getattr(s.options, k) for k in sorted(_CONFIG_FIELDS)}
        data["options"]["compat"] = list(s.options.compat)
        data["profile"] = vars(s.profile)
        data["users"] = {u: {"password_set": bool(v.get("password")), "role": v.get("role")}
                         for u, v in s.state.users.items()}
        data["tokens"] = [{"id": t["id"], "username": t["username"]} for t in s.state.tokens.values()]
        data["execution_schedules"] = [
            {**s.schedule_view(x), "skipped_occurrences": x.get("skipped_occurrences", [])}
            for x in s.state.execution_schedules.values()]
        return web.json_response(data)

    async def faults_add(request: web.Request) -> web.Response:
        data = await _json(request)
        if "path" not in data:
            return _bad("path (a regex) is required")
        known = {"path", "method", "status", "error_code", "message", "drop",
                 "cut_after_bytes", "count"}
        fault = Fault(**{k: v for k, v in data.items() if k in known and v is not None})
        s.faults.append(fault)
        return web.json_response({"faults": [vars(f) for f in s.faults]})

    async def faults_clear(request: web.Request) -> web.Response:
        s.faults.clear()
        return web.json_response({"faults": []})

    async def outage(request: web.Request) -> web.Response:
        data = await _json(request)
        mode = str(data.get("mode", "refuse"))
        if mode not in ("refuse", "502", "503"):
            return _bad("mode must be refuse, 502 or 503")
        # seconds are simulated seconds, like every other duration; start a moment later so this
        # response still reaches the caller before the socket closes
        seconds = float(data.get("seconds", 1.0))
        if mode != "refuse":
            await s.outage(seconds, mode)  # in effect as soon as this call returns
        else:
            async def later() -> None:
                await s.clock.pause(0.05)
                await s.outage(seconds, mode)
            s._spawn(later())
        return web.json_response({"outage_seconds": data.get("seconds", 1.0), "mode": mode})

    async def config(request: web.Request) -> web.Response:
        data = await _json(request)
        for key, value in data.items():
            if key == "restore_fails":
                s.restore_fails = value
            elif key == "create_fails":
                s.create_fails = value
            elif key == "restore_meets":
                s.restore_meets = value
            elif key == "manager_version":
                try:
                    profiles.profile_for(str(value))
                except ValueError as exc:
                    return _bad(str(exc))
                s.options.manager_version = str(value)
                if "version" not in data:
                    s.options.version = str(value)
                    for m in s.state.managers:
                        m["version"] = str(value)
            elif key == "compat":
                flags = tuple(value or ())
                if set(flags) - profiles.ALL_COMPAT:
                    return _bad(f"unknown compat flags {sorted(set(flags) - profiles.ALL_COMPAT)}")
                s.options.compat = flags
            elif key in _CONFIG_FIELDS:
                current = getattr(s.options, key)
                setattr(s.options, key, type(current)(value)
                        if current is not None and value is not None else value)
                if key == "version":
                    for m in s.state.managers:
                        m["version"] = value
            else:
                return _bad(f"unknown config key {key}")
        out = {k: getattr(s.options, k) for k in sorted(_CONFIG_FIELDS)}
        out["compat"] = list(s.options.compat)
        out.update(restore_fails=s.restore_fails, create_fails=s.create_fails,
                   restore_meets=s.restore_meets)
        return web.json_response(out)

    async def clock(request: web.Request) -> web.Response:
        data = await _json(request)
        s.clock.advance(float(data.get("advance", 0)))
        if data.get("next"):
            if not isinstance(s.clock, ManualClock):
                return _bad("next needs the manual clock (--clock manual)")
            s.clock.advance_to_next()
        s._tick()
        out: dict[str, Any] = {"now": iso(s.now())}
        if isinstance(s.clock, ManualClock):
            out["next_due"] = s.clock.next_due()
        return web.json_response(out)

    async def executions_add(request: web.Request) -> web.Response:
        data = await _json(request)
        dep = data.get("deployment_id")
        ex = s.state.execution(data.get("workflow_id", "install"), s.now(), deployment_id=dep,
                               parameters=data.get("parameters") or {})
        status = data.get("status")
        if status == "scheduled":
            ex["status"] = ex["status_display"] = "scheduled"
            ex["scheduled_for"] = data.get("scheduled_for")
            s.state.executions[ex["id"]] = ex
            return web.json_response(ex, status=201)
        s.state.executions[ex["id"]] = ex
        duration = data.get("duration")
        if duration is None:
            s._spawn(s._run_workflow(ex["id"], duration=0.0, manual=True))
        else:
            s._spawn(s._run_workflow(ex["id"], duration=float(duration)))
        return web.json_response(ex, status=201)

    async def executions_finish(request: web.Request) -> web.Response:
        ex = s.state.executions.get(request.match_info["id"])
        if ex is None:
            return web.json_response({"message": "no such execution"}, status=404)
        data = await _json(request)
        status = data.get("status", "terminated")
        if status not in FINAL_STATUSES:
            return _bad(f"status must be one of {FINAL_STATUSES}")
        if not ex.get("started_at"):
            s._set_status(ex, "started")
        s._set_status(ex, status, data.get("error", ""))
        s._update_maintenance()
        return web.json_response(ex)

    async def managers(request: web.Request) -> web.Response:
        data = await _json(request)
        count = int(data.get("count", len(s.state.managers)))
        nodes = s.make_managers(count, active=2 if data.get("split_brain") else 1)
        down = set(data.get("down") or [])
        no_metrics = set(data.get("no_metrics") or [])  # up, but Prometheus reports nothing
        for n in nodes:
            n["down"] = n["hostname"] in down or n["hostname"] in no_metrics
            n["no_metrics"] = n["hostname"] in no_metrics
        s.state.managers = nodes
        return web.json_response({"managers": nodes})

    async def reset(request: web.Request) -> web.Response:
        s.reset()
        return web.json_response({"reset": True})

    r = app.router
    r.add_get("/_sim/state", state)
    r.add_post("/_sim/faults", faults_add)
    r.add_delete("/_sim/faults", faults_clear)
    r.add_post("/_sim/outage", outage)
    r.add_post("/_sim/config", config)
    r.add_post("/_sim/clock", clock)
    r.add_post("/_sim/executions", executions_add)
    r.add_post("/_sim/executions/{id}/finish", executions_finish)
    r.add_post("/_sim/managers", managers)
    r.add_post("/_sim/reset", reset)
