"""Where Cloudify's source comes from: a directory holding the `7.0.5-build` trees of
cloudify-manager, cloudify-agent and cloudify-manager-install, or a .tar.gz of them (unpacked once
into the cache, keyed by the archive's sha256)."""
from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

TREES = ("cloudify-manager", "cloudify-agent", "cloudify-manager-install")
SOURCE_ENV = "SNAPBOT_CLOUDIFY_SRC"


class SourceError(Exception):
    """The source given is missing or is not the three trees."""


@dataclass(frozen=True)
class CloudifySource:
    root: Path

    @property
    def manager(self) -> Path:
        return self.root / "cloudify-manager"

    @property
    def rest_service(self) -> Path:
        return self.manager / "rest-service"

    @property
    def mgmtworker(self) -> Path:
        return self.manager / "mgmtworker"

    @property
    def execution_scheduler(self) -> Path:
        return self.manager / "execution-scheduler"

    @property
    def agent(self) -> Path:
        return self.root / "cloudify-agent"

    @property
    def install(self) -> Path:
        return self.root / "cloudify-manager-install"


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _find_root(directory: Path) -> Path | None:
    """`directory` itself or its only subdirectory, whichever holds the three trees."""
    candidates = [directory] + [p for p in sorted(directory.iterdir()) if p.is_dir()]
    for candidate in candidates:
        if all((candidate / tree).is_dir() for tree in TREES):
            return candidate
    return None


def resolve_source(path: str | os.PathLike[str], cache_dir: Path) -> CloudifySource:
    """The source at `path` (a directory or a .tar.gz); an archive is unpacked under `cache_dir`."""
    given = Path(path).expanduser()
    if not given.exists():
        raise SourceError(f"Cloudify source not found: {given}")
    if given.is_dir():
        root = _find_root(given)
        if root is None:
            raise SourceError(f"{given} does not hold the trees {', '.join(TREES)}")
        return CloudifySource(root.resolve())
    if not tarfile.is_tarfile(given):
        raise SourceError(f"{given} is neither a directory nor a tar archive")
    target = cache_dir / f"realmanager-src-{_file_sha256(given)[:16]}"
    if not target.is_dir():
        cache_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".realmanager-src-", dir=cache_dir))
        try:
            with tarfile.open(given) as archive:
                archive.extractall(staging, filter="data")
            staging.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    root = _find_root(target)
    if root is None:
        raise SourceError(f"{given} does not hold the trees {', '.join(TREES)}")
    return CloudifySource(root)


def tree_digest(*paths: Path) -> str:
    """A digest of every file under `paths` (names and contents), for cache keys."""
    digest = hashlib.sha256()
    for base in paths:
        for file in sorted(p for p in base.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
            digest.update(str(file.relative_to(base.parent)).encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()
