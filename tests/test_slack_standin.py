"""The local Slack stand-in answers like Slack: shapes, errors, state, failures on demand."""
from __future__ import annotations

import json

import aiohttp
import pytest

from devtools.standin.slack import SlackStandin, sign

TOKEN = "xoxb-standin-test"


@pytest.fixture
async def slack():
    async with SlackStandin(bot_token=TOKEN, signing_secret="s3cret") as standin, \
            aiohttp.ClientSession() as http:
        standin.http = http
        yield standin


async def api(slack, method, token=TOKEN, **args):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with slack.http.post(slack.api_url + method, json=args, headers=headers) as resp:
        text = await resp.text()
        return resp.status, (json.loads(text) if text.startswith("{") else text), resp.headers


def test_v0_signature_matches_slacks_documented_example():
    # The example from Slack's "Verifying requests from Slack" page.
    body = ("token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
            "&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
            "&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
            "&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c")
    assert sign("8f742231b10e8888abcd99yyyzzz85a5", body, 1531420618) == \
        "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"


async def test_auth_test_answers_with_the_bot_identity(slack):
    status, body, _ = await api(slack, "auth.test")
    assert status == 200 and body["ok"] and body["user_id"] == slack.bot_user_id


async def test_wrong_bot_token_gets_invalid_auth(slack):
    _, body, _ = await api(slack, "chat.postMessage", token="xoxb-wrong", channel="C_OPS", text="hi")
    assert body == {"ok": False, "error": "invalid_auth"}


async def test_missing_token_gets_not_authed(slack):
    _, body, _ = await api(slack, "auth.test", token=None)
    assert body["error"] == "not_authed"


async def test_post_message_returns_ts_channel_and_message(slack):
    _, body, _ = await api(slack, "chat.postMessage", channel="C_OPS", text="hello")
    assert body["ok"] and body["channel"] == "C_OPS" and body["message"]["text"] == "hello"
    assert slack.messages("C_OPS")[0]["ts"] == body["ts"]


async def test_unknown_channel_gets_channel_not_found_when_strict(slack):
    slack.strict_channels = True
    _, body, _ = await api(slack, "chat.postMessage", channel="C_NOWHERE", text="hello")
    assert body["error"] == "channel_not_found"


async def test_text_over_40000_chars_gets_msg_too_long(slack):
    _, body, _ = await api(slack, "chat.postMessage", channel="C_OPS", text="x" * 40_001)
    assert body["error"] == "msg_too_long"


async def test_more_than_50_blocks_gets_invalid_blocks(slack):
    blocks = [{"type": "divider"}] * 51
    _, body, _ = await api(slack, "chat.postMessage", channel="C_OPS", text="t", blocks=blocks)
    assert body["error"] == "invalid_blocks"


async def test_update_replaces_the_message_in_place(slack):
    _, posted, _ = await api(slack, "chat.postMessage", channel="C_OPS", text="v1")
    _, updated, _ = await api(slack, "chat.update", channel="C_OPS", ts=posted["ts"], text="v2")
    assert updated["ok"] and updated["ts"] == posted["ts"]
    assert [m["text"] for m in slack.messages("C_OPS")] == ["v2"]


async def test_update_of_unknown_ts_gets_message_not_found(slack):
    _, body, _ = await api(slack, "chat.update", channel="C_OPS", ts="1.000001", text="v2")
    assert body["error"] == "message_not_found"


async def test_thread_replies_are_kept_under_their_parent(slack):
    _, parent, _ = await api(slack, "chat.postMessage", channel="C_OPS", text="card")
    await api(slack, "chat.postMessage", channel="C_OPS", text="step 1", thread_ts=parent["ts"])
    assert [m["text"] for m in slack.messages("C_OPS", thread_ts=parent["ts"])] == ["step 1"]
    assert [m["text"] for m in slack.messages("C_OPS", top_level=True)] == ["card"]


async def test_ephemeral_is_seen_only_by_its_user(slack):
    _, body, _ = await api(slack, "chat.postEphemeral", channel="C_OPS", user="U_OPS", text="psst")
    assert body["ok"] and body["message_ts"]
    assert [e["text"] for e in slack.ephemerals("U_OPS")] == ["psst"]
    assert slack.ephemerals("U_OTHER") == [] and slack.messages("C_OPS") == []


async def test_fail_next_answers_429_with_retry_after_then_recovers(slack):
    slack.fail_next("chat.postMessage", 1, status=429, retry_after=2)
    status, body, headers = await api(slack, "chat.postMessage", channel="C_OPS", text="hi")
    assert status == 429 and headers["Retry-After"] == "2" and body["error"] == "ratelimited"
    status, body, _ = await api(slack, "chat.postMessage", channel="C_OPS", text="hi")
    assert status == 200 and body["ok"]


async def test_fail_next_answers_5xx_on_demand(slack):
    slack.fail_next("chat.update", 2, status=503)
    statuses = [(await api(slack, "chat.update", channel="C_OPS", ts="1", text="x"))[0] for _ in range(3)]
    assert statuses == [503, 503, 200]


async def test_every_call_is_recorded_without_the_token(slack):
    await api(slack, "chat.postMessage", channel="C_OPS", text="hi")
    call = slack.calls[-1]
    assert call.method == "chat.postMessage" and call.args["text"] == "hi"
    assert TOKEN not in repr(call)


async def test_users_info_and_usergroup_members(slack):
    slack.add_user("U_LEAD1", "bob")
    slack.usergroups["S_LEADS"] = ["U_LEAD1", "U_LEAD2"]
    _, info, _ = await api(slack, "users.info", user="U_LEAD1")
    _, members, _ = await api(slack, "usergroups.users.list", usergroup="S_LEADS")
    _, missing, _ = await api(slack, "usergroups.users.list", usergroup="S_NONE")
    assert info["user"]["name"] == "bob" and members["users"] == ["U_LEAD1", "U_LEAD2"]
    assert missing["error"] == "no_such_subteam"


async def test_connections_open_wants_the_app_token(slack):
    _, with_bot, _ = await api(slack, "apps.connections.open")
    _, with_app, _ = await api(slack, "apps.connections.open", token=slack.app_token)
    assert with_bot["error"] == "not_allowed_token_type"
    assert with_app["ok"] and with_app["url"].startswith("ws://127.0.0.1:")


async def test_response_url_in_channel_posts_a_message(slack):
    url = slack.new_response_url("C_OPS", "U_OPS")
    async with slack.http.post(url, json={"response_type": "in_channel", "text": "for all"}) as resp:
        assert resp.status == 200
    assert [m["text"] for m in slack.messages("C_OPS")] == ["for all"]
    assert slack.responses()[0]["user"] == "U_OPS"
