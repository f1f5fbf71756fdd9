"""The archive store on a local directory (the default; `SNAPBOT_ARCHIVE_DIR`)."""
from __future__ import annotations

import asyncio
import builtins
import errno
import os
import secrets
from collections.abc import AsyncIterable, AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from bot import archive
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
    check_zip_file,
    file_chunks,
    parse_sidecar,
    read_member_of,
    sidecar_text,
    split_key,
)
from bot.cloudify.models import ArchiveInfo
from bot.errors import ArchiveError
from bot.partials import partial_name, sweep_stale

_NO_ROOM = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}  # EFBIG: a file size limit


def _write_failed(exc: OSError, where: Path) -> str:
    why = exc.strerror or type(exc).__name__
    if exc.errno in _NO_ROOM:
        return (f"the disk is full: cannot write the archive to {where} ({why}); "
                "nothing was saved")
    return f"cannot write the archive to {where} ({why}); nothing was saved"


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class DirectoryArchiveStore:
    """`<root>/<manager>/<id>.zip` + `.sha256`; partials are `.<name>.part-*` beside them."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.url = str(self.root)

    # -- naming -----------------------------------------------------------------------------
    def path(self, manager: str, snapshot_id: str) -> Path:
        check_name(manager, "manager")
        check_name(snapshot_id, "snapshot id")
        return self.root / manager / f"{snapshot_id}{SUFFIX}"

    def location(self, manager: str, snapshot_id: str) -> str:
        return str(self.path(manager, snapshot_id))

    # -- reading ----------------------------------------------------------------------------
    def _entry(self, p: Path) -> StoredArchive | None:
        parsed = split_key(f"{p.parent.name}/{p.name}")
        if parsed is None:
            return None
        try:
            st = p.stat()
        except OSError:
            return None
        return StoredArchive(manager=parsed[0], snapshot_id=parsed[1], size=st.st_size,
                             modified=datetime.fromtimestamp(st.st_mtime, UTC),
                             location=str(p))

    def _list(self, manager: str | None) -> list[StoredArchive]:
        if manager is not None:
            dirs = [self.root / check_name(manager, "manager")]
        else:
            dirs = [d for d in self.root.glob("*") if d.is_dir()] if self.root.is_dir() else []
        out = [e for d in dirs if d.is_dir() for f in d.glob(f"*{SUFFIX}")
               if (e := self._entry(f)) is not None]
        return sorted(out, key=lambda e: e.modified, reverse=True)

    async def list(self, manager: str | None = None) -> list[StoredArchive]:
        return await asyncio.to_thread(self._list, manager)

    async def stat(self, manager: str, snapshot_id: str) -> StoredArchive | None:
        p = self.path(manager, snapshot_id)
        return await asyncio.to_thread(lambda: self._entry(p) if p.is_file() else None)

    def _verify(self, p: Path) -> ArchiveInfo:
        if not p.is_file():
            raise ArchiveError(f"no archived copy at {p}")
        side = Path(str(p) + SIDECAR)
        try:
            expected = parse_sidecar(side.read_bytes(), side.name)
        except OSError:
            raise ArchiveError(f"no checksum file {side.name} beside the archive") from None
        with open(p, "rb") as f:
            check_zip_file(f, p.name)
        h = Hasher().digest
        with open(p, "rb") as f:
            while chunk := f.read(CHUNK):
                h.update(chunk)
        actual = h.hexdigest()
        if actual != expected:
            raise ArchiveError(f"{p.name}: sha256 {actual[:12]}… does not match its sidecar "
                               f"{expected[:12]}…")
        return ArchiveInfo(path=str(p), size=p.stat().st_size, sha256=actual)

    async def verify(self, manager: str, snapshot_id: str) -> ArchiveInfo:
        return await asyncio.to_thread(self._verify, self.path(manager, snapshot_id))

    async def read(self, manager: str, snapshot_id: str) -> AsyncIterator[bytes]:
        p = self.path(manager, snapshot_id)
        if not p.is_file():
            raise ArchiveError(f"no archived copy at {p}")
        async for chunk in file_chunks(str(p)):
            yield chunk

    async def read_member(self, manager: str, snapshot_id: str, member: str,
                          limit: int = 1024 * 1024) -> bytes | None:
        p = self.path(manager, snapshot_id)

        def read() -> bytes | None:
            try:
                with open(p, "rb") as f:
                    return read_member_of(f, member, limit)
            except OSError:
                return None
        return await asyncio.to_thread(read)

    # -- writing ----------------------------------------------------------------------------
    async def _stage(self, dest: Path, chunks: AsyncIterable[bytes], hasher: Hasher) -> Path:
        try:
            # private: archives hold the manager's secrets and password hashes
            await asyncio.to_thread(archive.private_dir, dest.parent.parent)
            await asyncio.to_thread(archive.private_dir, dest.parent)
        except OSError as exc:
            raise ArchiveError(f"cannot create the archive directory {dest.parent}: "
                               f"{exc.strerror or exc}") from None
        tmp = dest.with_name(partial_name(dest.name))

        def failed(exc: OSError) -> ArchiveError:
            return ArchiveError(_write_failed(exc, dest.parent))
        try:
            try:
                f = await asyncio.to_thread(archive.open_private, tmp, "wb")  # 0600
            except OSError as exc:
                raise failed(exc) from None
            try:
                # the source's own errors (a cut download is an OSError too) pass through as
                # they are; only writing here is "cannot write the archive"
                async for chunk in hasher.tee(chunks):
                    try:
                        await asyncio.to_thread(f.write, chunk)
                    except OSError as exc:
                        raise failed(exc) from None
                try:
                    await asyncio.to_thread(f.flush)
                    await asyncio.to_thread(os.fsync, f.fileno())
                except OSError as exc:
                    raise failed(exc) from None
            finally:
                f.close()
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return tmp

    def _publish(self, tmp: Path, dest: Path, sha256: str) -> None:
        side = Path(str(dest) + SIDECAR)
        side_tmp = side.with_name(f".{side.name}.tmp-{secrets.token_hex(4)}")
        try:
            with archive.open_private(side_tmp, "wb") as f:
                f.write(sidecar_text(sha256, dest.name))
            os.replace(side_tmp, side)
            os.replace(tmp, dest)
        except OSError as exc:
            side_tmp.unlink(missing_ok=True)
            side.unlink(missing_ok=True)
            raise ArchiveError(_write_failed(exc, dest.parent)) from None
        _fsync_dir(dest.parent)  # make both renames durable

    async def write(self, manager: str, snapshot_id: str, chunks: AsyncIterable[bytes], *,
                    expected_size: int | None = None, check: ZipCheck | None = None) -> ArchiveInfo:
        dest = self.path(manager, snapshot_id)
        hasher = Hasher()
        tmp = await self._stage(dest, chunks, hasher)
        try:
            if expected_size is not None and expected_size != hasher.size:
                raise ArchiveError(f"the download is incomplete: got {hasher.size} of "
                                   f"{expected_size} bytes")

            def verify() -> None:
                with open(tmp, "rb") as f:
                    check_zip_file(f, dest.name, check)
            await asyncio.to_thread(verify)
            await asyncio.to_thread(self._publish, tmp, dest, hasher.hexdigest)
        finally:
            tmp.unlink(missing_ok=True)
        return ArchiveInfo(path=str(dest), size=hasher.size, sha256=hasher.hexdigest)

    async def delete(self, manager: str, snapshot_id: str) -> None:
        p = self.path(manager, snapshot_id)
        try:
            await asyncio.to_thread(_unlink_with_sidecar, p)
        except OSError as exc:
            raise ArchiveError(f"could not delete {p.name}: {exc.strerror or exc}") from None

    async def checksum(self, manager: str, snapshot_id: str) -> str:
        side = Path(str(self.path(manager, snapshot_id)) + SIDECAR)
        try:
            return parse_sidecar(await asyncio.to_thread(side.read_bytes), side.name)
        except (OSError, ArchiveError):
            return ""

    async def discard_partials(self, manager: str, snapshot_id: str) -> None:
        dest = self.path(manager, snapshot_id)
        if dest.parent.is_dir():
            for stale in dest.parent.glob(f".{dest.name}.part*"):
                stale.unlink(missing_ok=True)

    # -- the bot's own files ----------------------------------------------------------------
    def _state_path(self, name: str) -> Path:
        parts = name.split("/")
        for part in parts:
            check_name(part, "state file")
        return self.root / STATE_DIR / Path(*parts)

    async def put_state(self, name: str, chunks: AsyncIterable[bytes]) -> StoredBlob:
        dest = self._state_path(name)
        hasher = Hasher()
        tmp = await self._stage(dest, chunks, hasher)
        try:
            await asyncio.to_thread(self._publish, tmp, dest, hasher.hexdigest)
        finally:
            tmp.unlink(missing_ok=True)
        return StoredBlob(name=name, size=hasher.size, modified=datetime.now(UTC),
                          location=str(dest))

    async def list_state(self, prefix: str = "") -> builtins.list[StoredBlob]:
        base = self.root / STATE_DIR

        def scan() -> list[StoredBlob]:
            out = []
            for p in base.rglob("*") if base.is_dir() else []:
                rel = p.relative_to(base).as_posix()
                if not p.is_file() or p.name.startswith(".") or rel.endswith(SIDECAR) \
                        or not rel.startswith(prefix):
                    continue
                st = p.stat()
                out.append(StoredBlob(rel, st.st_size, datetime.fromtimestamp(st.st_mtime, UTC),
                                      str(p)))
            return sorted(out, key=lambda b: (b.modified, b.name), reverse=True)
        return await asyncio.to_thread(scan)

    async def delete_state(self, name: str) -> None:
        await asyncio.to_thread(_unlink_with_sidecar, self._state_path(name))

    async def sweep(self, unfinished: Mapping[str, datetime]) -> Sequence[str]:
        return [str(p) for p in await asyncio.to_thread(sweep_stale, [self.root], unfinished)]

    async def aclose(self) -> None:
        return None


def _unlink_with_sidecar(path: Path) -> None:
    path.unlink(missing_ok=True)
    Path(str(path) + SIDECAR).unlink(missing_ok=True)
