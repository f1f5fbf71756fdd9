"""Reading an archive directory the way a test checks it (the product reads it through
`bot.archive_store`)."""
from __future__ import annotations

from pathlib import Path


def list_archived(archive_dir: str | Path, manager: str | None = None) -> list[Path]:
    """Archived zips (not partials), newest first by modification time."""
    root = Path(archive_dir)
    dirs = [root / manager] if manager else [d for d in root.glob("*") if d.is_dir()]
    files = [f for d in dirs if d.is_dir() for f in d.glob("*.zip") if not f.name.startswith(".")]
    return sorted(files, key=lambda f: f.stat().st_mtime, reverse=True)
