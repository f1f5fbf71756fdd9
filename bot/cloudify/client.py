"""Async Cloudify Manager REST v3.1 client (httpx).

Every method raises a `bot.errors.CloudifyError` subclass chosen by the manager's `error_code`,
or `ManagerUnavailable` for connection errors, timeouts and 502/503/504 without a Cloudify body.

Facts about the wire format come from cloudify-common's `cloudify_rest_client` (7.0.x):
- create: `PUT /snapshots/<id>` JSON body with include_credentials, include_logs, include_events,
  queue, tempdir_path, legacy, listener_timeout; expects 201 and returns an execution.
- restore: `POST /snapshots/<id>/restore` JSON body with force, restore_certificates, no_reboot,
  ignore_plugin_failure (5.x managers also require recreate_deployments_envs; 7.x dropped it).
- upload: `PUT /snapshots/<id>/archive` with the file as a chunked raw body, or no body and the
  query parameter `snapshot_archive_url`; expects 201 and returns the snapshot.
  The rest client sends its session-wide `Content-type: application/json` even then; this
  client labels the raw body `application/octet-stream`.
- 304 from maintenance activate/deactivate means "already in that state" (the rest client turns
  it into NotModifiedError); here it returns the current state instead.
- `X-BYPASS-MAINTENANCE: true` lets an admin read executions/events while maintenance is on.

Secrets: credentials live only inside the httpx client (auth / default headers). Error messages
and log lines are built from the method, the path (never the query string) and the manager's own
message, so no password, token or header can leak through them.
"""
from __future__ import annotations

import logging
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, Self, TypeVar, Unpack

from bot.cloudify import versions
from bot.cloudify.cluster import ClusterHealth, assess
from bot.cloudify.models import (
    ArchiveInfo,
    Deployment,
    Event,
    Execution,
    ExecutionSchedule,
    MaintenanceState,
    ManagerNode,
    PluginsUpdate,
    Snapshot,
    Version,
    items_of,
)
from bot.cloudify.session import ManagerSession, SessionOptions
from bot.cloudify.transfer import ArchiveTransfers
from bot.errors import ConfigError, NotFound, ServerError, UsageError

logger = logging.getLogger("bot.cloudify")

BYPASS_MAINTENANCE_HEADER = "X-BYPASS-MAINTENANCE"


def _bool(value: bool) -> str:
    return "true" if value else "false"


class ManagerClients(dict[str, "CloudifyClient"]):
    """The clients by configured manager name; an unknown name (e.g. a job of a manager since
    removed from the config) is a UsageError naming the configured ones, not a KeyError."""

    def __missing__(self, name: str) -> CloudifyClient:
        known = ", ".join(self)
        raise UsageError(f"unknown manager {name!r} (configured: {known})")


T = TypeVar("T")


class CloudifyClient:
    """Cloudify's REST API for one manager and tenant, composed of its `session` (the HTTP
    side: credentials, retries, paginated lists) and its `transfers` (archives both ways, over
    the same session). Use as `async with CloudifyClient(...) as c:` or call `aclose`."""

    def __init__(self, base_url: str, **options: Unpack[SessionOptions]) -> None:
        self.session = ManagerSession(base_url, **options)
        self.transfers = ArchiveTransfers(self.session)

    @property
    def name(self) -> str:
        """The manager's configured name (every error raised carries it as `.manager`)."""
        return self.session.name

    @property
    def snapshot_format(self) -> str:
        return self.session.snapshot_format

    def __repr__(self) -> str:
        return f"CloudifyClient({self.session.name!r}, {self.session.base_url!r}, tenant={self.session.tenant!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.session.aclose()

    def reload_credentials(self) -> bool:
        """Read the password/token file again; True when it held a new secret (now in use)."""
        return self.session.reload_credentials()

    # -- archives (bot.cloudify.transfer) --------------------------------------------------------
    async def download_snapshot(self, snapshot_id: str, dest: str | Path) -> ArchiveInfo:
        return await self.transfers.download_snapshot(snapshot_id, dest)

    async def stream_archive(self, snapshot_id: str,
                             sink: Callable[[AsyncIterator[bytes], int | None], Awaitable[T]]) -> T:
        return await self.transfers.stream_archive(snapshot_id, sink)

    async def upload_snapshot(self, snapshot_id: str, *, path: str | Path | None = None,
                              url: str | None = None,
                              content: AsyncIterable[bytes] | None = None) -> Snapshot:
        return await self.transfers.upload_snapshot(snapshot_id, path=path, url=url, content=content)

    # -- manager -----------------------------------------------------------------------------

    async def version(self) -> Version:
        return Version.from_api(await self.session.get_json("/version"))

    async def status(self) -> dict[str, Any]:
        """`GET /status`: {"status": "OK"|"Fail", "services": {...}}."""
        return dict(await self.session.get_json("/status"))

    async def current_username(self) -> str:
        """`GET /user`: the user these credentials act as ("" when not said)."""
        return str((await self.session.get_json("/user")).get("username") or "")

    async def managers(self) -> list[ManagerNode]:
        return [ManagerNode.from_api(d) for d in items_of(await self.session.get_json("/managers"))]

    async def cluster_status(self, *, summary: bool = False) -> dict[str, Any]:
        """`GET /cluster-status` (what `cfy cluster status` reads)."""
        params = {"summary": "true"} if summary else None
        return dict(await self.session.get_json("/cluster-status", params=params))

    async def cluster_health(self) -> ClusterHealth:
        """`/managers` and `/cluster-status` read together (see `bot.cloudify.cluster`). A
        manager without cluster-status (404) gives the nodes only; one whose full answer fails is
        asked for the summary, whose HTTP 500 means the status is Fail."""
        nodes = await self.managers()
        cluster: dict[str, Any] | None = None
        summary: str | None = None
        try:
            cluster = await self.cluster_status()
        except NotFound:
            cluster = None
        except ServerError:
            try:
                summary = (await self.cluster_status(summary=True)).get("status")
            except ServerError as exc:
                summary = "Fail" if exc.status == 500 else None
        return assess(nodes, cluster, summary)

    # -- snapshots ---------------------------------------------------------------------------

    async def list_snapshots(self) -> list[Snapshot]:
        items = await self.session.get_list("/snapshots", {"_sort": "-created_at"}, size=1000)
        return [Snapshot.from_api(d) for d in items]

    async def get_snapshot(self, snapshot_id: str, *, retries: int | None = None,
                           timeout: float | None = None) -> Snapshot:
        """One snapshot. Retries like every GET; a loop that follows a restart through an
        outage can pass `retries=0` and a short `timeout` and do its own waiting."""
        return Snapshot.from_api(await self.session.get_json(f"/snapshots/{snapshot_id}",
                                                      retries=retries, timeout=timeout))

    async def create_snapshot(self, snapshot_id: str, *, include_credentials: bool = True,
                              include_logs: bool = True, include_events: bool = True,
                              queue: bool = False, tempdir_path: str | None = None,
                              legacy: bool | None = None,
                              listener_timeout: int | None = None) -> Execution:
        """Start a snapshot. `legacy` picks the format on 7.0+ (True: database dump, what the
        7.0.5 CLI defaults to; False: the per-item export). None: the configured
        `snapshot_format` for this manager's version; the key is left out on 5.x/6.x managers
        (one format only; their clients never send it). Note a 7.0 manager that gets no `legacy`
        makes a *new-format* snapshot."""
        if legacy is None:
            legacy = (await self.create_format())[1]
        body: dict[str, Any] = {"include_credentials": include_credentials,
                                "include_logs": include_logs, "include_events": include_events,
                                "queue": queue, "tempdir_path": tempdir_path,
                                "listener_timeout": listener_timeout}
        if legacy is not None:
            body["legacy"] = legacy
        resp = await self.session.request("PUT", f"/snapshots/{snapshot_id}", json_body=body,
                                   expected=(201,))
        return Execution.from_api(resp.json())

    async def create_format(self) -> tuple[str, bool | None]:
        """(format, legacy flag to send) for a snapshot created now on this manager, from the
        configured `snapshot_format` and the manager's version. Raises ConfigError when the
        setting asks for a format the version does not have."""
        answer = await self.version()
        version = answer.version
        try:
            fmt = versions.resolve_format(self.snapshot_format, version)
        except versions.FormatNotSupported as exc:
            raise ConfigError(f"snapshot_format of manager {self.name}", str(exc)) from None
        if fmt == versions.NEW and answer.edition.lower() == "community":
            # the new-format dump reads GET /users, premium only (missing_premium_package_error)
            raise ConfigError(f"snapshot_format of manager {self.name}",
                              "`new` needs the premium edition; this manager is community, where a "
                              "new-format snapshot fails at once (use `legacy` or `auto`)")
        return fmt, versions.legacy_flag(fmt, version)

    async def delete_snapshot(self, snapshot_id: str) -> Snapshot:
        resp = await self.session.request("DELETE", f"/snapshots/{snapshot_id}", expected=(200, 204))
        if resp.status_code == 204 or not resp.content:
            return Snapshot(id=snapshot_id, status="deleted")
        return Snapshot.from_api(resp.json())

    async def restore_snapshot(self, snapshot_id: str, *, force: bool = False,
                               restore_certificates: bool = False, no_reboot: bool = False,
                               tenant_name: str | None = None,
                               ignore_plugin_failure: bool = False,
                               recreate_deployments_envs: bool | None = None) -> Execution:
        """Start a restore. `force` is always sent (some versions answer 500 without it).

        `tenant_name` is sent only when given (older managers read it; 7.x ignores it);
        `recreate_deployments_envs` only when given (5.x managers require it, 6.0+ dropped it).
        """
        body: dict[str, Any] = {"force": force, "restore_certificates": restore_certificates,
                                "no_reboot": no_reboot,
                                "ignore_plugin_failure": ignore_plugin_failure}
        if tenant_name is not None:
            body["tenant_name"] = tenant_name
        if recreate_deployments_envs is not None:
            body["recreate_deployments_envs"] = recreate_deployments_envs
        resp = await self.session.request("POST", f"/snapshots/{snapshot_id}/restore", json_body=body,
                                   expected=(200, 201))
        return Execution.from_api(resp.json())

    async def snapshot_status(self, *, retries: int | None = None,
                              timeout: float | None = None) -> str:
        """'running' or 'not-running' (no auth needed on the manager).

        Retries like every GET. To follow a restore through its outage, poll it with
        `retries=0` and a short `timeout` (a connection opened as the REST service goes down
        may never be answered) and treat `ManagerUnavailable` as "still restarting"."""
        data = await self.session.get_json("/snapshot-status", retries=retries, timeout=timeout)
        return str(data.get("status") or "") if isinstance(data, dict) else str(data)

    # -- maintenance -------------------------------------------------------------------------

    async def maintenance(self) -> MaintenanceState:
        return MaintenanceState.from_api(await self.session.get_json("/maintenance"))

    async def activate_maintenance(self) -> MaintenanceState:
        """Returns the new state; if already on (304), the current state."""
        return await self._maintenance_switch("activate")

    async def deactivate_maintenance(self) -> MaintenanceState:
        """Returns the new state; if already off (304), the current state."""
        return await self._maintenance_switch("deactivate")

    async def _maintenance_switch(self, action: str) -> MaintenanceState:
        resp = await self.session.request("POST", f"/maintenance/{action}", expected=(200, 304))
        if resp.status_code == 304 or not resp.content:
            return await self.maintenance()
        return MaintenanceState.from_api(resp.json())

    # -- executions, events, deployments, plugins --------------------------------------------

    @staticmethod
    def _bypass(bypass_maintenance: bool) -> dict[str, str] | None:
        return {BYPASS_MAINTENANCE_HEADER: "true"} if bypass_maintenance else None

    async def list_executions(self, *, status: str | list[str] | None = None,
                              workflow_id: str | None = None, deployment_id: str | None = None,
                              include_system_workflows: bool = True, sort: str = "-created_at",
                              size: int = 1000, offset: int = 0,
                              bypass_maintenance: bool = False) -> list[Execution]:
        """All matching executions from `offset` on, fetched `size` at a time."""
        query: dict[str, Any] = {"_include_system_workflows": _bool(include_system_workflows)}
        if sort:
            query["_sort"] = sort
        if status is not None:
            query["status"] = [status] if isinstance(status, str) else list(status)
        if workflow_id is not None:
            query["workflow_id"] = workflow_id
        if deployment_id is not None:
            query["deployment_id"] = deployment_id
        items = await self.session.get_list("/executions", query, size=size, offset=offset,
                                 headers=self._bypass(bypass_maintenance))
        return [Execution.from_api(d) for d in items]

    async def get_execution(self, execution_id: str, *, bypass_maintenance: bool = False,
                            retries: int | None = None,
                            timeout: float | None = None) -> Execution:
        return Execution.from_api(await self.session.get_json(
            f"/executions/{execution_id}", headers=self._bypass(bypass_maintenance),
            retries=retries, timeout=timeout))

    async def start_execution(self, deployment_id: str, workflow_id: str, *,
                              parameters: dict[str, Any] | None = None,
                              scheduled_time: str | None = None) -> Execution:
        """`POST /executions`. With `scheduled_time`, a 5.x manager stores a `scheduled`
        execution; 6.x/7.x make an execution schedule instead and answer an execution with no id
        (id "" here; `list_execution_schedules` shows the schedule)."""
        body: dict[str, Any] = {"deployment_id": deployment_id, "workflow_id": workflow_id,
                                "parameters": parameters or {}}
        if scheduled_time is not None:
            body["scheduled_time"] = scheduled_time
        resp = await self.session.request("POST", "/executions", json_body=body, expected=(200, 201))
        return Execution.from_api(resp.json())

    async def cancel_execution(self, execution_id: str, *, force: bool = False,
                               kill: bool = False) -> Execution:
        """`POST /executions/<id>` {"action": "cancel"|"force-cancel"|"kill"} (what `cfy
        executions cancel` sends). The manager answers 400 illegal_action_error when the
        execution is not in a state that can be cancelled."""
        action = "kill" if kill else "force-cancel" if force else "cancel"
        resp = await self.session.request("POST", f"/executions/{execution_id}",
                                   json_body={"action": action}, expected=(200,))
        return Execution.from_api(resp.json())

    async def end_execution(self, execution_id: str, status: str, *, error: str = "") -> Execution:
        """`PATCH /executions/<id>` {"status", "error"}: the status update the mgmtworker sends
        when a workflow ends. For an execution the manager stored but will never run."""
        resp = await self.session.request("PATCH", f"/executions/{execution_id}",
                                          json_body={"status": status, "error": error}, expected=(200,),
                                          headers={BYPASS_MAINTENANCE_HEADER: "true"})
        return Execution.from_api(resp.json())

    async def list_execution_schedules(self, *, bypass_maintenance: bool = False) -> list[ExecutionSchedule]:
        """`GET /execution-schedules` (6.0+; 5.x managers answer 404)."""
        items = await self.session.get_list("/execution-schedules", {}, size=1000,
                                 headers=self._bypass(bypass_maintenance))
        return [ExecutionSchedule.from_api(d) for d in items]

    async def list_events(self, execution_id: str, *, type: str = "cloudify_log",
                          bypass_maintenance: bool = False) -> list[Event]:
        query: dict[str, Any] = {"execution_id": execution_id, "_sort": "@timestamp"}
        if type:
            query["type"] = type
        items = await self.session.get_list("/events", query, size=1000,
                                 headers=self._bypass(bypass_maintenance))
        return [Event.from_api(d) for d in items]

    async def list_deployments(self) -> list[Deployment]:
        return [Deployment.from_api(d) for d in await self.session.get_list("/deployments", {}, size=1000)]

    async def list_blueprints(self) -> list[dict[str, Any]]:
        return await self.session.get_list("/blueprints", {}, size=1000)

    async def list_names(self, resource: str, field: str) -> list[str]:
        """One field of every item of a list endpoint (`/tenants` `name`, `/secrets` `key`, ...),
        asking the manager for that field only (`_include`): a secret's value never travels."""
        items = await self.session.get_list(f"/{resource}", {"_include": field}, size=1000)
        return [str(item.get(field, "")) for item in items if isinstance(item, dict)]

    async def update_plugins(self, blueprint_id: str, *, force: bool = False) -> PluginsUpdate:
        resp = await self.session.request("POST", f"/plugins-updates/{blueprint_id}/update/initiate",
                                   json_body={"force": force}, expected=(200, 201))
        return PluginsUpdate.from_api(resp.json())

    async def get_plugins_update(self, update_id: str) -> PluginsUpdate:
        return PluginsUpdate.from_api(await self.session.get_json(f"/plugins-updates/{update_id}"))
