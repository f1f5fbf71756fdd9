"""Restore drills end to end: two simulated managers (`prod`, and `scratch` marked scratch), the
Slack stand-in and the real Bolt app; prod's archive restored onto scratch through the runbook,
then compared with what the archive holds."""
from __future__ import annotations

import dataclasses
import hashlib
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.clock import iso
from bot.config.load import load_settings
from bot.errors import ConfigError
from bot.jobs.drill.service import latest_drill_slot
from bot.messages.blocks import human_duration, human_size
from tests.fakes import FakeClock
from tests.harness import make_rig

DRILLED = {"prod": {"drill": {"target": "scratch"}}, "scratch": {"scratch": True}}
MANAGERS: dict[str, Any] = {"prod": None, "scratch": None}


def drill_rig(tmp_path: Path, **kwargs: Any) -> Any:
    return make_rig(tmp_path, managers=MANAGERS, manager_extra=DRILLED, **kwargs)


async def archive_prod(rig: Any) -> str:
    """A daily run of prod: its snapshot archived and verified; returns the snapshot id."""
    job = await rig.services.daily.run_once("prod")
    assert job.state == "done", job.error
    return str(job.params["snapshot_id"])


async def run_drill(rig: Any, text: str = "/cfy snapshots drill --manager prod") -> Any:
    await rig.command(text)
    drills = await rig.wait_for(lambda: rig.jobs(kind="drill"))
    return await rig.wait_job(drills[0].id, timeout=60)


def archive_path(rig: Any, sid: str) -> Path:
    return Path(rig.settings.archive_dir) / "prod" / f"{sid}.zip"


def rewrite_archive(path: Path, edit: Any) -> None:
    """Rewrite the archive with `edit(name, data) -> data` applied to each member, and record
    its new checksum beside it (a forged copy that passes verification)."""
    members = {}
    with zipfile.ZipFile(path) as zf:
        for name in zf.namelist():
            members[name] = edit(name, zf.read(name))
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    sidecar = path.with_name(path.name + ".sha256")
    sidecar.write_text(sidecar.read_text().replace(sidecar.read_text().split()[0],
                                                   hashlib.sha256(path.read_bytes()).hexdigest()))


async def test_a_drill_restores_prods_archive_onto_scratch_and_passes_with_counts_and_time(tmp_path):
    async with drill_rig(tmp_path) as rig:
        sid = await archive_prod(rig)
        prod = rig.sims["prod"].state
        rig.sims["scratch"].state.deployments.clear()  # the scratch manager starts elsewhere
        rig.sims["scratch"].state.blueprints.clear()
        prod_requests = rig.sim_requests("", "prod")
        job = await run_drill(rig)
        assert job.state == "done", job.error
        assert job.manager == "scratch" and job.params["source"] == "prod"
        assert job.params["snapshot_id"] == sid
        assert job.result["verdict"] == "pass"
        assert job.result["counts"] == {
            "tenants": 1, "blueprints": len(prod.blueprints), "deployments": len(prod.deployments),
            "secrets": len(prod.secrets), "plugins": len(prod.plugins), "users": len(prod.users),
            "execution_schedules": len(prod.execution_schedules)}
        assert job.result["rto_s"] >= job.result["restore_s"] >= 0
        scratch = rig.sims["scratch"].state
        assert sorted(scratch.deployments) == sorted(prod.deployments)
        # restored by the scratch manager's own restore workflow, the one the runbook started
        assert len(scratch.restores) == 1 and rig.sims["prod"].state.restores == []
        # through the runbook: a restore job of its own, on scratch, that ran every step
        restore = rig.store.get_job(job.result["restore_job"])
        assert restore.result["restore_execution_id"] == scratch.restores[0]
        assert restore.kind == "restore" and restore.manager == "scratch" and restore.state == "done"
        assert restore.params["restore_format"] == "legacy" and restore.params["force"]
        assert restore.params["safety_snapshot"] is False  # a throw-away manager: no safety copy
        steps = [t.to_state for t in rig.store.transitions(restore.id)]
        assert steps[:5] == ["approved", "preflight", "maintenance_activating",
                             "maintenance_active", "restoring"]
        assert steps[-1] == "done"
        # the verdict in the channel: pass, counts and the time taken
        said = "\n".join(rig.slack.texts(channel="C_OPS"))
        assert "drill passed" in said
        assert f"restored in {human_duration(job.result['rto_s'])} (RTO)" in said
        assert f"{len(prod.deployments)} deployments" in said
        # prod was only read from its archive: no request reached it during the drill
        assert rig.sim_requests("", "prod") == prod_requests


async def test_a_deployment_missing_after_the_restore_fails_the_drill_naming_it(tmp_path):
    async with drill_rig(tmp_path) as rig:
        await archive_prod(rig)

        async def lose_a_deployment(job: Any, detail: str) -> None:
            if job.kind == "restore" and job.manager == "scratch" and job.state == "done":
                rig.sims["scratch"].state.deployments.pop("dep-2", None)

        rig.services.runner.on_change(lose_a_deployment)
        job = await run_drill(rig)
        assert job.state == "failed"
        assert job.result["verdict"] == "fail"
        assert "deployments: `dep-2` in the archive, not on the restored manager" in job.error
        said = "\n".join(rig.slack.texts(channel="C_OPS"))
        assert "drill FAILED" in said and "`dep-2`" in said


async def test_an_archive_changed_after_it_was_verified_fails_before_anything_reaches_scratch(tmp_path):
    async with drill_rig(tmp_path) as rig:
        sid = await archive_prod(rig)
        path = archive_path(rig, sid)
        data = bytearray(path.read_bytes())
        at = data.index(b'"deployments"')
        data[at + 2] ^= 0x01  # one flipped byte inside the stored state.json
        path.write_bytes(bytes(data))
        before = rig.sim_requests("", "scratch")
        job = await run_drill(rig)
        assert job.state == "failed"
        assert "member 'state.json' is corrupt" in job.error  # named by the zip check
        assert rig.sim_requests("", "scratch") == before


async def test_a_forged_archive_whose_dump_lacks_a_deployment_fails_naming_it(tmp_path):
    async with drill_rig(tmp_path) as rig:
        sid = await archive_prod(rig)

        def drop_dep3(name: str, data: bytes) -> bytes:
            if name != "pg_data":
                return data
            return b"".join(line for line in data.splitlines(keepends=True)
                            if b"\tdep-3\t" not in line)

        rewrite_archive(archive_path(rig, sid), drop_dep3)
        job = await run_drill(rig)
        assert job.state == "failed"
        assert "deployments: `dep-3` on the restored manager, not in the archive" in job.error


async def test_a_drill_onto_a_manager_not_marked_scratch_is_refused_before_any_request(tmp_path):
    def unmark(settings: Any) -> Any:
        managers = tuple(dataclasses.replace(m, scratch=False) for m in settings.managers)
        return dataclasses.replace(settings, managers=managers)

    async with drill_rig(tmp_path, settings_overrides=unmark) as rig:
        before = {name: rig.sim_requests("", name) for name in ("prod", "scratch")}
        await rig.command("/cfy snapshots drill --manager prod")
        reply = await rig.wait_response()
        text = reply[-1]["text"]
        assert "not marked `scratch: true`" in text and "nothing was sent" in text
        assert rig.jobs(kind="drill") == []
        assert {name: rig.sim_requests("", name) for name in ("prod", "scratch")} == before


def test_the_configuration_refuses_a_drill_target_not_marked_scratch(tmp_path):
    path = tmp_path / "snapbot.yaml"
    path.write_text("managers:\n"
                    "  - {name: prod, url: 'http://127.0.0.1:1', password_env: P, drill: {target: dr}}\n"
                    "  - {name: dr, url: 'http://127.0.0.1:2', password_env: P}\n")
    with pytest.raises(ConfigError) as err:
        load_settings({"P": "x"}, str(path))
    assert err.value.key == "managers[0].drill.target"
    assert "not marked `scratch: true`" in str(err.value)


def test_a_drill_is_weekly_by_default_and_its_cron_is_checked(tmp_path):
    path = tmp_path / "snapbot.yaml"
    path.write_text("managers:\n"
                    "  - {name: prod, url: 'http://127.0.0.1:1', password_env: P, drill: {target: s}}\n"
                    "  - {name: s, url: 'http://127.0.0.1:2', password_env: P, scratch: true}\n")
    settings = load_settings({"P": "x"}, str(path))
    assert settings.managers[0].drill is not None and settings.managers[0].drill.cron == "0 4 * * 0"
    assert settings.managers[1].scratch
    path.write_text(path.read_text().replace("{target: s}", "{target: s, cron: 'every sunday'}"))
    with pytest.raises(ConfigError) as err:
        load_settings({"P": "x"}, str(path))
    assert err.value.key == "managers[0].drill.cron"


async def test_status_shows_the_newest_archive_and_the_last_drill_from_the_store(tmp_path):
    async with drill_rig(tmp_path) as rig:
        sid = await archive_prod(rig)
        job = await run_drill(rig)
        assert job.state == "done", job.error
        stored = await rig.services.archives.stat("prod", sid)
        await rig.command("/cfy status")
        reply = await rig.wait_for(lambda: [r for r in rig.slack.responses()
                                            if "Backup posture" in str(r.get("blocks"))])
        text = reply[-1]["text"]
        assert f"`{sid}`" in text and human_size(stored.size) in text
        assert f"RTO {human_duration(job.result['rto_s'])}" in text
        assert f"(`{job.id}`)" in text and "passed" in text
        postures = await rig.services.posture.managers()
        prod = next(p for p in postures if p.name == "prod")
        assert prod.newest.snapshot_id == sid and prod.newest.size == stored.size
        assert prod.last_drill.job_id == job.id and prod.last_drill.rto_s == job.result["rto_s"]
        assert prod.next_drill is not None and prod.next_drill.weekday() == 6  # Sunday


# -- the schedule --------------------------------------------------------------------------------

def sunday_slot() -> datetime:
    """The last Sunday 04:00 UTC before now (the default drill cron in UTC)."""
    slot = latest_drill_slot("0 4 * * 0", "UTC", datetime.now(UTC))
    assert slot is not None and slot.weekday() == 6 and slot.hour == 4
    return slot


async def test_the_drill_schedule_fires_by_itself_at_the_injected_time(tmp_path):
    slot = sunday_slot()
    clock = FakeClock(slot - timedelta(minutes=1))
    async with drill_rig(tmp_path, clock=clock) as rig:
        await archive_prod(rig)
        assert rig.jobs(kind="drill") == []  # last week's slot is past the grace: not caught up
        aps_job = rig.services.drills.apscheduler.get_job("drill:prod")
        assert aps_job.trigger.get_next_fire_time(None, clock.now()) == slot
        assert rig.services.drills.apscheduler.get_job("drill:scratch") is None
        clock.set(slot + timedelta(seconds=2))  # the timer goes off
        job = await aps_job.func(*aps_job.args)
        job = await rig.wait_job(job.id, timeout=60)
        assert job.state == "done", job.error
        assert job.params["trigger"] == "schedule" and job.idem_key == f"drill:prod:{iso(slot)}"
        again = await aps_job.func(*aps_job.args)  # a second firing for the slot: the same drill
        assert again.id == job.id and len(rig.jobs(kind="drill")) == 1
        audited = rig.store.db.execute("select user, source, what, outcome from audit where "
                                       "source = 'schedule'").fetchall()
        assert ("snapbot", "schedule", "snapshots drill --manager prod", "ok") in \
            [tuple(a) for a in audited]


async def test_a_drill_slot_missed_while_down_runs_at_the_next_start_once(tmp_path):
    slot = sunday_slot()
    async with drill_rig(tmp_path, clock=FakeClock(slot - timedelta(minutes=5))) as rig:
        await archive_prod(rig)
    async with drill_rig(tmp_path, clock=FakeClock(slot + timedelta(minutes=10))) as rig:
        started = await rig.wait_for(lambda: rig.jobs(kind="drill"))
        job = await rig.wait_job(started[0].id, timeout=60)
        assert job.state == "done", job.error
        assert job.params["trigger"] == "catch-up" and job.idem_key == f"drill:prod:{iso(slot)}"
    async with drill_rig(tmp_path, clock=FakeClock(slot + timedelta(minutes=20))) as rig:
        assert [j.id for j in rig.jobs(kind="drill")] == [job.id]


async def test_a_drill_interrupted_mid_way_carries_on_after_a_restart(tmp_path):
    async with drill_rig(tmp_path, start_services=False) as rig:
        await archive_prod(rig)
        drills = rig.services.drills
        job = await drills.start("prod", trigger="manual", requester="U_OPS", channel="C_OPS",
                                 idem_key="kill-test")
        await rig.services.runner.shutdown()  # the process dies right after it started
        recorded = rig.store.get_job(job.id)
        assert not recorded.finished
    async with drill_rig(tmp_path) as rig:  # `snapbot run` again: unfinished jobs resume
        job = await rig.wait_job(job.id, timeout=60)
        assert job.state == "done", job.error
        assert len(rig.jobs(kind="restore")) == 1  # one restore, not two


# -- staleness -----------------------------------------------------------------------------------

async def test_stale_archives_are_said_once_with_the_last_failure_and_once_on_recovery(tmp_path):
    clock = FakeClock(datetime.now(UTC))
    async with drill_rig(tmp_path, clock=clock) as rig:
        await archive_prod(rig)
        posture = rig.services.posture
        assert await posture.check_staleness() == []
        await rig.sim_post("/_sim/faults", {"path": "/snapshots/daily", "method": "PUT",
                                            "status": 500, "message": "disk full on the manager",
                                            "count": 1}, "prod")
        failed = await rig.services.daily.run_once("prod")
        assert failed.state == "failed"
        clock.advance(27 * 3600)  # past the 26 h default
        first = await posture.check_staleness()
        assert first and first[0].startswith("stale:prod:")
        assert await posture.check_staleness() == []  # no repeat while it stays stale
        stale = await rig.wait_for(lambda: [t for t in rig.slack.texts(channel="C_OPS")
                                            if "are stale" in t])
        assert len(stale) == 1 and "prod" in stale[0] and "disk full on the manager" in stale[0]
        clock.set(datetime.now(UTC))
        ok = await rig.services.daily.run_once("prod")  # a fresh copy: its end checks at once
        assert ok.state == "done"
        recovered = first[0].replace("stale:", "recovered:")
        assert rig.services.outbox.latest_key("recovered:prod:") == recovered
        clock.advance(60)
        assert await posture.check_staleness() == []  # said once, not again
        fresh = await rig.wait_for(lambda: [t for t in rig.slack.texts(channel="C_OPS")
                                            if "fresh again" in t])
        assert len(fresh) == 1
        assert len([t for t in rig.slack.texts(channel="C_OPS") if "are stale" in t]) == 1


# -- the App Home tab ----------------------------------------------------------------------------

def home_text(view: dict[str, Any]) -> str:
    return "\n".join(str((b.get("text") or {}).get("text", "")) for b in view.get("blocks", []))


def home_buttons(view: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(e["action_id"], e["value"], b.get("block_id", "")) for b in view.get("blocks", [])
            if b.get("type") == "actions" for e in b.get("elements", [])]


async def test_the_home_tab_shows_the_posture_from_the_store_and_is_refreshed_when_a_job_ends(tmp_path):
    async with drill_rig(tmp_path) as rig:
        sid = await archive_prod(rig)
        resp = await rig.slack.open_home(rig.events_url, "U_VIEW")
        assert resp.status == 200
        view = await rig.wait_for(lambda: rig.slack.home_views.get("U_VIEW"))
        stored = await rig.services.archives.stat("prod", sid)
        text = home_text(view)
        assert f"`{sid}`" in text and human_size(stored.size) in text
        assert "last drill: none yet" in text
        published = len([e for e in rig.slack.events if e.kind == "home" and e.user == "U_VIEW"])
        job = await run_drill(rig)  # a job ends: the Home tab is published again
        assert job.state == "done", job.error
        await rig.wait_for(lambda: len([e for e in rig.slack.events
                                        if e.kind == "home" and e.user == "U_VIEW"]) > published)
        text = home_text(await rig.wait_for(
            lambda: "passed" in home_text(rig.slack.home_views["U_VIEW"])
            and rig.slack.home_views["U_VIEW"]))
        assert f"RTO {human_duration(job.result['rto_s'])}" in text and f"`{job.id}`" in text
        assert any(c.method == "views.publish" for c in rig.slack.calls)


async def test_pending_approvals_get_home_buttons_for_approvers_only_and_a_click_decides(tmp_path):
    async with drill_rig(tmp_path) as rig:
        sid = await archive_prod(rig)
        await rig.command(f"/cfy snapshots restore {sid} --force --manager prod")
        request = (await rig.wait_for(lambda: rig.jobs(kind="restore")))[0]
        assert request.state == "requested"
        for user in ("U_LEAD1", "U_OPS"):
            await rig.slack.open_home(rig.events_url, user)
        lead = await rig.wait_for(lambda: rig.slack.home_views.get("U_LEAD1"))
        ops = await rig.wait_for(lambda: rig.slack.home_views.get("U_OPS"))
        assert ("home_approve", request.id, f"home:{request.id}") in home_buttons(lead)
        assert home_buttons(ops) == [] and f"`{request.id}`" in home_text(ops)  # listed, no buttons
        # a forged click by someone who is not an approver changes nothing
        await rig.slack.click_home(rig.events_url, "home_approve", request.id, user="U_OPS",
                                   block_id=f"home:{request.id}")
        assert rig.store.get_job(request.id).state == "requested"
        await rig.slack.click_home(rig.events_url, "home_approve", request.id, user="U_LEAD1")
        approved = await rig.wait_for(lambda: [a for a in rig.store.approvals(request.id)
                                               if a.user == "U_LEAD1" and a.decision == "approve"])
        assert approved
        assert rig.store.get_job(request.id).state != "requested"


async def test_a_drill_from_the_terminal_needs_yes_waits_and_prints_the_verdict(tmp_path):
    from bot.commands import model as m
    from snapbot.terminal import cfy, run_command

    lines: list[str] = []
    assert cfy(["snapshots", "drill", "--manager", "prod"], yes=False, config=None, env={},
               write=lines.append) == 2  # it changes a manager: refused before anything without --yes
    async with drill_rig(tmp_path) as rig:
        await archive_prod(rig)
        code = await run_command(rig.services, m.SnapshotsDrill(manager="prod"), confirmed=True,
                                 out=lines.append, user="local:alice")
        assert code == 0, lines
        said = "\n".join(lines)
        assert "drill passed" in said and "(RTO)" in said
        job = rig.jobs(kind="drill")[0]
        assert job.state == "done" and job.requester == "local:alice"
        entries = rig.store.db.execute(
            "select what, outcome from audit where what like 'snapshots drill%'").fetchall()
        assert ("snapshots drill --manager prod", "ok") in [tuple(e) for e in entries]


async def test_drill_figures_in_metrics_come_from_the_store(tmp_path):
    from tests.test_metrics import samples

    async with drill_rig(tmp_path) as rig:
        await archive_prod(rig)
        before = samples(rig.services.metrics.render())
        prod = (("manager", "prod"),)
        assert before[("snapbot_drills_total", (("manager", "prod"), ("outcome", "pass")))] == 0
        assert before[("snapbot_drill_max_age_seconds", prod)] == 8 * 86400
        assert ("snapbot_drill_last_success_timestamp_seconds", prod) not in before
        job = await run_drill(rig)
        assert job.state == "done", job.error
        got = samples(rig.services.metrics.render())
        assert got[("snapbot_drill_last_success_timestamp_seconds", prod)] == job.updated_at.timestamp()
        assert got[("snapbot_drill_duration_seconds", prod)] == \
            (job.updated_at - job.created_at).total_seconds()
        assert got[("snapbot_drills_total", (("manager", "prod"), ("outcome", "pass")))] == 1
        assert got[("snapbot_drills_total", (("manager", "prod"), ("outcome", "fail")))] == 0
        assert ("snapbot_drill_max_age_seconds", (("manager", "scratch"),)) not in got
        # the scratch restore is the drill's, not a restore the restore alerts look at
        assert got[("snapbot_jobs_total", (("kind", "drill_restore"), ("state", "done")))] == 1
        assert ("snapbot_jobs_total", (("kind", "restore"), ("state", "done"))) not in got
        assert got[("snapbot_restore_duration_seconds_count", ())] == 0


async def test_one_drill_at_a_time_per_scratch_manager(tmp_path):
    async with drill_rig(tmp_path) as rig:
        await archive_prod(rig)
        first = await rig.services.drills.start("prod", trigger="manual", requester="U_OPS",
                                                channel="C_OPS", idem_key="first")
        await rig.command("/cfy snapshots drill --manager prod")
        reply = await rig.wait_response()
        assert f"busy with job {first.id}" in reply[-1]["text"]
        assert [j.id for j in rig.jobs(kind="drill")] == [first.id]
        assert (await rig.wait_job(first.id, timeout=60)).state == "done"


async def test_a_new_format_archive_is_drilled_from_its_json_dump(tmp_path):
    extra = {"prod": {"drill": {"target": "scratch"}, "snapshot_format": "new"},
             "scratch": {"scratch": True}}
    async with make_rig(tmp_path, managers=MANAGERS, manager_extra=extra) as rig:
        sid = await archive_prod(rig)
        with zipfile.ZipFile(archive_path(rig, sid)) as zf:
            assert "pg_data" not in zf.namelist() and "mgmt/00000001.json" in zf.namelist()
        rig.sims["prod"].state.deployments.pop("dep-3")  # prod moves on; the archive does not
        rig.sims["scratch"].state.deployments.clear()
        job = await run_drill(rig)
        assert job.state == "done", job.error
        assert job.result["expected"]["format"] == "new"
        assert job.result["counts"]["deployments"] == 3  # what the archive holds, restored
        assert "dep-3" in rig.sims["scratch"].state.deployments


async def test_the_home_tab_shows_no_figures_to_someone_who_is_not_a_viewer(tmp_path):
    async with drill_rig(tmp_path, env_overrides={"SNAPBOT_VIEWERS": "U_VIEW"}) as rig:
        sid = await archive_prod(rig)
        await rig.slack.open_home(rig.events_url, "U_STRANGER")
        await rig.slack.open_home(rig.events_url, "U_VIEW")
        stranger = await rig.wait_for(lambda: rig.slack.home_views.get("U_STRANGER"))
        viewer = await rig.wait_for(lambda: rig.slack.home_views.get("U_VIEW"))
        assert sid not in home_text(stranger) and "you are not one of them" in home_text(stranger)
        assert sid in home_text(viewer)


@pytest.mark.parametrize("version", ["6.4.2", "5.1.4"])
async def test_a_drill_passes_on_older_manager_versions(tmp_path, version):
    from devtools.simulator import SimulatorOptions

    opts = SimulatorOptions(speed=200.0, manager_version=version)
    async with make_rig(tmp_path, managers={"prod": opts, "scratch": opts},
                        manager_extra=DRILLED) as rig:
        await archive_prod(rig)
        job = await run_drill(rig)
        assert job.state == "done", job.error
        skipped = ["execution_schedules"] if version == "5.1.4" else []  # 404 before 6.0
        assert job.result["not_compared"] == skipped
        assert job.result["manager_version"] == version


async def test_a_new_approval_request_reaches_the_approvers_home_tab(tmp_path):
    async with drill_rig(tmp_path) as rig:
        sid = await archive_prod(rig)
        await rig.slack.open_home(rig.events_url, "U_LEAD2")
        first = await rig.wait_for(lambda: rig.slack.home_views.get("U_LEAD2"))
        assert home_buttons(first) == []
        await rig.command(f"/cfy snapshots restore {sid} --force --manager prod")
        request = (await rig.wait_for(lambda: rig.jobs(kind="restore")))[0]
        view = await rig.wait_for(lambda: home_buttons(rig.slack.home_views["U_LEAD2"])
                                  and rig.slack.home_views["U_LEAD2"])
        assert ("home_reject", request.id, f"home:{request.id}") in home_buttons(view)


async def test_what_the_runbook_refuses_fails_the_drill_before_the_upload(tmp_path):
    extra = {"prod": {"drill": {"target": "scratch"}},
             "scratch": {"scratch": True, "bootstrap_admin": "root"}}  # snapbot acts as admin
    async with make_rig(tmp_path, managers=MANAGERS, manager_extra=extra) as rig:
        await archive_prod(rig)
        job = await run_drill(rig)
        assert job.state == "failed" and "bootstrap admin" in job.error
        assert rig.sim_requests("/archive", "scratch") == 0  # nothing uploaded, nothing restored
        assert rig.sim_requests("/restore", "scratch") == 0
        assert rig.jobs(kind="restore") == []


async def test_status_lists_pending_approvals_and_running_jobs_and_the_size_trend(tmp_path):
    async with drill_rig(tmp_path) as rig:
        first = await archive_prod(rig)
        second = await archive_prod(rig)
        await rig.command(f"/cfy snapshots restore {second} --force --manager prod")
        request = (await rig.wait_for(lambda: rig.jobs(kind="restore")))[0]
        running = await rig.services.drills.start("prod", trigger="manual", requester="U_OPS",
                                                  channel="C_OPS", idem_key="running")
        postures = {p.name: p for p in await rig.services.posture.managers()}
        prod, scratch = postures["prod"], postures["scratch"]
        assert [j.id for j in prod.pending] == [request.id] and prod.running == ()
        assert [j.id for j in scratch.running] == [running.id]
        sizes = [(await rig.services.archives.stat("prod", s)).size for s in (second, first)]
        assert prod.newest.snapshot_id == second and prod.newest.compared_with == 1
        assert prod.newest.trend_pct == round((sizes[0] - sizes[1]) / sizes[1] * 100, 1)
        await rig.command("/cfy status")
        reply = await rig.wait_for(lambda: [r for r in rig.slack.responses()
                                            if "Backup posture" in str(r.get("blocks"))])
        text = reply[-1]["text"]
        assert f"`{request.id}` restore" in text and f"`{running.id}` drill" in text
        assert f"{prod.newest.trend_pct:+.1f}% vs the mean of the last 1" in text
        await rig.wait_job(running.id, timeout=60)


async def test_the_daily_job_leaves_scratch_managers_to_the_drills(tmp_path):
    async with drill_rig(tmp_path, env_overrides={"SNAPBOT_SCHEDULE": "0 3 * * *"}) as rig:
        aps = rig.services.daily.scheduler.apscheduler
        assert aps.get_job("daily:prod") is not None and aps.get_job("daily:scratch") is None
        postures = {p.name: p for p in await rig.services.posture.managers()}
        assert postures["prod"].next_daily is not None and postures["scratch"].next_daily is None


async def test_the_home_tab_is_published_for_an_event_over_socket_mode(tmp_path):
    async with drill_rig(tmp_path, socket_mode=True) as rig:
        sid = await archive_prod(rig)
        ack = await rig.slack.socket_home("U_LEAD1")
        assert ack.get("envelope_id")
        view = await rig.wait_for(lambda: rig.slack.home_views.get("U_LEAD1"))
        assert f"`{sid}`" in home_text(view)
