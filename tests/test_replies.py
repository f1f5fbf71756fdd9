"""Answers through a command's response_url are not lost: a 5xx is retried briefly, and an
answer Slack will not take is logged and sent as an ephemeral message in the channel instead.
Real signed commands into the app; the stand-in's response_url answers 503 on demand."""
from __future__ import annotations

import logging

import pytest

from handlers import replies
from tests.harness import make_rig


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(replies, "RESPOND_DELAYS", (0.0, 0.0))


async def test_a_response_url_answering_503_once_is_retried_and_the_answer_arrives(tmp_path) -> None:
    async with make_rig(tmp_path) as rig:
        rig.slack.fail_responses(1, status=503)
        await rig.command("help")
        posts = await rig.wait_response(1)
        assert len(posts) == 1 and "snapshots" in posts[0]["text"]
        assert rig.slack.response_failures_answered == 1
        assert rig.slack.calls_to("chat.postEphemeral") == []


async def test_a_lost_answer_is_logged_and_sent_as_an_ephemeral_message(tmp_path, caplog) -> None:
    async with make_rig(tmp_path) as rig:
        rig.slack.fail_responses(3, status=503)
        with caplog.at_level(logging.WARNING):
            await rig.command("help", user="U_OPS")
            calls = await rig.wait_for(lambda: rig.slack.calls_to("chat.postEphemeral"))
        assert rig.slack.responses() == []
        assert calls[0].args["user"] == "U_OPS" and calls[0].args["channel"] == "C_OPS"
        assert "snapshots" in str(calls[0].args.get("text"))
        lost = [r.getMessage() for r in caplog.records if r.getMessage().startswith("reply lost")]
        assert lost == [("reply lost: response_url answered HTTP 503; sending it as an ephemeral "
                         "message in the channel instead")]


async def test_an_expired_response_url_is_not_retried(tmp_path) -> None:
    async with make_rig(tmp_path) as rig:
        rig.slack.fail_responses(1, status=404)
        await rig.command("help", user="U_OPS")
        await rig.wait_for(lambda: rig.slack.calls_to("chat.postEphemeral"))
        assert rig.slack.response_failures_answered == 1 and rig.slack.responses() == []
