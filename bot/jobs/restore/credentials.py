"""Credentials after a restore.

A legacy restore gives the manager the snapshot's users, passwords and tokens, so snapbot's own may
stop working (401). That is not a failed restore: the job moves to `awaiting_credentials`
(maintenance mode still on, the card says so) and goes back to the step that got the 401 once they
work again. It only tries again when the password/token file holds a new secret, or once after a
restart (a new secret in the environment): the manager locks an account after
`failed_logins_before_account_lock` (4) failed logins (rest-service `config.py`,
`storage/management_models.py` User.is_locked), so repeating a wrong password would lock snapbot out.
"""
from __future__ import annotations

from bot.clock import iso
from bot.cloudify.client import CloudifyClient
from bot.config.settings import RunbookConfig
from bot.errors import Unauthorized
from bot.jobs.poll import poll
from bot.jobs.restore.machine import RESTORE
from bot.jobs.restore.machine import RestoreState as S
from bot.jobs.runner import JobContext
from bot.messages import restore as messages


async def lost(ctx: JobContext, runbook_base_url: str | None, interval: float) -> None:
    """A 401 after the restore: wait in `awaiting_credentials`, then resume this step."""
    step = ctx.job.state
    ctx.merge_result(credentials_resume_state=str(step), credentials_lost_at=iso(ctx.clock.now()))
    await ctx.move(S.AWAITING_CREDENTIALS,
                   f"the restore finished but snapbot's credentials for {ctx.job.manager} no longer "
                   f"work (401) in {RESTORE.label(step)}; maintenance mode stays on until they do")
    await ctx.say(messages.credentials_lost(ctx.job, runbook_base_url, interval))


async def wait(ctx: JobContext, client: CloudifyClient, runbook: RunbookConfig, *,
               try_first: bool) -> None:
    """Until the credentials work (no timeout: the card says what is needed), then move back to
    the step that got the 401. `try_first`: try the current secret once (a new process)."""
    first = try_first

    async def working() -> bool:
        nonlocal first
        changed = client.reload_credentials()
        if not (first or changed):
            return False
        first = False
        try:
            await client.version()
        except Unauthorized:
            return False
        return True

    await poll(ctx, working, pacing=runbook, timeout=float("inf"), what="working credentials")
    resume = ctx.job.result.get("credentials_resume_state") or S.RESTORED
    ctx.merge_result(credentials_back_at=iso(ctx.clock.now()))
    await ctx.say(messages.credentials_back(ctx.job.manager))
    await ctx.move(resume, f"snapbot's credentials for {ctx.job.manager} work again")
