"""SlackNotifier: the domain's notifier over the Web API (the stand-in), with Slack's retries."""
from __future__ import annotations

import pytest

from bot.config.settings import ManagerConfig, Settings, SlackConfig
from bot.errors import SnapbotError
from bot.notifier import MessageRef
from devtools.standin.slack import SlackStandin
from handlers.app import make_client
from handlers.notifier import SlackNotifier

TOKEN = "xoxb-notifier-test-token"
MSG = {"text": "card", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*card*"}}]}


@pytest.fixture
async def slack():
    async with SlackStandin(bot_token=TOKEN) as standin:
        yield standin


def notifier_for(slack: SlackStandin, token: str = TOKEN) -> SlackNotifier:
    settings = Settings(managers=(ManagerConfig("default", "http://127.0.0.1:9"),),
                        slack=SlackConfig(bot_token=token, api_url=slack.api_url))
    return SlackNotifier(make_client(settings))


async def test_post_returns_where_the_message_landed(slack):
    ref = await notifier_for(slack).post("C_OPS", MSG)
    assert ref == MessageRef("C_OPS", slack.messages("C_OPS")[0]["ts"])


async def test_update_changes_the_posted_message(slack):
    notifier = notifier_for(slack)
    ref = await notifier.post("C_OPS", MSG)
    await notifier.update(ref, {"text": "card v2"})
    assert slack.message("C_OPS", ref.ts)["text"] == "card v2"


async def test_thread_reply_lands_under_the_card(slack):
    notifier = notifier_for(slack)
    ref = await notifier.post("C_OPS", MSG)
    await notifier.post("C_OPS", {"text": "step"}, thread_ts=ref.ts)
    assert [m["text"] for m in slack.messages("C_OPS", thread_ts=ref.ts)] == ["step"]


async def test_ephemeral_goes_to_one_user(slack):
    await notifier_for(slack).ephemeral("C_OPS", "U_OPS", {"text": "only you"})
    assert [e["text"] for e in slack.ephemerals("U_OPS")] == ["only you"]


async def test_rate_limited_post_is_retried_after_retry_after(slack):
    slack.fail_next("chat.postMessage", 1, status=429, retry_after=0)
    await notifier_for(slack).post("C_OPS", MSG)
    assert [c.status for c in slack.calls_to("chat.postMessage")] == [429, 200]
    assert len(slack.messages("C_OPS")) == 1


async def test_server_error_is_retried(slack):
    slack.fail_next("chat.update", 1, status=503)
    notifier = notifier_for(slack)
    ref = await notifier.post("C_OPS", MSG)
    await notifier.update(ref, {"text": "v2"})
    assert [c.status for c in slack.calls_to("chat.update")] == [503, 200]


async def test_slack_error_becomes_snapbot_error_without_the_token(slack):
    with pytest.raises(SnapbotError) as info:
        await notifier_for(slack, token="xoxb-wrong-secret-token").post("C_OPS", MSG)
    assert "invalid_auth" in str(info.value)
    assert "xoxb-wrong-secret-token" not in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__
