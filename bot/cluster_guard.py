"""The split-brain guard for every command that changes a manager.

The split-brain runbook (docs/runbooks.md) says: do not restore, upload or delete snapshots,
and do not toggle maintenance mode, until the cluster agrees on one database again. So while
`bot.cloudify.cluster` sees a split brain, every command that changes a manager is refused with
the runbook, unless an approver asks with `--ignore-cluster-health` (as for a restore, whose own
check also covers a cluster in Fail: `bot.jobs.restore.service`).
"""
from __future__ import annotations

import logging

from bot import runbooks
from bot.cloudify.client import CloudifyClient
from bot.commands.model import Command
from bot.commands.registry import ALWAYS, spec_for
from bot.errors import CloudifyError, StepFailed

log = logging.getLogger(__name__)


async def guard(cmd: Command, client: CloudifyClient, manager: str, *, approver: bool,
                runbook_base_url: str | None) -> None:
    """`check` for a command that changes a manager (a restore checks on its own)."""
    spec = spec_for(cmd)
    if spec.changes_manager and spec.approval != ALWAYS:
        await check(client, cmd.name, manager, override=bool(getattr(cmd, "ignore_cluster_health", False)),
                    approver=approver, runbook_base_url=runbook_base_url)


async def check(client: CloudifyClient, command: str, manager: str, *, override: bool,
                approver: bool, runbook_base_url: str | None) -> None:
    """Raise StepFailed during a split brain unless an approver overrides; a manager that does
    not say its health is not refused (the command itself then meets it)."""
    try:
        health = await client.cluster_health()
    except CloudifyError as exc:
        log.info("cluster health of %s unavailable: %s", manager, exc.user_message)
        return
    if not health.split_brain:
        return
    ref = runbooks.reference(runbooks.SPLIT_BRAIN, runbook_base_url)
    if override and approver:
        log.warning("%s on %s during a split brain (%s): overridden by an approver", command,
                    manager, health.split_brain)
        return
    if override:
        raise StepFailed(f"not running `{command}` on {manager!r}: split brain ({health.split_brain}). "
                         "Only an approver may override that with --ignore-cluster-health; nothing was changed")
    raise StepFailed(f"not running `{command}` on {manager!r}: split brain ({health.split_brain}). "
                     f"Nothing was changed; {ref}\n(an approver can override this with --ignore-cluster-health)")
