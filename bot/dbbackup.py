"""snapbot's own state off its volume: the SQLite database, copied with SQLite's online
backup API (a consistent copy while the bot keeps running), stored in the archive store
under `_snapbot/db/snapbot-<YYYYMMDD>.sqlite3` with a sha256 sidecar. The daily job takes one
a day (a later run the same day replaces it) and keeps the newest `keep`.

Restoring it is a file copy while snapbot is stopped (README: "Restoring snapbot's database").
"""
from __future__ import annotations

import asyncio
import logging
import sqlite3
import tempfile
from datetime import datetime
from pathlib import Path

from bot.archive_store import ArchiveStore, StoredBlob, file_chunks

log = logging.getLogger(__name__)

PREFIX = "db/"


def backup_name(now: datetime) -> str:
    return f"{PREFIX}snapbot-{now.strftime('%Y%m%d')}.sqlite3"


def _online_copy(db_path: str, dest: Path) -> None:
    """SQLite's backup API from a connection of our own (this runs in a worker thread; the
    store's connection stays with the event loop). Pages written meanwhile are re-copied by
    SQLite, so the copy is consistent."""
    src = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(dest)
        try:
            src.backup(dst, pages=256)
            ok = dst.execute("pragma integrity_check").fetchone()[0]
            if ok != "ok":
                raise sqlite3.DatabaseError(f"the copy fails its integrity check: {ok}")
        finally:
            dst.close()
    finally:
        src.close()


async def backup_database(db_path: str, archives: ArchiveStore, now: datetime, *,
                          keep: int = 14) -> StoredBlob:
    """Copy the database into the archive store and prune older copies beyond `keep`."""
    if db_path == ":memory:":
        raise ValueError("an in-memory database has nothing to back up")
    with tempfile.TemporaryDirectory(prefix="snapbot-dbbackup-") as tmp:
        copy = Path(tmp) / "snapbot.sqlite3"
        await asyncio.to_thread(_online_copy, db_path, copy)
        blob = await archives.put_state(backup_name(now), file_chunks(str(copy)))
    for old in (await archives.list_state(PREFIX))[max(keep, 1):]:
        try:
            await archives.delete_state(old.name)
        except Exception:
            log.warning("could not remove the old database backup %s", old.name, exc_info=True)
    log.info("database backed up to %s (%d bytes)", blob.location, blob.size)
    return blob
