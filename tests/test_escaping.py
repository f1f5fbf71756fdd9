"""Nothing anyone else wrote becomes a Slack mention or link, and every message fits Block Kit.

Manager errors, ids and URLs carrying `<!channel>`, `<!here>`, `<@U…>`, `<url|label>` and
`&lt;!channel&gt;` go through the real app (signed requests, the simulator, the Slack stand-in);
then every message the stand-in received is checked: no live markup but snapbot's own, and each
block passes slack_sdk's Block Kit models (parse + validate_json).
"""
from __future__ import annotations

import re

from slack_sdk.models.blocks import Block

from bot.commands.parser import normalize, parse
from bot.errors import UsageError
from bot.messages import common
from bot.messages.text import ELLIPSIS, escape, for_slack, group_mention, mention, strip_markers, to_mrkdwn
from tests.harness import CHANNEL, make_rig

EVIL = ("<!channel> <!here> <@U_EVIL> <https://evil.example/x|Approve here> "
        "&lt;!channel&gt; <!subteam^S_EVIL>")
#: what Slack would make live: any <…> that is not one of snapbot's own mentions
LIVE = re.compile(r"<(?!@U_(?:OPS|LEAD1|LEAD2)>)[^<>]*>")


def _bot_output(slack):
    return [e for e in slack.events if e.kind in ("post", "reply", "update", "ephemeral")]


def _texts(message):
    """Every string Slack would render as mrkdwn or plain text in `message`."""
    out = [message.get("text") or ""]

    def walk(v):
        if isinstance(v, dict):
            if isinstance(v.get("text"), str):
                out.append(v["text"])
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)
    walk(message.get("blocks") or [])
    return out


def _assert_safe_and_valid(events):
    assert events, "the app said nothing"
    for e in events:
        for t in _texts(e.message):
            assert not LIVE.search(t), f"live markup in {e.kind}: {t[:300]!r}"
            assert "\ue000" not in t and "\ue001" not in t
        for raw in e.message.get("blocks") or []:
            Block.parse(raw).validate_json()  # raises SlackObjectFormationError past a limit


async def test_manager_errors_and_user_text_never_become_live_mentions_or_links(tmp_path):
    async with make_rig(tmp_path) as rig:
        # a snapshot-create error (job card and its thread), a REST error body (ephemeral)
        await rig.sim_post("/_sim/faults", {"path": "/snapshots/snap-evil$", "method": "PUT",
                                            "status": 400, "error_code": "bad_parameters_error",
                                            "message": EVIL, "count": 5})
        await rig.sim_post("/_sim/faults", {"path": "/snapshots$", "method": "GET", "status": 500,
                                            "error_code": "internal_server_error",
                                            "message": EVIL + " \ue000@U_EVIL\ue001", "count": 5})
        await rig.command("/cfy snapshots create snap-evil")
        jobs = await rig.wait_for(rig.jobs)
        await rig.wait_job(jobs[0].id)
        await rig.command("/cfy snapshots list")
        # a user's --url, as Slack sends it (its own escaping of what was typed)
        await rig.command("/cfy snapshots upload snap-1 --url "
                          "https://files.example/a?x=&lt;!channel&gt;")
        await rig.command("/cfy snapshots upload snap-1 --url <https://evil.example/x|Approve here>")
        await rig.wait_for(lambda: len(rig.slack.ephemerals("U_OPS")) >= 3)
        await rig.wait_for(lambda: any("snap-evil" in t for t in rig.slack.texts(channel=CHANNEL)))
        events = _bot_output(rig.slack)
        _assert_safe_and_valid(events)
        shown = "\n".join(t for e in events for t in _texts(e.message))
        # the manager's words are still there, as text
        assert "&lt;!channel&gt;" in shown and "&lt;https://evil.example/x|Approve here&gt;" in shown
        assert rig.sim_requests("upload") == 0


async def test_every_message_of_a_long_error_fits_slack_limits_with_a_visible_cut(tmp_path):
    async with make_rig(tmp_path) as rig:
        await rig.sim_post("/_sim/faults", {"path": "/snapshots$", "method": "GET", "status": 500,
                                            "error_code": "internal_server_error",
                                            "message": "<!here>&" * 2000, "count": 5})
        await rig.command("/cfy snapshots list")
        await rig.wait_for(lambda: rig.slack.ephemerals("U_OPS"))
        events = _bot_output(rig.slack)
        _assert_safe_and_valid(events)
        texts = [t for e in events for t in _texts(e.message)]
        assert any(t.endswith(ELLIPSIS) and len(t) <= 3000 for t in texts)


def test_escape_is_slacks_three_entities():
    assert escape("a & b < c > d") == "a &amp; b &lt; c &gt; d"


def test_snapbot_mentions_survive_the_edge_and_forged_ones_do_not():
    msg = common.confirmation(f"approved by {mention('U_LEAD1')} and {group_mention('S0LEADS')}; "
                              "<@U_EVIL> <!channel>")
    out = for_slack(msg)
    text = out["blocks"][0]["text"]["text"]
    assert "<@U_LEAD1>" in text and "<!subteam^S0LEADS>" in text
    assert "&lt;@U_EVIL&gt;" in text and "&lt;!channel&gt;" in text
    # a marker smuggled in from outside is dropped where text enters
    assert to_mrkdwn(strip_markers("\ue000@U_EVIL\ue001")) == "@U_EVIL"
    assert mention("<!channel>") == "<!channel>"  # not an id: plain text, escaped at the edge
    assert to_mrkdwn(mention("<!channel>")) == "&lt;!channel&gt;"


def test_cut_never_splits_an_entity_or_a_mention():
    msg = {"text": "x", "blocks": [{"type": "section", "text": {
        "type": "mrkdwn", "text": "a" * 2995 + "<>" + mention("U_LEAD1")}}]}
    text = for_slack(msg)["blocks"][0]["text"]["text"]
    assert len(text) <= 3000 and text.endswith(ELLIPSIS)
    assert not re.search(r"&[a-z]*…$", text) and "<@" not in text


def test_parser_no_longer_turns_entities_into_markup():
    assert normalize("&amp;lt;!channel&amp;gt;") == "&lt;!channel&gt;"  # what was typed
    assert normalize("&lt;b&gt; &quot;x&quot;") == '<b> &quot;x&quot;'  # only Slack's three
    for text in ("snapshots upload snap-1 --url https://x.example/&lt;!channel&gt;",
                 "snapshots upload snap-1 --url https://x.example/a|b"):
        try:
            parse(text)
        except UsageError as exc:
            assert "channel" not in str(exc)
        else:
            raise AssertionError(f"{text!r} accepted")
    assert parse("snapshots upload snap-1 --url https://x.example/a?b=1&amp;c=2").url \
        == "https://x.example/a?b=1&c=2"


# --- linear time on adversarial input (timings: bench/bench_adversarial_input.py) ------------

def _nested_repeats(pattern: re.Pattern[str]) -> list[str]:
    """Repeats inside repeats: the shape that makes a regex backtrack exponentially."""
    import re._parser as sre  # type: ignore[import-not-found]
    found: list[str] = []

    def walk(items, inside: bool) -> None:
        for op, av in items:
            if op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
                if inside:
                    found.append(str(op))
                walk(av[2], inside or av[1] > 1)  # an optional `(…)?` repeats nothing
            elif op == sre.SUBPATTERN:
                walk(av[3], inside)
            elif op == sre.BRANCH:
                for alt in av[1]:
                    walk(alt, inside)
            elif op in (sre.ASSERT, sre.ASSERT_NOT):
                walk(av[1], inside)
    walk(sre.parse(pattern.pattern, pattern.flags), False)
    return found


def test_parser_patterns_have_no_nested_repeats_and_links_stop_at_the_next_bracket():
    from bot.commands import grammar, parser
    patterns = [v for mod in (parser, grammar) for v in vars(mod).values()
                if isinstance(v, re.Pattern)]
    assert len(patterns) >= 8
    for p in patterns:
        assert _nested_repeats(p) == [], p.pattern
    # every repeated class inside a link excludes `<`: a try that starts at one `<` ends before
    # the next, so tries never overlap and the whole scan is linear
    assert "[^|<>\\s]*" in parser._LINK.pattern and "[^<>]*" in parser._LINK.pattern


def test_100kb_adversarial_commands_are_refused_with_the_cap_and_normalized_exactly():
    from bot.commands.parser import MAX_TEXT
    cases = {"<http:" * 20_000: "<http:" * 20_000,
             "<http://a|" + "|" * 100_000: "<http://a|" + "|" * 100_000,
             "&amp;lt;" * 12_500: "&lt;" * 12_500,
             "<https://x|&lt;>" * 6_000: "<" * 6_000}
    for text, normalized in cases.items():
        assert len(text) >= 96_000
        assert normalize(text) == normalized
        try:
            parse(text)
        except UsageError as exc:
            assert f"at most {MAX_TEXT:,}" in str(exc)
        else:
            raise AssertionError("accepted")
