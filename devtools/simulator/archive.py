"""Snapshot archives: real zip files holding the captured manager state as JSON.

Layout: `metadata.json` (Cloudify's key names: `snapshot_version`, `execution_id`), `state.json`
(deployments, blueprints, executions, snapshots at creation time), in a new-format archive the
execution schedules also as Cloudify's own dump file (`tenants/<tenant>/00000001.json`:
`{"type": "execution_schedules", "items": [...]}`, snapshot_create.py _write_files), and, when asked for, a
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


def write_archive(path: str, metadata: dict[str, Any], state: dict[str, Any], size: int = 0,
                  members: dict[str, Any] | None = None) -> int:
    """Write the archive to `path` (via a temp name, renamed when complete); return its size.
    `members`: more JSON members by name (a new-format archive's per-tenant dump files)."""
    tmp = path + ".part"
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(METADATA, json.dumps(metadata))
        for name, value in (members or {}).items():
            zf.writestr(name, json.dumps(value))
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
