"""Version profiles: every behaviour of the simulator that differs by Cloudify Manager version.

One frozen `VersionProfile` per supported version; the simulator reads `sim.profile` (chosen by
`SimulatorOptions.manager_version`) and nothing else decides a version difference. The source
each field follows is named next to it (cloudify-cosmo/cloudify-manager at branch `<V>-build`,
cloudify-cosmo/cloudify-common at the same branch); tests/test_simulator_profiles.py checks each.

`COMPAT_*` flags switch on a simplified behaviour for tests of snapbot code that relies on it
(`SimulatorOptions(compat=SIMPLIFIED)`). They are not Cloudify behaviour; each flag undoes
exactly one faithful behaviour.
"""
from __future__ import annotations

from dataclasses import dataclass

# --- compatibility flags (simplified behaviours, for snapbot tests that rely on them) ---------
# POST /maintenance/activate answers `remaining_executions` as a flat list
COMPAT_FLAT_MAINTENANCE_ANSWER = "flat_maintenance_answer"
# every restore is a legacy (database-replacing) one, whatever format the archive has
COMPAT_RESTORE_ALWAYS_LEGACY = "restore_always_legacy"
# after a legacy restore the snapshot list is the archive's own list (not empty)
COMPAT_SNAPSHOT_LIST_FROM_ARCHIVE = "snapshot_list_from_archive"
# a legacy restore keeps the current users' passwords and tokens
COMPAT_CREDENTIALS_SURVIVE_RESTORE = "credentials_survive_restore"
# a restore handles `scheduled` executions the 5.1 way (overdue -> failed, future re-queued)
COMPAT_SCHEDULED_5X = "scheduled_5x"
# /managers items carry `is_active` (lets tests stage a split brain on any version)
COMPAT_MANAGERS_IS_ACTIVE = "managers_is_active"
# maintenance mode ignores `scheduled` executions when deciding activating -> activated
COMPAT_MAINTENANCE_IGNORES_SCHEDULED = "maintenance_ignores_scheduled"
# POST /executions with scheduled_time stores a `scheduled` execution on any version
COMPAT_SCHEDULED_AS_EXECUTION = "scheduled_as_execution"
# the restore answer carries workflow_id "restore_snapshot" (the real one has no workflow_id)
COMPAT_RESTORE_ANSWER_WORKFLOW_ID = "restore_answer_workflow_id"
# a restore or legacy create while an execution is active is not refused with 400: as before,
# it is queued only behind an active system workflow
COMPAT_QUEUE_INSTEAD_OF_REFUSING = "queue_instead_of_refusing"
# cluster nodes advertise 10.0.0.x addresses (not loopback)
COMPAT_OFF_LOOPBACK_NODES = "off_loopback_nodes"
# the restore outage closes the port (connection refused) instead of nginx's 502 page
COMPAT_OUTAGE_REFUSE = "outage_refuse"

ALL_COMPAT = frozenset({
    COMPAT_FLAT_MAINTENANCE_ANSWER, COMPAT_RESTORE_ALWAYS_LEGACY,
    COMPAT_SNAPSHOT_LIST_FROM_ARCHIVE, COMPAT_CREDENTIALS_SURVIVE_RESTORE, COMPAT_SCHEDULED_5X,
    COMPAT_MANAGERS_IS_ACTIVE, COMPAT_OFF_LOOPBACK_NODES, COMPAT_OUTAGE_REFUSE,
    COMPAT_MAINTENANCE_IGNORES_SCHEDULED, COMPAT_SCHEDULED_AS_EXECUTION,
    COMPAT_RESTORE_ANSWER_WORKFLOW_ID, COMPAT_QUEUE_INSTEAD_OF_REFUSING,
})
# every simplification at once
SIMPLIFIED: tuple[str, ...] = tuple(sorted(ALL_COMPAT))


@dataclass(frozen=True)
class VersionProfile:
    version: str
    branch: str  # cloudify-manager branch the facts were read from
    # rest-service/manager_rest/rest/resources_v2_1/maintenance_mode.py MaintenanceModeAction.post:
    # `state['remaining_executions'] = remaining_executions,` (stray comma) -> [[...]] in the
    # answer to POST /maintenance/activate (also [[]] when nothing runs); GET gives a plain list
    activate_answer_nested: bool
    # snapshots: 7.0.x has `legacy` on PUT /snapshots/<id> (server default false,
    # resources_v2/snapshots.py) and two archive formats; earlier versions one (DB dump) format
    snapshot_formats: bool
    # the CLI makes legacy (database dump) snapshots: 7.0.5 cloudify_rest_client/snapshots.py
    # create(legacy=True) and cfy `--legacy/--no-legacy` default; earlier, the only format
    client_legacy_default: bool
    # POST /executions with scheduled_time creates an execution schedule (6.x on,
    # resources_v1/executions.py); 5.x stores a `scheduled` execution
    execution_schedules: bool
    # a legacy restore's handling of `scheduled` executions
    # (snapshot_restore.py _restore_scheduled_executions): "5.x" overdue -> FAILED + warning
    # "Execution <id> scheduled for <t> is overdue. Marking as FAILED.", future requeued;
    # "6.x": every one FAILED + "Marking original execution <id> scheduled for <t> as FAILED.",
    # future ones re-created as execution schedules `<workflow>_restored_<hex>`
    scheduled_restore: str
    # POST /snapshots/<id>/restore requires `recreate_deployments_envs` (5.1 resources_v2)
    restore_needs_recreate_envs: bool
    # tokens live in a `tokens` table dumped with the database (management_models.py Token, 6.x
    # on); 5.x tokens are derived from the user's api key and survive a restore
    tokens_table: bool
    # /managers items carry `is_active`. Not in any of the three versions' Manager model
    # (storage/management_models.py); kept on 5.1.4 because the vendor guide's split brain
    # ("two active managers") is defined with it
    managers_is_active: bool
    # resources_v3_1/tokens.py (7.0): GET /tokens lists the caller's tokens (secrets masked,
    # `ctok-<id>-********`) and POST /tokens creates one, answered 200 (marshal_with, no status
    # given); before, the simulator's GET /tokens issues a token, as the 5.x client expects
    tokens_listed: bool
    # resource_manager.py restore_snapshot (7.0.5) stores the `pending` restore_snapshot execution
    # before prepare_executions refuses it (400 existing_running_execution_error) and, unlike
    # create_snapshot, does not delete it again: the refused restore's execution stays pending
    # for good (nothing runs it), keeping maintenance mode `activating` and refusing later
    # system workflows until someone ends it
    refused_restore_stays_pending: bool
    # the 400 existing_running_execution_error text for a blocked system workflow
    # (resource_manager.py: 7.0.5/6.4.2 _check_for_running_executions, 5.1.4
    # _check_for_any_active_executions); {ids} = ", ".join(ids), {ids_repr} = repr(list(ids))
    busy_message: str
    # queued executions are started only when no maintenance row exists: resource_manager.py
    # update_execution_status (`... and get_maintenance_state() is None`) on 6.4.2/7.0.5, and
    # maintenance_mode.py's deactivate calls start_queued_executions(); 5.1.4 starts them on any
    # execution's end, maintenance or not. A queued execution counts as remaining
    # (maintenance.py get_running_executions), so on 6.4.2/7.0.5 it holds `activating` for good
    queued_held_by_maintenance: bool = True
    # /cluster-status nodes carry `failures` (cluster_status_manager.py _get_node_state, 6.4.2
    # and 7.0.5: 'No services.', 'No metrics', 'Service X not active.', 'Metric X not
    # healthy.'); 5.1.4 only says Fail
    node_failures: bool = True
    # a restore of an unreadable archive leaves /snapshot-status `running` for good: 7.0.5
    # snapshot_restore.py restore()'s `finally` calls _is_legacy_snapshot() with no metadata and
    # raises before the flag is removed; 6.4.2/5.1.4's `finally` always runs
    # _trigger_post_restore_commands (which removes it)
    broken_archive_sticks_status: bool = False
    # /cluster-status is a SecuredResourceBannedSnapshotRestore (5.1.4, 6.4.2
    # resources_v3_1/cluster_status.py, security/secured_resource.py): 503
    # in_snapshot_restore_error (no message) while the restore flag file exists; 7.0.5 is not
    cluster_status_banned_in_restore: bool = True
    # DELETE /snapshots/<id> refuses a snapshot with an active create or restore execution
    # (6.4.2/7.0.5 resources_v2/snapshots.py SnapshotsId.delete); 5.1.4 deletes it anyway
    delete_checks_executions: bool = True
    # PUT /snapshots/<id>/archive over an existing id: 5.1.4/6.4.2 upload_manager.py
    # UploadedSnapshotsManager: the record is put (409 conflict) before the archive is moved in,
    # so nothing changes; 7.0.5 replaces the archive and answers a null Snapshot
    upload_over_existing_conflicts: bool = True
    # a legacy restore stops the REST service for the whole database restore (6.4.2/7.0.5
    # snapshot_restore.py _pause_services: restservice, api, execution-scheduler,
    # amqp-postgres); 5.1.4 pauses only amqp-postgres and later restarts REST once
    # (_restart_rest_service): a short outage (a quarter of restore_outage_seconds here)
    rest_stopped_in_restore: bool = True

    def busy_refusal(self, ids: list[str]) -> str:
        return self.busy_message.format(ids=", ".join(ids), ids_repr=repr(list(ids)))


PROFILES: dict[str, VersionProfile] = {
    "7.0.5": VersionProfile(
        version="7.0.5", branch="7.0.5-build", activate_answer_nested=True,
        snapshot_formats=True, client_legacy_default=True, execution_schedules=True,
        scheduled_restore="6.x", restore_needs_recreate_envs=False, tokens_table=True,
        managers_is_active=False, tokens_listed=True, refused_restore_stays_pending=True,
        busy_message="Cannot start execution because there are other executions running e.g.: "
                     "{ids}", broken_archive_sticks_status=True, cluster_status_banned_in_restore=False,
        upload_over_existing_conflicts=False),
    "6.4.2": VersionProfile(
        version="6.4.2", branch="6.4.2-build", activate_answer_nested=True,
        snapshot_formats=False, client_legacy_default=True, execution_schedules=True,
        scheduled_restore="6.x", restore_needs_recreate_envs=False, tokens_table=True,
        managers_is_active=False, tokens_listed=False, refused_restore_stays_pending=False,
        busy_message="Cannot start execution because there are other executions running: {ids}"),
    "5.1.4": VersionProfile(
        version="5.1.4", branch="5.1.4-build", activate_answer_nested=True,
        snapshot_formats=False, client_legacy_default=True, execution_schedules=False,
        scheduled_restore="5.x", restore_needs_recreate_envs=True, tokens_table=False,
        managers_is_active=True, tokens_listed=False, refused_restore_stays_pending=False,
        busy_message="You cannot start a system-wide execution if there are other executions "
                     "running. Currently running executions: {ids_repr}",
        queued_held_by_maintenance=False, node_failures=False, delete_checks_executions=False,
        rest_stopped_in_restore=False),
}
DEFAULT_VERSION = "7.0.5"


def profile_for(version: str) -> VersionProfile:
    try:
        return PROFILES[version]
    except KeyError:
        raise ValueError(f"unknown manager version {version!r}; known: "
                         f"{', '.join(sorted(PROFILES))}") from None


def version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for p in version.split("."):
        digits = "".join(ch for ch in p if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)
