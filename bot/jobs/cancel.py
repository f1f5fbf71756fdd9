"""Cancelling a job also cancels what it started on the manager, where the API allows.

`/cfy jobs cancel` stops snapbot's own task first; then every manager execution the job started
and recorded (a snapshot's create execution, agents-install and plugins-update executions, a
restore's execution) that is still live gets `POST /executions/<id>` {"action": "cancel"}. What
the manager refuses (400 illegal_action_error, or a manager that does not answer) is reported as
left running, with why, so nobody believes it stopped.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.cloudify.client import CloudifyClient
from bot.commands import model as m
from bot.commands.registry import kind_of
from bot.errors import CloudifyError, InvalidTransition, NotFound, SnapbotError, StaleState
from bot.jobs import payload, simple_payload
from bot.jobs.runner import JobRunner
from bot.messages.jobs import job_title
from bot.store import Job

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExecutionOutcome:
    execution_id: str
    workflow_id: str = ""
    status: str = ""  # the execution's status after the attempt ("" when unknown)
    cancelled: bool = False  # the manager accepted the cancel (or it had already ended)
    why: str = ""  # why it was left running


def recorded_executions(job: Job) -> list[str]:
    """The manager execution ids a job recorded, in the order it started them."""
    ids = payload.result_of(job).own_executions
    per_item = simple_payload.result_of(job)
    for outcomes in (per_item.deployments, per_item.blueprints):
        for outcome in outcomes.values():
            if outcome.execution_id and outcome.execution_id not in ids:
                ids.append(outcome.execution_id)
    return ids


async def cancel_manager_executions(client: CloudifyClient, job: Job) -> list[ExecutionOutcome]:
    """Cancel each live execution the job recorded; one outcome per execution."""
    out: list[ExecutionOutcome] = []
    for eid in recorded_executions(job):
        try:
            ex = await client.get_execution(eid, bypass_maintenance=True)
        except NotFound:
            continue  # gone (e.g. with a restored database): nothing left to stop
        except CloudifyError as exc:
            out.append(ExecutionOutcome(eid, why=f"the manager did not say its state ({exc.user_message})"))
            continue
        if ex.finished:
            continue
        try:
            after = await client.cancel_execution(eid)
        except CloudifyError as exc:
            log.info("job %s: cancelling execution %s on %s refused: %s", job.id, eid, job.manager,
                     exc.user_message)
            out.append(ExecutionOutcome(eid, ex.workflow_id, ex.status,
                                        why=exc.manager_message or exc.user_message))
            continue
        out.append(ExecutionOutcome(eid, ex.workflow_id or after.workflow_id, after.status, cancelled=True))
    return out


#: the job states in which a job waits for other executions (which an approver may cancel)
WAITING_STATES = {"restore": ("safety_snapshot", "maintenance_activating"),
                  kind_of(m.MaintenanceActivate): ("running",)}


def blocker_ids(job: Job) -> list[str]:
    """The executions the job's card names as what it waits for (none when it does not wait)."""
    if job.state not in WAITING_STATES.get(job.kind, ()):
        return []
    waiting = payload.result_of(job).waiting_for
    return list(waiting.ids) if waiting is not None else []


async def cancel_blockers(client: CloudifyClient, job: Job) -> list[ExecutionOutcome]:
    """Cancel the executions the job's card names (an approver asked); one outcome each. Never
    snapbot's own: those are the job's to undo."""
    if not blocker_ids(job):
        raise SnapbotError(f"job {job.id} is {job.state} and waits for no execution now")
    out: list[ExecutionOutcome] = []
    own = set(recorded_executions(job))
    for eid in blocker_ids(job):
        if eid in own:
            continue
        try:
            ex = await client.get_execution(eid, bypass_maintenance=True)
        except NotFound:
            continue
        except CloudifyError as exc:
            out.append(ExecutionOutcome(eid, why=f"the manager did not say its state ({exc.user_message})"))
            continue
        if ex.finished:
            out.append(ExecutionOutcome(eid, ex.workflow_id, ex.status, cancelled=True))
            continue
        try:
            after = await client.cancel_execution(eid)
        except CloudifyError as exc:
            out.append(ExecutionOutcome(eid, ex.workflow_id, ex.status,
                                        why=exc.manager_message or exc.user_message))
            continue
        out.append(ExecutionOutcome(eid, ex.workflow_id, after.status, cancelled=True))
    return out


async def undo_maintenance(client: CloudifyClient, job: Job) -> str:
    """A cancelled or failed `maintenance-mode activate` job turns maintenance off again if the
    job turned it on (an `activating` manager refuses new executions); returns what it did."""
    if job.kind != kind_of(m.MaintenanceActivate) or \
            simple_payload.result_of(job).maintenance_before != "deactivated":
        return ""
    try:
        state = await client.deactivate_maintenance()
    except CloudifyError as exc:
        return (f"maintenance mode left on: the manager refused to deactivate it "
                f"({exc.manager_message or exc.user_message}); run `/cfy maintenance-mode deactivate`")
    return f"maintenance mode deactivated again (this job had turned it on; now {state.status})"


async def cancel_job(runner: JobRunner, client: CloudifyClient, job: Job,
                     actor: str) -> tuple[Job, list[ExecutionOutcome], str]:
    """`/cfy jobs cancel`: stop the job (a restore before its restore execution first undoes its
    own work: then it is still running and says what it left itself), then cancel what it
    started on the manager and turn maintenance mode off if it turned it on. Refusals are
    SnapbotErrors written for the person who asked."""
    if job.finished:
        raise SnapbotError(f"job {job.id} is already {job.state}")
    try:
        job = await runner.cancel(job.id, actor)
    except StaleState:
        job = runner.store.get_job(job.id)
        raise SnapbotError(f"job {job.id} moved on to {job.state} meanwhile; "
                           "it can no longer be cancelled") from None
    except InvalidTransition:
        job = runner.store.get_job(job.id)
        if job.finished:
            raise SnapbotError(f"job {job.id} is already {job.state}") from None
        raise SnapbotError(f"job {job.id} is {job.state}: a {job_title(job)} cannot be "
                           "stopped at this step") from None
    if not job.finished:  # unwinding: the job undoes its own work
        return job, [], ""
    return job, await cancel_manager_executions(client, job), await undo_maintenance(client, job)
