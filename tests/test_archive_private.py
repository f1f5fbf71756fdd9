"""Archived copies hold the manager's secrets and password hashes: files 0600, directories 0700,
whatever the process umask. The lax umask is set in a child process: the test process's own
umask is never changed."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.harness import make_rig

ROOT = Path(__file__).resolve().parent.parent

#: writes one archived copy through the directory archive store under umask 022
_WRITER = textwrap.dedent("""
    import asyncio, io, os, sys, zipfile
    os.umask(0o022)
    from bot.archive_store.directory import DirectoryArchiveStore

    async def main() -> None:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("metadata.json", "{}")

        async def chunks():
            yield buf.getvalue()

        await DirectoryArchiveStore(sys.argv[1]).write("default", "priv-1", chunks())

    asyncio.run(main())
""")


def _mode(path: str | Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_an_archived_copy_and_its_checksum_are_private_under_a_lax_umask(tmp_path: Path) -> None:
    root = tmp_path / "archives"
    subprocess.run([sys.executable, "-c", _WRITER, str(root)], cwd=ROOT, check=True, timeout=60)
    assert _mode(root) == 0o700
    assert _mode(root / "default") == 0o700
    assert _mode(root / "default" / "priv-1.zip") == 0o600
    assert _mode(root / "default" / "priv-1.zip.sha256") == 0o600


async def test_a_downloaded_archive_is_private_and_shown_relative_to_the_archive_dir(tmp_path: Path) -> None:
    async with make_rig(tmp_path) as rig:
        await rig.command("/cfy snapshots create priv-1")
        job = (await rig.wait_for(rig.jobs))[0]
        assert (await rig.wait_job(job.id)).state == "done"
        await rig.command("/cfy snapshots download priv-1")
        dl = await rig.wait_for(lambda: [j for j in rig.jobs() if j.kind == "snapshot_download"])
        assert (await rig.wait_job(dl[0].id)).state == "done"
        root = rig.settings.archive_dir
        assert _mode(root) == 0o700
        assert _mode(os.path.join(root, "default")) == 0o700
        assert _mode(os.path.join(root, "default", "priv-1.zip")) == 0o600
        assert _mode(os.path.join(root, "default", "priv-1.zip.sha256")) == 0o600
        # and Slack is told where it is relative to the archive directory only
        shown = "\n".join(rig.slack.texts())
        assert "default/priv-1.zip" in shown and str(tmp_path) not in shown
