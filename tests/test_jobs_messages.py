"""Pure builders of bot.messages.jobs."""
from __future__ import annotations

from datetime import UTC, datetime

from bot.messages.blocks import human_duration, human_size
from bot.messages.jobs import job_card, job_detail, jobs_list, who, with_mentions
from bot.messages.text import to_mrkdwn
from bot.notifier import plain_text
from bot.store import Approval, Job, Transition

T0 = datetime(2026, 1, 1, 3, 0, 0, tzinfo=UTC)


def job(**kw) -> Job:
    base = dict(id="j-abc123", kind="snapshot_download", manager="prod", state="done",
                params={"snapshot_id": "snap-1"}, requester="U123", created_at=T0,
                result={"snapshot_id": "snap-1", "archive_path": "/a/prod/snap-1.zip",
                        "sha256": "ab" * 32, "size": 1288490189, "duration_s": 75})
    base.update(kw)
    return Job(**base)


def test_slack_users_are_mentions_and_terminal_users_plain_text() -> None:
    assert to_mrkdwn(who("U0123ABC")) == "<@U0123ABC>"
    assert to_mrkdwn(who("local:ops")) == "local:ops"
    assert who("") == "snapbot"


def test_stored_user_ids_become_mentions_only_for_the_people_named() -> None:
    text = "approved by U_LEAD1, U_LEAD2 (UTC, local:ops)"
    assert to_mrkdwn(with_mentions(text, ["U_LEAD1", "U_LEAD2", "local:ops"])) == \
        "approved by <@U_LEAD1>, <@U_LEAD2> (UTC, local:ops)"
    assert with_mentions("approved by <@U999>", ["U999"]) == "approved by <@U999>"


def test_sizes_and_durations_read_like_a_person_wrote_them() -> None:
    assert human_size(1288490189) == "1.2 GB"
    assert human_size(512) == "512 B"
    assert human_duration(75) == "1m15s"
    assert human_duration(3725) == "1h02m"


def test_a_done_download_card_shows_where_the_archive_is_and_its_checksum() -> None:
    text = plain_text(job_card(job(), []))
    assert "`prod/snap-1.zip`" in text and "/a/prod" not in text and "ab" * 32 in text and "1.2 GB" in text and "1m15s" in text


def test_job_detail_lists_approvals_and_every_transition_with_actor_and_detail() -> None:
    transitions = [Transition("j-abc123", 1, "", "awaiting_approval", T0, "U123", "requested"),
                   Transition("j-abc123", 2, "awaiting_approval", "queued", T0, "U999", "approved by U999"),
                   Transition("j-abc123", 3, "queued", "running", T0, "snapbot", "")]
    text = plain_text(job_detail(job(state="running", result={}), transitions,
                                 [Approval("j-abc123", "U999", "approve", T0)]))
    assert "<@U999> approved" in text
    assert "awaiting_approval → *queued* by <@U999>: approved by <@U999>" in text
    assert "queued → *running* by snapbot" in text


def test_an_empty_job_list_says_so() -> None:
    assert "No snapbot jobs" in plain_text(jobs_list([]))
