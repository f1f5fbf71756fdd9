"""Moving archives between a manager and the archive store: the one verified download
(manager → store: streamed, size and zip CRCs checked, metadata.json required, sha256 sidecar,
published atomically) and the upload from the store (streamed back to a manager)."""
from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from bot.archive_store.base import ArchiveStore, ZipCheck
from bot.cloudify.client import CloudifyClient
from bot.cloudify.models import ArchiveInfo, Snapshot
from bot.errors import ArchiveError
from bot.progress import TransferMeter

#: makes the meter of one pass over the stream, given its size when known
MeterFactory = Callable[[int | None], TransferMeter]


def _is_cloudify_snapshot(snapshot_id: str) -> ZipCheck:
    def check(names: list[str]) -> None:
        if "metadata.json" not in names:
            raise ArchiveError(f"the archive of {snapshot_id} has no metadata.json: not a "
                               "Cloudify snapshot")
    return check


async def download_to_store(client: CloudifyClient, archives: ArchiveStore, manager: str,
                            snapshot_id: str, *, meter: MeterFactory | None = None) -> ArchiveInfo:
    """Download `snapshot_id` from the manager into the store as `manager`'s copy. On any
    failure nothing is left under the copy's name (nor a visible partial). `meter` counts the
    bytes and shows the progress (a pass taken up again from the start gets a new one)."""
    async def sink(chunks: AsyncIterator[bytes], size: int | None) -> ArchiveInfo:
        counter = meter(size) if meter is not None else None
        try:
            return await archives.write(manager, snapshot_id,
                                        counter.count(chunks) if counter else chunks,
                                        expected_size=size, check=_is_cloudify_snapshot(snapshot_id))
        finally:
            if counter is not None:
                await counter.finish()
    return await client.stream_archive(snapshot_id, sink)


async def upload_from_store(client: CloudifyClient, archives: ArchiveStore, source_manager: str,
                            snapshot_id: str, target_id: str | None = None, *,
                            meter: TransferMeter | None = None) -> Snapshot:
    """Stream `source_manager`'s archived copy of `snapshot_id` to the client's manager
    (verify it first: `archives.verify`); `meter` counts the bytes and shows the progress."""
    content = archives.read(source_manager, snapshot_id)
    try:
        return await client.upload_snapshot(target_id or snapshot_id,
                                            content=meter.count(content) if meter else content)
    finally:
        if meter is not None:
            await meter.finish()
