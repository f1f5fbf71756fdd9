"""The dispatcher end to end in the domain: real simulator over loopback, real SQLite, the real
composition root, a RecordingNotifier in place of Slack."""
from __future__ import annotations

import re
import struct
import zipfile
from pathlib import Path

from bot import archive
from bot.commands import model as m
from bot.invocation import Reply
from devtools.simulator import SimulatorOptions
from tests.jobs_support import domain
from tests.waiting import HELD, until


async def test_snapshot_create_runs_a_job_that_ends_created(tmp_path: Path) -> None:
    async with domain(tmp_path) as d:
        reply = await d.run("snapshots create snap-a")
        assert reply.ephemeral is False
        job = await d.finish()
        assert "Started job" in d.text(reply) and job.id in d.text(reply)
        assert job.state == "done"
        assert job.result["snapshot_id"] == "snap-a" and job.result["status"] == "created"
        state = await d.sim_state()
        assert [s["status"] for s in state["snapshots"] if s["id"] == "snap-a"] == ["created"]
        assert "created" in d.card_texts()[-1]


async def test_snapshot_create_without_id_generates_a_timestamped_one(tmp_path: Path) -> None:
    async with domain(tmp_path) as d:
        await d.run("snapshots create")
        job = await d.finish()
        assert re.fullmatch(r"snap-\d{8}-\d{6}", job.params["snapshot_id"])
        assert job.state == "done"


async def test_snapshot_create_failure_on_the_manager_fails_the_job_with_its_error(tmp_path: Path) -> None:
    async with domain(tmp_path) as d:
        await d.sim_post("/_sim/config", {"create_fails": "disk full on /opt/manager"})
        await d.run("snapshots create snap-bad")
        job = await d.finish()
        assert job.state == "failed"
        assert "disk full on /opt/manager" in job.error
        assert "disk full on /opt/manager" in d.card_texts()[-1]


async def test_snapshot_create_with_an_existing_id_surfaces_the_managers_conflict(tmp_path: Path) -> None:
    async with domain(tmp_path) as d:
        await d.run("snapshots create snap-a")
        await d.finish()
        await d.run("snapshots create snap-a")
        job = await d.finish()
        assert job.state == "failed"
        assert "already exists" in job.error


async def test_download_leaves_a_verified_archive_with_its_sidecar(tmp_path: Path) -> None:
    async with domain(tmp_path) as d:
        await d.run("snapshots create snap-a")
        await d.finish()
        await d.run("snapshots download snap-a")
        job = await d.finish()
        assert job.state == "done", job.error
        path = archive.archive_path(d.services.settings.archive_dir, "default", "snap-a")
        info = archive.verify_archived(path)
        assert job.result["sha256"] == info.sha256 and job.result["size"] == info.size
        assert job.result["archive_path"] == str(path)
        assert not list(path.parent.glob(".*part*"))


async def test_download_of_an_already_verified_copy_starts_no_job(tmp_path: Path) -> None:
    async with domain(tmp_path) as d:
        await d.run("snapshots create snap-a")
        await d.finish()
        await d.run("snapshots download snap-a")
        first = await d.finish()
        reply = await d.run("snapshots download snap-a")
        assert "already archived" in d.text(reply)
        assert d.last_job().id == first.id


async def test_download_of_a_missing_snapshot_is_refused_privately_before_any_job(tmp_path: Path) -> None:
    async with domain(tmp_path) as d:
        reply = await d.run("snapshots download nope")
        assert reply.ephemeral and "has no snapshot `nope`" in reply.message["text"]
        assert d.services.store.list_jobs() == []


async def test_a_retried_download_whose_job_exists_is_answered_for_that_job(tmp_path: Path) -> None:
    async with domain(tmp_path) as d:
        await d.run("snapshots create snap-r")
        await d.finish()
        first = await d.run("snapshots download snap-r", key="slack-retry-key")
        assert "has no snapshot" not in first.message["text"], first.message["text"]
        await d.finish()
        await d.run("snapshots delete snap-r")
        await d.finish()
        reply = await d.run("snapshots download snap-r", key="slack-retry-key")  # Slack's retry
        assert "has no snapshot" not in reply.message["text"]
        assert len([j for j in d.services.store.list_jobs() if j.kind == "snapshot_download"]) == 1


async def _archived_copy(d, snapshot_id: str = "snap-a", manager: str = "default") -> Path:
    await d.run(f"snapshots create {snapshot_id} --manager {manager}")
    await d.finish()
    await d.run(f"snapshots download {snapshot_id} --manager {manager}")
    job = await d.finish()
    assert job.state == "done", job.error
    return Path(job.result["archive_path"])


async def test_upload_from_archive_pushes_a_copy_to_another_manager(tmp_path: Path) -> None:
    async with domain(tmp_path, managers=("prod", "dr")) as d:
        await _archived_copy(d, manager="prod")
        await d.run("snapshots upload snap-a --from-archive prod --manager dr")
        job = await d.finish()
        assert job.state == "done", job.error
        assert job.result["status"] == "uploaded"
        state = await d.sim_state("dr")
        assert [s["id"] for s in state["snapshots"]] == ["snap-a"]


def _flip_a_byte_of_member(path: Path, member: str) -> None:
    """Corrupt one byte inside `member`'s stored data, so its CRC-32 no longer matches."""
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(member)
    data = bytearray(path.read_bytes())
    off = info.header_offset
    name_len, extra_len = struct.unpack("<HH", data[off + 26:off + 30])
    start = off + 30 + name_len + extra_len
    data[start + info.compress_size // 2] ^= 0xFF
    path.write_bytes(bytes(data))


async def test_upload_of_a_tampered_archive_is_refused_before_any_request(tmp_path: Path) -> None:
    async with domain(tmp_path, managers=("prod", "dr")) as d:
        path = await _archived_copy(d, manager="prod")
        _flip_a_byte_of_member(path, "state.json")
        before = (await d.sim_state("dr"))["request_counts"]
        jobs_before = len(d.services.store.list_jobs())
        reply = await d.run("snapshots upload snap-a --from-archive prod --manager dr")
        assert reply.ephemeral
        assert "snap-a.zip: member 'state.json' is corrupt" in d.text(reply)
        assert (await d.sim_state("dr"))["request_counts"] == before
        assert len(d.services.store.list_jobs()) == jobs_before


async def test_upload_without_an_archived_copy_says_so(tmp_path: Path) -> None:
    async with domain(tmp_path) as d:
        reply = await d.run("snapshots upload ghost --from-archive")
        assert "no archived copy" in d.text(reply)


async def test_delete_removes_the_snapshot_from_the_manager(tmp_path: Path) -> None:
    async with domain(tmp_path) as d:
        await d.run("snapshots create snap-a")
        await d.finish()
        await d.run("snapshots delete snap-a")
        job = await d.finish()
        assert job.state == "done", job.error
        assert (await d.sim_state())["snapshots"] == []


async def test_list_shows_manager_snapshots_and_archived_copies(tmp_path: Path) -> None:
    async with domain(tmp_path) as d:
        await _archived_copy(d, "snap-a")
        await d.run("snapshots create snap-b")
        await d.finish()
        reply = await d.run("snapshots list")
        text = d.text(reply)
        assert reply.ephemeral
        assert "snap-a" in text and "snap-b" in text
        assert text.index("snap-b") < text.index("snap-a")  # newest first


async def test_status_shows_the_managers_snapshot_status_and_snapbot_jobs(tmp_path: Path) -> None:
    async with domain(tmp_path, sim_options=HELD) as d:
        await d.run("snapshots create snap-slow")
        job = d.last_job()
        reply = await d.run("snapshots status")
        text = d.text(reply)
        assert "no snapshot restore is running (`not-running`)" in text
        assert job.id in text
        await d.services.runner.cancel(job.id, "U_OPS")


async def test_maintenance_activate_waits_until_activated(tmp_path: Path) -> None:
    async with domain(tmp_path) as d:
        ex = await d.sim_post("/_sim/executions", {"deployment_id": "dep-1", "workflow_id": "install",
                                                   "duration": None})
        await d.run("maintenance-mode activate")
        job = d.last_job()
        # the job says what it waits for, and waits: the execution never ends by itself
        await until(lambda: any("waiting for 1 execution" in t and ex["id"] in t
                                for t in d.notifier.texts("reply")))
        assert d.services.store.get_job(job.id).state == "running"
        assert (await d.sim_state())["maintenance"]["status"] == "activating"
        await d.sim_post(f"/_sim/executions/{ex['id']}/finish", {"status": "terminated"})
        job = await d.finish(job.id)
        assert job.state == "done", job.error
        assert (await d.sim_state())["maintenance"]["status"] == "activated"
        status = await d.run("maintenance-mode status")
        assert "activated" in d.text(status)


async def test_maintenance_deactivate_turns_it_off(tmp_path: Path) -> None:
    async with domain(tmp_path) as d:
        await d.run("maintenance-mode activate")
        await d.finish()
        await d.run("maintenance-mode deactivate")
        job = await d.finish()
        assert job.state == "done", job.error
        assert (await d.sim_state())["maintenance"]["status"] == "deactivated"


async def test_agents_install_runs_install_new_agents_per_deployment(tmp_path: Path) -> None:
    async with domain(tmp_path) as d:
        await d.run("agents install")
        job = await d.finish()
        assert job.state == "done", job.error
        assert set(job.result["deployments"]) == {"dep-1", "dep-2", "dep-3"}
        runs = [e for e in (await d.sim_state())["executions"] if e["workflow_id"] == "install_new_agents"]
        assert sorted(e["deployment_id"] for e in runs) == ["dep-1", "dep-2", "dep-3"]


async def test_plugins_update_all_updates_every_blueprint(tmp_path: Path) -> None:
    async with domain(tmp_path) as d:
        await d.run("plugins update --all")
        job = await d.finish()
        assert job.state == "done", job.error
        assert {k: v["status"] for k, v in job.result["blueprints"].items()} == {
            "bp-1": "successful", "bp-2": "successful", "bp-3": "successful"}


async def test_plugins_update_of_an_unknown_blueprint_fails_with_the_managers_error(tmp_path: Path) -> None:
    async with domain(tmp_path) as d:
        await d.run("plugins update nope")
        job = await d.finish()
        assert job.state == "failed" and "nope" in job.error


async def test_cluster_status_warns_of_a_split_brain(tmp_path: Path) -> None:
    # the 5.1.4 profile's /managers sends is_active: two nodes claiming it is the guide's split brain
    async with domain(tmp_path, sim_options=SimulatorOptions(speed=200, manager_version="5.1.4")) as d:
        await d.sim_post("/_sim/managers", {"count": 2, "split_brain": True})
        text = d.text(await d.run("cluster status"))
        assert "manager-1" in text and "manager-2" in text
        assert "split" in text.lower()


async def test_cluster_status_of_a_healthy_cluster_has_no_split_brain_warning(tmp_path: Path) -> None:
    async with domain(tmp_path) as d:
        await d.sim_post("/_sim/managers", {"count": 3})
        text = d.text(await d.run("cluster status"))
        assert "manager-3" in text and "split brain" not in text.lower()


async def test_a_second_long_command_on_a_busy_manager_is_refused(tmp_path: Path) -> None:
    async with domain(tmp_path, sim_options=HELD) as d:
        await d.run("snapshots create snap-slow")
        first = d.last_job()
        reply = await d.run("snapshots delete other")
        assert reply.ephemeral and "busy" in d.text(reply) and first.id in d.text(reply)
        assert d.last_job().id == first.id
        await d.services.runner.cancel(first.id, "U_OPS")


async def test_the_same_request_twice_starts_one_job(tmp_path: Path) -> None:
    async with domain(tmp_path) as d:
        one = await d.run("snapshots create snap-a", key="T1")
        two = await d.run("snapshots create snap-a", key="T1")
        job = await d.finish()
        assert "already" in d.text(two) and job.id in d.text(two) and job.id in d.text(one)
        assert len(d.services.store.list_jobs()) == 1
        assert job.state == "done"


async def test_an_unknown_manager_is_a_usage_error_naming_the_configured_ones(tmp_path: Path) -> None:
    async with domain(tmp_path, managers=("prod", "dr")) as d:
        reply = await d.run("snapshots list --manager nope")
        assert reply.ephemeral and "prod" in d.text(reply) and "dr" in d.text(reply)


async def test_jobs_list_and_show_give_the_audit_trail(tmp_path: Path) -> None:
    async with domain(tmp_path) as d:
        await d.run("snapshots create snap-a")
        job = await d.finish()
        listing = d.text(await d.run("jobs list"))
        assert job.id in listing
        detail = d.text(await d.run(f"jobs show {job.id}"))
        for word in ("queued", "running", "done", "U_OPS", "snap-a"):
            assert word in detail


async def test_jobs_show_of_an_unknown_job_says_so(tmp_path: Path) -> None:
    async with domain(tmp_path) as d:
        reply = await d.run("jobs show j-abcdef")
        assert reply.ephemeral and "j-abcdef" in d.text(reply)


async def test_jobs_cancel_by_the_requester_cancels(tmp_path: Path) -> None:
    async with domain(tmp_path, sim_options=HELD) as d:
        await d.run("snapshots create snap-slow")
        job = d.last_job()
        reply = await d.run(f"jobs cancel {job.id}", user="U_OPS")
        assert "cancelled" in d.text(reply)
        job = d.services.store.get_job(job.id)
        assert job.state == "cancelled"
        assert d.services.store.transitions(job.id)[-1].actor == "U_OPS"


async def test_jobs_cancel_by_an_approver_cancels(tmp_path: Path) -> None:
    async with domain(tmp_path, sim_options=HELD) as d:
        await d.run("snapshots create snap-slow")
        job = d.last_job()
        await d.run(f"jobs cancel {job.id}", user="U_LEAD1")
        assert d.services.store.get_job(job.id).state == "cancelled"


async def test_jobs_cancel_by_someone_else_is_not_authorized(tmp_path: Path) -> None:
    async with domain(tmp_path, sim_options=HELD) as d:
        await d.run("snapshots create snap-slow")
        job = d.last_job()
        reply = await d.run(f"jobs cancel {job.id}", user="U_RANDOM")
        assert "requester or an approver" in d.text(reply)
        assert d.services.store.get_job(job.id).state != "cancelled"
        await d.services.runner.cancel(job.id, "U_OPS")


async def test_a_gated_command_waits_for_approval_instead_of_starting(tmp_path: Path) -> None:
    from bot.config.settings import ApprovalPolicy
    from tests.jobs_support import APPROVERS

    async with domain(tmp_path, approvals=ApprovalPolicy(approvers=APPROVERS,
                                                         gated=frozenset({"snapshots.delete"}))) as d:
        await d.run("snapshots create snap-a")
        await d.finish()
        reply = await d.run("snapshots delete snap-a")
        job = d.last_job()
        assert job.state == "awaiting_approval"
        # the approval service opened the request: its card, with the approve button, is posted
        assert [c for c in d.notifier.calls if c[0] == "post" and "job_approve" in str(c[2])]
        assert not d.services.runner.is_running(job.id)
        assert "approval" in d.text(reply)


async def test_restore_is_handed_to_the_restore_service(tmp_path: Path) -> None:
    seen = []

    class Restores:
        async def request(self, cmd, inv):
            seen.append((cmd, inv.user))
            return Reply({"text": "restore requested"}, ephemeral=False)

    async with domain(tmp_path) as d:
        dispatcher = d.dispatcher_with(restores=Restores())
        reply = await dispatcher.execute(m.SnapshotsRestore(snapshot_id="snap-a", force=True), d.inv())
        assert reply.message["text"] == "restore requested"
        assert seen[0][0] == m.SnapshotsRestore(snapshot_id="snap-a", force=True)


async def test_an_unexpected_error_is_logged_and_answered_without_details(tmp_path: Path, caplog) -> None:
    class Broken:
        async def request(self, cmd, inv):
            raise RuntimeError("secret-token-xyz")

    async with domain(tmp_path) as d:
        dispatcher = d.dispatcher_with(restores=Broken())
        reply = await dispatcher.execute(m.SnapshotsRestore(snapshot_id="snap-a"), d.inv())
        assert "secret-token-xyz" not in d.text(reply)
        assert "went wrong" in d.text(reply)
        assert any(r.exc_info for r in caplog.records)


async def test_help_lists_the_configured_managers(tmp_path: Path) -> None:
    async with domain(tmp_path, managers=("prod", "dr")) as d:
        text = d.text(await d.run("help"))
        assert "prod" in text and "dr" in text


async def test_upload_of_an_archive_with_a_damaged_deflate_stream_is_refused(tmp_path: Path) -> None:
    import zipfile
    async with domain(tmp_path) as d:
        path = archive.archive_path(d.services.settings.archive_dir, "default", "snap-z")
        path.parent.mkdir(parents=True)
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("snapshot.json", "".join(f"line {i} of the manager's data\n" for i in range(4000)))
        data = bytearray(path.read_bytes())
        data[200] ^= 0xFF  # inside the first member's compressed data
        path.write_bytes(bytes(data))
        archive.write_sidecar(path, archive.sha256_file(path))  # the checksum matches: only the zip is bad
        before = (await d.sim_state())["request_counts"]
        reply = await d.run("snapshots upload snap-z --from-archive")
        assert "snap-z.zip" in d.text(reply) and "went wrong" not in d.text(reply)
        assert (await d.sim_state())["request_counts"] == before


async def test_a_wrong_manager_password_is_reported_without_the_password(tmp_path: Path) -> None:
    import dataclasses as dc
    async with domain(tmp_path) as d:
        mc = dc.replace(d.services.settings.managers[0], password="s3cret-pw-123")
        from bot.bootstrap import _make_client
        await d.services.clients["default"].aclose()
        d.services.clients["default"] = _make_client(mc, None)
        text = d.text(await d.run("snapshots list"))
        assert "unauthorized" in text.lower() and "s3cret-pw-123" not in text


async def test_cancelling_a_job_at_a_step_that_cannot_stop_says_so(tmp_path: Path) -> None:
    from bot.jobs.machine import StateMachine, table
    from bot.jobs.runner import JobDriver

    class Stubborn(JobDriver):
        kind = "stubborn"
        machine = StateMachine("stubborn", table(working=("done",), done=()), initial="working")

        def render(self, job, transitions):
            return {"text": job.state}

        async def run(self, ctx):
            return None

    async with domain(tmp_path) as d:
        d.services.runner.register(Stubborn())
        job = d.services.store.create_job("stubborn", "default", "working", requester="U_OPS")
        text = d.text(await d.run(f"jobs cancel {job.id}"))
        assert "cannot be stopped" in text and "working" in text


async def test_upload_over_an_existing_snapshot_is_refused(tmp_path: Path) -> None:
    async with domain(tmp_path) as d:
        await _archived_copy(d, "snap-a")
        jobs_before = len(d.services.store.list_jobs())
        reply = await d.run("snapshots upload snap-a --from-archive")
        assert "already exists" in d.text(reply)
        assert len(d.services.store.list_jobs()) == jobs_before
