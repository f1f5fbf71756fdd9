"""The runbooks snapbot points people to from Slack, as data.

Each one is also a section of docs/runbooks.md (a test keeps the steps there equal to these). In Slack
a runbook is an absolute link, `runbook_base_url` + `#` + its anchor, when that setting is set;
without it the message carries the steps themselves, never a path that means nothing in Slack.
"""
from __future__ import annotations

from dataclasses import dataclass

from bot.messages.text import link  # snapbot's own links: the Slack edge escapes the rest


@dataclass(frozen=True)
class Runbook:
    anchor: str  # the docs/runbooks.md heading's GitHub-style anchor
    title: str
    steps: tuple[str, ...]


SPLIT_BRAIN = Runbook(
    anchor="runbook-cluster-split-brain",
    title="Cluster split brain",
    steps=(
        "Do not restore, upload or delete snapshots, and do not toggle maintenance mode, until the "
        "cluster agrees on one database again (snapbot refuses every command that changes the "
        "manager meanwhile; an approver can override with `--ignore-cluster-health`).",
        "Run `/cfy cluster status` (and `cfy cluster status` on the hosts) to see which nodes are "
        "down or claim to be active, and which side has the most recent good data; the last daily "
        "report and `/cfy snapshots list` show which snapshots each side has.",
        "Stop or isolate the other side's nodes, following the vendor guide's failure-recovery "
        "section, until one healthy side remains.",
        "If the remaining side's data is doubtful, rebuild from a snapshot: restore the last good "
        "archived copy on one fresh manager, then join the other nodes to it.",
        "Run `/cfy cluster status` again: health OK, no split brain. Only then restore (an approver "
        "can force a restore during a split brain, at their own risk).",
    ),
)

CLUSTER_FAIL = Runbook(
    anchor="runbook-cluster-status-fail",
    title="Cluster status Fail",
    steps=(
        "Run `/cfy cluster status` to see which nodes and services are not OK.",
        "Bring the failed nodes back or remove them from the cluster (Cloudify's own tools on the "
        "hosts), until the database and broker clusters have a quorum again.",
        "If no node can be saved, rebuild: fresh managers, then upload and restore the newest "
        "archived snapshot the daily report marked ok.",
        "Restore only once `/cfy cluster status` is OK or Degraded (an approver can force it).",
    ),
)

CREDENTIALS = Runbook(
    anchor="runbook-credentials-after-a-restore",
    title="Credentials after a restore",
    steps=(
        "A legacy restore gives the manager the snapshot's users, passwords and API tokens: "
        "snapbot's password or token works again once it is the one the snapshot had.",
        "Either put the snapshot's password (or a token made on the restored manager) into the "
        "file named by `password_file` / `token_file`: snapbot re-reads it and carries on by "
        "itself; or set the new secret in snapbot's environment and restart it: the job resumes.",
        "Or, with the snapshot's admin password, set the password snapbot uses again: "
        "`cfy users set-password <user> -p <password>`.",
        "snapbot then writes the report and turns maintenance mode off. Until then the manager "
        "stays in maintenance mode, and the card says so.",
    ),
)

ALL = (SPLIT_BRAIN, CLUSTER_FAIL, CREDENTIALS)


def reference(runbook: Runbook, base_url: str | None) -> str:
    """Slack mrkdwn pointing to the runbook: an absolute link, or its steps inline."""
    if base_url:
        return f"runbook: {link(base_url.rstrip('/') + '#' + runbook.anchor, runbook.title)}"
    steps = "\n".join(f"{i}. {s}" for i, s in enumerate(runbook.steps, 1))
    return f"runbook, *{runbook.title}*:\n{steps}"


def readme_runbooks() -> str:
    """The runbook sections of docs/runbooks.md (one `## Runbook: <title>` each), from `ALL`."""
    parts = []
    for rb in ALL:
        steps = "\n".join(f"{i}. {s}" for i, s in enumerate(rb.steps, 1))
        parts.append(f"## Runbook: {rb.title.lower()}\n\n{steps}\n")
    return "\n".join(parts)
