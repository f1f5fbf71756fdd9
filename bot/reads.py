"""The quick reads that take more than one call: the snapshot list (the manager's snapshots
with the archived copies beside them) and the cluster status. Answered to the caller only."""
from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Mapping

from bot.archive_store import ArchiveStore, StoredArchive
from bot.clock import EARLIEST
from bot.cloudify.client import CloudifyClient
from bot.cloudify.cluster import assess
from bot.config.settings import Settings
from bot.errors import CloudifyError, ManagerUnavailable
from bot.messages import blocks as kit
from bot.messages import common
from bot.messages.cluster import cluster_status
from bot.messages.snapshots import snapshot_table
from bot.notifier import Message

log = logging.getLogger(__name__)


class Reads:
    def __init__(self, settings: Settings, clients: Mapping[str, CloudifyClient],
                 archives: ArchiveStore) -> None:
        self.settings = settings
        self.clients = clients
        self.archives = archives

    async def snapshots_list(self, manager: str) -> Message:
        everything = await self.archives.list()
        archived = await self._with_checksums([a for a in everything if a.manager == manager])
        try:
            snapshots = await self.clients[manager].list_snapshots()
        except ManagerUnavailable as exc:
            if not archived:
                raise
            # A lost manager's archived copies are what a rebuild needs: show them anyway.
            message = snapshot_table(manager, [], archived)
            warning = kit.section(f":electric_plug: `{manager}` cannot be reached "
                                     f"({exc.manager_message}); its archived copies are below.")
            blocks = [b for b in message["blocks"] if "No snapshots on the manager" not in str(b)]
            message = {"text": f"{manager} cannot be reached; {len(archived)} archived copies",
                       "blocks": [blocks[0], warning, *blocks[1:]]}
        else:
            snapshots = sorted(snapshots, key=lambda s: (s.created_at is not None, s.created_at
                                                         or EARLIEST), reverse=True)
            message = snapshot_table(manager, snapshots, archived)
        note = self.other_archives_note(manager, everything)
        if note:
            blocks = message["blocks"][:common.MAX_BLOCKS - 1]
            message = {**message, "blocks": [*blocks, kit.context(note)]}
        return message

    async def _with_checksums(self, copies: list[StoredArchive]) -> list[StoredArchive]:
        """The copies shown, with the sha256 their sidecars record."""
        store = self.archives
        shown = copies[:common.LIST_MAX]
        sums = await asyncio.gather(*(store.checksum(a.manager, a.snapshot_id) for a in shown))
        return [dataclasses.replace(a, sha256=h) for a, h in zip(shown, sums, strict=True)] + copies[len(shown):]

    def other_archives_note(self, manager: str, everything: list[StoredArchive]) -> str:
        """The list shows a manager's own archived copies (`<archive>/<manager>/`). Copies kept
        under other managers' names (a lost manager's among them, configured or not) are
        only named here, with the upload that pushes one to this manager."""
        by_manager: dict[str, list[StoredArchive]] = {}
        for a in everything:  # newest first
            if a.manager != manager:
                by_manager.setdefault(a.manager, []).append(a)
        parts = [f"`{name}`: {len(copies)} (newest `{copies[0].snapshot_id}`)"
                 for name, copies in sorted(by_manager.items())]
        if not parts:
            return ""
        return ("Other managers' archived copies: " + ", ".join(parts) + ". Push one here with "
                f"`/cfy snapshots upload ID --from-archive MANAGER --manager {manager}`.")

    async def cluster_status(self, manager: str) -> Message:
        client = self.clients[manager]
        status = await client.status()
        nodes = await client.managers()
        try:
            cluster = await client.cluster_status()
        except CloudifyError as exc:  # single managers and older versions may not have it
            log.info("cluster-status unavailable on %s: %s", manager, exc.user_message)
            cluster = None
        health = await client.cluster_health() if cluster is None else assess(nodes, cluster)
        try:
            version = (await client.version()).version
        except CloudifyError:
            version = None
        return cluster_status(manager, status, nodes, cluster, health=health,
                                     version=version, runbook_base_url=self.settings.runbook_base_url)
