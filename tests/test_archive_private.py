"""Archived copies hold the manager's secrets and password hashes: files 0600, directories 0700,
whatever the process umask."""
from __future__ import annotations

import os
import stat

from tests.harness import make_rig


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


async def test_downloaded_archive_and_its_checksum_are_private_under_a_lax_umask(tmp_path):
    old = os.umask(0o022)
    try:
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
    finally:
        os.umask(old)
