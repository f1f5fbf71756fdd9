"""Snapshots in Slack: the manager's list beside the archived copies."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.clock import EARLIEST
from bot.cloudify.models import Snapshot
from bot.messages.blocks import divider, header, human_size, section, truncate, when
from bot.messages.common import Message, capped, line_sections, message

SNAPSHOT_EMOJI = {
    "created": ":white_check_mark:",
    "uploaded": ":white_check_mark:",
    "creating": ":hourglass_flowing_sand:",
    "uploading": ":arrow_up:",
    "failed": ":x:",
}


def _archive_fields(item: Any) -> tuple[str, int | None, str, datetime | None]:
    """(snapshot id, size, sha256, modified) of an archived copy: an ArchiveInfo-like object
    (path/size/sha256), or a Path (size and checksum sidecar read from disk)."""
    if isinstance(item, (str, Path)):
        p = Path(item)
        try:
            st = p.stat()
            size, mtime = st.st_size, datetime.fromtimestamp(st.st_mtime, tz=UTC)
        except OSError:
            size, mtime = None, None
        try:
            sha = Path(str(p) + ".sha256").read_text().split()[0]
        except (OSError, IndexError):
            sha = ""
        return p.stem, size, sha, mtime
    path = str(getattr(item, "path", "") or "")
    sid = getattr(item, "snapshot_id", None) or (Path(path).stem if path else "?")
    return (sid, getattr(item, "size", None), getattr(item, "sha256", "") or "",
            getattr(item, "modified", None) or getattr(item, "mtime", None))


def snapshot_line(s: Snapshot) -> str:
    emoji = SNAPSHOT_EMOJI.get(s.status, ":grey_question:")
    line = f"{emoji} `{s.id}` *{s.status}* {when(s.created_at)}"
    if s.created_by:
        line += f" by {s.created_by}"
    if s.error:
        line += f"\n      _{truncate(s.error.strip().splitlines()[-1], 300)}_"
    return line


def snapshot_table(manager: str, snapshots: Sequence[Snapshot], archived: Iterable[Any] = ()
                   ) -> Message:
    """`/cfy snapshots list`: snapshots on the manager (newest first, status emoji) and the
    archived copies off the manager (size, sha256 prefix)."""
    ordered = sorted(snapshots, key=lambda s: (s.created_at is not None,
                                               s.created_at or EARLIEST), reverse=True)
    blocks: list[dict[str, Any]] = [header(f"Snapshots on {manager}")]
    rows = [snapshot_line(s) for s in ordered]
    blocks.extend(line_sections(capped(rows)) or [section("_No snapshots on the manager._")])
    arch = [_archive_fields(a) for a in archived]
    arch.sort(key=lambda a: (a[3] is not None, a[3] or EARLIEST), reverse=True)
    blocks.append(divider())
    blocks.append(section("*Archived copies* (off the manager)"))
    arows = [f":package: `{sid}` {human_size(size)}"
             + (f" sha256 `{sha[:12]}…`" if sha else " _no checksum_")
             + (f" {when(mtime)}" if mtime else "")
             for sid, size, sha, mtime in arch]
    blocks.extend(line_sections(capped(arows)) or [section("_No archived copies._")])
    text = (f"Snapshots on {manager}: {len(ordered)} on the manager, {len(arch)} archived. "
            + ", ".join(f"{s.id} ({s.status})" for s in ordered[:10]))
    return message(text, blocks)


