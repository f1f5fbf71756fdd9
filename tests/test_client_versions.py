"""The client's version-dependent calls against the simulator: the snapshot format a create
asks for, credentials re-read from a file on 401, cancelling an execution, execution schedules."""
from __future__ import annotations

import pytest

from bot import errors
from bot.cloudify.client import CloudifyClient
from tests.client_support import sim_post

#: the simulator's speed for the `sim` fixture (conftest): simulated minutes in fractions of a second
SIM_SPEED = 100.0


def _create_body(recorder) -> dict:
    put = next(i for i, s in enumerate(recorder.seen) if s.method == "PUT")
    return recorder.json_body(put)


@pytest.mark.parametrize("setting,legacy", [("auto", True), ("legacy", True), ("new", False)])
async def test_a_create_on_7x_sends_the_legacy_flag_of_the_format(sim, recorder, setting, legacy):
    # the 7.0.5 server reads a missing `legacy` as False (new format), the 7.0.5 CLI sends True
    await sim_post(sim, "/_sim/config", {"version": "7.0.5"})
    async with CloudifyClient(sim.url, password="admin", transport=recorder,
                              snapshot_format=setting) as c:
        await c.create_snapshot("snap-1")
    assert _create_body(recorder)["legacy"] is legacy


async def test_a_create_on_6x_leaves_legacy_out_like_the_6x_client(sim, recorder):
    await sim_post(sim, "/_sim/config", {"version": "6.4.2"})
    async with CloudifyClient(sim.url, password="admin", transport=recorder) as c:
        await c.create_snapshot("snap-1")
    assert "legacy" not in _create_body(recorder)


async def test_new_format_on_a_6x_manager_is_a_configuration_error_and_nothing_is_sent(sim, recorder):
    await sim_post(sim, "/_sim/config", {"version": "6.4.2"})
    async with CloudifyClient(sim.url, password="admin", transport=recorder, name="prod",
                              snapshot_format="new") as c:
        with pytest.raises(errors.ConfigError) as info:
            await c.create_snapshot("snap-1")
    assert "7.0 or newer" in str(info.value) and "prod" in info.value.key
    assert not any(s.method == "PUT" for s in recorder.seen)


async def test_a_401_rereads_the_password_file_and_retries_with_the_new_secret(sim, tmp_path, recorder):
    secret = tmp_path / "pw"
    secret.write_text("not-the-password")
    async with CloudifyClient(sim.url, password="not-the-password", password_file=str(secret),
                              transport=recorder) as c:
        with pytest.raises(errors.Unauthorized):
            await c.version()  # the file holds the same wrong secret: nothing to retry with
        secret.write_text("admin\n")
        assert (await c.version()).version
        assert [s.path for s in recorder.seen].count("/api/v3.1/version") == 3  # 401, 401, 200


async def test_a_401_without_a_credentials_file_is_not_retried(sim, recorder):
    async with CloudifyClient(sim.url, password="wrong", transport=recorder) as c:
        with pytest.raises(errors.Unauthorized):
            await c.version()
    assert len(recorder.seen) == 1


async def test_cancel_execution_posts_the_cancel_action(sim, recorder):
    started = await sim_post(sim, "/_sim/executions", {"deployment_id": "dep-1", "workflow_id": "install"})
    async with CloudifyClient(sim.url, password="admin", transport=recorder) as c:
        ex = await c.cancel_execution(started["id"])
    assert ex.id == started["id"] and ex.status in ("cancelling", "cancelled")
    assert recorder.json_body(-1) == {"action": "cancel"}
    assert recorder.seen[-1].path == f"/api/v3.1/executions/{started['id']}"
