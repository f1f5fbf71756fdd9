"""Manager-level routes: version, status, cluster, nodes, tokens, users, tenants, license."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

import devtools.simulator.profiles as profiles
from devtools.simulator.base import USER_KEY, ApiError, not_found
from devtools.simulator.routes_common import Route, body_json, listing

if TYPE_CHECKING:
    from devtools.simulator.app import Simulator

# resources_v3_1/status.py: BASE_SERVICES' names, then RabbitMQ and PostgreSQL (no extra_info)
_SERVICES_OK: dict[str, dict[str, Any]] = {
    **{name: {"status": "Active", "is_remote": False, "extra_info": {}}
       for name in ("Webserver", "Management Worker", "Manager Rest-Service", "Cloudify API",
                    "Cloudify Execution Scheduler")},
    "RabbitMQ": {"is_remote": True, "status": "Active", "extra_info": {}},
    "PostgreSQL": {"is_remote": True, "status": "Active"},
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
            ("GET", "/users", self.users),
            ("POST", "/users/{name}", self.user_update), ("GET", "/tenants", self.tenants),
            ("GET", "/license", self.license), ("GET", "/license-check", self.license_check),
        ]

    async def version(self, request: web.Request) -> web.Response:
        return web.json_response({"version": self.s.options.version, "edition": self.s.options.edition,
                                  "date": "2023-12-01", "build": "", "commit": "",
                                  "distribution": "rhel", "distro_release": "Ootpa"})

    def cluster(self) -> dict[str, Any]:
        """cluster_status_manager.py get_cluster_status: per service and node; overall Fail if
        any service fails, else Degraded if any is degraded, else OK."""
        s = self.s
        nodes = {}
        for m in s.state.managers:
            ok = not m["down"]
            # cluster_status_manager.py _get_service_details
            nodes[m["hostname"]] = {
                "private_ip": m["private_ip"], "public_ip": m["public_ip"],
                "version": m["version"], "services": dict(_SERVICES_OK) if ok else {},
                "status": "OK" if ok else "Fail",
            }
            if s.profile.node_failures:
                # 6.4.2/7.0.5 _get_node_state: the reasons stay in the answer, beside the
                # node's metrics (services and metrics are popped unless detailed); a node
                # Prometheus reports nothing for fails with 'No metrics' while its services run
                nodes[m["hostname"]]["metrics"] = []
                nodes[m["hostname"]]["failures"] = (
                    [] if ok else ["No metrics"] if m.get("no_metrics") else ["No services.", "No metrics"])
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
        extra: dict[str, Any] = {"metrics": [], "failures": []} if s.profile.node_failures else {}
        return {"status": status, "services": {
            "manager": {"status": status, "is_external": False, "nodes": nodes},
            "db": {"status": "OK", "is_external": False, "nodes": {
                "db-1": {"status": "OK", "version": s.options.version, "public_ip": ip,
                         "private_ip": ip, "services": {}, **extra}}},
            "broker": {"status": "OK", "is_external": False, "nodes": {
                "broker-1": {"status": "OK", "version": s.options.version,
                             "public_ip": bip, "private_ip": bip, "services": {}, **extra}}},
        }}

    async def status(self, request: web.Request) -> web.Response:
        cluster = self.cluster()
        first = next(iter(cluster["services"]["manager"]["nodes"].values()), {"services": {}})
        if request.query.get("summary", "").lower() == "true":
            return web.json_response({"status": cluster["status"], "services": {}})
        return web.json_response({"status": "OK" if cluster["status"] == "OK" else "Fail",
                                  "services": first.get("services", {})})

    async def cluster_status(self, request: web.Request) -> web.Response:
        if self.s.profile.cluster_status_banned_in_restore and self.s.snapshot_restore_running():
            raise ApiError(503, "in_snapshot_restore_error", "")  # prevent_running_in_snapshot_restore
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
        if not self.s.profile.tokens_listed:
            return web.json_response(self.s.issue_token(request[USER_KEY]))
        # resources_v3_1/tokens.py Tokens.get: the tokens (sys_admin: everyone's), each with its
        # secret masked (storage/management_models.py Token.value)
        items = [{**t, "value": f"ctok-{t['id']}-********"} for t in self.s.state.tokens.values()]
        return listing(request, items)

    async def tokens_post(self, request: web.Request) -> web.Response:
        data = await body_json(request)
        token = self.s.issue_token(request[USER_KEY], data.get("description"))
        return web.json_response(token, status=200 if self.s.profile.tokens_listed else 201)

    def _user_view(self, username: str, get_data: bool = False) -> dict[str, Any]:
        """responses_v3.py UserResponse from storage/management_models.py User.to_response:
        tenants and groups are counts unless `_get_data=true`; tenant_roles only then;
        password_hash always null (include_hash is never set through the API)."""
        u = self.s.state.users.get(username)
        if u is None:
            raise not_found("User", username)
        tenant = self.s.options.tenant
        view: dict[str, Any] = {
            "username": username, "tenants": 1, "tenant_roles": None, "groups": 0,
            "role": u.get("role", "sys_admin"), "group_system_roles": {}, "active": True,
            "created_at": u.get("created_at"), "first_login_at": u.get("first_login_at"),
            "last_login_at": u.get("last_login_at"), "is_locked": False,
            "show_getting_started": True, "password_hash": None}
        if get_data:
            view.update(tenants={tenant: {"tenant-role": "user", "roles": ["user"]}}, groups=[],
                        tenant_roles={"direct": {tenant: "user"}, "groups": {}})
        return view

    @staticmethod
    def _get_data(request: web.Request) -> bool:
        return request.query.get("_get_data", "").lower() == "true"

    async def user(self, request: web.Request) -> web.Response:
        return web.json_response(self._user_view(request[USER_KEY], self._get_data(request)))

    def _community(self) -> bool:
        return self.s.options.edition == "community"

    async def users(self, request: web.Request) -> web.Response:
        """`GET /users` (premium; a community manager answers 404 missing_premium_package_error:
        manager_exceptions.py MissingPremiumPackage)."""
        if self._community():
            raise ApiError(404, "missing_premium_package_error",
                           "This feature exists only in the premium edition of Cloudify.\n"
                           "Please contact sales for additional info.")
        return listing(request, [self._user_view(name) for name in sorted(self.s.state.users)])

    async def user_get(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if self._community() and name != request[USER_KEY]:
            # resources_v3/users.py UsersIdCommunity.get: only one's own details
            raise ApiError(400, "bad_parameters_error", "Cannot get details of a different user")
        return web.json_response(self._user_view(name, self._get_data(request)))

    async def user_update(self, request: web.Request) -> web.Response:
        """resources_v3/users.py UsersId.post: password | role | show_getting_started."""
        name = request.match_info["name"]
        if self._community() and name != request[USER_KEY]:
            # resources_v3/users.py UsersIdCommunity.post
            raise ApiError(400, "bad_parameters_error", "Cannot change settings for a different user")
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
        """responses_v3.py TenantResponse from Tenant.to_response: groups and users are counts
        unless `_get_data=true` (then user_roles too); the rabbitmq_* fields answer null."""
        user = self.s.options.username
        item: dict[str, Any] = {"name": self.s.options.tenant, "groups": 0, "users": 1,
                                "user_roles": None, "rabbitmq_username": None,
                                "rabbitmq_password": None, "rabbitmq_vhost": None}
        if self._get_data(request):
            item.update(groups={}, users={user: {"tenant-role": "user", "roles": ["user"]}},
                        user_roles={"direct": {user: "user"}, "groups": {}})
        return listing(request, [item])

    async def license(self, request: web.Request) -> web.Response:
        return listing(request, [])

    async def license_check(self, request: web.Request) -> web.Response:
        # resources_v3_1/license.py LicenseCheckPremium: "OK", 200
        return web.json_response("OK")

    async def ok(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})
