"""Only the installed workspace, app and Enterprise Grid org get through (handlers.workspace).

Real signed requests from the Slack stand-in into the running app: a slash command or click that
says it comes from another team, app or enterprise is refused (a private line for a command,
nothing for a click) and reaches neither the dispatcher nor the manager; the same request from
the installed workspace is served. The expected ids come from the configuration or, unset, from
auth.test.
"""
from __future__ import annotations

import logging

from handlers.app import make_client
from handlers.workspace import REFUSAL, UNKNOWN, Installed, Origin, WorkspaceCheck
from tests.harness import make_rig

OTHER_TEAM = {"team_id": "T_OTHER"}
OTHER_APP = {"app_id": "A_OTHER"}
OTHER_ORG = {"enterprise_id": "E_OTHER"}


def _refusals(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "handlers.workspace" and r.getMessage().startswith("refused")]


def _grid(slack) -> None:
    slack.enterprise_id = "E_SNAP"


async def _nothing_done(rig) -> None:
    assert rig.store.list_jobs() == []
    assert rig.sim_requests("snapshots") == 0
    assert rig.slack.responses() == []  # no response_url post: the dispatcher never answered


async def test_a_command_from_another_workspace_is_refused_privately_and_does_nothing(tmp_path, caplog):
    async with make_rig(tmp_path) as rig:
        with caplog.at_level(logging.INFO):
            resp = await rig.command("snapshots create nightly", origin=OTHER_TEAM)
        assert resp.status == 200
        assert resp.json() == {"response_type": "ephemeral", "text": REFUSAL}
        await _nothing_done(rig)
        assert _refusals(caplog) == ["refused a slash command from another team: "
                                     "team T_OTHER, app A_SNAPBOT, enterprise none"]
        entry = rig.services.dispatcher.audit.query()[0]  # and in the audit log
        assert (entry.what, entry.outcome, entry.detail) == (
            "/cfy snapshots create nightly", "refused", "from another workspace or app")


async def test_the_same_command_from_the_installed_workspace_is_served(tmp_path):
    async with make_rig(tmp_path) as rig:
        resp = await rig.command("snapshots create nightly")
        assert resp.status == 200 and REFUSAL not in resp.text
        job = (await rig.wait_for(lambda: rig.store.list_jobs()))[0]
        assert job.kind == "snapshot_create"


async def test_a_click_from_another_workspace_is_dropped_with_one_log_line(tmp_path, caplog):
    async with make_rig(tmp_path) as rig:
        with caplog.at_level(logging.DEBUG):
            resp = await rig.click("restore_approve", "r-000001", user="U_LEAD1",
                                   message={}, origin=OTHER_TEAM)
        assert resp.status == 200 and resp.text == ""
        await _nothing_done(rig)
        assert _refusals(caplog) == ["refused a click or event from another team: "
                                     "team T_OTHER, app A_SNAPBOT, enterprise none"]
        entry = rig.services.dispatcher.audit.query()[0]
        assert (entry.user, entry.what, entry.outcome) == ("U_LEAD1", "button restore_approve r-000001",
                                                           "refused")
        # the same click from home is answered (no such job): the check is what stopped it
        await rig.click("restore_approve", "r-000001", user="U_LEAD1", message={})
        await rig.wait_for(lambda: rig.slack.responses())


async def test_a_forged_id_does_not_reach_the_log_as_written(tmp_path, caplog):
    async with make_rig(tmp_path) as rig:
        with caplog.at_level(logging.DEBUG):
            await rig.click("restore_approve", "r-000001", user="U_LEAD1", message={},
                            origin={"team_id": "T1\nFORGED approved by U_LEAD2"})
        # no line starts with what the sender wrote (slack_sdk's DEBUG lines show it as a repr)
        assert [r.name for r in caplog.records if "\nFORGED" in r.getMessage()] == []
        assert [r.name for r in caplog.records
                if "FORGED" in r.getMessage() and r.levelno >= logging.INFO] == []
        assert _refusals(caplog) == ["refused a click or event from another team: "
                                     "team (not an id), app A_SNAPBOT, enterprise none"]


async def test_requests_from_another_enterprise_are_refused_the_org_is_learnt_from_auth_test(tmp_path):
    async with make_rig(tmp_path, slack_setup=_grid) as rig:
        resp = await rig.command("snapshots create nightly", origin=OTHER_ORG)
        assert resp.json() == {"response_type": "ephemeral", "text": REFUSAL}
        resp = await rig.command("snapshots create nightly", origin={"enterprise_id": None})
        assert resp.json() == {"response_type": "ephemeral", "text": REFUSAL}
        resp = await rig.click("restore_approve", "r-000001", user="U_LEAD1", message={},
                               origin=OTHER_ORG)
        assert resp.text == ""
        await _nothing_done(rig)
        resp = await rig.command("snapshots create nightly")  # E_SNAP, as auth.test said
        assert REFUSAL not in resp.text
        await rig.wait_for(lambda: rig.store.list_jobs())


async def test_a_command_naming_an_org_when_the_token_names_none_is_refused(tmp_path, caplog):
    async with make_rig(tmp_path) as rig:  # auth.test names no enterprise
        with caplog.at_level(logging.INFO):
            resp = await rig.command("snapshots create nightly", origin=OTHER_ORG)
        assert resp.json() == {"response_type": "ephemeral", "text": REFUSAL}
        resp = await rig.click("restore_approve", "r-000001", user="U_LEAD1", message={},
                               origin=OTHER_ORG)
        assert resp.text == ""
        await _nothing_done(rig)
        assert _refusals(caplog)[0] == ("refused a slash command from another enterprise: "
                                        "team T_SNAP, app A_SNAPBOT, enterprise E_OTHER")


def test_the_enterprise_is_compared_when_either_side_has_none() -> None:
    plain = Installed(team_id="T1")
    grid = Installed(team_id="T1", enterprise_id="E1")
    assert plain.mismatch(Origin("T1", None, "E1")) == "enterprise"
    assert grid.mismatch(Origin("T1", None, None)) == "enterprise"
    assert plain.mismatch(Origin("T1", None, None)) is None
    assert grid.mismatch(Origin("T1", None, "E1")) is None


async def test_when_auth_test_fails_at_start_it_is_asked_again_before_serving(tmp_path, caplog):
    def down(slack):  # Slack down at start (3: the client retries a 5xx twice)
        slack.fail_next("auth.test", 3, status=500)

    with caplog.at_level(logging.INFO):
        async with make_rig(tmp_path, slack_setup=down) as rig:
            assert any("requests are refused until it answers" in r.getMessage()
                       for r in caplog.records)
            asked = len(rig.slack.calls_to("auth.test"))
            resp = await rig.command("snapshots create nightly", origin=OTHER_TEAM)
            assert resp.json() == {"response_type": "ephemeral", "text": REFUSAL}
            assert len(rig.slack.calls_to("auth.test")) > asked
            resp = await rig.command("snapshots create nightly")
            assert REFUSAL not in resp.text and UNKNOWN not in resp.text
            await rig.wait_for(lambda: rig.store.list_jobs())
    assert "accepting requests from workspace T_SNAP, any app id (access.app_id not set) only" in [
        r.getMessage() for r in caplog.records]


async def test_while_auth_test_has_not_answered_the_installed_ids_are_unknown(tmp_path):
    async with make_rig(tmp_path) as rig:
        check = WorkspaceCheck(make_client(rig.settings, retries=False), Installed())
        rig.slack.fail_next("auth.test", 1, status=500)
        assert await check.current() is None  # the middleware refuses with UNKNOWN then
        assert await check.current() == Installed(team_id="T_SNAP")


async def test_socket_mode_commands_from_another_workspace_get_the_refusal_in_the_ack(tmp_path):
    async with make_rig(tmp_path, socket_mode=True) as rig:
        ack = await rig.slack.socket_command("snapshots create nightly", user="U_OPS",
                                             origin=OTHER_TEAM)
        assert ack["payload"] == {"response_type": "ephemeral", "text": REFUSAL}
        await _nothing_done(rig)


async def test_auth_test_names_the_team_and_the_enterprise(tmp_path):
    """The check against the stand-in's real auth.test: team, enterprise, org-wide install."""
    async with make_rig(tmp_path, slack_setup=_grid) as rig:
        check = WorkspaceCheck(make_client(rig.settings, retries=False), Installed())
        assert await check.learn() == Installed(team_id="T_SNAP", enterprise_id="E_SNAP")
        assert len(rig.slack.calls_to("auth.test")) >= 2  # the app's at start, and this one
        assert await check.current() == Installed(team_id="T_SNAP", enterprise_id="E_SNAP")
        org = Installed(team_id="T_SNAP", enterprise_id="E_SNAP", org_wide=True)
        assert org.mismatch(Origin("T_ANY", "A_X", "E_SNAP")) is None
        assert org.mismatch(Origin("T_ANY", "A_X", "E_OTHER")) == "enterprise"


async def _serve_with(rig, installed: Installed):
    """A second Bolt app on the rig's services whose check was given `installed` (as the
    configuration gives it), served over HTTP like the first."""
    from handlers.app import build_app, build_web_app
    from handlers.server import start_http
    client = make_client(rig.settings)
    app = build_app(rig.services, client, WorkspaceCheck(client, installed))
    return await start_http(build_web_app(app, rig.services), "127.0.0.1", 0)


async def test_with_an_app_id_given_requests_for_another_app_are_refused(tmp_path):
    async with make_rig(tmp_path) as rig:
        http = await _serve_with(rig, Installed(app_id="A_SNAPBOT"))
        try:
            url = http.url + "/slack/events"
            resp = await rig.slack.send_command(url, "snapshots create nightly", user="U_OPS",
                                                origin=OTHER_APP)
            assert resp.json() == {"response_type": "ephemeral", "text": REFUSAL}
            resp = await rig.slack.click(url, "restore_approve", "r-000001", user="U_LEAD1",
                                         message={}, origin=OTHER_APP)
            assert resp.status == 200 and resp.text == ""
            await _nothing_done(rig)
            resp = await rig.slack.send_command(url, "snapshots create nightly", user="U_OPS")
            assert REFUSAL not in resp.text
            await rig.wait_for(lambda: rig.store.list_jobs())
        finally:
            await http.close()


async def test_given_ids_win_over_what_auth_test_says(tmp_path):
    async with make_rig(tmp_path) as rig:  # auth.test: T_SNAP, no enterprise
        http = await _serve_with(rig, Installed(enterprise_id="E_SNAP"))
        try:
            url = http.url + "/slack/events"
            resp = await rig.slack.send_command(url, "snapshots list", user="U_OPS")
            assert resp.json() == {"response_type": "ephemeral", "text": REFUSAL}
            resp = await rig.slack.send_command(url, "snapshots list", user="U_OPS",
                                                origin={"enterprise_id": "E_OTHER"})
            assert resp.json() == {"response_type": "ephemeral", "text": REFUSAL}
            assert rig.slack.responses() == []
            resp = await rig.slack.send_command(url, "snapshots list", user="U_OPS",
                                                origin={"enterprise_id": "E_SNAP"})
            assert REFUSAL not in resp.text
            await rig.wait_for(lambda: rig.slack.responses())
        finally:
            await http.close()


# --- ids from the configuration (SNAPBOT_TEAM_ID, SNAPBOT_APP_ID, SNAPBOT_ENTERPRISE_ID) ---

async def test_a_command_for_another_app_is_refused_when_the_app_id_is_configured(tmp_path):
    async with make_rig(tmp_path, env_overrides={"SNAPBOT_APP_ID": "A_SNAPBOT"}) as rig:
        resp = await rig.command("snapshots create nightly", origin=OTHER_APP)
        assert resp.json() == {"response_type": "ephemeral", "text": REFUSAL}
        await _nothing_done(rig)
        resp = await rig.command("snapshots create nightly")
        assert REFUSAL not in resp.text
        await rig.wait_for(lambda: rig.store.list_jobs())



async def test_a_click_for_another_app_is_dropped_when_the_app_id_is_configured(tmp_path):
    async with make_rig(tmp_path, env_overrides={"SNAPBOT_APP_ID": "A_SNAPBOT"}) as rig:
        resp = await rig.click("restore_approve", "r-000001", user="U_LEAD1", message={},
                               origin=OTHER_APP)
        assert resp.status == 200 and resp.text == ""
        await _nothing_done(rig)



async def test_configured_ids_are_used_without_auth_test(tmp_path, caplog):
    env = {"SNAPBOT_TEAM_ID": "T_SNAP", "SNAPBOT_ENTERPRISE_ID": "E_SNAP"}
    with caplog.at_level(logging.INFO):
        # auth.test fails at start (3: the client retries a 5xx twice); Bolt's own asks later
        async with make_rig(tmp_path, env_overrides=env,
                            slack_setup=lambda s: s.fail_next("auth.test", 3, status=500)) as rig:
            resp = await rig.command("snapshots create nightly", origin={"enterprise_id": "E_SNAP"})
            assert REFUSAL not in resp.text
            await rig.wait_for(lambda: rig.store.list_jobs())
            resp = await rig.command("snapshots list", origin={"enterprise_id": "E_OTHER"})
            assert resp.json()["text"] == REFUSAL
    assert any("requests are checked against the configured ids" in r.getMessage()
               for r in caplog.records)



async def test_a_configured_team_that_is_not_the_tokens_is_said_at_start(tmp_path, caplog):
    with caplog.at_level(logging.INFO):
        async with make_rig(tmp_path, env_overrides={"SNAPBOT_TEAM_ID": "T_ELSEWHERE"}) as rig:
            resp = await rig.command("snapshots list")
            assert resp.json()["text"] == REFUSAL  # the token's own workspace is not T_ELSEWHERE
    assert ("access.team_id is T_ELSEWHERE but the bot token belongs to T_SNAP: every request "
            "will be refused") in [r.getMessage() for r in caplog.records]


