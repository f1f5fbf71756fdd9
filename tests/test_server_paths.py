"""Nothing snapbot posts names the server's paths: archived copies are shown relative to the
archive root (`<manager>/<id>.zip`) or by their object key, in cards, thread replies, the daily
report, `snapshots schedule`, the upload card and `jobs show` (which viewers read)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.harness import make_rig


async def _job(rig: Any, text: str) -> Any:
    before = {j.id for j in rig.jobs()}
    await rig.command(text)
    job = await rig.wait_for(lambda: next((j for j in rig.jobs() if j.id not in before), None))
    return await rig.wait_job(job.id)


async def test_no_absolute_server_path_in_anything_posted(tmp_path: Path) -> None:
    async with make_rig(tmp_path) as rig:
        assert (await _job(rig, "/cfy snapshots create paths-1")).state == "done"
        assert (await _job(rig, "/cfy snapshots download paths-1")).state == "done"
        assert (await _job(rig, "/cfy snapshots delete paths-1")).state == "done"
        upload = await _job(rig, "/cfy snapshots upload paths-1 --from-archive")
        assert upload.state == "done", upload.error
        daily = await rig.wait_job((await rig.services.daily.fire("default")).id)
        assert daily.state == "done", daily.error
        await rig.command("/cfy snapshots schedule")
        for job in rig.jobs():
            await rig.command(f"/cfy jobs show {job.id}")
        await rig.command("/cfy snapshots list")
        await rig.wait_for(lambda: rig.services.outbox.backlog() == 0)
        await rig.wait_response(3 + len(rig.jobs()))
        said = rig.slack.texts() + [str(p) for p in rig.slack.responses()]
        root = str(Path(rig.settings.archive_dir).resolve())
        leaks = [t for t in said if str(tmp_path) in t or root in t]
        assert leaks == [], "\n---\n".join(leaks)
        assert any("default/paths-1.zip" in t for t in said)  # shown, relative to the root
