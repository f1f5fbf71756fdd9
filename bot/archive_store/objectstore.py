"""The archive store in object storage: `s3://bucket/prefix` (S3 and S3-compatible stores;
`gs://` and `az://` come with the library and are accepted too, untested here).

Built on `obstore` (Rust's `object_store` behind a small async Python API): uploads are
multipart and streamed from an async iterator, downloads are streamed or read by range, so
memory stays bounded by a few parts whatever the archive's size. Endpoint, region and
credentials come from the standard `AWS_*` variables, or the instance's role when no keys are set.

Publishing: the bytes are uploaded to a hidden temporary key `<manager>/.<id>.zip.part-<job>-<hex>`
(a multipart upload: nothing is visible until it completes, and a failed one is aborted); the
temporary object's size is checked against what was sent and the zip's check must pass; then the
object is copied to its final key and only then its sidecar written; the temporary key is
deleted on every way out. Whatever a cut leaves (a temporary key, a final key without its
sidecar) is removed by `sweep`, at start-up and by the daily run. Transient network errors are
retried by the store's client with bounded backoff (`bot.archive_store.connect.RETRY`).
The zip is checked as its bytes stream past (every member's CRC-32, the central directory), so
verifying never reads the object back by ranges.
A connection cut at any point before the copy leaves no final key; one after it leaves no
sidecar vouching for it. (S3's single-request copy
is limited to 5 GB objects; larger snapshots need a store whose copy supports them.)
"""
from __future__ import annotations

import asyncio
import builtins
import io
import logging
from collections.abc import AsyncIterable, AsyncIterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import obstore
from obstore.exceptions import NotFoundError
from obstore.store import ObjectStore

from bot.archive_store.base import (
    CHUNK,
    SIDECAR,
    STATE_DIR,
    SUFFIX,
    Hasher,
    StoredArchive,
    StoredBlob,
    ZipCheck,
    check_name,
    parse_sidecar,
    read_member_of,
    sidecar_text,
    split_key,
    stale_leftovers,
)
from bot.archive_store.connect import why as _why
from bot.archive_store.zipstream import ZipStreamCheck
from bot.cloudify.models import ArchiveInfo
from bot.errors import ArchiveError
from bot.partials import partial_name

if TYPE_CHECKING:  # in obstore's stubs only
    from obstore import ReadableFile

log = logging.getLogger(__name__)

#: multipart part size (S3's minimum) and parts in flight: memory ≈ PART × (CONCURRENCY + 1)
PART = 5 * 1024 * 1024
_MISSING = (NotFoundError, FileNotFoundError)
CONCURRENCY = 1
#: seconds a failed write waits for its temporary key's removal before leaving it to the sweep
FORGET_WITHIN = 20.0


def _digest(hasher: Hasher, zcheck: ZipStreamCheck, chunk: bytes) -> None:
    hasher.digest.update(chunk)
    hasher.size += len(chunk)
    zcheck.feed(chunk)


class _Reader(io.RawIOBase):
    """obstore's seekable reader (ranged GETs) as the binary file zipfile expects."""

    def __init__(self, inner: ReadableFile) -> None:
        super().__init__()
        self.inner = inner

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        return bytes(self.inner.read(None if size is None or size < 0 else size))

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        b[:len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.inner.seek(offset, whence)

    def tell(self) -> int:
        return self.inner.tell()

    def close(self) -> None:
        try:
            self.inner.close()
        finally:
            super().close()


class ObjectArchiveStore:
    """Archived copies in a bucket: `<prefix>/<manager>/<id>.zip` + `.zip.sha256`."""

    def __init__(self, store: ObjectStore, url: str) -> None:
        self.store = store
        self.url = url.rstrip("/")
        # one thread hashes and zip-checks every stream: hashlib and zlib release the GIL, and
        # a single thread keeps malloc's per-thread arenas (and so RSS) from multiplying
        self._hashing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="archive-digest")

    async def _digest(self, hasher: Hasher, zcheck: ZipStreamCheck, chunk: bytes) -> None:
        await asyncio.get_running_loop().run_in_executor(self._hashing, _digest, hasher, zcheck, chunk)

    # -- naming -----------------------------------------------------------------------------
    def key(self, manager: str, snapshot_id: str) -> str:
        check_name(manager, "manager")
        check_name(snapshot_id, "snapshot id")
        return f"{manager}/{snapshot_id}{SUFFIX}"

    def location(self, manager: str, snapshot_id: str) -> str:
        return f"{self.url}/{self.key(manager, snapshot_id)}"

    def _entry(self, meta: Mapping[str, Any]) -> StoredArchive | None:
        parsed = split_key(meta["path"])
        if parsed is None:
            return None
        modified = meta.get("last_modified") or datetime.now(UTC)
        return StoredArchive(manager=parsed[0], snapshot_id=parsed[1], size=int(meta["size"]),
                             modified=modified, location=f"{self.url}/{meta['path']}")

    # -- reading ----------------------------------------------------------------------------
    async def _list_meta(self, prefix: str | None) -> list[Mapping[str, Any]]:
        try:
            return list(await obstore.list(self.store, prefix=prefix).collect_async())
        except Exception as exc:
            raise ArchiveError(f"cannot list {self.url}: {_why(exc)}") from None

    async def list(self, manager: str | None = None) -> list[StoredArchive]:
        prefix = f"{check_name(manager, 'manager')}/" if manager is not None else None
        out = [e for m in await self._list_meta(prefix) if (e := self._entry(m)) is not None]
        return sorted(out, key=lambda e: e.modified, reverse=True)

    async def _head(self, key: str) -> Mapping[str, Any] | None:
        try:
            return await obstore.head_async(self.store, key)
        except _MISSING:
            return None
        except Exception as exc:
            raise ArchiveError(f"cannot read {self.url}/{key}: {_why(exc)}") from None

    async def stat(self, manager: str, snapshot_id: str) -> StoredArchive | None:
        meta = await self._head(self.key(manager, snapshot_id))
        return self._entry(meta) if meta is not None else None

    async def _stream(self, key: str) -> AsyncIterator[bytes]:
        try:
            result = await obstore.get_async(self.store, key)
            async for chunk in result.stream(min_chunk_size=CHUNK):
                yield bytes(chunk)
        except _MISSING:
            raise ArchiveError(f"no archived copy at {self.url}/{key}") from None
        except ArchiveError:
            raise
        except Exception as exc:
            raise ArchiveError(f"reading {self.url}/{key} failed: {_why(exc)}") from None

    async def verify(self, manager: str, snapshot_id: str) -> ArchiveInfo:
        key = self.key(manager, snapshot_id)
        name = f"{snapshot_id}{SUFFIX}"
        meta = await self._head(key)
        if meta is None:
            raise ArchiveError(f"no archived copy at {self.url}/{key}")
        try:
            side = await (await obstore.get_async(self.store, key + SIDECAR)).bytes_async()
        except _MISSING:
            raise ArchiveError(f"no checksum file {name}{SIDECAR} beside the archive") from None
        except Exception as exc:
            raise ArchiveError(f"cannot read {name}{SIDECAR}: {_why(exc)}") from None
        expected = parse_sidecar(bytes(side), name + SIDECAR)
        hasher, zcheck = Hasher(), ZipStreamCheck(name)
        async for chunk in self._stream(key):
            await self._digest(hasher, zcheck, chunk)
        zcheck.finish()
        actual = hasher.hexdigest
        if actual != expected:
            raise ArchiveError(f"{name}: sha256 {actual[:12]}… does not match its sidecar "
                               f"{expected[:12]}…")
        return ArchiveInfo(path=f"{self.url}/{key}", size=int(meta["size"]), sha256=actual)

    async def read(self, manager: str, snapshot_id: str) -> AsyncIterator[bytes]:
        async for chunk in self._stream(self.key(manager, snapshot_id)):
            yield chunk

    async def read_member(self, manager: str, snapshot_id: str, member: str,
                          limit: int = 1024 * 1024) -> bytes | None:
        key = self.key(manager, snapshot_id)

        def read() -> bytes | None:
            try:
                reader = _Reader(obstore.open_reader(self.store, key, buffer_size=64 * 1024))
            except Exception:
                return None
            try:
                return read_member_of(reader, member, limit)  # type: ignore[arg-type]
            finally:
                reader.close()
        return await asyncio.to_thread(read)

    # -- writing ----------------------------------------------------------------------------
    async def _upload(self, key: str, chunks: AsyncIterable[bytes]) -> None:
        await obstore.put_async(self.store, key, chunks, use_multipart=True, chunk_size=PART,
                                max_concurrency=CONCURRENCY)

    async def _forget(self, *keys: str) -> None:
        for key in keys:
            try:
                await obstore.delete_async(self.store, key)
            except Exception as exc:  # best effort: a cut connection cannot clean up either
                log.warning("could not remove %s/%s: %s", self.url, key, _why(exc))

    async def _publish(self, tmp: str, key: str, sha256: str, file_name: str) -> None:
        """The verified temporary object becomes the copy: an older sidecar goes first (it
        would vouch for other bytes), then the copy to the final key, then its sidecar. Cut
        anywhere, what is left is a final key without a sidecar (removed here, or by the next
        sweep), never a sidecar naming bytes that are not there."""
        await self._forget_quietly(key + SIDECAR)
        await obstore.copy_async(self.store, tmp, key, overwrite=True)
        try:
            await obstore.put_async(self.store, key + SIDECAR, sidecar_text(sha256, file_name),
                                    use_multipart=False)
        except BaseException:
            await self._forget(key)
            raise

    async def _forget_within(self, key: str, seconds: float) -> None:
        """`_forget`, given up after `seconds` (a cut network: the sweep removes it later)."""
        try:
            await asyncio.wait_for(asyncio.shield(self._forget(key)), seconds)
        except TimeoutError:
            log.warning("could not remove %s/%s in %.0f s; the next sweep will", self.url, key, seconds)

    async def _forget_quietly(self, key: str) -> None:
        try:
            await obstore.delete_async(self.store, key)
        except _MISSING:
            pass

    async def write(self, manager: str, snapshot_id: str, chunks: AsyncIterable[bytes], *,
                    expected_size: int | None = None, check: ZipCheck | None = None) -> ArchiveInfo:
        key = self.key(manager, snapshot_id)
        name = f"{snapshot_id}{SUFFIX}"
        tmp = f"{manager}/{partial_name(name)}"
        hasher = Hasher()
        zcheck = ZipStreamCheck(name)
        source_error: list[BaseException] = []

        async def guarded() -> AsyncIterator[bytes]:
            # hashed and zip-checked as the bytes pass (off the event loop: zlib and hashlib
            # release the GIL); the source's own error (e.g. the manager cut the download) is
            # what the caller should see, not the upload's "stream failed"
            try:
                async for chunk in chunks:
                    if chunk:
                        await self._digest(hasher, zcheck, chunk)
                        yield chunk
            except BaseException as exc:
                source_error.append(exc)
                raise

        try:
            try:
                await self._upload(tmp, guarded())
            except BaseException as exc:
                if source_error:
                    raise source_error[0] from None
                if isinstance(exc, (asyncio.CancelledError, ArchiveError)):
                    raise
                raise ArchiveError(f"uploading {name} to {self.url} failed ({_why(exc)}); "
                                   "nothing was saved") from None
            meta = await self._head(tmp)
            if meta is None or int(meta["size"]) != hasher.size:
                raise ArchiveError(f"{name}: the store holds {meta and meta['size']} bytes of "
                                   f"{hasher.size} sent; nothing was saved")
            if expected_size is not None and expected_size != hasher.size:
                raise ArchiveError(f"the download is incomplete: got {hasher.size} of "
                                   f"{expected_size} bytes")
            names = zcheck.finish()
            if check is not None:
                check(names)
            try:
                await self._publish(tmp, key, hasher.hexdigest, name)
            except Exception as exc:
                raise ArchiveError(f"publishing {name} to {self.url} failed ({_why(exc)}); "
                                   "nothing was saved") from None
        finally:
            # every way out removes the temporary key: also a failed upload's (the store may
            # have completed it before the answer was lost); a cut network that cannot take
            # the delete either leaves it to the sweep
            await self._forget_within(tmp, FORGET_WITHIN)
        return ArchiveInfo(path=f"{self.url}/{key}", size=hasher.size, sha256=hasher.hexdigest)

    async def delete(self, manager: str, snapshot_id: str) -> None:
        key = self.key(manager, snapshot_id)
        for k in (key, key + SIDECAR):
            try:
                await obstore.delete_async(self.store, k)
            except _MISSING:
                pass
            except Exception as exc:
                raise ArchiveError(f"could not delete {self.url}/{k}: {_why(exc)}") from None

    async def checksum(self, manager: str, snapshot_id: str) -> str:
        key = self.key(manager, snapshot_id) + SIDECAR
        try:
            data = await (await obstore.get_async(self.store, key)).bytes_async()
            return parse_sidecar(bytes(data), key)
        except Exception:
            return ""

    async def discard_partials(self, manager: str, snapshot_id: str) -> None:
        prefix = f"{check_name(manager, 'manager')}/.{check_name(snapshot_id, 'snapshot id')}{SUFFIX}.part-"
        for meta in await self._list_meta(f"{manager}/"):
            if meta["path"].startswith(prefix):
                await self._forget(meta["path"])

    async def sweep(self, unfinished: Mapping[str, datetime]) -> Sequence[str]:
        """Remove what interrupted writes left (`bot.archive_store.base.stale_leftovers`):
        temporary keys no unfinished job owns, and half-published copies (a final key without
        its sidecar, a sidecar without its copy) older than every unfinished job."""
        metas = [m for m in await self._list_meta(None) if not m["path"].startswith(f"{STATE_DIR}/")]
        found = {m["path"]: m.get("last_modified") or datetime.now(UTC) for m in metas}
        removed = []
        for key, why in stale_leftovers(found, unfinished):
            try:
                await obstore.delete_async(self.store, key)
            except _MISSING:
                continue
            except Exception as exc:
                log.warning("could not remove %s/%s (%s): %s", self.url, key, why, _why(exc))
                continue
            log.warning("removed %s/%s (%s)", self.url, key, why)
            removed.append(key)
        return removed

    # -- the bot's own files ----------------------------------------------------------------
    def _state_key(self, name: str) -> str:
        for part in name.split("/"):
            check_name(part, "state file")
        return f"{STATE_DIR}/{name}"

    async def put_state(self, name: str, chunks: AsyncIterable[bytes]) -> StoredBlob:
        key = self._state_key(name)
        hasher = Hasher()
        # a multipart upload is invisible until complete: no temporary key needed here
        try:
            await self._upload(key, hasher.tee(chunks))
            await obstore.put_async(self.store, key + SIDECAR,
                                    sidecar_text(hasher.hexdigest, name.rsplit("/", 1)[-1]),
                                    use_multipart=False)
        except Exception as exc:
            raise ArchiveError(f"uploading {name} to {self.url} failed ({_why(exc)})") from None
        return StoredBlob(name=name, size=hasher.size, modified=datetime.now(UTC),
                          location=f"{self.url}/{key}")

    async def list_state(self, prefix: str = "") -> builtins.list[StoredBlob]:
        out = []
        for m in await self._list_meta(f"{STATE_DIR}/"):
            rel = m["path"][len(STATE_DIR) + 1:]
            if rel.endswith(SIDECAR) or not rel.startswith(prefix) or rel.rsplit("/", 1)[-1][:1] == ".":
                continue
            out.append(StoredBlob(rel, int(m["size"]), m.get("last_modified") or datetime.now(UTC),
                                  f"{self.url}/{m['path']}"))
        return sorted(out, key=lambda b: (b.modified, b.name), reverse=True)

    async def delete_state(self, name: str) -> None:
        key = self._state_key(name)
        for k in (key, key + SIDECAR):
            try:
                await obstore.delete_async(self.store, k)
            except _MISSING:
                pass
            except Exception as exc:
                raise ArchiveError(f"could not delete {self.url}/{k}: {_why(exc)}") from None

    async def aclose(self) -> None:
        self._hashing.shutdown(wait=False)
