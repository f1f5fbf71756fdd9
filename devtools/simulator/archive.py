"""Snapshot archives: real zip files holding the captured manager state as JSON.

Layout: `metadata.json` (Cloudify's key names: `snapshot_version`, `execution_id`), `state.json`
(deployments, blueprints, executions, snapshots at creation time: what the simulator restores
from), the dump Cloudify itself writes (a legacy snapshot's `pg_data`, PostgreSQL's plain
`COPY ... FROM stdin;` data-only dump; a new-format one's `mgmt/NNNNNNNN.json` and
`tenants/<tenant>/NNNNNNNN.json` files of `{"type": ..., "items": [...]}`, snapshot_create.py
_write_files, with the fields cloudify_rest_client's dump() asks for, in part: what a restore
drill compares and the execution schedules' rules a preflight reads) and, when asked for, a
`padding.bin` member stored uncompressed and written in chunks so big archives cost no memory.
"""
from __future__ import annotations

import json
import os
import zipfile
from typing import Any

METADATA = "metadata.json"
STATE = "state.json"
PADDING = "padding.bin"
_CHUNK = 1 << 20


class InvalidArchive(Exception):
    """The file is not a snapshot archive this simulator can restore."""


_SCHEDULE_FIELDS = ("id", "rule", "deployment_id", "workflow_id", "created_at", "since", "until",
                   "stop_on_fail", "parameters", "execution_arguments", "slip", "enabled",
                   "created_by")


def _tables(state: dict[str, Any], tenant: str) -> dict[str, list[dict[str, Any]]]:
    users = state.get("users") or {}
    return {
        "tenants": [{"name": tenant}],
        "users": [{"username": name} for name in sorted(users)],
        "blueprints": [{"id": b["id"]} for b in state.get("blueprints", [])],
        "deployments": [{"id": d["id"]} for d in state.get("deployments", [])],
        "secrets": [{"id": x["key"]} for x in state.get("secrets", [])],
        "plugins": [{"id": p["id"], "package_name": p["package_name"]} for p in state.get("plugins", [])],
        # execution_schedules.py dump()'s fields
        "execution_schedules": [{k: x.get(k) for k in _SCHEDULE_FIELDS}
                                for x in state.get("execution_schedules", [])],
    }


#: the columns of the tables a drill reads, as Cloudify 7.0.5's pg_dump writes them
#: (models in rest-service/manager_rest/storage); the simulator fills the ones it knows
_PG_COLUMNS = {
    "tenants": "id, name, rabbitmq_password, rabbitmq_username, rabbitmq_vhost",
    "users": "id, username, active, created_at, email, first_name, last_login_at, last_name, "
             "password, last_failed_login_at, failed_logins_counter, show_getting_started, "
             "first_login_at",
    "blueprints": "_storage_id, id, created_at, main_file_name, plan_p, updated_at, description, "
                  "_tenant_id, _creator_id, visibility, is_hidden, state, error, error_traceback, "
                  "_upload_execution_fk, plan, requirements",
    "deployments": "_storage_id, id, created_at, description, inputs_p, groups_p, permalink, "
                   "policy_triggers_p, policy_types_p, outputs_p, scaling_groups_p, updated_at, "
                   "workflows_p, _blueprint_fk, _creator_id, _tenant_id, visibility",
    "execution_schedules": "_storage_id, id, visibility, created_at, next_occurrence, since, "
                           "until, rule, slip, workflow_id, parameters, execution_arguments, "
                           "stop_on_fail, enabled, _deployment_fk, _latest_execution_fk, "
                           "_tenant_id, _creator_id",
    "plugins": "_storage_id, id, archive_name, distribution, distribution_release, "
               "distribution_version, excluded_wheels_p, package_name, package_source, "
               "package_version, supported_platform_p, supported_py_versions_p, uploaded_at, "
               "wheels_p, _tenant_id, _creator_id, visibility, title",
    "secrets": "_storage_id, id, value, created_at, updated_at, _tenant_id, _creator_id, "
               "visibility, is_hidden_value, schema, provider_options, _secrets_provider_fk",
}


def _pg_copy(table: str, rows: list[dict[str, str]]) -> str:
    """One table's `COPY ... FROM stdin;` block; columns a row does not give are NULL (\\N)."""
    columns = [c.strip() for c in _PG_COLUMNS[table].split(",")]
    body = "".join("\t".join(r.get(c, "\\N") for c in columns) + "\n" for r in rows)
    return f"COPY public.{table} ({', '.join(columns)}) FROM stdin;\n{body}\\.\n\n"


def dump_members(state: dict[str, Any], tenant: str, legacy: bool) -> dict[str, str]:
    """The members of Cloudify's own dump for `state`: `pg_data` (legacy) or the JSON files."""
    tables = _tables(state, tenant)
    if legacy:
        out = ["--\n-- PostgreSQL database dump\n--\n\n"]
        out.append(_pg_copy("tenants", [{"id": "0", "name": tenant, "rabbitmq_vhost": tenant}]))
        out.append(_pg_copy("users", [{"id": str(i), "username": u["username"], "active": "t"}
                                      for i, u in enumerate(tables["users"])]))
        for table in ("blueprints", "deployments", "secrets", "execution_schedules", "plugins"):
            out.append(_pg_copy(table, [{"_storage_id": str(i + 1), "id": x["id"], "_tenant_id": "0",
                                         "package_name": x.get("package_name") or "\\N"}
                                        for i, x in enumerate(tables[table])]))
        return {"pg_data": "".join(out)}
    members: dict[str, str] = {}
    for n, kind in enumerate(("tenants", "users"), 1):
        members[f"mgmt/{n:08d}.json"] = json.dumps({"type": kind, "items": tables[kind]})
    for n, kind in enumerate(("execution_schedules", "plugins", "secrets", "blueprints",
                              "deployments"), 1):
        members[f"tenants/{tenant}/{n:08d}.json"] = json.dumps({"type": kind, "items": tables[kind]})
    return members


def write_archive(path: str, metadata: dict[str, Any], state: dict[str, Any], size: int = 0, *,
                  tenant: str = "default_tenant", legacy: bool = True) -> int:
    """Write the archive to `path` (via a temp name, renamed when complete); return its size.
    `legacy`: Cloudify's dump as `pg_data`, else as the new format's JSON files."""
    tmp = path + ".part"
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(METADATA, json.dumps(metadata))
        for name, text in dump_members(state, tenant, legacy).items():
            zf.writestr(name, text)
        # stored, not deflated: a flipped byte shows as a CRC mismatch of this member
        zf.writestr(STATE, json.dumps(state), compress_type=zipfile.ZIP_STORED)
        zf.fp.flush()  # type: ignore[union-attr]
        remaining = size - os.path.getsize(tmp) - 400  # headers, central directory, zip64 records
        if remaining > 0:
            info = zipfile.ZipInfo(PADDING)
            info.compress_type = zipfile.ZIP_STORED
            with zf.open(info, "w", force_zip64=remaining > 0x7FFF0000) as out:
                block = b"\0" * _CHUNK
                while remaining > 0:
                    n = min(remaining, _CHUNK)
                    out.write(block[:n])
                    remaining -= n
    os.replace(tmp, path)
    return os.path.getsize(path)


def read_archive(path: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return (metadata, state). Raises InvalidArchive with a manager-like reason."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            if METADATA not in names:
                raise InvalidArchive(f"{METADATA} not found in the snapshot archive")
            metadata = json.loads(zf.read(METADATA))
            state = json.loads(zf.read(STATE)) if STATE in names else {}
    except zipfile.BadZipFile as exc:
        raise InvalidArchive(f"File is not a zip file: {exc}") from exc
    except (ValueError, KeyError) as exc:
        raise InvalidArchive(f"Invalid snapshot metadata: {exc}") from exc
    return metadata, state
