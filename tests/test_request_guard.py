"""Before the signature check: real HTTP requests into the running app (handlers.guard).

Unsigned, forged, oversized and malformed requests get 401/413/400 with one log line that holds
none of what was sent, and no traceback; nothing reaches Bolt, the manager or Slack.
"""
from __future__ import annotations

import json
import logging
import time
from urllib.parse import urlencode

from handlers.guard import MAX_COMMAND, check_shape, verify
from tests.harness import make_rig

FORGED = "FORGED-LINE snapbot: INFO approved by U_LEAD1"


def _records(caplog):
    return [r for r in caplog.records if r.name.startswith(("handlers", "slack_bolt", "aiohttp", "bot"))]


def _deep_payload(depth: int) -> str:
    return "payload=" + "[" * depth + "]" * depth  # brackets need no form-encoding


async def test_unsigned_900kb_body_is_refused_with_one_short_log_line(tmp_path, caplog):
    async with make_rig(tmp_path) as rig:
        body = urlencode({"command": "/cfy", "text": "x" * 900_000 + "\n" + FORGED})
        caplog.clear()
        with caplog.at_level(logging.DEBUG):
            resp = await rig.command("", body=body, signature="v0=" + "0" * 64)
        assert resp.status == 401
        lines = [r.getMessage() for r in _records(caplog)]
        assert len([x for x in lines if "refused" in x]) == 1
        logged = "\n".join(lines)
        assert "xxxxxxxx" not in logged and "FORGED" not in logged
        assert len(logged) < 500, logged
        assert not any(r.exc_info for r in caplog.records)
        assert rig.slack.responses() == [] and rig.sim_requests() == 0


async def test_a_raw_newline_in_a_header_cannot_forge_a_log_line(tmp_path, caplog):
    async with make_rig(tmp_path) as rig:
        with caplog.at_level(logging.DEBUG):
            resp = await rig.command("snapshots list", signature=f"v0=x\t{FORGED}")
        assert resp.status == 401
        assert all("FORGED" not in r.getMessage() for r in caplog.records)


async def test_non_numeric_timestamp_is_401_without_traceback(tmp_path, caplog):
    async with make_rig(tmp_path) as rig:
        with caplog.at_level(logging.DEBUG):
            resp = await rig.command("snapshots list", timestamp="12abc")  # type: ignore[arg-type]
        assert resp.status == 401
        assert not any(r.exc_info for r in caplog.records)
        assert rig.slack.responses() == []


async def test_body_over_one_megabyte_is_413_before_it_is_read(tmp_path, caplog):
    async with make_rig(tmp_path) as rig:
        body = urlencode({"command": "/cfy", "text": "y" * (1024 * 1024 + 10)})
        with caplog.at_level(logging.INFO):
            resp = await rig.command("", body=body)  # correctly signed, still too big
        assert resp.status == 413
        assert [r.getMessage() for r in _records(caplog) if "refused" in r.getMessage()] == [
            f"refused POST /slack/events: body too large ({len(body)} bytes)"]
        assert rig.sim_requests() == 0


async def test_signed_200k_deep_json_payload_is_400_without_traceback(tmp_path, caplog):
    async with make_rig(tmp_path) as rig:
        with caplog.at_level(logging.DEBUG):
            resp = await rig.command("", body=_deep_payload(200_000))
        assert resp.status == 400
        assert json.loads(resp.text) == {"ok": False, "error": "payload nested too deep"}
        assert not any(r.exc_info for r in caplog.records)
        assert rig.slack.responses() == []


async def test_payload_that_is_not_an_object_is_400(tmp_path):
    async with make_rig(tmp_path) as rig:
        resp = await rig.command("", body=urlencode({"payload": "[1, 2]"}))
        assert resp.status == 400
        resp = await rig.command("", body=urlencode({"payload": "{not json"}))
        assert resp.status == 400


async def test_overlong_command_gets_a_clear_answer_before_parsing(tmp_path):
    async with make_rig(tmp_path) as rig:
        text = "snapshots create " + "<http:" * 20_000
        resp = await rig.command(text)
        assert resp.status == 200
        answer = json.loads(resp.text)
        assert answer["response_type"] == "ephemeral"
        assert "characters long" in answer["text"]
        assert f"at most {MAX_COMMAND:,}" in answer["text"]
        assert rig.sim_requests() == 0 and rig.jobs() == []


async def test_signed_request_still_works_through_the_guard(tmp_path):
    async with make_rig(tmp_path) as rig:
        resp = await rig.command("snapshots list")
        assert resp.status == 200
        await rig.wait_response(1)


def test_verify_refuses_each_malformed_header_with_a_fixed_reason():
    now = time.time()
    cases = [(None, "v0=a", "missing signature headers"),
             ("-5", "v0=a", "malformed timestamp"),
             ("1" * 40, "v0=a", "malformed timestamp"),
             (str(int(now) - 301), "v0=a", "stale timestamp"),
             (str(int(now)), "v0=é\n", "bad signature")]
    for ts, sig, reason in cases:
        try:
            verify("secret", b"body", ts, sig, now)
        except Exception as exc:
            assert getattr(exc, "reason", None) == reason and exc.status == 401  # type: ignore[attr-defined]
        else:
            raise AssertionError(f"{ts!r} accepted")


def test_check_shape_refuses_non_forms_and_too_many_fields():
    for body in (b"\xff\xfe", b"a" * 10, "&".join(f"k{i}=v" for i in range(500)).encode()):
        try:
            check_shape(body)
        except Exception as exc:
            assert exc.status == 400  # type: ignore[attr-defined]
        else:
            raise AssertionError(f"{body[:20]!r} accepted")


def _signed_payload(rig, payload: dict) -> str:
    base = dict(team={"id": "T_SNAP"}, api_app_id="A_SNAPBOT", user={"id": "U_OPS", "team_id": "T_SNAP"})
    return urlencode({"payload": json.dumps(dict(base, **payload))})


MALFORMED = {
    "actions a string": {"type": "block_actions", "actions": "x"},
    "actions of strings": {"type": "block_actions", "actions": ["x"]},
    "action value a number": {"type": "block_actions",
                              "actions": [{"action_id": "restore_approve", "value": 5}]},
    "type a number": {"type": 5},
    "no type": {"actions": []},
    "user a string": {"type": "block_actions", "user": "U_OPS",
                      "actions": [{"action_id": "restore_approve", "value": "r-000001"}]},
    "team a string": {"type": "block_actions", "team": "T_SNAP",
                      "actions": [{"action_id": "restore_approve", "value": "r-000001"}]},
    "response_url a list": {"type": "block_actions", "response_url": ["x"],
                            "actions": [{"action_id": "restore_approve", "value": "r-000001"}]},
}


async def test_signed_payloads_of_odd_shapes_get_400_at_once_and_reach_nothing(tmp_path, caplog):
    async with make_rig(tmp_path) as rig:
        with caplog.at_level(logging.INFO):
            for name, payload in MALFORMED.items():
                resp = await rig.command("", body=_signed_payload(rig, payload))
                assert resp.status == 400, (name, resp.status, resp.text)
            resp = await rig.command("", body=urlencode({"text": "help", "user_id": "U_OPS"}))
            assert resp.status == 400  # a form that is neither a command nor a payload
        assert not any(r.exc_info for r in caplog.records)
        assert rig.slack.responses() == [] and rig.jobs() == [] and rig.sim_requests() == 0


async def test_a_signed_user_id_with_a_newline_or_200kb_is_logged_on_one_short_line(tmp_path, caplog):
    async with make_rig(tmp_path) as rig:
        with caplog.at_level(logging.INFO):
            for user in (f"U1\n{FORGED}", "U" * 200_000):
                body = _signed_payload(rig, {"type": "block_actions", "user": {"id": user},
                                             "actions": [{"action_id": "restore_approve",
                                                          "value": "r-000404"}]})
                resp = await rig.command("", body=body)
                assert resp.status == 200
            await rig.wait_for(lambda: len([r for r in caplog.records if r.name == "bot.clicks"]) == 2)
        lines = [r.getMessage() for r in caplog.records if r.name.startswith(("bot", "handlers"))]
        assert not [line for line in lines if "\n" in line]
        assert max(len(line) for line in lines) < 2_000
        clicks = [r.getMessage() for r in caplog.records if r.name == "bot.clicks"]
        assert f"by U1\\n{FORGED} refused" in clicks[0]
        assert "…(+199,800 chars)" in clicks[1]


def test_the_log_net_escapes_and_bounds_every_line() -> None:
    from bot.logs import MAX_LINE, OneLine
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "user %s\r\nsaid %s", ("U1", "y" * 50_000), None)
    OneLine().filter(record)
    text = record.getMessage()
    assert "\n" not in text and "\\r\\n" in text and len(text) < MAX_LINE + 40
