"""Disaster recovery across two managers, end to end: `prod` and `dr` simulators configured
through a real SNAPBOT_CONFIG YAML file (passwords through password_env variables), the real Bolt
app over signed HTTP, the Slack stand-in, SQLite and the archive in tmp_path."""
from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot import archive
from bot.notifier import plain_text
from bot.scheduler import job_id
from devtools.simulator import SimulatorOptions
from tests.archive_support import list_archived
from tests.fakes import FakeClock
from tests.harness import CHANNEL, FAST_SPEED, make_rig, password_env_name
from tests.multi_support import (
    DR_DEPLOYMENTS,
    PASSWORDS,
    PROD_DEPLOYMENTS,
    api_requests,
    approved_restore_on_dr,
    ask,
    daily_run,
    lose,
    new_job,
    prod_and_dr,
    push_to_dr,
    snapbot_daily_once,
    stage_prod_state,
    text_of,
)


def _reports(rig, manager: str) -> list[str]:
    return [plain_text(m) for m in rig.slack.messages(CHANNEL, top_level=True)
            if f"Daily snapshot of {manager}" in plain_text(m)]


async def test_the_yaml_file_configures_both_managers_with_passwords_from_the_environment(tmp_path: Path) -> None:
    async with prod_and_dr(tmp_path) as rig:
        assert [m.name for m in rig.settings.managers] == ["prod", "dr"]
        assert [m.url for m in rig.settings.managers] == [rig.sims["prod"].url, rig.sims["dr"].url]
        yaml_text = (tmp_path / "snapbot.yaml").read_text()
        for manager, password in PASSWORDS.items():
            assert password not in yaml_text  # only the password_env variable's name
            assert f"password_env: {password_env_name(manager)}" in yaml_text
            assert rig.settings.manager(manager).password == password
        assert sorted(rig.services.clients) == ["dr", "prod"]


async def test_the_scheduler_has_one_daily_job_per_manager(tmp_path: Path, midday: FakeClock) -> None:
    async with prod_and_dr(tmp_path, env_overrides={"SNAPBOT_SCHEDULE": "0 3 * * *"}, clock=midday) as rig:
        scheduler = rig.services.daily.scheduler.apscheduler
        assert scheduler is not None
        assert sorted(j.id for j in scheduler.get_jobs()) == sorted([job_id("prod"), job_id("dr")])
        assert [j.args for j in sorted(scheduler.get_jobs(), key=lambda j: j.id)] == [("dr",), ("prod",)]


async def test_a_daily_run_of_each_manager_archives_into_its_own_dir_and_reports_it_by_name(tmp_path: Path) -> None:
    async with prod_and_dr(tmp_path) as rig:
        prod_job = await daily_run(rig, "prod")
        dr_job = await daily_run(rig, "dr")
        root = Path(rig.settings.archive_dir)
        for job, manager in ((prod_job, "prod"), (dr_job, "dr")):
            assert job.state == "done", job.error
            sid = job.params["snapshot_id"]
            assert sid.startswith(f"daily-{manager}-")
            path = root / manager / f"{sid}.zip"
            assert job.result["archive_path"] == str(path)
            info = archive.verify_archived(path)  # zip + sha256 against the sidecar
            assert archive.sidecar_path(path).read_text() == f"{info.sha256}  {sid}.zip\n"
            assert [p.name for p in list_archived(root, manager)] == [f"{sid}.zip"]
            assert sid in {s["id"] for s in (await rig.sim_state(manager))["snapshots"]}
            report = await rig.wait_for(lambda m=manager: _reports(rig, m))
            assert sid in report[-1] and info.sha256[:8] in report[-1]
        # each run stayed on its own manager
        assert {s["id"] for s in (await rig.sim_state("prod"))["snapshots"]} == {prod_job.params["snapshot_id"]}
        assert {s["id"] for s in (await rig.sim_state("dr"))["snapshots"]} == {dr_job.params["snapshot_id"]}


async def test_disaster_recovery_pushes_prods_archived_snapshot_to_dr_and_restores_it_there(tmp_path: Path) -> None:
    async with prod_and_dr(tmp_path, password_files=True) as rig:
        scheduled = await stage_prod_state(rig)
        daily = await daily_run(rig, "prod")
        assert daily.state == "done", daily.error
        sid = daily.params["snapshot_id"]
        prod_state = await rig.sim_state("prod")
        await lose(rig, "prod")  # the manager VM is gone; its archive stays

        # push the archived copy to dr (verified before anything is sent)
        reply = await ask(rig, f"/cfy snapshots upload {sid} --from-archive prod --manager dr")
        assert "started job" in text_of(reply).lower(), text_of(reply)
        upload = await rig.wait_for(lambda: new_job(rig, "snapshot_upload", "dr"))
        upload = await rig.wait_job(upload.id)
        assert upload.state == "done", upload.error
        archived = Path(rig.settings.archive_dir) / "prod" / f"{sid}.zip"
        assert upload.params["archive_path"] == str(archived)
        assert upload.params["sha256"] == archive.read_sidecar(archived)
        assert {s["id"]: s["status"] for s in (await rig.sim_state("dr"))["snapshots"]}[sid] == "uploaded"

        # restore on dr: approval, then the runbook on dr only
        reply = await ask(rig, f"/cfy snapshots restore {sid} --force --manager dr")
        assert "needs approval" in text_of(reply), text_of(reply)
        job = await rig.wait_for(lambda: next((j for j in rig.jobs(kind="restore") if j.message_ts), None))
        assert job.manager == "dr" and job.state == "requested"
        card = plain_text(rig.slack.message(CHANNEL, job.message_ts))
        assert f"`{sid}` on `dr`" in card and "*Manager* `dr`" in card, card
        assert "users, passwords and API tokens become the snapshot's" in card
        await rig.click("restore_approve", job.id, user="U_LEAD1")
        # the legacy restore gave dr prod's users: dr's own password no longer works there
        job = await rig.wait_job(job.id, states=("awaiting_credentials", "done", "failed"), timeout=30)
        assert job.state == "awaiting_credentials", (job.state, job.error)
        assert (await rig.sim_state("dr"))["maintenance"]["status"] == "activated"
        Path(rig.settings.manager("dr").password_file or "").write_text(PASSWORDS["prod"])  # runbook step 2
        job = await rig.wait_job(job.id, timeout=30)
        assert job.state == "done", (job.state, job.error)

        dr = await rig.sim_state("dr")
        assert len(dr["restores"]) == 1
        assert sorted(d["id"] for d in dr["deployments"]) == sorted(d["id"] for d in prod_state["deployments"])
        assert len(dr["deployments"]) == PROD_DEPLOYMENTS != DR_DEPLOYMENTS
        assert dr["maintenance"]["status"] == "deactivated"
        # the safety snapshot is dr's own state, archived under dr
        assert Path(job.result["safety_archive_path"]).parent == Path(rig.settings.archive_dir) / "dr"
        archive.verify_archived(job.result["safety_archive_path"])

        # 7.0.5: the scheduled execution is marked FAILED and re-created as a schedule
        originals = {e["id"]: e["schedule_id"] for e in job.result["report"]["failed_originals"]}
        assert originals[scheduled].startswith("heal_restored_")

        final_card = plain_text(rig.slack.message(CHANNEL, job.message_ts))
        assert f"`{sid}` on `dr`" in final_card and "done" in final_card, final_card
        shown = text_of(await ask(rig, f"/cfy jobs show {job.id}"))
        assert "on `dr` – *done*" in shown, shown
        # prod appears only as where the archived copy came from
        assert "prod" not in shown.replace(str(archived), "").replace(f"prod/{sid}.zip", "").replace(
            sid, "").replace("archive_manager=`prod`", ""), shown
        # the managers' passwords never reached Slack or the database
        db = Path(rig.settings.db_path).read_bytes()
        for password in PASSWORDS.values():
            assert not any(password in t for t in rig.slack.texts())
            assert password.encode() not in db


async def test_a_long_job_on_prod_does_not_block_dr_but_blocks_a_second_one_on_prod(tmp_path: Path) -> None:
    async with prod_and_dr(tmp_path) as rig:
        await rig.sim_post("/_sim/config", {"create_seconds": 1_000_000}, "prod")  # never finishes here
        reply = await ask(rig, "/cfy snapshots create slow-one --manager prod")
        assert "started job" in text_of(reply).lower(), text_of(reply)
        slow = await rig.wait_for(lambda: new_job(rig, "snapshot_create", "prod"))
        await rig.wait_for(lambda: "slow-one" in {s["id"] for s in rig.sims["prod"].state.snapshots.values()})

        reply = await ask(rig, "/cfy snapshots create quick-one --manager dr")
        assert "started job" in text_of(reply).lower(), text_of(reply)
        quick = await rig.wait_for(lambda: new_job(rig, "snapshot_create", "dr"))
        quick = await rig.wait_job(quick.id)
        assert quick.state == "done", quick.error
        assert not rig.store.get_job(slow.id).finished

        reply = await ask(rig, "/cfy snapshots create second-one --manager prod")
        assert "busy" in text_of(reply) and slow.id in text_of(reply), text_of(reply)
        assert reply.get("response_type") != "in_channel"
        assert [j.id for j in rig.jobs(kind="snapshot_create") if j.manager == "prod"] == [slow.id]
        assert "second-one" not in {s["id"] for s in rig.sims["prod"].state.snapshots.values()}
        assert rig.sim_requests("second-one", "prod") == 0


async def test_an_unknown_manager_is_refused_naming_the_configured_ones_and_nothing_is_sent(tmp_path: Path) -> None:
    commands = ["/cfy snapshots list --manager staging",
                "/cfy snapshots create x1 --manager staging",
                "/cfy snapshots restore snap-1 --force --manager staging",
                "/cfy snapshots upload snap-1 --from-archive prod --manager staging",
                "/cfy snapshots schedule run-now --manager staging",
                "/cfy maintenance-mode activate --manager staging"]
    async with prod_and_dr(tmp_path) as rig:
        before = {m: api_requests(rig, m) for m in ("prod", "dr")}
        for command in commands:
            reply = await ask(rig, command)
            text = text_of(reply)
            assert "staging" in text and "prod" in text and "dr" in text, (command, text)
            assert reply.get("response_type") != "in_channel", (command, reply)
        assert {m: api_requests(rig, m) for m in ("prod", "dr")} == before
        assert rig.jobs() == []


async def test_restoring_on_dr_a_snapshot_only_prods_archive_holds_suggests_uploading_it(tmp_path: Path) -> None:
    async with prod_and_dr(tmp_path) as rig:
        daily = await daily_run(rig, "prod")
        sid = daily.params["snapshot_id"]
        await lose(rig, "prod")
        reply = await ask(rig, f"/cfy snapshots restore {sid} --force --manager dr")
        text = text_of(reply)
        assert "does not exist on manager 'dr'" in text, text
        assert f"/cfy snapshots upload {sid} --from-archive prod --manager dr" in text, text
        assert reply.get("response_type") != "in_channel"
        assert rig.jobs(kind="restore") == []
        assert (await rig.sim_state("dr"))["restores"] == []


async def test_listing_dr_shows_its_snapshots_and_its_own_archived_copies_and_points_at_prods(tmp_path: Path) -> None:
    async with prod_and_dr(tmp_path) as rig:
        prod_sid = (await daily_run(rig, "prod")).params["snapshot_id"]
        dr_sid = (await daily_run(rig, "dr")).params["snapshot_id"]
        await rig.sim_post("/_sim/config", {"create_seconds": 0.01}, "dr")
        await ask(rig, "/cfy snapshots create manual-dr --manager dr")
        await rig.wait_job((await rig.wait_for(lambda: new_job(rig, "snapshot_create", "dr"))).id)
        text = text_of(await ask(rig, "/cfy snapshots list --manager dr"))
        on_manager, _, off = text.partition("Archived copies")
        assert "Snapshots on dr" in on_manager
        assert dr_sid in on_manager and "manual-dr" in on_manager and prod_sid not in on_manager
        own, _, others = off.partition("Other managers' archived copies")
        assert dr_sid in own and prod_sid not in own
        assert "prod" in others and prod_sid in others and "--from-archive MANAGER --manager dr" in others, text


async def test_a_tampered_archived_copy_of_the_lost_manager_is_refused_before_anything_reaches_dr(tmp_path: Path) -> None:
    async with prod_and_dr(tmp_path) as rig:
        sid = (await daily_run(rig, "prod")).params["snapshot_id"]
        await lose(rig, "prod")
        path = Path(rig.settings.archive_dir) / "prod" / f"{sid}.zip"
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
        before = api_requests(rig, "dr")
        reply = await ask(rig, f"/cfy snapshots upload {sid} --from-archive prod --manager dr")
        text = text_of(reply)
        # the verification's refusal (what it says depends on where the flipped byte landed)
        assert text.startswith(f":warning: {sid}.zip") and ("corrupt" in text or "not a valid zip" in text), text
        assert reply.get("response_type") != "in_channel"
        assert rig.jobs(kind="snapshot_upload") == []
        assert api_requests(rig, "dr") == before
        assert sid not in {s["id"] for s in (await rig.sim_state("dr"))["snapshots"]}


async def test_restoring_prods_older_snapshot_on_a_newer_dr_reads_its_version_from_prods_archive(tmp_path: Path) -> None:
    async with prod_and_dr(tmp_path, version="6.4.0") as rig:
        sid = (await daily_run(rig, "prod")).params["snapshot_id"]
        await lose(rig, "prod")
        upload = await push_to_dr(rig, sid)
        assert upload.state == "done", upload.error
        job = await approved_restore_on_dr(rig, sid)
        assert job.params["snapshot_version"] == "6.4.0"
        assert job.params["snapshot_size"] == upload.params["size"]
        assert job.params["archive_path"] == upload.params["archive_path"]
        assert job.state == "done", (job.state, job.error)
        assert job.result["upgrade"] is True
        await rig.wait_for(lambda: "restore_agents" in str(rig.slack.message(CHANNEL, job.message_ts)))


async def test_listing_the_lost_manager_still_shows_its_archived_copies(tmp_path: Path) -> None:
    async with prod_and_dr(tmp_path) as rig:
        sid = (await daily_run(rig, "prod")).params["snapshot_id"]
        await lose(rig, "prod")
        text = text_of(await ask(rig, "/cfy snapshots list --manager prod"))
        assert "`prod` cannot be reached" in text, text
        assert sid in text.partition("Archived copies")[2], text
        assert "No snapshots on the manager" not in text


async def test_a_daily_run_of_the_lost_manager_reports_it_unreachable_without_guessing_what_is_left(tmp_path: Path) -> None:
    async with prod_and_dr(tmp_path) as rig:
        await lose(rig, "prod")
        job = await daily_run(rig, "prod")
        assert job.state == "failed"
        report = (await rig.wait_for(lambda: _reports(rig, "prod")))[-1]
        assert "FAILED" in report and "cannot reach the manager" in report, report
        assert "manager error [" not in report  # the reason, not the raw call
        assert "could not check whether" in report and "nothing was created" not in report, report
        dr = await daily_run(rig, "dr")  # the other manager's daily run is unaffected
        assert dr.state == "done", dr.error


@pytest.fixture
def midday() -> FakeClock:
    """The bot's clock at 12:00 UTC, long after the 03:00 slot: the start never catches it up,
    whatever the real time is (fixed also for the cron job's slot)."""
    return FakeClock(datetime(2026, 1, 10, 12, 0, tzinfo=UTC))


async def test_the_scheduler_firing_both_managers_at_once_runs_and_archives_each_for_the_same_slot(
        tmp_path: Path, midday: FakeClock) -> None:
    async with prod_and_dr(tmp_path, env_overrides={"SNAPBOT_SCHEDULE": "0 3 * * *"}, clock=midday) as rig:
        assert rig.jobs() == []  # nothing caught up at start
        scheduler = rig.services.daily.scheduler.apscheduler
        now = datetime.now(UTC)  # APScheduler runs on real time
        for manager in ("prod", "dr"):  # both cron jobs due right now, as at 03:00
            scheduler.get_job(job_id(manager)).modify(next_run_time=now)
        jobs = await rig.wait_for(lambda: len(rig.jobs(kind="daily")) == 2 and rig.jobs(kind="daily"))
        jobs = [await rig.wait_job(j.id) for j in jobs]
        assert sorted(j.manager for j in jobs) == ["dr", "prod"]
        assert all(j.state == "done" for j in jobs), [(j.manager, j.error) for j in jobs]
        assert {j.params["slot"] for j in jobs} == {"2026-01-10T03:00:00.000Z"}  # claimed once per manager
        for job in jobs:
            assert job.params["trigger"] == "schedule"
            archive.verify_archived(Path(rig.settings.archive_dir) / job.manager / f"{job.params['snapshot_id']}.zip")
            runs = rig.services.store.daily_runs(job.manager)
            assert [(r.status, r.job_id) for r in runs] == [("ok", job.id)]
        await rig.wait_for(lambda: _reports(rig, "prod") and _reports(rig, "dr"))


async def test_upload_from_archive_without_a_manager_finds_the_lost_managers_copy(tmp_path: Path) -> None:
    async with prod_and_dr(tmp_path) as rig:
        sid = (await daily_run(rig, "prod")).params["snapshot_id"]
        await lose(rig, "prod")
        reply = await ask(rig, f"/cfy snapshots upload {sid} --from-archive --manager dr")
        assert "started job" in text_of(reply).lower(), text_of(reply)
        upload = await rig.wait_job((await rig.wait_for(lambda: new_job(rig, "snapshot_upload", "dr"))).id)
        assert upload.state == "done", upload.error
        assert upload.params["archive_path"] == str(Path(rig.settings.archive_dir) / "prod" / f"{sid}.zip")


async def test_the_archive_of_a_manager_no_longer_configured_rebuilds_a_new_one(tmp_path: Path) -> None:
    shared = {"SNAPBOT_ARCHIVE_DIR": str(tmp_path / "archives")}
    (tmp_path / "before").mkdir()
    (tmp_path / "after").mkdir()
    async with prod_and_dr(tmp_path / "before", env_overrides=shared) as rig:
        sid = (await daily_run(rig, "prod")).params["snapshot_id"]
    # the config now lists only the freshly installed manager; prod's archive is still on disk
    async with make_rig(tmp_path / "after", env_overrides=shared, password_files=True,
                        managers={"new": SimulatorOptions(speed=FAST_SPEED)}) as rig:
        assert [m.name for m in rig.settings.managers] == ["new"]
        listing = text_of(await ask(rig, "/cfy snapshots list"))
        assert f"`prod`: 1 (newest `{sid}`)" in listing, listing
        refusal = text_of(await ask(rig, f"/cfy snapshots restore {sid} --force"))
        assert "--from-archive prod --manager new" in refusal, refusal
        await ask(rig, f"/cfy snapshots upload {sid} --from-archive prod")
        upload = await rig.wait_job((await rig.wait_for(lambda: new_job(rig, "snapshot_upload", "new"))).id)
        assert upload.state == "done", upload.error
        await ask(rig, f"/cfy snapshots restore {sid} --force")
        job = await rig.wait_for(lambda: next((j for j in rig.jobs(kind="restore") if j.message_ts), None))
        await rig.click("restore_approve", job.id, user="U_LEAD2")
        # prod's users came with its snapshot: the new manager's admin password is prod's now
        job = await rig.wait_job(job.id, states=("awaiting_credentials", "done", "failed"), timeout=30)
        assert job.state == "awaiting_credentials", (job.state, job.error)
        Path(rig.settings.managers[0].password_file or "").write_text(PASSWORDS["prod"])
        job = await rig.wait_job(job.id, timeout=30)
        assert job.state == "done", (job.state, job.error)
        assert len((await rig.sim_state())["deployments"]) == PROD_DEPLOYMENTS


async def test_a_restore_on_dr_runs_while_prod_is_busy_with_a_long_job(tmp_path: Path) -> None:
    async with prod_and_dr(tmp_path) as rig:
        sid = (await daily_run(rig, "dr")).params["snapshot_id"]
        await rig.sim_post("/_sim/config", {"create_seconds": 1_000_000}, "prod")
        await ask(rig, "/cfy snapshots create slow-one --manager prod")
        slow = await rig.wait_for(lambda: new_job(rig, "snapshot_create", "prod"))
        await rig.wait_for(lambda: "slow-one" in {s["id"] for s in rig.sims["prod"].state.snapshots.values()})
        job = await approved_restore_on_dr(rig, sid)
        assert job.state == "done", (job.state, job.error)
        assert not rig.store.get_job(slow.id).finished
        assert (await rig.sim_state("prod"))["restores"] == []
        assert (await rig.sim_state("prod"))["maintenance"]["status"] == "deactivated"


async def test_an_unfinished_job_on_a_manager_removed_from_the_config_fails_clearly_at_start(tmp_path: Path) -> None:
    shared = {"SNAPBOT_ARCHIVE_DIR": str(tmp_path / "archives"), "SNAPBOT_DB": str(tmp_path / "snapbot.db")}
    (tmp_path / "before").mkdir()
    (tmp_path / "after").mkdir()
    async with prod_and_dr(tmp_path / "before", env_overrides=shared) as rig:
        await rig.sim_post("/_sim/config", {"create_seconds": 1_000_000}, "prod")
        await ask(rig, "/cfy snapshots create slow-one --manager prod")
        slow = await rig.wait_for(lambda: new_job(rig, "snapshot_create", "prod"))
        await rig.wait_for(lambda: "slow-one" in {s["id"] for s in rig.sims["prod"].state.snapshots.values()})
    # prod died with the bot; the bot comes back configured with dr only
    async with make_rig(tmp_path / "after", env_overrides=shared, managers={"dr": None}) as rig:
        job = await rig.wait_job(slow.id)
        assert job.state == "failed"
        assert "unknown manager 'prod'" in job.error and "dr" in job.error, job.error
        reply = await ask(rig, "/cfy snapshots list")
        assert "Snapshots on dr" in text_of(reply)


async def test_snapbot_daily_once_from_cron_snapshots_every_manager_of_the_yaml_file(tmp_path: Path) -> None:
    async with prod_and_dr(tmp_path) as rig:
        code, out = await snapbot_daily_once(rig)
        assert code == 0, out
        assert "Daily snapshot of prod: ok" in out and "Daily snapshot of dr: ok" in out, out
        for manager in ("prod", "dr"):
            copies = list_archived(rig.settings.archive_dir, manager)
            assert len(copies) == 1 and copies[0].name.startswith(f"daily-{manager}-")
            archive.verify_archived(copies[0])
        assert not any(pw in out for pw in PASSWORDS.values())


async def test_snapbot_daily_once_exits_non_zero_when_prod_fails_and_still_archives_dr(tmp_path: Path) -> None:
    async with prod_and_dr(tmp_path) as rig:
        await rig.sim_post("/_sim/config", {"create_fails": "no space left on /opt/manager"}, "prod")
        code, out = await snapbot_daily_once(rig)
        assert code == 1, out
        assert "Daily snapshot of prod: FAILED" in out and "no space left" in out, out
        assert "Daily snapshot of dr: ok" in out, out
        assert list_archived(rig.settings.archive_dir, "prod") == []
        assert len(list_archived(rig.settings.archive_dir, "dr")) == 1


async def test_a_gated_upload_to_dr_waits_for_an_approver_then_pushes_prods_copy(tmp_path: Path) -> None:
    async with prod_and_dr(tmp_path, env_overrides={"SNAPBOT_GATED": "snapshots.upload"}) as rig:
        sid = (await daily_run(rig, "prod")).params["snapshot_id"]
        await lose(rig, "prod")
        reply = await ask(rig, f"/cfy snapshots upload {sid} --from-archive prod --manager dr")
        job = await rig.wait_for(lambda: new_job(rig, "snapshot_upload", "dr"))
        assert job.state == "awaiting_approval", (job.state, text_of(reply))
        card = await rig.wait_for(lambda: rig.store.get_job(job.id).message_ts
                                  and rig.slack.message(CHANNEL, rig.store.get_job(job.id).message_ts))
        assert "`dr`" in plain_text(card), plain_text(card)
        assert sid not in {s["id"] for s in (await rig.sim_state("dr"))["snapshots"]}
        await rig.click("job_approve", job.id, user="U_LEAD1")
        job = await rig.wait_job(job.id)
        assert job.state == "done", job.error
        assert {s["id"]: s["status"] for s in (await rig.sim_state("dr"))["snapshots"]}[sid] == "uploaded"


async def test_a_split_brain_on_prod_is_reported_for_prod_only(tmp_path: Path) -> None:
    # two managers claiming is_active: the 5.1.4 profile sends is_active (the guide's split brain)
    async with prod_and_dr(tmp_path, manager_version="5.1.4") as rig:
        await rig.sim_post("/_sim/managers", {"count": 2, "split_brain": True}, "prod")
        await rig.sim_post("/_sim/managers", {"count": 2}, "dr")
        prod = text_of(await ask(rig, "/cfy cluster status --manager prod"))
        dr = text_of(await ask(rig, "/cfy cluster status --manager dr"))
        assert "split brain" in prod.lower(), prod
        assert "split brain" not in dr.lower(), dr
        assert "dr" in dr and "manager-2" in dr
