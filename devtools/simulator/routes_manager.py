"""Manager-level routes: version, status, cluster, nodes, tokens, users, tenants, license."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

import devtools.simulator.profiles as profiles
from devtools.simulator.base import USER_KEY, ApiError, not_found
from devtools.simulator.routes_common import Route, body_json, listing

if TYPE_CHECKING:
    from devtools.simulator.app import Simulator

_SERVICES_OK = {
    "Management Worker": {"status": "Active", "is_remote": False, "extra_info": {}},
    "Restservice": {"status": "Active", "is_remote": False, "extra_info": {}},
    "Webserver": {"status": "Active", "is_remote": False, "extra_info": {}},
}


class ManagerRoutes:
    def __init__(self, sim: Simulator) -> None:
        self.s = sim

    def table(self) -> list[Route]:
        return [
            ("GET", "/version", self.version), ("GET", "/status", self.status),
            ("GET", "/ok", self.ok), ("GET", "/cluster-status", self.cluster_status),
            ("GET", "/managers", self.managers), ("GET", "/brokers", self.brokers),
            ("GET", "/db-nodes", self.db_nodes), ("GET", "/provider/context", self.provider_context),
            ("GET", "/tokens", self.tokens_get), ("POST", "/tokens", self.tokens_post),
            ("GET", "/user", self.user), ("GET", "/users/{name}", self.user_get),
            ("POST", "/users/{name}", self.user_update), ("GET", "/tenants", self.tenants),
            ("GET", "/license", self.license), ("GET", "/license-check", self.license_check),
        ]

    async def version(self, request: web.Request) -> web.Response:
        return web.json_response({"version": self.s.options.version, "edition": "premium",
                                  "date": "2023-12-01", "build": "", "commit": "",
                                  "distribution": "rhel", "distro_release": "Ootpa"})

    def cluster(self) -> dict[str, Any]:
        """cluster_status_manager.py get_cluster_status: per service and node; overall Fail if
        any service fails, else Degraded if any is degraded, else OK."""
        s = self.s
        nodes = {}
        for m in s.state.managers:
            ok = not m["down"]
            nodes[m["hostname"]] = {
                "status": "OK" if ok else "Fail", "version": m["version"],
                "public_ip": m["public_ip"], "private_ip": m["private_ip"],
                "services": dict(_SERVICES_OK) if ok else {},
            }
        down = sum(1 for m in s.state.managers if m["down"])
        active = sum(1 for m in s.state.managers if m["active"] and not m["down"])
        if down == len(s.state.managers):
            status = "Fail"
        elif down or active > 1:
            status = "Degraded"
        else:
            status = "OK"
        ip = s.node_ip() or "10.0.0.2"
        bip = s.node_ip() or "10.0.0.3"
        return {"status": status, "services": {
            "manager": {"status": status, "is_external": False, "nodes": nodes},
            "db": {"status": "OK", "is_external": False, "nodes": {
                "db-1": {"status": "OK", "version": s.options.version, "public_ip": ip,
                         "private_ip": ip, "services": {}}}},
            "broker": {"status": "OK", "is_external": False, "nodes": {
                "broker-1": {"status": "OK", "version": s.options.version,
                             "public_ip": bip, "private_ip": bip, "services": {}}}},
        }}

    async def status(self, request: web.Request) -> web.Response:
        cluster = self.cluster()
        first = next(iter(cluster["services"]["manager"]["nodes"].values()), {"services": {}})
        if request.query.get("summary", "").lower() == "true":
            return web.json_response({"status": cluster["status"], "services": {}})
        return web.json_response({"status": "OK" if cluster["status"] == "OK" else "Fail",
                                  "services": first.get("services", {})})

    async def cluster_status(self, request: web.Request) -> web.Response:
        cluster = self.cluster()
        if request.query.get("summary", "").lower() == "true":
            # resources_v3_1/cluster_status.py: the summary answers 500 when the status is Fail
            code = 500 if cluster["status"] == "Fail" else 200
            return web.json_response({"status": cluster["status"], "services": {}}, status=code)
        return web.json_response(cluster)

    async def managers(self, request: web.Request) -> web.Response:
        s = self.s
        with_active = s.profile.managers_is_active or s.compat(profiles.COMPAT_MANAGERS_IS_ACTIVE)
        items = []
        for m in s.state.managers:
            item = {k: v for k, v in m.items() if k not in ("active", "down")}
            if with_active:
                item["is_active"] = m["active"]
            items.append(item)
        return listing(request, items)

    async def brokers(self, request: web.Request) -> web.Response:
        ip = self.s.node_ip() or "10.0.0.3"
        return listing(request, [{"name": "broker-1", "host": ip, "management_host": ip,
                                  "port": 5671, "networks": {"default": ip},
                                  "ca_cert_content": None, "is_external": False,
                                  "node_id": "broker-node-1"}])

    async def db_nodes(self, request: web.Request) -> web.Response:
        ip = self.s.node_ip() or "10.0.0.2"
        return listing(request, [{"name": "db-1", "host": ip, "is_external": False,
                                  "node_id": "db-node-1"}])

    async def provider_context(self, request: web.Request) -> web.Response:
        return web.json_response({"name": "provider", "context": {"cloudify": {
            "cloudify_agent": {"broker_port": 5671, "min_workers": 0, "max_workers": 5},
            "workflows": {"task_retries": 60, "task_retry_interval": 15}}}})

    async def tokens_get(self, request: web.Request) -> web.Response:
        return web.json_response(self.s.issue_token(request[USER_KEY]))

    async def tokens_post(self, request: web.Request) -> web.Response:
        data = await body_json(request)
        return web.json_response(self.s.issue_token(request[USER_KEY], data.get("description")),
                                 status=201)

    def _user_view(self, username: str) -> dict[str, Any]:
        u = self.s.state.users.get(username)
        if u is None:
            raise not_found("User", username)
        return {"username": username, "role": u.get("role", "sys_admin"),
                "tenants": {self.s.options.tenant: {"tenant-role": "user", "roles": ["user"]}},
                "groups": [], "active": True, "last_login_at": None, "is_locked": False,
                "show_getting_started": False, "first_login_at": None,
                "created_at": u.get("created_at"), "group_system_roles": {},
                "user_tenants": {}, "group_tenants": {}}

    async def user(self, request: web.Request) -> web.Response:
        return web.json_response(self._user_view(request[USER_KEY]))

    async def user_get(self, request: web.Request) -> web.Response:
        return web.json_response(self._user_view(request.match_info["name"]))

    async def user_update(self, request: web.Request) -> web.Response:
        """resources_v3/users.py UsersId.post: password | role | show_getting_started."""
        name = request.match_info["name"]
        view = self._user_view(name)
        data = await body_json(request)
        password, role = data.get("password"), data.get("role")
        if password and role:
            raise ApiError(400, "bad_parameters_error", "Both `password` and `role` provided")
        if password:
            self.s.state.users[name]["password"] = str(password)
        elif role:
            self.s.state.users[name]["role"] = str(role)
            view["role"] = role
        return web.json_response(view)

    async def tenants(self, request: web.Request) -> web.Response:
        return listing(request, [{"name": self.s.options.tenant, "groups": 0, "users": 1,
                                  "user_roles": {}, "rabbitmq_vhost": self.s.options.tenant}])

    async def license(self, request: web.Request) -> web.Response:
        return listing(request, [])

    async def license_check(self, request: web.Request) -> web.Response:
        # resources_v3_1/license.py LicenseCheckPremium: "OK", 200
        return web.json_response("OK")

    async def ok(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})
