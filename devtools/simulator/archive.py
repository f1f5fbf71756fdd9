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


def _pg_copy(table: str, columns: list[str], rows: list[list[str]]) -> str:
    body = "".join("\t".join(r) + "\n" for r in rows)
    return f"COPY public.{table} ({', '.join(columns)}) FROM stdin;\n{body}\\.\n\n"


def dump_members(state: dict[str, Any], tenant: str, legacy: bool) -> dict[str, str]:
    """The members of Cloudify's own dump for `state`: `pg_data` (legacy) or the JSON files."""
    tables = _tables(state, tenant)
    if legacy:
        out = ["--\n-- PostgreSQL database dump\n--\n\n"]
        out.append(_pg_copy("tenants", ["id", "name", "rabbitmq_vhost"], [["0", tenant, tenant]]))
        out.append(_pg_copy("users", ["id", "username", "active"],
                            [[str(i), u["username"], "t"] for i, u in enumerate(tables["users"])]))
        for table in ("blueprints", "deployments", "secrets", "execution_schedules"):
            out.append(_pg_copy(table, ["_storage_id", "id", "_tenant_id"],
                                [[str(i + 1), x["id"], "0"] for i, x in enumerate(tables[table])]))
        out.append(_pg_copy("plugins", ["_storage_id", "id", "package_name", "_tenant_id"],
                            [[str(i + 1), x["id"], x["package_name"], "0"]
                             for i, x in enumerate(tables["plugins"])]))
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
