"""The access part of `snapbot demo`: who may do what, from where. A viewer's delete and the
operator's command from a DM are refused privately, and the manager hears nothing of them; the
audit log, read by a lead, shows both refusals."""
from __future__ import annotations

from typing import Any

from bot.notifier import plain_text

VIEWER = "U_VIEW"
DM = "D_ALICE"


def demo_steps() -> list[tuple[str, Any]]:
    return [("Access: refusals by role and channel, and the audit log", _demo_access)]


async def _refused(demo: Any, text: str, *, user: str, channel: str, expect: str) -> None:
    before = sum(demo.sim.state.request_counts.values())
    seen = len(demo.slack.ephemerals(user))
    await demo.say(text, user=user, channel=channel)
    answers = await demo.wait_for(lambda: demo.slack.ephemerals(user)[seen:], 30,
                                  f"the answer to {text!r}")
    said = plain_text(answers[0])
    demo.expect(expect in said, f"{text!r} refused ({expect!r}; got {said[:120]!r})")
    demo.expect(sum(demo.sim.state.request_counts.values()) == before,
                f"{text!r} sent nothing to the manager")


async def _demo_access(demo: Any) -> None:
    from devtools.demo import APPROVERS, CHANNEL, OPERATOR

    await _refused(demo, "/cfy snapshots delete nightly-1", user=VIEWER, channel=CHANNEL,
                   expect="needs an operator")
    await _refused(demo, "/cfy snapshots delete nightly-1", user=OPERATOR, channel=DM,
                   expect="takes commands in")
    before = len(demo.slack.responses())
    await demo.say("/cfy audit --since 1h", user=APPROVERS[0])
    posts = await demo.wait_responses(before + 1)
    demo.expect(str(posts[-1]).count("refused") >= 2, "the audit log shows both refusals")
