"""What differs between the manager versions snapbot supports (5.1, 6.4, 7.0), in one place.

Read from Cloudify's source at each version's tag (cloudify-manager 5.1.4, 6.4.2, 7.0.5-build;
cloudify-common and the cfy CLI sdists of the same versions):

- Snapshot formats. 5.x and 6.x have one format, a database dump; their clients send no
  `legacy` key. 7.0 adds a per-item export: `PUT /snapshots/<id>` reads `legacy` (default
  *False* on the server, `rest/resources_v2/snapshots.py`) while the 7.0.5 client and CLI send
  `legacy=True` by default (`cloudify_rest_client/snapshots.py`, `cloudify_cli/cli/cfy.py`).
  A restore picks its path from the archive: legacy when `metadata.json` carries
  `schema_revision`, `stage_schema_revision` and `composer_schema_revision`
  (`snapshot_restore.py` `_is_legacy_snapshot`).
- A legacy restore replaces the database (users, tokens and the snapshots table included: the
  list is empty afterwards), restarts services, and reboots only with restore_certificates and
  without no_reboot. A new-format restore re-creates items through the REST API, keeps what
  exists (logging each clash as an error), skips certificates and never reboots.
- Scheduled work after a legacy restore: 5.x fails the overdue `scheduled` executions ("is
  overdue. Marking as FAILED.") and re-queues the others; 6.0+ fails every one ("Marking original
  execution ... as FAILED.") and re-creates the future ones as `<workflow>_restored_<hex>`
  execution schedules; the schedules themselves come back with the database.
- 5.x restores need `recreate_deployments_envs` in the body (the 5.1.4 client sends it).
"""
from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

from bot.cloudify.models import Version

LEGACY = "legacy"
NEW = "new"
#: metadata.json keys whose presence makes an archive a legacy (database dump) snapshot
LEGACY_METADATA_KEYS = ("schema_revision", "stage_schema_revision", "composer_schema_revision")


@dataclass(frozen=True)
class Traits:
    """How one manager version behaves where snapbot cares."""
    version: str
    major: int
    formats: tuple[str, ...]  # the snapshot formats it can create and restore
    cli_default_format: str  # what `cfy snapshots create` makes on it
    scheduled_report: str  # "overdue" (5.x) or "schedules" (6.0+)
    execution_schedules: bool  # /execution-schedules exists
    restore_needs_recreate_envs: bool

    @property
    def sends_legacy_flag(self) -> bool:
        return NEW in self.formats

    @property
    def queued_held_by_maintenance(self) -> bool:
        """6.x/7.x start queued executions only when no maintenance row exists
        (resource_manager.py update_execution_status; maintenance_mode.py deactivate), so a
        queued one holds `activating` for good; 5.x starts them whatever the mode."""
        return self.major >= 6


def traits(version: str | None) -> Traits:
    """The traits of a manager that says it is `version` (unknown or newer: the 7.0 ones)."""
    parts = Version(version or "").tuple if version else ()
    major = parts[0] if parts and parts[0] else 7
    if major < 6:
        return Traits(version or "", major, (LEGACY,), LEGACY, "overdue", False, True)
    if major < 7:
        return Traits(version or "", major, (LEGACY,), LEGACY, "schedules", True, False)
    return Traits(version or "", major, (LEGACY, NEW), LEGACY, "schedules", True, False)


class FormatNotSupported(ValueError):
    """`snapshot_format: new` on a manager that only has the database-dump format."""


def resolve_format(setting: str, version: str | None) -> str:
    """The format snapbot creates snapshots in on a manager of `version`: `auto` is that
    version's CLI default."""
    t = traits(version)
    fmt = t.cli_default_format if setting in ("", "auto") else setting
    if fmt not in t.formats:
        raise FormatNotSupported(
            f"snapshot_format {fmt!r} needs a 7.0 or newer manager; this one is {version or 'unknown'} "
            f"and makes {' or '.join(t.formats)} snapshots only")
    return fmt


def legacy_flag(fmt: str, version: str | None) -> bool | None:
    """The `legacy` value to send with a create: None (left out) where the version has one format."""
    return (fmt == LEGACY) if traits(version).sends_legacy_flag else None


def archive_format(path: str | Path) -> str | None:
    """`legacy` or `new` from an archive's metadata.json, the way the 7.0 restore decides; None
    when the archive cannot be read."""
    try:
        with zipfile.ZipFile(path) as zf:
            return metadata_format(zf.read("metadata.json"))
    except (OSError, KeyError, zipfile.BadZipFile):
        return None


def metadata_format(data: bytes | None) -> str | None:
    """`legacy` or `new` from the bytes of a metadata.json (None when unreadable)."""
    try:
        meta = json.loads(data) if data else None
    except ValueError:
        return None
    if not isinstance(meta, dict):
        return None
    return LEGACY if all(k in meta for k in LEGACY_METADATA_KEYS) else NEW


def restore_format(version: str | None, archived: str | None, recorded: str | None) -> str | None:
    """How a restore on a manager of `version` will treat the snapshot: `legacy` (replace) or
    `new` (merge), from the archive when snapbot has a copy, else from the format snapbot created
    it in; None when nothing tells. Managers before 7.0 restore everything as a database dump."""
    if NEW not in traits(version).formats:
        return LEGACY
    return archived or recorded


def reboots(fmt: str | None, restore_certificates: bool, no_reboot: bool) -> bool:
    """Whether the restore reboots the manager (legacy only, with certificates, without no_reboot)."""
    return fmt != NEW and restore_certificates and not no_reboot


def version_in_metadata(data: bytes | None) -> str | None:
    """`snapshot_version` from the bytes of a snapshot's metadata.json, or None."""
    try:
        meta = json.loads(data) if data else None
    except ValueError:
        return None
    version = meta.get("snapshot_version") if isinstance(meta, dict) else None
    return str(version) if version else None


def is_upgrade(snapshot_version: str | None, manager_version: str | None) -> bool:
    if not snapshot_version or not manager_version:
        return False
    return Version(snapshot_version).tuple < Version(manager_version).tuple
