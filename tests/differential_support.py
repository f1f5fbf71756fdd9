"""The differential test's sequence of calls, and how answers are compared.

One sequence (`SEQUENCE`) is sent, in order, to two managers: the real Cloudify Manager 7.0.5
(`snapbot realmanager`) and the simulator's 7.0.5 profile (`snapbot simulator --manager-version
7.0.5`, in a process of its own). Each answer is reduced to an `Observation`: its HTTP status, its
`error_code`, and its *shape* (the keys and JSON types of the answer, never the values). Two
observations that differ give one `Difference` per thing that differs; the test holds the list of
differences accepted with a reason (`ACCEPTED`, also the table in docs/development.md), so a new
one fails it.

The sequence covers every call snapbot's Cloudify client makes (`Call.client` names the client
methods a call stands for; tests/test_differential.py checks none is left out) and their error
cases. Executions that must stay `pending` or `queued` are staged through Cloudify's own API:
`POST /executions` with `force_status` (an admin's `set_execution_details`, what the new-format
snapshot restore uses to re-create executions) and ended with `PATCH /executions/<id>` (the status
update the mgmtworker sends), so no workflow runs and both managers hold the same state.
"""
from __future__ import annotations

import asyncio
import base64
import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

API = "/api/v3.1"
TENANT = "default_tenant"
BYPASS = {"X-BYPASS-MAINTENANCE": "true"}
#: keys whose value is free-form data (workflow parameters, inputs, a rule, a plan): only their JSON
#: type is compared, not the keys inside
FREE_FORM = frozenset({
    "parameters", "inputs", "outputs", "capabilities", "runtime_properties", "properties",
    "execution_arguments", "rule", "plan", "workflows", "policy_types", "policy_triggers",
    "groups", "scaling_groups", "resource_tags", "context", "extra_info", "error_causes",
    "operations", "plugins", "plugins_to_install", "relationships", "labels",
    "deployment_groups", "sub_services_status", "sub_environments_status", "tenants",
    "user_tenants", "group_tenants", "group_system_roles", "requirements", "imported_blueprints", "upload_execution", "latest_execution",
    "summary", "filtered", "display_name_extra",
})
#: keys whose value maps names (hosts, services) to records: the records' shape is compared (the
#: first in name order), not the names
MAPS = frozenset({"nodes", "services"})


# --- the sequence ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Call:
    """One request. `{name}` in path, params values and body strings is replaced by the value saved
    under `name` on that manager (`prefix` is a per-run prefix for ids, `dep` a deployment)."""
    name: str
    method: str
    path: str
    expect: int  # the status Cloudify 7.0.5 answers, read from its source
    params: Mapping[str, Any] | None = None
    body: Any = None
    content: str | None = None  # a raw body: the name of a saved bytes value
    auth: str = "admin"  # "admin" | "wrong" (a wrong password) | "none" | "token" (the saved one)
    tenant: str = TENANT
    headers: Mapping[str, str] = field(default_factory=dict)
    #: var -> where in the answer: a dotted path ("id", "items.0.id"; "" = the raw body)
    save: Mapping[str, str] = field(default_factory=dict)
    client: tuple[str, ...] = ()  # the CloudifyClient methods this call is
    binary: bool = False  # an archive: the status and the content type are compared
    why: str = ""  # what the call checks, for people reading a failure


@dataclass(frozen=True)
class Wait:
    """Poll `path` until `until(answer)` is true (not compared; bounded by `attempts`)."""
    name: str
    path: str
    until: Callable[[Any], bool]
    attempts: int = 600
    interval: float = 0.2


Step = Call | Wait


def _future(days: int) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _snapshot_done(answer: Any) -> bool:
    return isinstance(answer, dict) and answer.get("status") in ("created", "failed")


def _execution_ended(answer: Any) -> bool:
    return isinstance(answer, dict) and answer.get("status") in ("terminated", "failed",
                                                                 "cancelled")


def _create_body(queue: bool = False) -> dict[str, Any]:
    # what CloudifyClient.create_snapshot sends for a legacy snapshot on 7.0
    return {"include_credentials": True, "include_logs": True, "include_events": True,
            "queue": queue, "tempdir_path": None, "listener_timeout": None, "legacy": True}


_RESTORE = {"force": True, "restore_certificates": False, "no_reboot": False,
            "ignore_plugin_failure": False}
_LIST = {"_size": 1000, "_offset": 0}
_EXECUTIONS = {"_include_system_workflows": "true", "_sort": "-created_at", **_LIST}


def _stage(status: str, var: str) -> Call:
    return Call(f"stage a {status} execution", "POST", "/executions", 201,
                body={"deployment_id": "", "workflow_id": f"differential_{status}",
                      "force_status": status}, save={var: "id"},
                why=f"an admin may store an execution as {status} without running it")


def _end(var: str, what: str) -> Call:
    return Call(f"end the {what} execution", "PATCH", f"/executions/{{{var}}}", 200,
                body={"status": "cancelled", "error": ""}, headers=BYPASS, client=("end_execution",),
                why="the status update the mgmtworker sends")


def sequence() -> list[Step]:
    """The calls, in order. Each manager starts with maintenance off and a deployment `{dep}`."""
    return [
        # -- the manager, authentication, tenants -------------------------------------------
        Call("version", "GET", "/version", 200, client=("version", "create_format")),
        Call("wrong password", "GET", "/snapshots", 401, auth="wrong"),
        Call("no credentials", "GET", "/snapshots", 401, auth="none"),
        Call("unknown tenant", "GET", "/snapshots", 403, tenant="no_such_tenant"),
        Call("status", "GET", "/status", 200, client=("status",)),
        Call("managers", "GET", "/managers", 200, client=("managers", "cluster_health")),
        Call("cluster status", "GET", "/cluster-status", 200,
             client=("cluster_status", "cluster_health")),
        Call("cluster status summary", "GET", "/cluster-status", 500,
             params={"summary": "true"}, client=("cluster_status", "cluster_health"),
             why="no Prometheus on the manager here: its status is Fail, and the summary "
                 "answers 500 when Fail (resources_v3_1/cluster_status.py)"),
        Call("current user", "GET", "/user", 200, client=("current_username",)),
        Call("user admin", "GET", "/users/admin", 200),
        Call("another user", "GET", "/users/{prefix}-nobody", 400,
             why="community: one's own details only (UsersIdCommunity)"),
        Call("users list", "GET", "/users", 404, why="premium only: a community manager says so"),
        Call("tenants", "GET", "/tenants", 200),
        Call("token create", "POST", "/tokens", 200, body={"description": "differential"},
             save={"token": "value"}),
        Call("version by token", "GET", "/version", 200, auth="token"),
        Call("tokens list", "GET", "/tokens", 200),
        # -- snapshots -------------------------------------------------------------------------
        Call("snapshot missing", "GET", "/snapshots/{prefix}-missing", 404,
             client=("get_snapshot",)),
        Call("snapshot create, bad id", "PUT", "/snapshots/9{prefix}", 400, body=_create_body(),
             client=("create_snapshot",)),
        Call("snapshot create", "PUT", "/snapshots/{prefix}-s1", 201, body=_create_body(),
             save={"create": "id"}, client=("create_snapshot",)),
        Wait("snapshot created", "/snapshots/{prefix}-s1", _snapshot_done),
        # the snapshot says `created` a moment before its execution is marked ended
        Wait("create execution ended", "/executions/{create}", _execution_ended),
        Call("snapshot create, same id", "PUT", "/snapshots/{prefix}-s1", 409,
             body=_create_body()),
        Call("snapshot get", "GET", "/snapshots/{prefix}-s1", 200, client=("get_snapshot",)),
        Call("snapshots list", "GET", "/snapshots", 200,
             params={"_sort": "-created_at", **_LIST}, client=("list_snapshots",)),
        Call("create execution", "GET", "/executions/{create}", 200, client=("get_execution",)),
        Call("snapshot download", "GET", "/snapshots/{prefix}-s1/archive", 200, binary=True,
             save={"archive": ""}, client=("download_snapshot", "stream_archive")),
        Call("snapshot download, missing", "GET", "/snapshots/{prefix}-missing/archive", 404),
        Call("snapshot upload", "PUT", "/snapshots/{prefix}-up/archive", 201, content="archive",
             headers={"Content-Type": "application/octet-stream"},
             client=("upload_snapshot",)),
        Call("snapshot upload, existing id", "PUT", "/snapshots/{prefix}-up/archive", 201,
             content="archive", headers={"Content-Type": "application/octet-stream"}),
        Call("snapshot upload, unreachable url", "PUT", "/snapshots/{prefix}-url/archive", 400,
             params={"snapshot_archive_url": "http://127.0.0.1:9/none.zip"},
             client=("upload_snapshot",)),
        Call("snapshot delete", "DELETE", "/snapshots/{prefix}-up", 200,
             client=("delete_snapshot",)),
        Call("snapshot delete, missing", "DELETE", "/snapshots/{prefix}-up", 404),
        Call("restore, missing snapshot", "POST", "/snapshots/{prefix}-missing/restore", 404,
             body=_RESTORE, client=("restore_snapshot",)),
        Call("restore, no_reboot alone", "POST", "/snapshots/{prefix}-s1/restore", 400,
             body={**_RESTORE, "no_reboot": True}),
        Call("snapshot status", "GET", "/snapshot-status", 200, auth="none",
             client=("snapshot_status",)),
        # -- executions ------------------------------------------------------------------------
        Call("executions list", "GET", "/executions", 200, params=_EXECUTIONS,
             client=("list_executions",)),
        Call("executions by status and workflow", "GET", "/executions", 200,
             params={**_EXECUTIONS, "status": ["terminated", "failed"],
                     "workflow_id": "create_snapshot"}, client=("list_executions",)),
        Call("execution missing", "GET", "/executions/{prefix}-missing", 404),
        Call("execution start, missing deployment", "POST", "/executions", 404,
             body={"deployment_id": "{prefix}-nodep", "workflow_id": "install", "parameters": {}},
             client=("start_execution",)),
        Call("execution start, no workflow", "POST", "/executions", 400,
             body={"deployment_id": "{dep}"}),
        Call("execution cancel, missing", "POST", "/executions/{prefix}-missing", 404,
             body={"action": "cancel"}, client=("cancel_execution",)),
        Call("execution cancel, ended", "POST", "/executions/{create}", 400,
             body={"action": "cancel"}),
        # -- an execution schedule on the deployment (deleted at the end) ----------------------
        Call("schedule create", "PUT", "/execution-schedules/{prefix}-sched", 201,
             params={"deployment_id": "{dep}"},
             body={"workflow_id": "install", "since": _future(1), "recurrence": "1 day"}),
        Call("schedule create, missing deployment", "PUT", "/execution-schedules/{prefix}-x",
             404, params={"deployment_id": "{prefix}-nodep"},
             body={"workflow_id": "install", "since": _future(1), "recurrence": "1 day"}),
        Call("schedules list", "GET", "/execution-schedules", 200, params=_LIST,
             client=("list_execution_schedules",)),
        Call("schedule get", "GET", "/execution-schedules/{prefix}-sched", 200,
             params={"deployment_id": "{dep}"}),
        # -- a pending execution: refusals, then maintenance waiting for it --------------------
        _stage("pending", "pending"),
        Call("restore while an execution is pending", "POST", "/snapshots/{prefix}-s1/restore",
             400, body=_RESTORE,
             why="refused, but its execution was stored first and stays pending"),
        Call("the refused restore's execution", "GET", "/executions", 200,
             params={**_EXECUTIONS, "workflow_id": "restore_snapshot", "status": "pending"},
             save={"refused": "items.0.id"}),
        Call("create while an execution is pending", "PUT", "/snapshots/{prefix}-s2", 400,
             body=_create_body()),
        Call("maintenance activate, pending execution", "POST", "/maintenance/activate", 200,
             client=("activate_maintenance",)),
        Call("maintenance activating", "GET", "/maintenance", 200, client=("maintenance",)),
        Call("create while activating", "PUT", "/snapshots/{prefix}-s3", 503,
             body=_create_body()),
        Call("execution start while activating", "POST", "/executions", 503,
             body={"deployment_id": "{dep}", "workflow_id": "install", "parameters": {}}),
        Call("snapshots list while activating", "GET", "/snapshots", 200,
             params={"_sort": "-created_at", **_LIST}),
        _end("pending", "pending"),
        _end("refused", "refused restore's"),
        Call("maintenance activated", "GET", "/maintenance", 200),
        Call("deployments in maintenance", "GET", "/deployments", 503, params=_LIST),
        Call("executions in maintenance, bypass", "GET", "/executions", 200, params=_EXECUTIONS,
             headers=BYPASS, client=("list_executions",)),
        Call("execution in maintenance, bypass", "GET", "/executions/{create}", 200,
             headers=BYPASS, client=("get_execution",)),
        Call("events in maintenance, bypass", "GET", "/events", 200,
             params={"execution_id": "{create}", "_sort": "@timestamp", "type": "cloudify_log",
                     **_LIST}, headers=BYPASS, client=("list_events",)),
        Call("schedules in maintenance, bypass", "GET", "/execution-schedules", 200,
             params=_LIST, headers=BYPASS, client=("list_execution_schedules",)),
        Call("snapshots in maintenance", "GET", "/snapshots", 200,
             params={"_sort": "-created_at", **_LIST}),
        Call("snapshot status in maintenance", "GET", "/snapshot-status", 200, auth="none"),
        Call("maintenance activate, already on", "POST", "/maintenance/activate", 304),
        Call("maintenance deactivate", "POST", "/maintenance/deactivate", 200,
             client=("deactivate_maintenance",)),
        Call("maintenance deactivate, already off", "POST", "/maintenance/deactivate", 304),
        Call("maintenance, unknown action", "POST", "/maintenance/sideways", 400),
        Call("maintenance off", "GET", "/maintenance", 200),
        # -- a queued execution: maintenance waits for it too ----------------------------------
        _stage("queued", "queued"),
        Call("maintenance activate, queued execution", "POST", "/maintenance/activate", 200),
        Call("maintenance activating, queued", "GET", "/maintenance", 200),
        _end("queued", "queued"),
        Call("maintenance activated after queued", "GET", "/maintenance", 200),
        Call("maintenance deactivate after queued", "POST", "/maintenance/deactivate", 200),
        # -- deployments, execution schedules, plugins -----------------------------------------
        Call("deployments", "GET", "/deployments", 200, params=_LIST,
             client=("list_deployments",)),
        Call("blueprints", "GET", "/blueprints", 200, params=_LIST, client=("list_blueprints",)),
        Call("execution start, scheduled", "POST", "/executions", 201,
             body={"deployment_id": "{dep}", "workflow_id": "install", "parameters": {},
                   "scheduled_time": _future(2)}, client=("start_execution",)),
        Call("schedule delete", "DELETE", "/execution-schedules/{prefix}-sched", 204,
             params={"deployment_id": "{dep}"}),
        # the drill's inventory: one field of every item (`list_names`)
        *[Call(f"names of {path}", "GET", f"/{path}", status, params={"_include": field, **_LIST},
               client=("list_names",))
          for path, field, status in (
              ("tenants", "name", 200), ("users", "username", 404), ("secrets", "key", 200),
              ("plugins", "id", 200), ("blueprints", "id", 200), ("deployments", "id", 200),
              ("execution-schedules", "id", 200))],
        Call("plugins update, missing blueprint", "POST",
             "/plugins-updates/{prefix}-nobp/update/initiate", 404, body={"force": False},
             client=("update_plugins",)),
        Call("plugins update get, missing", "GET", "/plugins-updates/{prefix}-missing", 404,
             client=("get_plugins_update",)),
        # -- last, a restore of the snapshot made above (a legacy one: the database is replaced,
        # services restart) -------------------------------------------------------------------
        Call("snapshot restore", "POST", "/snapshots/{prefix}-s1/restore", 200, body=_RESTORE,
             save={"restore": "id"}, client=("restore_snapshot",)),
        Wait("restore ended", "/executions/{restore}", _execution_ended),
        Wait("restore over", "/snapshot-status",
             lambda a: isinstance(a, dict) and a.get("status") == "not-running"),
        Call("restore execution", "GET", "/executions/{restore}", 200),
        Call("snapshot status after the restore", "GET", "/snapshot-status", 200, auth="none"),
        Call("snapshots after the restore", "GET", "/snapshots", 200,
             params={"_sort": "-created_at", **_LIST}),
        Call("maintenance after the restore", "GET", "/maintenance", 200),
    ]


# --- observing and comparing ---------------------------------------------------------------

@dataclass(frozen=True)
class Observation:
    status: int
    error_code: str | None
    shape: Any  # see `shape`; for an archive, its content type


@dataclass(frozen=True)
class Difference:
    call: str
    what: str  # "status", "error_code" or a dotted path in the answer
    real: str
    simulator: str

    @property
    def key(self) -> str:
        return f"{self.call} | {self.what} | real {self.real} | simulator {self.simulator}"


def _type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    return "object"


def shape(value: Any, key: str = "") -> Any:
    """Keys and JSON types, not values. A list is the shape of its first item (`[]` when empty);
    free-form values (`FREE_FORM`) keep only their type; a map of names (`MAPS`) the shape of
    its first record."""
    if key in FREE_FORM:
        return _type(value)
    if key in MAPS and isinstance(value, dict):
        return {"(name)": shape(value[min(value)])} if value else {}
    if isinstance(value, dict):
        return {k: shape(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0], key)] if value else []
    return _type(value)


def _compare_shapes(real: Any, sim: Any, path: str, out: list[tuple[str, str, str]]) -> None:
    if isinstance(real, dict) and isinstance(sim, dict):
        for k in sorted(set(real) | set(sim)):
            where = f"{path}.{k}" if path else k
            if k not in sim:
                out.append((where, _brief(real[k]), "missing"))
            elif k not in real:
                out.append((where, "missing", _brief(sim[k])))
            else:
                _compare_shapes(real[k], sim[k], where, out)
        return
    if isinstance(real, list) and isinstance(sim, list):
        if real and sim:
            _compare_shapes(real[0], sim[0], path + "[]", out)
        elif real or sim:  # one is empty: the states differ, which the sequence must avoid
            out.append((path or "(body)", _brief(real), _brief(sim)))
        return
    if real != sim:
        out.append((path or "(body)", _brief(real), _brief(sim)))


def _brief(s: Any) -> str:
    if isinstance(s, dict):
        return "object"
    if isinstance(s, list):
        return "list" if s else "empty list"
    return str(s)


def compare(name: str, real: Observation, sim: Observation) -> list[Difference]:
    diffs: list[Difference] = []
    if real.status != sim.status:
        diffs.append(Difference(name, "status", str(real.status), str(sim.status)))
    if real.error_code != sim.error_code:
        diffs.append(Difference(name, "error_code", str(real.error_code), str(sim.error_code)))
    if real.status == sim.status:  # a different status has a different answer anyway
        found: list[tuple[str, str, str]] = []
        _compare_shapes(real.shape, sim.shape, "", found)
        diffs.extend(Difference(name, what, r, s) for what, r, s in found)
    return diffs


# --- running it -----------------------------------------------------------------------------

@dataclass
class Manager:
    """One side of the comparison: where it is, and the values saved from its answers."""
    label: str
    url: str  # without /api/v3.1
    username: str = "admin"
    password: str = "admin"
    values: dict[str, Any] = field(default_factory=dict)
    observed: dict[str, Observation] = field(default_factory=dict)


def _fill(value: Any, values: Mapping[str, Any]) -> Any:
    if isinstance(value, str) and "{" in value:
        out = value
        for k, v in values.items():
            if isinstance(v, str):
                out = out.replace(f"{{{k}}}", v)
        return out
    if isinstance(value, dict):
        return {k: _fill(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, values) for v in value]
    return value


def observe(resp: httpx.Response, binary: bool) -> Observation:
    data: Any = None
    if resp.content and not (binary and resp.status_code < 300):
        try:
            data = json.loads(resp.content)
        except ValueError:
            data = "<not json>"
    code = data.get("error_code") if isinstance(data, dict) and resp.status_code >= 400 else None
    if binary and resp.status_code < 300:
        return Observation(resp.status_code, None,
                           resp.headers.get("content-type", "").split(";")[0])
    if resp.status_code >= 400 and isinstance(data, dict):
        # an error's shape is Cloudify's error body; its traceback text is no shape
        data = {k: v for k, v in data.items() if k != "server_traceback"}
    return Observation(resp.status_code, code, shape(data))


async def run(manager: Manager, steps: list[Step], *, timeout: float = 60.0) -> None:
    """Send every step to `manager`, keeping what it answered in `manager.observed`."""
    async with httpx.AsyncClient(base_url=manager.url + API, timeout=timeout) as http:
        for step in steps:
            if isinstance(step, Wait):
                await _wait(http, manager, step)
                continue
            resp = await http.request(
                step.method, _fill(step.path, manager.values),
                params=_fill(dict(step.params or {}), manager.values) or None,
                json=_fill(step.body, manager.values) if step.body is not None else None,
                content=manager.values[step.content] if step.content else None,
                headers=_headers(manager, step))
            manager.observed[step.name] = observe(resp, step.binary)
            for var, key in step.save.items():
                if resp.status_code < 300:
                    manager.values[var] = resp.content if key == "" else _at(resp.json(), key)


def _at(data: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(data, list):
            data = data[int(part)] if len(data) > int(part) else None
        elif isinstance(data, dict):
            data = data.get(part)
    return data


def _headers(manager: Manager, call: Call) -> dict[str, str]:
    headers = {"Tenant": call.tenant, **call.headers}
    if call.auth == "token":
        headers["Authentication-Token"] = str(manager.values["token"])
    elif call.auth != "none":
        password = manager.password if call.auth == "admin" else manager.password + "-wrong"
        headers["Authorization"] = basic(manager.username, password)
    return headers


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


async def _wait(http: httpx.AsyncClient, manager: Manager, step: Wait) -> None:
    headers = {"Tenant": TENANT,
               "Authorization": basic(manager.username, manager.password)}
    answer: Any = None
    for _ in range(step.attempts):
        try:  # a restore restarts the manager's services: refused, 502s and cut answers
            resp = await http.get(_fill(step.path, manager.values), headers=headers)
            answer = resp.json() if resp.content else None
        except (httpx.TransportError, ValueError) as exc:
            answer = f"({type(exc).__name__})"
        if step.until(answer):
            return
        await asyncio.sleep(step.interval)
    raise AssertionError(f"{manager.label}: {step.name}: still {answer!r}")


def differences(real: Manager, sim: Manager, steps: list[Step]) -> list[Difference]:
    out: list[Difference] = []
    for step in steps:
        if isinstance(step, Call):
            out.extend(compare(step.name, real.observed[step.name], sim.observed[step.name]))
    return out


def new_prefix() -> str:
    """Ids made by one run start with this, so runs against one manager never collide."""
    return "d" + secrets.token_hex(3)
