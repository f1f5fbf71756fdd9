"""Moving snapshot archives over HTTP with bounded memory: a download streamed into a checked
file (zip CRCs, sha256 sidecar, atomic rename) or into a sink such as an archive store's write,
and an upload streamed as a chunked PUT body. Nothing here is retried once bytes have moved."""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import re
import time
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

from bot import archive
from bot.cloudify.errors import NO_ROOM, error_from_response, unreachable, write_failed
from bot.cloudify.models import ArchiveInfo, Snapshot
from bot.cloudify.session import ManagerSession
from bot.errors import ArchiveError, CloudifyError, ManagerUnavailable
from bot.partials import partial_name

logger = logging.getLogger("bot.cloudify")
T = TypeVar("T")


def fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on directories; the data itself is synced
    finally:
        os.close(fd)


class _Cut(Exception):
    """A download stream cut after the manager answered (worth taking up again, bounded)."""

    def __init__(self, error: ManagerUnavailable) -> None:
        self.error = error


class _Partial:
    """A download in progress across attempts: bytes on disk, their running sha256, the full
    size, and whether the manager takes `Range` requests (it said `Accept-Ranges: bytes`)."""

    def __init__(self) -> None:
        self.size = 0
        self.total: int | None = None
        self.ranges = False
        self.digest = hashlib.sha256()

    def answer(self, status: int, headers: Any) -> str | None:
        """The file mode for this answer: append to what we have (a 206 from our offset) or
        start over (a 200); None for a range we did not ask for (then: again, without Range)."""
        length = headers.get("content-length")
        if status == 206:
            m = re.match(r"bytes (\d+)-\d+/(\d+)", headers.get("content-range", ""))
            if m and int(m.group(1)) == self.size:
                self.total = int(m.group(2))
                return "ab"
            self.size, self.digest, self.ranges = 0, hashlib.sha256(), False
            return None
        self.size, self.digest = 0, hashlib.sha256()
        self.ranges = headers.get("accept-ranges", "").lower() == "bytes"
        self.total = int(length) if status == 200 and length and length.isdigit() else None
        return "wb"


class NotStarted(Exception):
    """A download failed before any byte was written; safe to retry."""

    def __init__(self, error: CloudifyError) -> None:
        super().__init__(str(error))
        self.error = error


class ArchiveTransfers:
    """The archive endpoints of a manager (`/snapshots/<id>/archive`), both ways, over its
    session (`ManagerSession`)."""

    def __init__(self, session: ManagerSession) -> None:
        self.session = session

    async def download_snapshot(self, snapshot_id: str, dest: str | Path) -> ArchiveInfo:
        """Stream to a temp file beside `dest`, check it is a valid zip, sha256 it, then rename
        to `dest` atomically. On any failure the temp file is removed and nothing is at `dest`.

        Memory stays bounded by one chunk. Opening the stream is retried like a GET; a stream
        cut half-way raises `ManagerUnavailable` (call again to start over).
        """
        dest = Path(dest)
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ArchiveError(f"cannot create the archive directory {dest.parent}: "
                                         f"{exc.strerror or exc}", manager=self.session.name) from None
        tmp = dest.with_name(partial_name(dest.name))
        path = f"/snapshots/{snapshot_id}/archive"
        try:
            info = await self._download_to(path, tmp)
            try:
                await asyncio.to_thread(archive.check_zip, tmp)
            except ArchiveError as exc:
                raise ArchiveError(f"snapshot {snapshot_id}: the downloaded archive "
                                             f"is not usable ({exc}); nothing was saved", manager=self.session.name) from None
            os.replace(tmp, dest)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        try:
            archive.write_sidecar(dest, info.sha256)
        except OSError as exc:
            dest.unlink(missing_ok=True)
            if exc.errno in NO_ROOM:
                raise ArchiveError(f"the disk is full: cannot write the checksum "
                                             f"beside {dest.name} ({exc.strerror}); nothing was "
                                             "saved", manager=self.session.name) from None
            raise ArchiveError(f"cannot write the checksum beside {dest.name}: "
                                         f"{exc.strerror or exc}", manager=self.session.name) from None
        fsync_dir(dest.parent)  # make both renames durable
        return ArchiveInfo(path=str(dest), size=info.size, sha256=info.sha256)

    async def _download_to(self, path: str, tmp: Path) -> ArchiveInfo:
        """Opening is retried like a GET; a stream cut half-way is taken up again up to
        `download_retries` times: from where it was cut (`Range`) when the manager said it
        accepts ranges, else from the start."""
        part = _Partial()
        opened = cuts = 0
        while True:
            try:
                return await self._stream_once(path, tmp, part)
            except NotStarted as exc:
                if opened >= self.session.retries:
                    raise exc.error from None
                await self.session.pause(opened)
                opened += 1
            except _Cut as exc:
                if cuts >= self.session.download_retries:
                    raise exc.error from None
                cuts += 1
                how = f"from byte {part.size}" if part.ranges else "from the start"
                logger.warning("manager %s: %s; taking it up again %s (%d of %d)", self.session.name,
                               exc.error.manager_message, how, cuts, self.session.download_retries)
                await self.session.pause(cuts - 1)

    async def _stream_once(self, path: str, tmp: Path, part: _Partial) -> ArchiveInfo:
        method = "GET"
        started = time.monotonic()
        answered = False
        headers = {"Range": f"bytes={part.size}-"} if part.size and part.ranges else {}
        try:
            async with self.session.http.stream(method, path, headers=headers) as resp:
                answered = True
                if resp.status_code not in (200, 206):
                    body = await resp.aread()
                    logger.debug("%s %s -> %s in %.3fs", method, path, resp.status_code,
                                 time.monotonic() - started)
                    err = error_from_response(resp.status_code, body, method, path, manager=self.session.name)
                    if isinstance(err, ManagerUnavailable):
                        raise NotStarted(err)
                    raise err
                mode = part.answer(resp.status_code, resp.headers)
                if mode is None:
                    raise _Cut(ManagerUnavailable(
                        "the manager answered another range than the one asked for",
                        method=method, path=path, manager=self.session.name))
                with await asyncio.to_thread(open, tmp, mode) as f:
                    async for chunk in resp.aiter_bytes(self.session.chunk_size):
                        part.digest.update(chunk)
                        await asyncio.to_thread(f.write, chunk)
                        part.size += len(chunk)
                    await asyncio.to_thread(f.flush)
                    await asyncio.to_thread(os.fsync, f.fileno())
        except httpx.TransportError as exc:
            logger.debug("%s %s -> %s after %.3fs, %d bytes", method, path,
                         type(exc).__name__, time.monotonic() - started, part.size)
            if not answered:  # nothing received yet: as safe to retry as any GET
                raise NotStarted(ManagerUnavailable(
                    unreachable(exc), method=method, path=path, manager=self.session.name)) from None
            raise _Cut(ManagerUnavailable(
                f"the download was cut after {part.size} bytes ({type(exc).__name__})",
                method=method, path=path, manager=self.session.name)) from None
        except OSError as exc:
            logger.warning("writing %s failed after %d bytes: %s", tmp.name, part.size,
                           exc.strerror or type(exc).__name__)
            raise ArchiveError(write_failed(exc, tmp.parent), manager=self.session.name) from None
        logger.debug("%s %s -> %s in %.3fs, %d bytes", method, path, resp.status_code,
                     time.monotonic() - started, part.size)
        if part.total is not None and part.total != part.size:
            raise ArchiveError(f"the download is incomplete: got {part.size} of "
                                         f"{part.total} bytes", manager=self.session.name)
        return ArchiveInfo(path=str(tmp), size=part.size, sha256=part.digest.hexdigest())

    async def stream_archive(self, snapshot_id: str,
                             sink: Callable[[AsyncIterator[bytes], int | None], Awaitable[T]]) -> T:
        """Stream the snapshot's archive into `sink(chunks, expected_size)` (e.g. an archive
        store's write) and return what it returns. Opening is retried like a GET until the
        manager answers; a stream cut half-way is taken up again up to `download_retries` times:
        inside the same chunks with `Range` when the manager accepts ranges, else by calling the
        sink again from the start. Past that, `ManagerUnavailable` comes out of the chunks.
        Memory stays bounded by one chunk."""
        path = f"/snapshots/{snapshot_id}/archive"
        opened = 0
        cuts = [0]
        while True:
            try:
                return await self._stream_into(path, sink, cuts)
            except NotStarted as exc:
                if opened >= self.session.retries:
                    raise exc.error from None
                await self.session.pause(opened)
                opened += 1
            except _Cut as exc:
                if cuts[0] >= self.session.download_retries:
                    raise exc.error from None
                cuts[0] += 1
                logger.warning("manager %s: %s; taking it up again from the start (%d of %d)",
                               self.session.name, exc.error.manager_message, cuts[0], self.session.download_retries)
                await self.session.pause(cuts[0] - 1)

    async def _stream_into(self, path: str,
                           sink: Callable[[AsyncIterator[bytes], int | None], Awaitable[T]],
                           cuts: list[int]) -> T:
        method = "GET"
        started = time.monotonic()
        size = 0
        answered = False

        def cut(exc: BaseException | str) -> _Cut:
            why = exc if isinstance(exc, str) else type(exc).__name__
            return _Cut(ManagerUnavailable(
                f"the download was cut after {size} bytes ({why})", method=method, path=path, manager=self.session.name))
        try:
            async with contextlib.AsyncExitStack() as stack:
                resp = await stack.enter_async_context(self.session.http.stream(method, path))
                answered = True
                if resp.status_code != 200:
                    body = await resp.aread()
                    err = error_from_response(resp.status_code, body, method, path, manager=self.session.name)
                    if isinstance(err, ManagerUnavailable):
                        raise NotStarted(err)
                    raise err
                length = resp.headers.get("content-length")
                ranges = resp.headers.get("accept-ranges", "").lower() == "bytes"

                async def chunks() -> AsyncIterator[bytes]:
                    nonlocal size, resp
                    while True:
                        try:
                            async for chunk in resp.aiter_bytes(self.session.chunk_size):
                                size += len(chunk)
                                yield chunk
                            return
                        except httpx.TransportError as exc:
                            if not ranges or cuts[0] >= self.session.download_retries:
                                raise cut(exc) from None
                            cuts[0] += 1
                            logger.warning("manager %s: the download was cut after %d bytes; taking "
                                           "it up again from byte %d (%d of %d)", self.session.name, size,
                                           size, cuts[0], self.session.download_retries)
                        await self.session.pause(cuts[0] - 1)
                        try:
                            resp = await stack.enter_async_context(self.session.http.stream(
                                method, path, headers={"Range": f"bytes={size}-"}))
                        except httpx.TransportError as exc:
                            raise cut(exc) from None
                        m = re.match(r"bytes (\d+)-", resp.headers.get("content-range", ""))
                        if resp.status_code != 206 or not m or int(m.group(1)) != size:
                            raise cut(f"the manager answered {resp.status_code} to a range request")
                result = await sink(chunks(), int(length) if length and length.isdigit() else None)
        except httpx.TransportError as exc:
            if not answered:  # nothing received yet: as safe to retry as any GET
                raise NotStarted(ManagerUnavailable(
                    unreachable(exc), method=method, path=path, manager=self.session.name)) from None
            raise cut(exc) from None
        logger.debug("%s %s -> 200 in %.3fs, %d bytes", method, path,
                     time.monotonic() - started, size)
        return result

    async def upload_snapshot(self, snapshot_id: str, *, path: str | Path | None = None,
                              url: str | None = None,
                              content: AsyncIterable[bytes] | None = None) -> Snapshot:
        """Stream a local archive or `content` (e.g. an archive store's read) as a chunked
        PUT body, or ask the manager to fetch `url`.

        Never retried: a PUT that failed half-way must be looked at, not repeated blindly.
        """
        if sum(x is not None for x in (path, url, content)) != 1:
            raise ValueError("upload_snapshot needs exactly one of path=, url= or content=")
        endpoint = f"/snapshots/{snapshot_id}/archive"
        if content is not None:
            resp = await self.session.request("PUT", endpoint, content=content,
                                       headers={"Content-Type": "application/octet-stream"},
                                       expected=(201,))
            return await self._uploaded(snapshot_id, resp)
        if url is not None:
            resp = await self.session.request("PUT", endpoint, params={"snapshot_archive_url": url},
                                       expected=(201,))
            return await self._uploaded(snapshot_id, resp)
        src = Path(path)  # type: ignore[arg-type]
        if not await asyncio.to_thread(src.is_file):
            raise ArchiveError(f"no archive to upload at {src}", manager=self.session.name)
        chunks = self._file_chunks(src)
        try:
            resp = await self.session.request("PUT", endpoint, content=chunks,
                                       headers={"Content-Type": "application/octet-stream"},
                                       expected=(201,))
        finally:
            await chunks.aclose()  # closes the file even when the request failed half-way
        return await self._uploaded(snapshot_id, resp)

    async def _uploaded(self, snapshot_id: str, resp: httpx.Response) -> Snapshot:
        # Uploading over an existing snapshot's archive answers `{}`: read the snapshot back.
        data = resp.json() if resp.content else {}
        if isinstance(data, dict) and data.get("id"):
            return Snapshot.from_api(data)
        return Snapshot.from_api(await self.session.get_json(f"/snapshots/{snapshot_id}"))

    async def _file_chunks(self, src: Path) -> AsyncGenerator[bytes, None]:
        f = await asyncio.to_thread(open, src, "rb")
        try:
            while chunk := await asyncio.to_thread(f.read, self.session.chunk_size):
                yield chunk
        finally:
            f.close()
