"""The off-manager archive: where snapshot copies live and how they are checked.

Layout: `<archive_dir>/<manager>/<snapshot_id>.zip` with `<snapshot_id>.zip.sha256` beside it in
`sha256sum` format (`<hex>  <file name>`). A file only gets its final name once complete and
verified; partial downloads live as `.<name>.part-*` and are removed on failure.
"""
from __future__ import annotations

import hashlib
import os
import zipfile
import zlib
from pathlib import Path
from typing import Any

from bot.cloudify.models import ArchiveInfo
from bot.errors import ArchiveError

CHUNK = 1024 * 1024


def archive_path(archive_dir: str | Path, manager: str, snapshot_id: str) -> Path:
    return Path(archive_dir) / manager / f"{snapshot_id}.zip"


#: Archives hold the manager's secrets and password hashes: only snapbot's user may read them.
FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: str | Path) -> Path:
    """Create `path` (and missing parents) readable by snapbot's user only; an existing
    directory of snapbot's archive is narrowed to that too."""
    path = Path(path)
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    os.chmod(path, DIR_MODE)
    return path


def manager_dir(archive_dir: str | Path, manager: str) -> Path:
    """`<archive_dir>/<manager>/`, both private (0700)."""
    private_dir(archive_dir)
    return private_dir(Path(archive_dir) / manager)


def open_private(path: str | Path, mode: str = "wb") -> Any:
    """Open a new file for writing with mode 0600 from its first byte (never the umask's)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    os.fchmod(fd, FILE_MODE)
    return os.fdopen(fd, mode)


def sidecar_path(path: str | Path) -> Path:
    return Path(str(path) + ".sha256")


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def check_zip(path: str | Path) -> None:
    """Raise ArchiveError unless `path` is a complete zip whose members' CRCs all match."""
    try:
        with zipfile.ZipFile(path) as zf:
            bad = zf.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error, ValueError, NotImplementedError) as exc:
        # a damaged deflate stream surfaces as zlib.error, an odd header as ValueError
        raise ArchiveError(f"{Path(path).name} is not a valid zip archive ({exc})") from None
    if bad is not None:
        raise ArchiveError(f"{Path(path).name}: member {bad!r} is corrupt")


def write_sidecar(path: str | Path, sha256: str) -> Path:
    side = sidecar_path(path)
    tmp = side.with_name(f".{side.name}.tmp")
    with open_private(tmp, "w") as f:
        f.write(f"{sha256}  {Path(path).name}\n")
    os.replace(tmp, side)
    return side


def read_sidecar(path: str | Path) -> str:
    side = sidecar_path(path)
    try:
        text = side.read_text().split()
    except OSError:
        raise ArchiveError(f"no checksum file {side.name} beside the archive") from None
    if not text or len(text[0]) != 64:
        raise ArchiveError(f"{side.name} is not in sha256sum format")
    return text[0].lower()


def verify_archived(path: str | Path) -> ArchiveInfo:
    """Re-check an archived copy: present, a valid zip, sha256 equal to its sidecar."""
    p = Path(path)
    if not p.is_file():
        raise ArchiveError(f"no archived copy at {p}")
    expected = read_sidecar(p)
    check_zip(p)
    actual = sha256_file(p)
    if actual != expected:
        raise ArchiveError(f"{p.name}: sha256 {actual[:12]}… does not match its sidecar {expected[:12]}…")
    return ArchiveInfo(path=str(p), size=p.stat().st_size, sha256=actual)
