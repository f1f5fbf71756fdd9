"""The composition root: builds every long-lived object once and wires them together.

`build_services` is called by `snapbot run`, `snapbot demo`, `snapbot cfy` and the test rig.
Nothing else constructs a Store, a CloudifyClient or the JobRunner.
"""
from __future__ import annotations

import logging
from pathlib import Path

import httpx

from bot.access import AccessPolicy
from bot.approvals import ApprovalService, GroupResolver
from bot.archive_store import open_archive_store
from bot.audit import AuditLog
from bot.clicks import Buttons
from bot.clock import Clock, SystemClock
from bot.cloudify.client import CloudifyClient, ManagerClients
from bot.config.settings import ManagerConfig, Settings
from bot.delivery import OutboxSender
from bot.dispatch import Dispatcher
from bot.errors import ConfigError
from bot.jobs.daily.driver import DailyDriver
from bot.jobs.daily.report import DailyReporter
from bot.jobs.daily.service import DailyService
from bot.jobs.drill.driver import DrillDriver
from bot.jobs.drill.service import DrillService
from bot.jobs.restore.driver import RestoreDriver
from bot.jobs.restore.service import RestoreService
from bot.jobs.runner import JobRunner
from bot.jobs.simple import register_simple_drivers
from bot.metrics import Metrics
from bot.notifier import ConsoleNotifier, Notifier
from bot.outbox import Outbox
from bot.partials import sweep_stale
from bot.posture import Posture
from bot.schema import open_store
from bot.services import Services
from bot.store import Job

log = logging.getLogger(__name__)

#: how often (seconds) the staleness of every manager's newest archive is checked
STALENESS_CHECK_SECONDS = 900.0


def _make_client(mc: ManagerConfig, transport: httpx.AsyncBaseTransport | None,
                 clock: Clock | None = None) -> CloudifyClient:
    """One manager's client; its retry waits sleep on `clock` (the injected one)."""
    return CloudifyClient(mc.url, name=mc.name, username=mc.username, password=mc.password, token=mc.token,
                          tenant=mc.tenant, ca_bundle=mc.ca_bundle, verify_tls=mc.verify_tls,
                          transport=transport, password_file=mc.password_file,
                          token_file=mc.token_file, snapshot_format=mc.snapshot_format,
                          sleep=clock.sleep if clock is not None else None)


async def build_services(settings: Settings, *, notifier: Notifier, clock: Clock | None = None,
                         transport: httpx.AsyncBaseTransport | None = None,
                         metrics: Metrics | None = None,
                         group_resolver: GroupResolver | None = None,
                         delivery: Notifier | None = None) -> Services:
    """Build every long-lived object once, each from the collaborators built before it: the
    store and its outbox, the runner, the archive store, one client per manager, the job drivers,
    approvals, restores, the daily job, the dispatcher; then the Services record, last."""

    clock = clock or SystemClock()
    if settings.db_path != ":memory:":
        Path(settings.db_path).parent.mkdir(parents=True, exist_ok=True)
    store = open_store(settings.db_path, clock)
    audit = AuditLog(store)
    outbox = Outbox(store)
    # A local notifier (a terminal's console) only echoes what is queued; the messages stay in
    # the outbox for whoever delivers to Slack (`snapbot run`, or `deliver_own` with Slack set).
    # `delivery` (a Slack notifier without retry handlers: the sender retries) delivers them;
    # without it, the notifier does unless it is local.
    if isinstance(notifier, ConsoleNotifier):
        outbox.listeners.append(notifier.echo)
        sender = OutboxSender(store, outbox, delivery) if delivery is not None else None
    else:
        sender = OutboxSender(store, outbox, delivery or notifier)
    runner = JobRunner(store, clock, notifier, outbox=outbox, sender=sender,
                       scratch_roots=[Path(settings.archive_dir)])
    try:
        archives = open_archive_store(settings.archive_location, dict(settings.archive_env))
    except Exception:
        store.close()
        raise
    metrics = metrics or Metrics()
    clients = ManagerClients()  # by manager name
    try:
        for i, mc in enumerate(settings.managers):
            try:
                clients[mc.name] = _make_client(mc, transport, clock)
            except ConfigError as exc:  # name the setting the operator wrote
                key = f"managers[{i}].{exc.key} (CLOUDIFY_CA_BUNDLE for an env-only setup)" \
                    if exc.key == "ca_bundle" else f"managers[{i}].{exc.key}"
                raise ConfigError(key, exc.problem) from None
    except Exception:
        store.close()
        raise
    register_simple_drivers(runner, clients, settings, archives)
    groups = frozenset(i for i in settings.access.operators | settings.access.viewers
                       if i.startswith("S"))
    approvals = ApprovalService(store, runner, clock, settings.approvals,
                                channel=settings.slack.channel, group_resolver=group_resolver,
                                other_groups=groups)
    access = AccessPolicy(settings, approvals.group_members, approvals.is_approver)
    runner.register(RestoreDriver(clients, settings.runbook, archives, clock,
                                  runbook_base_url=settings.runbook_base_url))
    restores = RestoreService(settings, store, clients, clock, runner, approvals, archives)
    reporter = DailyReporter(store, outbox, sender, notifier, clock,
                             channel=settings.slack.channel, timezone=settings.schedule.timezone)
    runner.register(DailyDriver(clients, settings, store, reporter, archives, audit))
    daily = DailyService(settings, store, clock, runner, approvals, reporter)
    runner.register(DrillDriver(clients, settings, archives))
    drills = DrillService(settings, store, clock, runner, archives, on_problem=reporter.post_text,
                          audit=audit)
    posture = Posture(settings, store, clock, runner, archives, drills, outbox, sender)
    drills.periodic.append(("staleness", STALENESS_CHECK_SECONDS, posture.check_staleness))
    metrics.watch(store, [m.name for m in settings.managers], outbox_backlog=outbox.backlog,
                  drills=drills.allowed_ages())
    dispatcher = Dispatcher(settings, store, runner, clients, clock, approvals, restores, daily,
                            archives, audit, access, drills=drills, posture=posture)

    said: set[tuple[str, str]] = set()

    async def job_changed(job: Job, detail: str) -> None:
        # the posture changes when a job ends, waits for approval, or is approved: the Home
        # tabs again (once per job and state), and the staleness after a daily run
        machine = runner.driver(job.kind).machine
        moved = job.finished or job.state in machine.waiting or job.state == machine.approved
        if not moved or (job.id, job.state) in said:
            return
        said.add((job.id, job.state))
        await posture.refresh_homes(approvals.is_approver, access.may_read)
        if job.finished and job.kind == "daily":
            await posture.check_staleness()

    runner.on_change(job_changed)
    buttons = Buttons(dispatcher, approvals, restores, store)
    return Services(settings=settings, store=store, clock=clock, notifier=notifier, runner=runner,
                    clients=clients, archives=archives, metrics=metrics, outbox=outbox, sender=sender,
                    approvals=approvals, restores=restores, daily=daily, dispatcher=dispatcher,
                    buttons=buttons, drills=drills, posture=posture)


async def start(services: Services) -> list[str]:
    """Start delivering the outbox (what a crashed process left first), resume unfinished jobs,
    start the approval expiry loop and the daily scheduler."""
    if services.sender is not None:
        services.sender.start()
    unfinished = {j.id: j.created_at or services.clock.now()
                  for j in services.store.list_jobs(unfinished=True, limit=10_000)}
    sweep_stale(services.runner.scratch_roots, unfinished)  # partial files nobody will finish
    try:  # and what cut writes left in the archive store (object storage: temporary keys)
        await services.archives.sweep(unfinished)
    except Exception as exc:  # unreachable now: the daily run sweeps again
        log.warning("could not clear leftovers of interrupted writes from %s: %s",
                    services.archives.url, exc)
    await check_snapshot_formats(services)
    resumed = await services.runner.resume_all()
    services.approvals.start()
    await services.daily.start()
    await services.drills.start_schedule()
    try:
        await services.posture.check_staleness()
    except Exception:
        log.exception("could not check the staleness of the archives")
    return resumed


async def check_snapshot_formats(services: Services) -> None:
    """Say at start, once per manager, when its `snapshot_format` cannot work there (`new` on a
    community or pre-7.0 manager); a manager that does not answer now is checked at its first
    snapshot instead (the create is refused before anything is sent)."""
    for name, client in services.clients.items():
        if client.snapshot_format != "new":
            continue
        try:
            await client.create_format()
        except ConfigError as exc:
            log.error("manager %s: %s", name, exc)
        except Exception as exc:  # unreachable now: the first create checks again
            log.info("manager %s: snapshot format not checked at start (%s)", name, type(exc).__name__)


async def stop(services: Services) -> None:
    """Stop background loops and jobs (they resume on the next start), close clients and the store."""
    for name, stopping in (("drills", services.drills.stop), ("daily", services.daily.stop),
                           ("approvals", services.approvals.stop)):
        try:
            await stopping()
        except Exception:
            log.exception("could not stop %s", name)
    await services.runner.shutdown()
    if services.sender is not None:
        await services.sender.stop()
    for name, client in services.clients.items():
        try:
            await client.aclose()
        except Exception:
            log.exception("could not close the client of manager %s", name)
    try:
        await services.archives.aclose()
    except Exception:
        log.exception("could not close the archive store")
    services.store.close()
