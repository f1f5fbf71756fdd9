"""Refusals before any change, where the manager would refuse or break later.

Each check reads only, and says what to do instead. Facts (cloudify-manager, mgmtworker or
workflows `cloudify_system_workflows/snapshots/snapshot_restore.py`, at 5.1.4, 6.4.2, 7.0.5):
- a legacy restore validates `user_is_bootstrap_admin` (the requesting user's id is 0,
  rest-service `resource_manager.py` restore_snapshot, `management_models.py` is_bootstrap_admin)
  and fails otherwise: after snapbot's safety snapshot and maintenance mode, not before;
- a legacy restore stops the database users and rewrites `rest-security.conf` on the node that
  runs it only (`_pause_services`, `_restore_security_file`: local systemctl and a local file):
  on a cluster the other managers keep serving from the database being replaced and keep the old
  signing keys. 7.0.5 refuses legacy restores only on Kubernetes (`is_split_services_environment`);
- a new-format restore (7.0) re-creates execution schedules last, with
  `entity['rrule'] = entity.pop('rule', {}).pop('rrule')` outside its try (cloudify-common 7.0.5
  `cloudify_rest_client/execution_schedules.py` restore): a schedule made from a recurrence or a
  count has no `rrule` (rest-service `rest_utils.py` compute_rule_from_scheduling_params; a
  `scheduled_time` execution becomes one with `{'count': 1}`, `resources_v1/executions.py`), and
  the restore fails with everything else merged;
- a new-format snapshot's dump reads `GET /users`, premium only (404
  `missing_premium_package_error` in community; `/version` names the edition).
"""
from __future__ import annotations

import json
import logging
from typing import Any

from bot import runbooks
from bot.archive_store import ArchiveStore
from bot.archive_store.transfer import download_to_store, upload_from_store
from bot.cloudify import versions
from bot.cloudify.client import CloudifyClient
from bot.cloudify.models import Version
from bot.config.settings import RunbookConfig
from bot.errors import CloudifyError, NotFound, StepFailed
from bot.jobs.poll import poll
from bot.jobs.restore.unwind import blocker_line, held_by_maintenance, not_over
from bot.jobs.runner import JobContext

log = logging.getLogger(__name__)

#: where a new-format archive keeps its per-tenant dump files (snapshot_create.py _write_files)
TENANT_DUMPS = "tenants/*/*.json"


async def check_queued(client: CloudifyClient, version: str | None, *, exclude: set[str] | None = None) -> None:
    """Queued executions on 6.x/7.x would hold maintenance mode `activating` for good."""
    if not held_by_maintenance(version):
        return
    try:
        queued = [e for e in await not_over(client, exclude=exclude) if e.status == "queued"]
    except CloudifyError as exc:
        log.info("could not list queued executions: %s", exc.user_message)
        return
    if queued:
        names = ", ".join(blocker_line(e, held=True) for e in queued)
        raise StepFailed(
            f"{len(queued)} queued execution{'s' if len(queued) != 1 else ''} ({names}) would hold "
            "maintenance mode `activating` for good: this manager starts queued executions only "
            "while maintenance mode is off. Let them start (they do once the executions ahead of "
            "them end) or cancel them (`cfy executions cancel ID`), then ask again; nothing was changed")


async def acting_user(client: CloudifyClient, configured: str) -> str:
    """The user snapbot acts as on the manager (`GET /user`; with a token, that token's user)."""
    try:
        return await client.current_username() or configured
    except CloudifyError:
        return configured


async def check_bootstrap_admin(client: CloudifyClient, fmt: str | None, *, configured_user: str,
                                bootstrap_admin: str) -> None:
    if fmt == versions.NEW:
        return
    user = await acting_user(client, configured_user)
    if user != bootstrap_admin:
        raise StepFailed(
            f"a legacy (database) restore runs only for the manager's bootstrap admin "
            f"(`{bootstrap_admin}`, user id 0); snapbot acts as `{user}`, so the manager's workflow "
            "would fail after the safety snapshot and maintenance mode. Configure snapbot with the "
            "bootstrap admin's credentials for this manager (or set `bootstrap_admin` if it has "
            "another name); nothing was changed")


async def check_edition(client: CloudifyClient, fmt: str | None, edition: str | None) -> None:
    if fmt == versions.NEW and (edition or "").lower() == "community":
        raise StepFailed("this is a community manager and it would restore this snapshot as the "
                         "new format, which needs the premium edition: the restore would fail or "
                         "restore nothing. (A 7.x manager takes an archive as a database dump only "
                         "when its metadata.json names the stage and composer schema revisions, "
                         "which only premium managers write, so a community manager's own "
                         "snapshots are read as the new format too.) Nothing was changed")


async def check_cluster_size(client: CloudifyClient, fmt: str | None) -> None:
    if fmt == versions.NEW:
        return
    try:
        nodes = await client.managers()
    except CloudifyError:
        return
    if len(nodes) > 1:
        names = ", ".join(n.hostname for n in nodes)
        raise StepFailed(
            f"not restoring a legacy (database) snapshot on a cluster of {len(nodes)} managers "
            f"({names}): the workflow stops services and rewrites rest-security.conf on the node "
            "that runs it only, while the others keep serving from the database being replaced "
            "with the old signing keys. Remove the other managers from the cluster, restore on "
            "one, then join them again; nothing was changed")


def schedules_without_rrule(dumps: dict[str, Any]) -> list[str]:
    """The execution schedules (`id` on `deployment`) in a new-format archive's dump files whose
    rule has no `rrule`."""
    out: list[str] = []
    for _name, text in sorted(dumps.items()):
        try:
            data = json.loads(text)
        except ValueError:
            continue
        if not isinstance(data, dict) or data.get("type") != "execution_schedules":
            continue
        for item in data.get("items") or []:
            rule = item.get("rule") if isinstance(item, dict) else None
            if not isinstance(rule, dict) or "rrule" not in rule:
                dep = item.get("deployment_id") if isinstance(item, dict) else None
                ident = item.get("id") if isinstance(item, dict) else "?"
                out.append(f"`{ident}`" + (f" on `{dep}`" if dep else ""))
    return out


async def check_rrules(archives: ArchiveStore, manager: str, snapshot_id: str) -> bool:
    """Refuse a new-format restore of an archived copy holding schedules without an `rrule`.
    False when no readable copy was there to read."""
    raw = await archives.read_member(manager, snapshot_id, TENANT_DUMPS, limit=256 * 1024 * 1024)
    if raw is None:
        return False
    bad = schedules_without_rrule(json.loads(raw))
    if bad:
        raise StepFailed(
            f"snapshot {snapshot_id!r} holds {len(bad)} execution schedule"
            f"{'s' if len(bad) != 1 else ''} without an `rrule` ({', '.join(bad[:20])}"
            f"{', …' if len(bad) > 20 else ''}): a new-format restore re-creates schedules last "
            "and stops at the first of those, leaving the rest merged and the restore failed. "
            "Remove or re-create those schedules with an rrule (`cfy deployments schedule update "
            "... --rrule`), take a new snapshot and restore that; nothing was changed")
    return True


async def before_any_change(client: CloudifyClient, archives: ArchiveStore, *, manager: str,
                            snapshot_id: str, fmt: str | None, version: str | None,
                            edition: str | None, bootstrap_admin: str | None,
                            configured_user: str | None, exclude: set[str] | None = None,
                            rrule_copy_needed: bool = False, allow_multi: bool = False) -> bool:
    """Every refusal above, for a restore of `snapshot_id` in format `fmt` (None: unknown).
    Returns whether the schedules of a new-format snapshot were read; `rrule_copy_needed`:
    a new-format snapshot without an archived copy raises instead of going unchecked;
    `allow_multi`: an approver overrode the cluster checks (--ignore-cluster-health)."""
    await check_edition(client, fmt, edition)
    if bootstrap_admin:
        await check_bootstrap_admin(client, fmt, configured_user=configured_user or "",
                                    bootstrap_admin=bootstrap_admin)
    if not allow_multi:  # an approver's --ignore-cluster-health takes the cluster as it is
        await check_cluster_size(client, fmt)
    await check_queued(client, version, exclude=exclude)
    if fmt != versions.NEW:
        return False
    read = await check_rrules(archives, manager, snapshot_id)
    if not read and rrule_copy_needed:
        raise StepFailed(f"cannot read the execution schedules of {snapshot_id!r} (no readable "
                         "archived copy); nothing was changed")
    return read


async def at_preflight(ctx: JobContext, client: CloudifyClient, archives: ArchiveStore,
                       version: Version) -> None:
    """The refusals again after approval (the manager may have changed since the request); a
    new-format snapshot without an archived copy is downloaded first to read its schedules (a
    read: nothing on the manager changes)."""
    p = ctx.job.params
    sid = p["snapshot_id"]
    fmt = p.get("restore_format")
    source = p.get("archive_manager") or ctx.job.manager
    # on a community manager the archive decides, whatever format snapbot created it in
    community = (version.edition or "").lower() == "community"
    may_be_new = (versions.NEW in versions.traits(version.version).formats
                  and (fmt in (None, versions.NEW) or community))
    if may_be_new and await archives.stat(source, sid) is None:
        await ctx.say(f"downloading `{sid}` to read what it holds before anything changes")
        await archives.discard_partials(ctx.job.manager, sid)
        await download_to_store(client, archives, ctx.job.manager, sid)
        source = ctx.job.manager
    if may_be_new and (fmt is None or community):
        fmt = versions.metadata_format(await archives.read_member(source, sid, "metadata.json")) or fmt
        ctx.merge_result(restore_format=fmt)
    await before_any_change(client, archives, manager=source, snapshot_id=sid, fmt=fmt,
                            version=version.version, edition=version.edition,
                            bootstrap_admin=p.get("bootstrap_admin"),
                            configured_user=p.get("configured_user"), rrule_copy_needed=True,
                            allow_multi=bool(p.get("cluster_override")))


async def upload_approved(ctx: JobContext, client: CloudifyClient, archives: ArchiveStore,
                          runbook: RunbookConfig, source: str, sid: str) -> None:
    """Upload `source`'s verified archived copy of `sid` unless the manager has it (an upload
    cut by a restart is waited for), then wait until the manager can restore it."""
    try:
        await client.get_snapshot(sid)
    except NotFound:
        await archives.verify(source, sid)
        await ctx.say(f"uploading the archived copy of `{sid}` to the manager (approved)")
        await upload_from_store(client, archives, source, sid)

    async def uploaded() -> bool:
        s = await client.get_snapshot(sid)
        if s.status == "failed":
            raise StepFailed(f"the upload of {sid} failed on the manager: {s.error or 'no error given'}")
        return s.usable

    await poll(ctx, uploaded, pacing=runbook, timeout=runbook.snapshot_timeout_seconds,
               what=f"snapshot {sid} to be uploaded")


async def cluster_still_fit(ctx: JobContext, client: CloudifyClient, runbook_base_url: str | None) -> None:
    """The cluster may have split or failed since the request was approved."""
    try:
        health = await client.cluster_health()
    except CloudifyError:
        return
    why = health.blocks_restore
    if why and not ctx.job.params.get("cluster_override"):
        rb = runbooks.SPLIT_BRAIN if health.split_brain else runbooks.CLUSTER_FAIL
        raise StepFailed(f"not restoring: {why} (since the request); nothing was changed; "
                         + runbooks.reference(rb, runbook_base_url))
