"""The archive store interface: where snapshot copies live off the manager.

Everything that reads or writes archives (download, the daily job and its retention, the
restore's safety snapshot, `upload --from-archive`, `snapshots list`) goes through an
`ArchiveStore`, so a directory and an object store behave the same way:

- a copy is addressed by (manager, snapshot id): `<root>/<manager>/<snapshot_id>.zip`, with
  `<snapshot_id>.zip.sha256` beside it in `sha256sum` format;
- `write` publishes atomically: the bytes go to a hidden temporary name (or key), are checked
  (size, a valid zip whose CRCs match, the caller's own check), the sidecar is written, and only
  then does the copy get its final name; a failure leaves nothing under either name;
- `verify` re-reads a copy: present, a valid zip, sha256 equal to its sidecar;
- names starting with `.` or `_` are never listed as copies (`_snapbot/` holds the bot's own
  database backups).
"""
from __future__ import annotations

import builtins
import fnmatch
import hashlib
import json
import zipfile
import zlib
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Protocol

from bot.cloudify.models import ArchiveInfo
from bot.errors import ArchiveError

CHUNK = 1024 * 1024
SUFFIX = ".zip"
SIDECAR = ".sha256"
#: where the bot keeps its own state (database backups): never a manager name (names start
#: with a letter or digit)
STATE_DIR = "_snapbot"

#: an extra check of the archive's member names (e.g. "metadata.json is inside"); raises ArchiveError
ZipCheck = Callable[[list[str]], None]


@dataclass(frozen=True)
class StoredArchive:
    """One archived copy as the store lists it."""
    manager: str
    snapshot_id: str
    size: int
    modified: datetime  # aware, UTC
    location: str  # a path or an s3:// URL, for people to read
    sha256: str = ""  # from the sidecar, when the caller asked for it (`checksum`)

    @property
    def name(self) -> str:
        return self.snapshot_id + SUFFIX


@dataclass(frozen=True)
class StoredBlob:
    """One of the bot's own files (a database backup)."""
    name: str
    size: int
    modified: datetime
    location: str


class ArchiveStore(Protocol):
    """A directory or an object store holding archived snapshot copies."""

    #: `archive dir /path` or `s3://bucket/prefix`, for the start-up log and messages
    url: str

    def location(self, manager: str, snapshot_id: str) -> str:
        """Where the copy of (manager, id) is or would be, for people to read."""

    async def list(self, manager: str | None = None) -> list[StoredArchive]:
        """Copies (never partials), newest first; every manager's when `manager` is None."""

    async def stat(self, manager: str, snapshot_id: str) -> StoredArchive | None:
        """The copy of (manager, id), or None."""

    async def write(self, manager: str, snapshot_id: str, chunks: AsyncIterable[bytes], *,
                    expected_size: int | None = None, check: ZipCheck | None = None) -> ArchiveInfo:
        """Store the bytes as the copy of (manager, id), atomically and verified (see module doc).
        Raises ArchiveError (or the error the chunks raised) and leaves nothing behind."""

    async def verify(self, manager: str, snapshot_id: str) -> ArchiveInfo:
        """Re-check a copy: present, a valid zip, sha256 equal to its sidecar."""

    def read(self, manager: str, snapshot_id: str) -> AsyncIterator[bytes]:
        """The copy's bytes, streamed in chunks (bounded memory)."""

    async def read_member(self, manager: str, snapshot_id: str, member: str,
                          limit: int = 1024 * 1024) -> bytes | None:
        """One member of the zip (e.g. metadata.json), or None if absent or unreadable. A glob
        (`tenants/*/*.json`) answers a JSON object {name: text} of every matching member
        (None when they add up to more than `limit`)."""

    async def delete(self, manager: str, snapshot_id: str) -> None:
        """Remove the copy and its sidecar (no error if already gone)."""

    async def checksum(self, manager: str, snapshot_id: str) -> str:
        """The sha256 its sidecar records ("" if there is none)."""

    async def discard_partials(self, manager: str, snapshot_id: str) -> None:
        """Remove what an interrupted write of (manager, id) left (after a restart)."""

    async def put_state(self, name: str, chunks: AsyncIterable[bytes]) -> StoredBlob:
        """Store one of the bot's own files under `_snapbot/<name>` (with a sha256 sidecar),
        atomically."""

    async def list_state(self, prefix: str = "") -> builtins.list[StoredBlob]:
        """The bot's own files under `_snapbot/`, newest first."""

    async def delete_state(self, name: str) -> None:
        """Remove one of the bot's own files and its sidecar."""

    async def sweep(self, unfinished: Mapping[str, datetime]) -> Sequence[str]:
        """Remove what interrupted writes left that no unfinished job (`unfinished`: id ->
        created at) will finish; returns what was removed. At start-up and by the daily run."""

    async def aclose(self) -> None:
        """Release connections."""


# -- helpers shared by the implementations ----------------------------------------------------
def check_zip_file(f: IO[bytes], name: str, check: ZipCheck | None = None) -> None:
    """Raise ArchiveError unless `f` (seekable) holds a complete zip whose members' CRCs all
    match and which passes `check`."""
    try:
        with zipfile.ZipFile(f) as zf:
            bad = zf.testzip()
            if bad is None and check is not None:
                check(zf.namelist())
    except ArchiveError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error, ValueError, NotImplementedError) as exc:
        # a damaged deflate stream surfaces as zlib.error, an odd header as ValueError
        raise ArchiveError(f"{name} is not a valid zip archive ({exc})") from None
    except Exception as exc:  # an object store read failing half-way
        raise ArchiveError(f"{name} could not be read back to check it ({type(exc).__name__})") from None
    if bad is not None:
        raise ArchiveError(f"{name}: member {bad!r} is corrupt")


def read_member_of(f: IO[bytes], member: str, limit: int) -> bytes | None:
    try:
        with zipfile.ZipFile(f) as zf:
            if any(c in member for c in "*?["):  # a glob: {name: text} of every match, JSON
                found: dict[str, str] = {}
                total = 0
                for info in zf.infolist():
                    if fnmatch.fnmatchcase(info.filename, member):
                        total += info.file_size
                        if total > limit:
                            return None
                        found[info.filename] = zf.read(info).decode("utf-8", "replace")
                return json.dumps(found).encode()
            info = zf.getinfo(member)
            if info.file_size > limit:
                return None
            return zf.read(member)
    except Exception:
        return None


def sidecar_text(sha256: str, file_name: str) -> bytes:
    return f"{sha256}  {file_name}\n".encode()


def parse_sidecar(text: bytes | str, side_name: str) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    words = text.split()
    if not words or len(words[0]) != 64:
        raise ArchiveError(f"{side_name} is not in sha256sum format")
    return words[0].lower()


def split_key(rel: str) -> tuple[str, str] | None:
    """`<manager>/<id>.zip` → (manager, id); None for anything else (partials, sidecars,
    the bot's own files, deeper paths)."""
    parts = rel.split("/")
    if len(parts) != 2:
        return None
    manager, name = parts
    if not manager or manager[0] in "._" or not name.endswith(SUFFIX) or name[0] in "._":
        return None
    return manager, name[:-len(SUFFIX)]


def check_name(value: str, what: str) -> str:
    """Manager names and snapshot ids become path segments: refuse anything that could escape."""
    if not value or "/" in value or "\\" in value or value in (".", "..") or value[0] in "._" \
            or "\x00" in value:
        raise ArchiveError(f"{what} {value!r} cannot name an archived copy")
    return value


class Hasher:
    """Counts and hashes the chunks flowing through it."""

    def __init__(self) -> None:
        self.digest = hashlib.sha256()
        self.size = 0

    async def tee(self, chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
        async for chunk in chunks:
            if chunk:
                self.digest.update(chunk)
                self.size += len(chunk)
                yield chunk

    @property
    def hexdigest(self) -> str:
        return self.digest.hexdigest()


async def file_chunks(path: str, chunk: int = CHUNK) -> AsyncIterator[bytes]:
    """A local file's bytes in chunks, read off the event loop."""
    import asyncio
    f = await asyncio.to_thread(open, path, "rb")
    try:
        while data := await asyncio.to_thread(f.read, chunk):
            yield data
    finally:
        f.close()


def stale_leftovers(found: Mapping[str, datetime],
                    unfinished: Mapping[str, datetime]) -> list[tuple[str, str]]:
    """What interrupted writes left among the store's keys (`found`: key -> last modified),
    with why each goes: a temporary key whose job is not unfinished (an untagged one older than
    every unfinished job), and a half-published copy (a final key without its sidecar, or a
    sidecar without its copy) older than every unfinished job, whose write may still be on
    its way."""
    from bot.partials import is_partial, job_of

    oldest = min(unfinished.values(), default=None)
    out: list[tuple[str, str]] = []
    for key, modified in sorted(found.items()):
        name = key.rsplit("/", 1)[-1]
        settled = oldest is None or modified < oldest
        if is_partial(name):
            job = job_of(name)
            if (job not in unfinished) if job is not None else settled:
                out.append((key, "a temporary key no unfinished job owns"))
        elif not settled:
            continue
        elif key.endswith(SUFFIX) and split_key(key) and key + SIDECAR not in found:
            out.append((key, "a copy without its sidecar: its publishing was cut"))
        elif key.endswith(SUFFIX + SIDECAR) and split_key(key[:-len(SIDECAR)]) \
                and key[:-len(SIDECAR)] not in found:
            out.append((key, "a sidecar without its copy"))
    return out
