"""Moving archives between a manager and the archive store: the one verified download
(manager → store: streamed, size and zip CRCs checked, metadata.json required, sha256 sidecar,
published atomically) and the upload from the store (streamed back to a manager)."""
from __future__ import annotations

from collections.abc import AsyncIterator

from bot.archive_store.base import ArchiveStore, ZipCheck
from bot.cloudify.client import CloudifyClient
from bot.cloudify.models import ArchiveInfo, Snapshot
from bot.errors import ArchiveError


def _is_cloudify_snapshot(snapshot_id: str) -> ZipCheck:
    def check(names: list[str]) -> None:
        if "metadata.json" not in names:
            raise ArchiveError(f"the archive of {snapshot_id} has no metadata.json: not a "
                               "Cloudify snapshot")
    return check


async def download_to_store(client: CloudifyClient, archives: ArchiveStore, manager: str,
                            snapshot_id: str) -> ArchiveInfo:
    """Download `snapshot_id` from the manager into the store as `manager`'s copy. On any
    failure nothing is left under the copy's name (nor a visible partial)."""
    async def sink(chunks: AsyncIterator[bytes], size: int | None) -> ArchiveInfo:
        return await archives.write(manager, snapshot_id, chunks, expected_size=size,
                                    check=_is_cloudify_snapshot(snapshot_id))
    return await client.stream_archive(snapshot_id, sink)


async def upload_from_store(client: CloudifyClient, archives: ArchiveStore, source_manager: str,
                            snapshot_id: str, target_id: str | None = None) -> Snapshot:
    """Stream `source_manager`'s archived copy of `snapshot_id` to the client's manager
    (verify it first: `archives.verify`)."""
    return await client.upload_snapshot(target_id or snapshot_id,
                                        content=archives.read(source_manager, snapshot_id))
