"""The simulator's workflows: ordinary executions, snapshot create and the two kinds of restore.

A mixin of `Simulator` (devtools.simulator.app); version differences come from `self.profile`.
Sources (cloudify-manager at the profile's branch): mgmtworker (7.x) or workflows (5.x/6.x)
`cloudify_system_workflows/snapshots/snapshot_restore.py` and `snapshot_create*.py`.
"""
from __future__ import annotations

import asyncio
import copy
import os
import shutil
import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import devtools.simulator.profiles as profiles
from bot.clock import iso, parse_time
from devtools.simulator.archive import InvalidArchive, read_archive, write_archive
from devtools.simulator.state import LIVE_STATUSES, SimState, new_id

if TYPE_CHECKING:
    from devtools.simulator.app import Simulator

NOT_EMPTY_MESSAGE = ("Snapshot restoration on a non-empty manager is not permitted. Pass the "
                     "--force flag to force the restore and delete existing data from the manager")
FORCE_WARNING = "Forcing snapshot restoration on a non-empty manager. Existing data will be deleted"
# 5.1.4 workflows/cloudify_system_workflows/snapshots/snapshot_restore.py
OVERDUE_MESSAGE = "Execution {id} scheduled for {time} is overdue. Marking as FAILED."
# 6.4.2 workflows/..., 7.0.5 mgmtworker/... snapshot_restore.py _restore_scheduled_executions
ORIGINAL_FAILED_MESSAGE = "Marking original execution {id} scheduled for {time} as FAILED."
NEWER_SNAPSHOT_MESSAGE = "Cannot restore a newer manager's snapshot on this manager [{0} > {1}]"
# snapshot_restore.py SnapshotRestoreValidator._validate_v_4_snapshot (5.1.4, 6.4.2, 7.0.5)
NOT_BOOTSTRAP_ADMIN_MESSAGE = ("The current user is not authorized to restore v4 snapshots. Only "
                               "the bootstrap admin is allowed to perform this action")
# cloudify-common 7.0.5 cloudify_rest_client/execution_schedules.py restore():
# `entity['rrule'] = entity.pop('rule', {}).pop('rrule')`, outside its try: a schedule made from
# a recurrence or a count (rest_utils.py compute_rule_from_scheduling_params) has no rrule
RRULE_KEYERROR = "KeyError: 'rrule'"
# manager_exceptions.py MissingPremiumPackage (GET /users in community); a new-format dump reads it
PREMIUM_MISSING = ("404: This feature exists only in the premium edition of Cloudify.\n"
                   "Please contact sales for additional info.")
# cloudify_rest_client 7.0.5 executions.py restore_status_error_mapped
RESTORE_CANCELLED = "Marked as cancelled by snapshot restore"
# metadata keys a legacy (database dump) archive has; a new-format one lacks them
# (mgmtworker/.../snapshots/constants.py M_SCHEMA_REVISION, M_STAGE_..., M_COMPOSER_...)
LEGACY_METADATA_KEYS = ("schema_revision", "stage_schema_revision", "composer_schema_revision")
IN_PROGRESS = ("pending", "started", "cancelling", "force_cancelling", "kill_cancelling")


class RestoreStuck(Exception):
    """The archive is unreadable: the real workflow's cleanup crashes, the flag file stays."""


class Workflows:
    # attributes provided by Simulator
    state: SimState
    profile: profiles.VersionProfile

    # --- ordinary executions -------------------------------------------------------------
    async def _run_workflow(self: Simulator, execution_id: str, duration: float | None = None,
                            manual: bool = False) -> None:
        total = self.options.workflow_seconds if duration is None else duration
        await self._wait_turn(execution_id)
        await self._sleep(total * 0.1)
        ex = self.state.executions.get(execution_id)
        if ex is None or ex["status"] != "pending":
            return
        self._set_status(ex, "started")
        self.log_event(ex, f"Starting '{ex['workflow_id']}' workflow execution")
        if manual:
            return
        await self._sleep(total * 0.9)
        ex = self.state.executions.get(execution_id)
        if ex is None or ex["status"] not in LIVE_STATUSES:
            return
        if ex["status"] in ("cancelling", "force_cancelling", "kill_cancelling"):
            self._set_status(ex, "cancelled")
            return
        self._set_status(ex, "terminated")
        self.log_event(ex, f"'{ex['workflow_id']}' workflow execution succeeded")
        pu = ex["parameters"].get("plugins_update_id")
        if pu and pu in self.state.plugins_updates:
            self.state.plugins_updates[pu]["state"] = "successful"

    # --- snapshot create -----------------------------------------------------------------
    async def _run_create(self: Simulator, execution_id: str, snapshot_id: str) -> None:
        total = self.options.create_seconds
        await self._wait_turn(execution_id)
        await self._sleep(total * 0.1)
        ex = self.state.executions.get(execution_id)
        if ex is None or ex["status"] != "pending":
            return  # cancelled while queued or pending: it never starts
        self._set_status(ex, "started")
        self.log_event(ex, "Starting 'create_snapshot' workflow execution")
        legacy = (not self.profile.snapshot_formats) or bool(ex["parameters"].get("legacy"))
        if not legacy and self.options.edition != "premium":
            # snapshot_create.py _dump_management: users.dump -> GET /users, premium only
            self._set_status(ex, "failed", PREMIUM_MISSING)
            self.log_event(ex, PREMIUM_MISSING, "error")
            snap = self.state.snapshots.get(snapshot_id)
            if snap is not None:
                snap["status"], snap["error"] = "failed", PREMIUM_MISSING
            return
        await self._sleep(total * 0.9)
        ex = self.state.executions.get(execution_id)
        snap = self.state.snapshots.get(snapshot_id)
        if ex is None or ex["status"] != "started":
            return  # cancelled meanwhile (the cancel route marked it)
        if self.create_fails:
            self._set_status(ex, "failed", self.create_fails)
            if snap is not None:
                snap["status"], snap["error"] = "failed", self.create_fails
            return
        captured = self.state.capture()
        # the archive's own view of itself and of the execution writing it: finished
        for s in captured["snapshots"]:
            if s["id"] == snapshot_id:
                s["status"] = "created"
        for e in captured["executions"]:
            if e["id"] == execution_id:
                e["status"], e["status_display"], e["ended_at"] = "terminated", "completed", iso(self.now())
        metadata: dict[str, Any] = {"snapshot_version": self.options.version,
                                    "execution_id": execution_id, "created_at": iso(self.now())}
        if legacy:  # snapshot_create_legacy.py (7.0.x) / snapshot_create.py (earlier)
            metadata.update({k: f"sim-{k}" for k in LEGACY_METADATA_KEYS})
            if self.profile.snapshot_formats and self.options.edition == "community":
                # a community 7.x manager has no stage or composer database, so its legacy
                # metadata names neither revision (seen on a real 7.0.5 built from source)
                for k in LEGACY_METADATA_KEYS[1:]:
                    metadata.pop(k)
        path = self.archive_path(snapshot_id)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        try:
            await asyncio.to_thread(write_archive, path, metadata, captured,
                                    self.options.archive_size, tenant=self.state.tenant,
                                    legacy=legacy)
        except OSError as exc:
            self._set_status(ex, "failed", f"Failed writing snapshot archive: {exc}")
            if snap is not None:
                snap["status"], snap["error"] = "failed", str(exc)
            return
        if snap is not None:
            snap["status"] = "created"
        self._set_status(ex, "terminated")
        self.log_event(ex, "'create_snapshot' workflow execution succeeded")

    # --- snapshot restore ----------------------------------------------------------------
    async def _run_restore(self: Simulator, execution_id: str, snapshot_id: str,
                           params: dict[str, Any]) -> None:
        await self._wait_turn(execution_id)
        self._restore_running += 1
        linger = True
        try:
            linger = await self._restore_steps(execution_id, snapshot_id, params)
        except RestoreStuck:
            self._restore_stuck = self.profile.broken_archive_sticks_status
        finally:
            self._restore_running -= 1
            if linger:  # legacy: the flag file is removed by a command run ~3 s after the end
                self._restore_linger_until = self.clock.deadline(
                    self.options.snapshot_status_linger_seconds)

    def _fail_restore(self: Simulator, ex: dict[str, Any], message: str) -> None:
        self._set_status(ex, "failed", message)
        self.log_event(ex, message, "error")

    async def _restore_steps(self: Simulator, execution_id: str, snapshot_id: str,
                             params: dict[str, Any]) -> bool:
        """Run the restore; return whether /snapshot-status lingers after it (legacy only)."""
        total = self.options.restore_seconds
        await self._sleep(total * 0.1)
        ex = self.state.executions[execution_id]
        self._set_status(ex, "started")
        self.log_event(ex, "Starting 'restore_snapshot' workflow execution")
        try:
            metadata, captured = await asyncio.to_thread(read_archive, self.archive_path(snapshot_id))
        except (InvalidArchive, OSError) as exc:
            # restore(): the `finally` calls _is_legacy_snapshot() with no metadata and crashes,
            # so the flag file behind /snapshot-status is never removed
            self._fail_restore(ex, str(exc))
            raise RestoreStuck() from exc
        legacy = (not self.profile.snapshot_formats
                  or self.compat(profiles.COMPAT_RESTORE_ALWAYS_LEGACY)
                  or all(k in metadata for k in LEGACY_METADATA_KEYS))
        if self.restore_fails:
            self._fail_restore(ex, self.restore_fails)
            return legacy
        if not legacy and "schema_revision" in metadata:
            # a database dump read as the new format (snapshot_restore.py: legacy only when all
            # three revisions are named): the per-item restore finds no dump files and ends
            # `terminated` having restored nothing
            await self._sleep(total * 0.9)
            self._set_status(ex, "terminated")
            self.log_event(ex, "'restore_snapshot' workflow execution succeeded")
            return False
        if not legacy:
            await self._sleep(total * 0.9)
            broken = self._merge_snapshot(ex, metadata, captured)
            if broken:  # half-merged: every other kind is in, the schedules from the first one on not
                self._fail_restore(ex, RRULE_KEYERROR)
                return False
            self._set_status(ex, "terminated")
            self.log_event(ex, "'restore_snapshot' workflow execution succeeded")
            return False
        snap_version = str(metadata.get("snapshot_version", "0"))
        if profiles.version_tuple(snap_version) > profiles.version_tuple(self.options.version):
            self._fail_restore(ex, NEWER_SNAPSHOT_MESSAGE.format(snap_version, self.options.version))
            return True
        if not ex["parameters"].get("user_is_bootstrap_admin", True):
            self._fail_restore(ex, NOT_BOOTSTRAP_ADMIN_MESSAGE)
            return True
        non_empty = bool(self.state.blueprints)  # _assert_clean_db: blueprints, all tenants
        if non_empty and not params["force"]:
            self._fail_restore(ex, NOT_EMPTY_MESSAGE)
            return True
        if non_empty:
            self.log_event(ex, FORCE_WARNING, "warning")
        reboot = params["restore_certificates"] and not params["no_reboot"]
        outage = self.options.restore_outage_seconds
        await self.outage(outage if self.profile.rest_stopped_in_restore else outage / 4, None)
        await self._sleep(total * 0.8)
        # a restore is not over while the REST service is still down
        await self.outage_over()
        self._replace_with_snapshot(ex, snapshot_id, captured, create_id=metadata.get("execution_id"))
        self._set_status(ex, "terminated")
        self.log_event(ex, "'restore_snapshot' workflow execution succeeded")
        if reboot:
            # _trigger_post_restore_commands: after the execution ends a shell sleeps 3 s, then
            # runs `sudo shutdown -r now` *before* `rm -f <flag>`: the manager reboots after
            # `terminated` and /snapshot-status can read running for good (5.1.4, 6.4.2, 7.0.5)
            self._restore_stuck = True
            self._spawn(self._reboot_later())
        return True

    async def _reboot_later(self: Simulator) -> None:
        await self._sleep(3.0)
        await self.outage(self.options.reboot_outage_seconds, "refuse")

    def _replace_with_snapshot(self: Simulator, ex: dict[str, Any], snapshot_id: str,
                               captured: dict[str, Any], create_id: str | None = None) -> None:
        """A legacy restore: the database becomes the snapshot's. The dump deletes its own
        create execution (postgres.py _append_delete_current_execution) and keeps every other
        execution's status: a queued one is queued again (started by start_queued_executions, on
        6.4.2/7.0.5 once maintenance mode is off); nothing runs one that was started."""
        st = self.state
        st.deployments = {d["id"]: d for d in captured.get("deployments", [])}
        st.blueprints = {b["id"]: b for b in captured.get("blueprints", [])}
        st.execution_schedules = {s["id"]: s for s in captured.get("execution_schedules", [])}
        st.secrets = {s["key"]: s for s in captured.get("secrets", [])}
        st.plugins = {p["id"]: p for p in captured.get("plugins", [])}
        if self.compat(profiles.COMPAT_SNAPSHOT_LIST_FROM_ARCHIVE):
            st.snapshots = {s["id"]: s for s in captured.get("snapshots", [])}
        else:
            # postgres.py: the snapshots table is not dumped and comes back empty; the restored
            # snapshot's directory is deleted (restore(): shutil.rmtree(_get_snapshot_dir()))
            st.snapshots = {}
            shutil.rmtree(os.path.dirname(self.archive_path(snapshot_id)), ignore_errors=True)
        if not self.compat(profiles.COMPAT_CREDENTIALS_SURVIVE_RESTORE):
            # users (admin included, from 4.4 snapshots) and rest-security.conf come back;
            # 6.x/7.x also reload the tokens table (postgres.py); 5.x tokens derive from users
            if not self.profile.tokens_table:
                # 5.x tokens are signed with rest-security.conf's secret_key and carry a hash of
                # the user's password hash (security/authentication.py, user_handler.py
                # get_token_status): another key or another password hash kills them
                old_users, new_users = st.users, captured.get("users") or st.users
                if captured.get("secret_key", st.secret_key) != st.secret_key:
                    st.tokens = {}
                st.tokens = {t: v for t, v in st.tokens.items()
                             if (new_users.get(v["username"]) or {}).get("password")
                             == (old_users.get(v["username"]) or {}).get("password")}
            st.secret_key = captured.get("secret_key", st.secret_key)  # restored (4.4 on)
            if captured.get("users"):
                st.users = copy.deepcopy(captured["users"])
            if self.profile.tokens_table and "tokens" in captured:
                st.tokens = copy.deepcopy(captured["tokens"])
        executions = {e["id"]: e for e in captured.get("executions", []) if e["id"] != create_id}
        executions[ex["id"]] = ex
        st.executions = executions
        self._queue = [i for i in self._queue if i in executions]
        for e in list(executions.values()):
            if e is not ex and e["status"] == "queued":
                self._queue.append(e["id"])
                self._spawn(self._run_workflow(e["id"]))
        self._restore_scheduled(ex)

    def _restore_scheduled(self: Simulator, ex: dict[str, Any]) -> None:
        now = self.now()
        style = "5.x" if self.compat(profiles.COMPAT_SCHEDULED_5X) else self.profile.scheduled_restore
        for e in [e for e in self.state.executions.values() if e["status"] == "scheduled"]:
            due = parse_time(e.get("scheduled_for"))
            future = due is not None and due > now
            if style == "5.x":
                if not future:
                    self._set_status(e, "failed")
                    self.log_event(ex, OVERDUE_MESSAGE.format(id=e["id"], time=e["scheduled_for"]),
                                   "warning")
                continue  # future ones: requeued, stay scheduled
            if future and due is not None:
                name = f"{e['workflow_id']}_restored_{uuid.uuid4().hex}"
                self.add_schedule(name, e.get("deployment_id"), e["workflow_id"], since=due,
                                  rule={"count": 1}, parameters=e.get("parameters") or {},
                                  execution_arguments={"allow_custom_parameters": True,
                                                       "is_dry_run": bool(e.get("is_dry_run"))})
            self._set_status(e, "failed")
            self.log_event(ex, ORIGINAL_FAILED_MESSAGE.format(id=e["id"], time=e["scheduled_for"]),
                           "warning")

    def _merge_snapshot(self: Simulator, ex: dict[str, Any], metadata: dict[str, Any],
                        captured: dict[str, Any]) -> bool:
        """A new-format restore (7.0.x): items re-created one by one through the REST API;
        existing ones are logged as errors; no force check, version check, credentials, reboot.
        Execution schedules come last; the first one without an `rrule` in its rule stops the
        restore (returns True: broken), the ones before it are in."""
        st = self.state
        tenant = st.tenant

        def exists(kind: str, ident: str) -> str:
            return (f"409: <{kind} id=`{ident}` tenant=`{tenant}`> already exists on "
                    f"<Tenant name=`{tenant}`> or with global visibility")

        for kind, label, table, items in (
                ("Blueprint", "blueprint", st.blueprints, captured.get("blueprints", [])),
                ("Deployment", "deployment", st.deployments, captured.get("deployments", [])),
                ("Execution", "execution", st.executions, captured.get("executions", [])),
                ("ExecutionSchedule", "execution schedule", st.execution_schedules,
                 captured.get("execution_schedules", [])),
                ("Secret", "secret", st.secrets, captured.get("secrets", [])),
                ("Plugin", "plugin", st.plugins, captured.get("plugins", []))):
            for item in items:
                if kind == "ExecutionSchedule" and "rrule" not in (item.get("rule") or {}):
                    return True  # .pop('rrule') raises before the create is even tried
                if item["id"] in table:
                    self.log_event(ex, f"Error restoring {label} {item['id']}: "
                                       f"{exists(kind, item['id'])}", "error")
                    continue
                item = copy.deepcopy(item)
                if kind == "Execution" and item["status"] in IN_PROGRESS:
                    item["status"], item["status_display"] = "cancelled", "cancelled"
                    item["error"] = RESTORE_CANCELLED
                table[item["id"]] = item
        create_id = metadata.get("execution_id")  # _new_restore_update_execution_status
        if create_id and create_id in st.executions:
            self._set_status(st.executions[create_id], "terminated")
        return False

    # --- execution schedules -------------------------------------------------------------
    def add_schedule(self: Simulator, schedule_id: str, deployment_id: str | None,
                     workflow_id: str, *, since: datetime, rule: dict[str, Any],
                     parameters: dict[str, Any] | None = None, slip: int = 0,
                     until: datetime | None = None, stop_on_fail: bool = False,
                     enabled: bool = True,
                     execution_arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        item = {
            "id": schedule_id, "deployment_id": deployment_id, "workflow_id": workflow_id,
            "created_at": iso(self.now()), "since": iso(since), "until": iso(until) if until else None,
            "rule": rule, "slip": slip, "parameters": parameters, "stop_on_fail": stop_on_fail,
            "enabled": enabled, "execution_arguments": execution_arguments or {},
            "latest_execution_status": None, "latest_execution_id": None,
            "created_by": self.state.username, "tenant_name": self.state.tenant,
            "visibility": "tenant", "private_resource": False, "resource_availability": "tenant",
        }
        item["next_occurrence"] = _next_occurrence(item, self.now())
        item["all_next_occurrences"] = _all_occurrences(item, self.now())
        self.state.execution_schedules[schedule_id] = item
        return item

    def _tick_schedules(self: Simulator) -> None:
        """execution-scheduler/execution_scheduler/main.py check_schedules: nothing runs while
        maintenance mode is activated or the REST service is down; a due occurrence runs if it is
        at most slip minutes + 60 s late, else it is skipped silently; next_occurrence moves on."""
        if self.state.maintenance.get("status") == "activated" or self.in_outage():
            return
        if self._restore_running:
            return  # the scheduler is stopped during a legacy restore (_pause_services)
        now = self.now()
        for sched in list(self.state.execution_schedules.values()):
            due = parse_time(sched.get("next_occurrence"))
            if not sched.get("enabled", True) or due is None or due >= now:
                continue
            last = self.state.executions.get(sched.get("latest_execution_id") or "")
            late = (now - due).total_seconds()
            if late <= sched.get("slip", 0) * 60 + 60 and (last is None
                                                           or last["status"] not in LIVE_STATUSES):
                ex = self.state.execution(sched["workflow_id"], now,
                                          deployment_id=sched.get("deployment_id"),
                                          parameters=dict(sched.get("parameters") or {}))
                self.state.executions[ex["id"]] = ex
                sched["latest_execution_id"] = ex["id"]
                self.enqueue_if_busy(ex, per_deployment=True)  # main.py execute_workflow: queue=True
                self._spawn(self._run_workflow(ex["id"]))
            else:
                sched.setdefault("skipped_occurrences", []).append(iso(due))  # sim-only field
            sched["next_occurrence"] = _next_occurrence(sched, now)
            sched["all_next_occurrences"] = _all_occurrences(sched, now)

    def schedule_view(self: Simulator, sched: dict[str, Any]) -> dict[str, Any]:
        last = self.state.executions.get(sched.get("latest_execution_id") or "")
        out = {k: v for k, v in sched.items() if k not in ("latest_execution_id",
                                                            "skipped_occurrences")}
        out["latest_execution_status"] = last["status"] if last else None
        # resource_models.py ExecutionSchedule.all_next_occurrences: computed at answer time
        # (the rule's runs from now on), while next_occurrence is a stored column
        out["all_next_occurrences"] = _all_occurrences(sched, self.now())
        return out

    def archive_path(self: Simulator, snapshot_id: str) -> str:
        return os.path.join(self.data_dir, "snapshots", snapshot_id, f"{snapshot_id}.zip")


_UNITS = {"min": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "mo": 30 * 86400, "y": 365 * 86400}


def recurrence_seconds(recurrence: str | None) -> float | None:
    """'2 hours', '1d', '30 min' (rest_utils parse_recurrence; months/years approximated)."""
    if not recurrence:
        return None
    text = recurrence.replace(" ", "").lower()
    digits = "".join(ch for ch in text if ch.isdigit())
    unit = text[len(digits):]
    for key in ("min", "mo", "h", "d", "w", "y"):
        if unit.startswith(key):
            return int(digits or 1) * _UNITS[key]
    raise ValueError(f"`{recurrence}` is not a legal recurrence expression")


def _occurrences(sched: dict[str, Any], after: datetime, limit: int) -> list[datetime]:
    since = parse_time(sched.get("since"))
    until = parse_time(sched.get("until"))
    if since is None:
        return []
    rule = sched.get("rule") or {}
    step = recurrence_seconds(rule.get("recurrence"))
    count = rule.get("count")
    out: list[datetime] = []
    n = 0
    when = since
    while len(out) < limit and n < 100000:
        if count is not None and n >= int(count):
            break
        if until is not None and when > until:
            break
        if when > after:
            out.append(when)
        n += 1
        if step is None:
            break
        when = since + timedelta(seconds=step * n)
    return out


def _next_occurrence(sched: dict[str, Any], now: datetime) -> str | None:
    found = _occurrences(sched, now, 1)
    return iso(found[0]) if found else None


def _all_occurrences(sched: dict[str, Any], now: datetime) -> list[str]:
    return [w.strftime("%Y-%m-%d %H:%M:%S") for w in _occurrences(sched, now, 20)]


__all__ = ["RestoreStuck", "Workflows", "new_id", "recurrence_seconds"]
