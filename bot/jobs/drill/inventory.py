"""What a restore drill compares: the names of what an archive holds and of what a manager
answers with, and the differences between the two.

An archive is read in the layout Cloudify writes: a legacy snapshot's `pg_data` (PostgreSQL's
data-only plain dump: `COPY public.<table> (<columns>) FROM stdin;`, tab-separated rows, `\\.`),
read line by line so a large dump costs no memory; a new-format (7.0) snapshot's
`mgmt/NNNNNNNN.json` and `tenants/<tenant>/NNNNNNNN.json` files of `{"type": ..., "items": [...]}`.
Only names are read: a secret's value is never looked at.
"""
from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from bot.cloudify.client import CloudifyClient
from bot.errors import ArchiveError, CloudifyError, NotFound

#: what is compared, in the order differences are looked for
KINDS = ("tenants", "blueprints", "deployments", "secrets", "plugins", "users",
         "execution_schedules")
LABELS = {"tenants": "tenants", "blueprints": "blueprints", "deployments": "deployments",
          "secrets": "secrets", "plugins": "plugins", "users": "users",
          "execution_schedules": "execution schedules"}
#: kinds held per tenant (filtered to the drilled tenant); tenants and users are global
_TENANT_KINDS = ("blueprints", "deployments", "secrets", "plugins", "execution_schedules")
#: the field naming an item, by kind: in the manager's list answers and in the dumps (what
#: cloudify_rest_client's `dump()` asks for: tenants `name`, users `username`, secrets `key`,
#: plugins `id`, which a restore keeps as `_plugin_id`; the rest `id`)
_NAME_FIELD = {"tenants": "name", "users": "username", "secrets": "key", "plugins": "id",
               "blueprints": "id", "deployments": "id", "execution_schedules": "id"}
_API_PATH = {"execution_schedules": "execution-schedules"}
_COPY = re.compile(r"COPY (?:public\.)?\"?(\w+)\"? \(([^)]*)\) FROM stdin;")


@dataclass(frozen=True)
class Inventory:
    """Names per kind (`KINDS`), the version, and the kinds that could not be read (a community
    manager does not list users; a 5.x manager has no execution schedules)."""

    version: str
    names: dict[str, frozenset[str]]
    unavailable: frozenset[str] = frozenset()
    fmt: str = ""  # "legacy" or "new" for an archive

    def counts(self) -> dict[str, int]:
        return {k: len(self.names.get(k, frozenset())) for k in KINDS if k not in self.unavailable}

    def as_dict(self) -> dict[str, Any]:
        return {"version": self.version, "format": self.fmt,
                "names": {k: sorted(v) for k, v in self.names.items()},
                "unavailable": sorted(self.unavailable)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Inventory:
        return cls(version=str(data.get("version", "")), fmt=str(data.get("format", "")),
                   names={k: frozenset(v) for k, v in (data.get("names") or {}).items()},
                   unavailable=frozenset(data.get("unavailable") or ()))


@dataclass(frozen=True)
class Comparison:
    """Per kind: what the archive holds and the manager lacks (`missing`), what the manager has
    and the archive does not (`extra`)."""

    missing: dict[str, list[str]] = field(default_factory=dict)
    extra: dict[str, list[str]] = field(default_factory=dict)
    version: tuple[str, str] | None = None  # (archive, manager) when they differ
    strict: bool = True  # extras count as differences (a legacy restore replaces everything)

    @property
    def differences(self) -> list[str]:
        out: list[str] = []
        if self.version is not None:
            out.append(f"version: the archive is {self.version[0]}, the manager answers "
                       f"{self.version[1]}")
        for kind in KINDS:
            label = LABELS[kind]
            if self.missing.get(kind):
                out.append(f"{label}: {_some(self.missing[kind])} in the archive, not on the "
                           "restored manager")
            if self.strict and self.extra.get(kind):
                out.append(f"{label}: {_some(self.extra[kind])} on the restored manager, not "
                           "in the archive")
        return out

    @property
    def passed(self) -> bool:
        return not self.differences


def compare(archive: Inventory, manager: Inventory) -> Comparison:
    """The differences between what `archive` holds and what `manager` answers. A new-format
    restore merges into what the scratch manager had, so extras fail only a legacy restore."""
    missing: dict[str, list[str]] = {}
    extra: dict[str, list[str]] = {}
    for kind in KINDS:
        if kind in manager.unavailable or kind in archive.unavailable:
            continue
        want, got = archive.names.get(kind, frozenset()), manager.names.get(kind, frozenset())
        if want - got:
            missing[kind] = sorted(want - got)
        if got - want:
            extra[kind] = sorted(got - want)
    version = None
    if archive.version and manager.version and not _same_version(archive.version, manager.version):
        version = (archive.version, manager.version)
    return Comparison(missing=missing, extra=extra, version=version, strict=archive.fmt != "new")


def _same_version(a: str, b: str) -> bool:
    """7.0.5 and 7.0.5.dev1 (a community build) are the same release."""
    def core(v: str) -> tuple[str, ...]:
        return tuple(re.findall(r"\d+", v)[:3])
    return core(a) == core(b)


def _some(names: list[str], limit: int = 5) -> str:
    shown = ", ".join(f"`{n}`" for n in names[:limit])
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return shown + more


# -- the archive ------------------------------------------------------------------------------

def archive_inventory(path: str | Path, tenant: str) -> Inventory:
    """What the archive at `path` holds for `tenant` (and globally). Raises ArchiveError when
    it holds neither dump."""
    try:
        with zipfile.ZipFile(path) as zf:
            members = zf.namelist()
            try:
                meta = json.loads(zf.read("metadata.json"))
            except (KeyError, ValueError):
                raise ArchiveError("the archive has no readable metadata.json") from None
            version = str(meta.get("snapshot_version") or "") if isinstance(meta, dict) else ""
            if "pg_data" in members:
                with zf.open("pg_data") as raw:
                    names = _from_pg_dump(io.TextIOWrapper(raw, encoding="utf-8",
                                                           errors="replace"), tenant)
                return Inventory(version=version, names=names, fmt="legacy")
            if any(m.startswith("mgmt/") for m in members):
                return Inventory(version=version, names=_from_json_dump(zf, members, tenant),
                                 fmt="new")
    except zipfile.BadZipFile as exc:
        raise ArchiveError(f"the archive is not a readable zip ({exc})") from None
    raise ArchiveError("the archive holds neither a legacy database dump (pg_data) nor a "
                       "new-format dump (mgmt/, tenants/)")


def _copy_blocks(lines: IO[str]) -> Iterator[tuple[str, list[str], Iterator[list[str]]]]:
    it = iter(lines)
    for line in it:
        m = _COPY.match(line)
        if m is None:
            continue
        columns = [c.strip().strip('"') for c in m.group(2).split(",")]

        def rows() -> Iterator[list[str]]:
            for row in it:
                if row.startswith("\\."):
                    return
                yield row.rstrip("\n").split("\t")

        yield m.group(1), columns, rows()


def _from_pg_dump(lines: IO[str], tenant: str) -> dict[str, frozenset[str]]:
    found: dict[str, set[str]] = {k: set() for k in KINDS}
    tenant_ids: dict[str, str] = {}
    pending: dict[str, list[tuple[str, str]]] = {k: [] for k in _TENANT_KINDS}
    for table, columns, rows in _copy_blocks(lines):
        if table not in found:
            for _ in rows:  # another table's rows: skipped
                pass
            continue
        col = columns.index(_NAME_FIELD[table]) if _NAME_FIELD[table] in columns else \
            columns.index("id") if "id" in columns else None
        tcol = columns.index("_tenant_id") if "_tenant_id" in columns else None
        for row in rows:
            if col is None or col >= len(row):
                continue
            if table == "tenants":
                found["tenants"].add(row[col])
                if "id" in columns:
                    tenant_ids[row[columns.index("id")]] = row[col]
            elif table in pending and tcol is not None and tcol < len(row):
                pending[table].append((row[col], row[tcol]))
            else:
                found[table].add(row[col])
    for kind, items in pending.items():
        found[kind].update(name for name, tid in items if tenant_ids.get(tid) == tenant)
    return {k: frozenset(v) for k, v in found.items()}


def _from_json_dump(zf: zipfile.ZipFile, members: list[str], tenant: str) -> dict[str, frozenset[str]]:
    found: dict[str, set[str]] = {k: set() for k in KINDS}
    prefix = f"tenants/{tenant}/"
    for member in sorted(members):
        if not member.endswith(".json") or not member.startswith(("mgmt/", prefix)):
            continue
        try:
            data = json.loads(zf.read(member))
        except ValueError:
            raise ArchiveError(f"{member} in the archive is not valid JSON") from None
        kind = data.get("type") if isinstance(data, dict) else None
        if kind not in found:
            continue
        for item in data.get("items") or ():
            if not isinstance(item, dict):
                continue
            name = item.get(_NAME_FIELD[kind]) or item.get("id")
            if name:
                found[kind].add(str(name))
    return {k: frozenset(v) for k, v in found.items()}


# -- the manager ------------------------------------------------------------------------------

async def manager_inventory(client: CloudifyClient) -> Inventory:
    """What the manager answers with, for the client's tenant (and globally)."""
    version = (await client.version()).version
    names: dict[str, frozenset[str]] = {}
    unavailable: set[str] = set()
    for kind in KINDS:
        try:
            listed = await client.list_names(_API_PATH.get(kind, kind), _NAME_FIELD[kind])
        except NotFound:  # not on this edition or version: not compared, said in the verdict
            unavailable.add(kind)
            continue
        except CloudifyError as exc:
            if exc.status == 404:
                unavailable.add(kind)
                continue
            raise
        names[kind] = frozenset(listed)
    return Inventory(version=version, names=names, unavailable=frozenset(unavailable))
