"""The aiohttp application: Cloudify Manager REST v3.1 routes plus the `/_sim/` control surface.

See `devtools.simulator` for the control API. Behaviour notes (why it looks the way it does) live in
tests/test_simulator.py next to the facts they were checked against.
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import os
import secrets
import shutil
import string
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import datetime
from typing import Any

import aiohttp
from aiohttp import web

import devtools.simulator.profiles as profiles
from bot.clock import iso, parse_time
from devtools.simulator.base import API, CUT_KEY, USER_KEY, ApiError, Fault, error_response
from devtools.simulator.clock import SimClock, make_clock
from devtools.simulator.options import SimulatorOptions
from devtools.simulator.profiles import VersionProfile, profile_for
from devtools.simulator.state import (
    ACTIVE_STATUSES,
    FINAL_STATUSES,
    LIVE_STATUSES,
    SimState,
    display_status,
    manager_node,
)
from devtools.simulator.workflows import Workflows
from handlers.server import bound_port

logger = logging.getLogger(__name__)

# Endpoints (first path segment) that answer while maintenance mode is activated
# (manager_rest/constants.py ALLOWED_ENDPOINTS + ALLOWED_MAINTENANCE_ENDPOINTS).
MAINTENANCE_ALLOWED = {"brokers", "managers", "db-nodes", "cluster", "config", "status", "version",
                       "license", "maintenance", "cluster-status", "file-server-auth", "ok",
                       "snapshots", "snapshot-status"}
MAINTENANCE_MESSAGE = ("Your request was rejected since Cloudify manager is currently in "
                       "maintenance mode")


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).lower() in ("true", "1", "yes")


class Simulator(Workflows):
    """A stateful Cloudify Manager. Create with `start_simulator`."""

    def __init__(self, host: str, port: int, options: SimulatorOptions,
                 clock: SimClock | None = None) -> None:
        options = SimulatorOptions(**asdict(options))
        profile_for(options.manager_version)  # unknown versions fail here
        options.version = options.version or options.manager_version
        options.compat = tuple(options.compat)
        unknown = set(options.compat) - profiles.ALL_COMPAT
        if unknown:
            raise ValueError(f"unknown compat flags: {sorted(unknown)}")
        self.host, self.port, self.options = host, port, options
        # every read of time and every wait goes through the clock (devtools.simulator.clock)
        self.clock: SimClock = clock or make_clock(options.clock, lambda: self.options.speed)
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if options.data_dir:
            self.data_dir = options.data_dir
            os.makedirs(self.data_dir, exist_ok=True)
        else:
            self._tmp = tempfile.TemporaryDirectory(prefix="snapbot-sim-")
            self.data_dir = self._tmp.name
        self.defaults = SimulatorOptions(**asdict(options))
        self.create_fails: str | None = None
        self.restore_fails: str | None = None
        #: the workflow of an execution that starts (bypassing maintenance mode, like a system
        #: workflow) just before the next restore request is checked, once: the race in which a
        #: manager refuses a restore posted after maintenance mode was verified
        self.restore_meets: str | None = None
        self.faults: list[Fault] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._outage_until = self.clock.deadline(0)
        self._outage_mode = "refuse"
        self._restore_running = 0
        self._restore_linger_until = self.clock.deadline(0)
        self._restore_stuck = False  # a broken archive left the restore flag file behind
        self._ticker: asyncio.Task[None] | None = None
        self._queue: list[str] = []
        self._session: aiohttp.ClientSession | None = None
        self.state = self._fresh_state()
        self.app = self._build_app()

    # --- lifecycle ------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def profile(self) -> VersionProfile:
        return profile_for(self.options.manager_version)

    def compat(self, flag: str) -> bool:
        """Is this simplified behaviour switched on (devtools.simulator.profiles COMPAT_*)?"""
        return flag in self.options.compat

    def node_ip(self) -> str | None:
        """The address cluster nodes advertise: our own host (None = 10.0.0.x, compat)."""
        return None if self.compat(profiles.COMPAT_OFF_LOOPBACK_NODES) else self.host

    def make_managers(self, count: int, active: int = 1) -> list[dict[str, Any]]:
        return [manager_node(i, self.options.version, self.now(), active=(i <= active), ip=self.node_ip(),
                             edition=self.options.edition)
                for i in range(1, count + 1)]

    def _fresh_state(self) -> SimState:
        st = SimState(tenant=self.options.tenant, username=self.options.username)
        st.seed(self.options.seed_deployments, self.clock.now())
        st.users = {self.options.username: {"password": self.options.password,
                                            "role": "sys_admin", "created_at": iso(self.now())}}
        st.managers = self.make_managers(1)
        return st

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await self._site.start()
        self.port = bound_port(self._runner)
        self._ticker = asyncio.create_task(self._tick_loop())

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._ticker:
            self._ticker.cancel()
        await asyncio.gather(*self._tasks, *( [self._ticker] if self._ticker else []),
                             return_exceptions=True)
        if self._session:
            await self._session.close()
        if self._runner:
            await self._runner.cleanup()
        if self._tmp:
            self._tmp.cleanup()

    @property
    def working(self) -> bool:
        """Whether a workflow, an outage or another background task of the manager is still on
        (what a test waits out on a manual clock before reading what is left)."""
        return bool(self._tasks)

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception():
            logger.error("simulator task failed", exc_info=task.exception())

    async def _sleep(self, sim_seconds: float) -> None:
        await self.clock.sleep(sim_seconds)

    def now(self) -> datetime:
        return self.clock.now()

    # --- outages --------------------------------------------------------------------------
    def in_outage(self) -> bool:
        return self.clock.left(self._outage_until) > 0

    async def outage(self, sim_seconds: float, mode: str | None = None) -> None:
        """Make the REST API unavailable for `sim_seconds`."""
        mode = mode or self.options.outage_mode or (
            "refuse" if self.compat(profiles.COMPAT_OUTAGE_REFUSE) else "502")
        self._outage_until = max(self._outage_until, self.clock.deadline(sim_seconds))
        self._outage_mode = mode
        if mode == "refuse" and self._site is not None and self._runner is not None:
            await self._site.stop()
            self._site = None
            server = self._runner.server
            for handler in list(getattr(server, "connections", []) if server else []):
                transport = getattr(handler, "transport", None)
                if transport is not None:
                    transport.abort()
            self._spawn(self._reopen_after_outage())

    async def outage_over(self) -> None:
        """Return when no outage is on (another outage may extend the one running)."""
        # a timer, not a busy wait: a second outage can move its end
        while self.clock.left(self._outage_until) > 0:
            await self.clock.sleep_until(self._outage_until)

    async def _reopen_after_outage(self) -> None:
        await self.outage_over()
        assert self._runner is not None
        for attempt in range(50):
            try:
                site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
                await site.start()
                self._site = site
                return
            except OSError:
                await self.clock.pause(0.05 * (attempt + 1))
        logger.error("simulator could not reopen port %s", self.port)

    # --- background ticking: scheduled executions, maintenance ---------------------------
    async def _tick_loop(self) -> None:
        while True:
            try:
                self._tick()
            except Exception:  # keep ticking; a bug here must not stop the simulator
                logger.exception("simulator tick failed")
            await self.clock.pause(0.02)

    def _tick(self) -> None:
        now = self.now()
        for ex in list(self.state.executions.values()):
            if ex["status"] == "scheduled" and ex.get("scheduled_for"):
                due = parse_time(ex["scheduled_for"])
                if due is not None and due <= now:
                    ex["status"] = "pending"
                    ex["status_display"] = "pending"
                    self.enqueue_if_busy(ex)
                    self._spawn(self._run_workflow(ex["id"]))
        self._release_queue()
        self._update_maintenance()
        self._tick_schedules()

    def _update_maintenance(self) -> None:
        m = self.state.maintenance
        if m["status"] == "activating":
            live = self._remaining_executions()
            m["remaining_executions"] = live
            if not live:
                m["status"] = "activated"
                m["activated_at"] = iso(self.now())

    def _remaining_executions(self) -> list[dict[str, Any]]:
        """maintenance.py get_running_executions: every execution not in END_STATES (queued and
        scheduled included)."""
        counted = LIVE_STATUSES if self.compat(profiles.COMPAT_MAINTENANCE_IGNORES_SCHEDULED) \
            else LIVE_STATUSES + ("scheduled",)
        return [{"id": e["id"], "status": e["status"], "deployment_id": e["deployment_id"],
                 "workflow_id": e["workflow_id"]} for e in self.state.executions.values()
                if e["status"] in counted]

    # --- the execution queue (resource_manager.py check_for_executions: while a system-wide
    # execution is active, every new execution is `queued` and started when it is over) ---------
    def _system_busy(self, exclude: str | None = None) -> bool:
        return any(e["is_system_workflow"] and e["status"] in ACTIVE_STATUSES and e["id"] != exclude
                   for e in self.state.executions.values())

    def enqueue_if_busy(self, ex: dict[str, Any], *, per_deployment: bool = False) -> None:
        """Call right after storing a new execution, before answering the request.
        `per_deployment`: started with queue=true (as the execution-scheduler starts every
        scheduled run), so it also waits behind an active execution of its own deployment
        (resource_manager.py check_for_executions -> _check_for_active_executions)."""
        dep = ex.get("deployment_id")
        same_dep = per_deployment and dep is not None and any(
            e["deployment_id"] == dep and e["id"] != ex["id"] and e["status"] in ACTIVE_STATUSES + ("queued",)
            for e in self.state.executions.values())
        if self._system_busy(exclude=ex["id"]) or self._queue or same_dep:
            ex["status"] = ex["status_display"] = "queued"
            self._queue.append(ex["id"])

    def _release_queue(self) -> None:
        """start_queued_executions: a queued system workflow waits for every active execution
        to end, an ordinary one for the system-wide ones. On 6.4.2/7.0.5 nothing is dequeued
        while maintenance mode is activating or activated (profile queued_held_by_maintenance)."""
        if self.profile.queued_held_by_maintenance and self.state.maintenance["status"] != "deactivated":
            return
        while self._queue:
            ex = self.state.executions.get(self._queue[0])
            if ex is None or ex["status"] != "queued":
                self._queue.pop(0)
                continue
            if ex["is_system_workflow"]:
                if any(e["status"] in ACTIVE_STATUSES for e in self.state.executions.values()):
                    return
            elif self._system_busy() or any(
                    e["deployment_id"] == ex["deployment_id"] and e["deployment_id"] is not None
                    and e["status"] in ACTIVE_STATUSES for e in self.state.executions.values()):
                return
            self._queue.pop(0)
            ex["status"] = ex["status_display"] = "pending"

    async def _wait_turn(self, execution_id: str) -> None:
        while True:
            ex = self.state.executions.get(execution_id)
            if ex is None or ex["status"] != "queued":
                return
            await self.clock.pause(0.01)

    def snapshot_restore_running(self) -> bool:
        return (self._restore_running > 0 or self._restore_stuck
                or self.clock.left(self._restore_linger_until) > 0)

    # --- execution records ---------------------------------------------------------------------
    def _set_status(self, ex: dict[str, Any], status: str, error: str = "") -> None:
        """resource_manager.py update_execution_status: every status update sets `error` (""
        when none is given; an execution not yet updated has null)."""
        ex["status"] = status
        ex["status_display"] = display_status(status)
        now = iso(self.now())
        if status == "started" and not ex.get("started_at"):
            ex["started_at"] = now
        if status in FINAL_STATUSES:
            ex["ended_at"] = now
        ex["error"] = error

    def log_event(self, ex: dict[str, Any], message: str, level: str = "info") -> None:
        """A `cloudify_log` as resources_v1/events.py answers it (_map_event_to_dict: the SQL
        row restructured; no tenant or visibility, no `@timestamp`)."""
        now = iso(self.now())
        self.state.events.append({
            "_storage_id": len(self.state.events) + 1,
            "timestamp": now, "reported_timestamp": now,
            "blueprint_id": ex.get("blueprint_id"), "deployment_id": ex.get("deployment_id"),
            "deployment_display_name": ex.get("deployment_id"), "execution_id": ex["id"],
            "execution_group_id": None, "workflow_id": ex["workflow_id"], "message": message,
            "error_causes": None, "operation": None, "source_id": None, "target_id": None,
            "manager_name": self.state.managers[0]["hostname"] if self.state.managers else None,
            "agent_name": None, "node_instance_id": None, "node_name": None,
            "logger": f"ctx.{ex['id']}", "level": level, "type": "cloudify_log",
        })

    # --- app --------------------------------------------------------------------------
    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._mw_sim, self._mw_faults, self._mw_auth,
                                           self._mw_maintenance], client_max_size=0)
        from devtools.simulator.routes import register as register_routes
        from devtools.simulator.sim_routes import register as register_sim_routes
        register_routes(app, self)
        register_sim_routes(app, self)
        app.router.add_route("*", "/{tail:.*}", self._unknown)
        return app

    async def _unknown(self, request: web.Request) -> web.Response:
        self.state.unknown_requests.append(f"{request.method} {request.path}")
        logger.warning("simulator: unknown request %s %s", request.method, request.path)
        return error_response(404, "not_found_error",
                              "The requested URL was not found on the server. If you entered the "
                              "URL manually please check your spelling and try again.")

    @web.middleware
    async def _mw_sim(self, request: web.Request, handler: Callable[..., Any]) -> web.StreamResponse:
        if not request.path.startswith("/_sim/"):
            self.state.request_counts[request.path] += 1
            if self.in_outage() and self._outage_mode in ("502", "503"):
                status = int(self._outage_mode)
                return web.Response(status=status, content_type="text/html",
                                    text=f"<html><body><h1>{status} Bad Gateway</h1></body></html>"
                                    if status == 502 else
                                    "<html><body><h1>503 Service Unavailable</h1></body></html>")
        try:
            return await handler(request)
        except ApiError as exc:
            return error_response(exc.status, exc.error_code, exc.message)

    @web.middleware
    async def _mw_faults(self, request: web.Request, handler: Callable[..., Any]) -> web.StreamResponse:
        if not request.path.startswith("/_sim/"):
            for fault in self.faults:
                if fault.count > 0 and fault.matches(request):
                    fault.count -= 1
                    self.faults = [f for f in self.faults if f.count > 0]
                    if fault.drop:
                        if request.transport is not None:
                            request.transport.abort()
                        return web.Response(status=500)
                    if fault.cut_after_bytes is not None:
                        request[CUT_KEY] = fault.cut_after_bytes
                        break
                    status = fault.status or 500
                    return error_response(status, fault.error_code or "internal_server_error",
                                          fault.message or "Injected fault")
        return await handler(request)

    @web.middleware
    async def _mw_auth(self, request: web.Request, handler: Callable[..., Any]) -> web.StreamResponse:
        path = request.path
        if not path.startswith("/api/") or path in (API + "/snapshot-status", API + "/ok"):
            return await handler(request)
        user = self._authenticate(request)
        request[USER_KEY] = user
        tenant = request.headers.get("Tenant")
        if tenant and tenant != self.options.tenant:
            raise ApiError(403, "forbidden_error", "Authorization failed: Tried to authenticate "
                           f"with invalid tenant name: {tenant}")
        return await handler(request)

    def _authenticate(self, request: web.Request) -> str:
        token = request.headers.get("Authentication-Token")
        if token:
            if token in self.state.tokens:
                record = self.state.tokens[token]
                record["last_used"] = iso(self.now())  # user_handler.py: token.last_used
                return str(record["username"])
            raise ApiError(401, "unauthorized_error",
                           "User unauthorized: Authentication failed, invalid token")
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Basic "):
            raise ApiError(401, "unauthorized_error", "User unauthorized: No authentication info provided")
        try:
            username, _, password = base64.b64decode(auth[6:]).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise ApiError(401, "unauthorized_error",
                           "User unauthorized: No authentication info provided") from None
        user = self.state.users.get(username)
        if user is None or password != user["password"]:
            raise ApiError(401, "unauthorized_error", "User unauthorized: Authentication failed for "
                           f"<User username=`{username}`>. Wrong credentials or locked account")
        return self._logged_in(username)

    def _logged_in(self, username: str) -> str:
        """security/user_handler.py _reset_failed_logins_counter: each request authenticated by
        password is a login (first_login_at set once, last_login_at each time)."""
        user = self.state.users.get(username)
        if user is not None:
            now = iso(self.now())
            user.setdefault("first_login_at", now)
            user["last_login_at"] = now
        return username

    @web.middleware
    async def _mw_maintenance(self, request: web.Request,
                              handler: Callable[..., Any]) -> web.StreamResponse:
        """manager_rest/maintenance.py: maintenance_mode_handler, after authentication."""
        if not request.path.startswith("/api/"):
            return await handler(request)
        self._update_maintenance()
        status = self.state.maintenance["status"]
        if status == "deactivated":
            return await handler(request)
        # utils.is_bypass_maintenance_mode: any non-empty header value bypasses (for an admin)
        if request.headers.get("X-BYPASS-MAINTENANCE"):
            return await handler(request)
        path = request.path
        parts = (path[len(API) + 1:] if path.startswith(API + "/") else path[5:]).strip("/").split("/")
        endpoint = parts[0]
        writes = request.method in ("POST", "PATCH", "PUT")
        if status == "activating":
            if ((endpoint == "snapshots" and len(parts) == 2 and writes)
                    or (endpoint == "snapshots" and len(parts) == 3 and parts[2] == "restore")
                    or (endpoint == "executions" and len(parts) == 1 and writes)
                    or (endpoint == "deployments" and len(parts) == 2 and writes)
                    or (endpoint == "deployment-modifications" and writes)):
                raise ApiError(503, "entering_maintenance_mode", MAINTENANCE_MESSAGE)
            return await handler(request)
        if endpoint in MAINTENANCE_ALLOWED:
            return await handler(request)
        raise ApiError(503, "maintenance_mode_active", MAINTENANCE_MESSAGE)

    # --- helpers used by routes ---------------------------------------------------------
    def issue_token(self, username: str, description: str | None = None) -> dict[str, Any]:
        chars = string.ascii_letters + string.digits
        tid = "".join(secrets.choice(chars) for _ in range(10))
        secret = "".join(secrets.choice(chars) for _ in range(40))
        value = f"ctok-{tid}-{secret}"
        record = {"id": tid, "description": description, "username": username,
                  "value": value, "role": "sys_admin", "expiration_date": None,
                  "last_used": None}
        self.state.tokens[value] = record
        return record

    async def http_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    def reset(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        self.faults.clear()
        self.create_fails = self.restore_fails = self.restore_meets = None
        self.options = SimulatorOptions(**asdict(self.defaults))
        self.clock.reset()
        self._outage_until = self._restore_linger_until = self.clock.deadline(0)
        self._restore_running = 0
        self._restore_stuck = False
        self._queue.clear()
        shutil.rmtree(os.path.join(self.data_dir, "snapshots"), ignore_errors=True)
        self.state = self._fresh_state()


async def start_simulator(host: str = "127.0.0.1", port: int = 0,
                          options: SimulatorOptions | None = None,
                          clock: SimClock | None = None) -> Simulator:
    """Start a simulator listening on host:port (0 = a free port) and return it. `clock`
    replaces the one `options.clock` names (devtools.simulator.clock)."""
    sim = Simulator(host, port, options or SimulatorOptions(), clock)
    await sim.start()
    return sim

