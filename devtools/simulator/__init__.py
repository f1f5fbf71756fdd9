"""A stateful Cloudify Manager REST v3.1 simulator (aiohttp), for tests, the demo and benchmarks.

Python API::

    sim = await start_simulator(port=0, options=SimulatorOptions(speed=50))
    sim.url     # http://127.0.0.1:PORT (no /api/v3.1); admin/admin, tenant default_tenant
    sim.state   # SimState: snapshots, executions, deployments, maintenance, ... (inspectable)
    await sim.close()

`run_simulator(options, host=, port=)` serves it until SIGTERM (`snapbot simulator --port P --speed X
--manager-version 7.0.5|6.4.2|5.1.4`, or `python -m devtools.simulator …`).

Version profiles (`SimulatorOptions(manager_version=V)`, `snapbot simulator --manager-version V`;
devtools/simulator/profiles.py is the one place a version difference is decided; facts and their
Cloudify source files: tests/test_simulator_profiles.py):

| behaviour | 7.0.5 (default) | 6.4.2 | 5.1.4 |
|---|---|---|---|
| `POST /maintenance/activate` answer | `remaining_executions: [[...]]` (a list in a list, `[[]]` when nothing runs) | same | same |
| `GET /maintenance` | plain list; `null` when deactivated; queued and scheduled executions count, so `activating` lasts until they end | same | same |
| snapshot formats | `legacy` on `PUT /snapshots/<id>` (server default false; the CLI sends true): legacy archives carry schema revisions in metadata.json, new ones do not | one (legacy) format, `legacy` ignored | same as 6.4.2 |
| legacy restore | version check (newer snapshot fails), force check (blueprints), services stop: nginx 502 HTML for `restore_outage_seconds` (connection refused only when rebooting: `restore_certificates` without `no_reboot`, `reboot_outage_seconds`); DB replaced: deployments, blueprints, executions, execution schedules, users (passwords) and tokens become the snapshot's; snapshot list empty and the restored archive deleted; `/snapshot-status` lingers `snapshot_status_linger_seconds` | same | same, but tokens survive (no tokens table) |
| new-format restore (7.0.5 only) | merge: items missing are added, existing ones logged `error` "Error restoring <kind> <id>: 409: ... already exists ...", in-progress executions from the archive come back `cancelled` ("Marked as cancelled by snapshot restore"); no force/version check, no outage, no credentials change, snapshot list unchanged; ends `terminated`; `/snapshot-status` not-running when it ends | - | - |
| scheduled executions in a legacy restore | every `scheduled` one FAILED + warning "Marking original execution <id> scheduled for <t> as FAILED."; future ones re-created as execution schedules `<workflow>_restored_<32 hex>` (rule `{"count": 1}`) | same | overdue ones FAILED + warning "Execution <id> scheduled for <t> is overdue. Marking as FAILED."; future ones stay `scheduled` |
| `POST /executions` with `scheduled_time` | creates an execution schedule `<workflow>_<32 hex>`; answers 201 with an execution whose `id` is null and `status` scheduled | same | a `scheduled` execution (started when due) |
| `/execution-schedules` (list, `GET/PUT/PATCH/DELETE /<id>?deployment_id=`) | yes; runs due while maintenance is activated or the REST service is down, or more than `slip` min + 60 s late, are skipped silently (`/_sim/state` lists them as `skipped_occurrences`) | same | 404 |
| restore request body | `force` required (500 without) | same | also `recreate_deployments_envs` (400 without) |
| `/managers` | no `is_active` | same | `is_active` (the vendor guide's model; not in 5.1.4's source) |
| queued executions while maintenance mode is on (`resource_manager.py` update_execution_status, `maintenance_mode.py`) | not started until deactivate: a queued one holds `activating` | same | started when the one ahead ends |
| a due schedule's run (`execution_scheduler/main.py`: queue=True, runs while `activating`) | queued behind an active execution of its deployment or a system workflow | same | - |
| legacy restore by a user other than the bootstrap admin (`SimulatorOptions.bootstrap_admin`; `snapshot_restore.py` SnapshotRestoreValidator) | the execution fails "… Only the bootstrap admin is allowed to perform this action" | same | same |
| new-format restore of a schedule without `rrule` (cloudify-common `execution_schedules.py` restore) | fails `KeyError: 'rrule'`, everything before the schedules merged | - | - |
| new-format create in community (`SimulatorOptions.edition`; the dump reads premium-only `GET /users`) | fails at once (404 missing_premium_package_error) | - | - |
| a community manager's own legacy snapshot (`snapshot_create_legacy.py` writes the stage and composer revisions only where those databases exist; `snapshot_restore.py` takes legacy only when all three are named) | its metadata names `schema_revision` only; a restore of it runs as the new format, finds no dump files and ends `terminated` having restored nothing | - | - |
| `/cluster-status` node `failures` (`cluster_status_manager.py` _get_node_state) | `No services.`, `No metrics` (`/_sim/managers` `no_metrics`: Fail with `No metrics` only) | same | none |
| a restore refused with `existing_running_execution_error` (`resource_manager.py` restore_snapshot stores the execution before refusing) | its `pending` restore_snapshot execution stays, never run: it holds maintenance `activating` and refuses later system workflows until ended | not modelled | not modelled |
| `GET /tokens` / `POST /tokens` (`resources_v3_1/tokens.py`) | lists the tokens (secrets masked `ctok-<id>-********`) / creates one, 200 | GET issues a token | same as 6.4.2 |
| `/snapshot-status` after an unreadable archive (`snapshot_restore.py` restore's `finally`) | `running` for good | cleared | cleared |
| legacy restore with a reboot (`_trigger_post_restore_commands`: `shutdown -r now` before `rm -f` the flag) | reboots ~3 s after `terminated` (connection refused for `reboot_outage_seconds`); `/snapshot-status` stays `running` | same | same |
| `/cluster-status` during a restore (`SecuredResourceBannedSnapshotRestore`) | answers | 503 `in_snapshot_restore_error` | same as 6.4.2 |
| `DELETE /snapshots/<id>` with an active create/restore of it (`resources_v2/snapshots.py`) | 400 `snapshot_action_error` | same | deleted |
| a cancelled queued `create_snapshot` | stays cancelled, never starts | same | same |
| an upload over an existing id (`upload_manager.py` / `resources_v2/snapshots.py`) | archive replaced, a null Snapshot | 409 `conflict_error`, nothing changed | same as 6.4.2 |
| REST during a legacy restore's database restore (`_pause_services`) | stopped (nginx 502) for `restore_outage_seconds` | same | answers; one short REST restart (a quarter of it) |
| 5.x tokens after a legacy restore (`security/authentication.py`: signed with `secret_key`, carry the password hash) | tokens table restored | same | die when the snapshot brings another secret key or password hash |
| executions after a legacy restore (`postgres.py`: the dump deletes its own create execution, keeps every other status) | queued ones queued again (started once maintenance mode is off); nothing runs a started one | same | queued ones start at once |

On every version: a restore, and a legacy create with `queue` false, is refused with 400
`existing_running_execution_error` ("Cannot start execution because there are other executions
running e.g.: <ids>") while an execution is `pending`/`started`/cancelling; a legacy create with
`queue` true is `queued`; a new-format create is never checked. The restore answer is the
execution marshalled as a Snapshot (no `workflow_id`, no `parameters`). A restore of an archive
that is not a zip or lacks metadata.json fails and leaves `/snapshot-status` `running` for good.
`GET /cluster-status?summary=true` answers HTTP 500 when the status is Fail. Cluster nodes
(`/managers`, `/brokers`, `/db-nodes`, cluster-status) advertise the simulator's own host, so a real
CLI failing over to them stays on loopback. `POST /users/<name>` `{"password"}` changes a password
(`cfy users set-password`); `GET /users/<name>` answers (tenants and groups as counts unless
`_get_data=true`); with `--edition community` (`SimulatorOptions.edition`) `GET /users` is 404
`missing_premium_package_error` and another user's details 400. Uploads create the snapshot
record only once the archive is stored, as `uploaded` (no `uploading` state); over an existing
id the answer is a Snapshot whose fields are all null. `POST /executions` with `force_status`
(an admin's) stores an execution in that status, without a deployment when `deployment_id` is
"", and runs nothing; `PATCH /executions/<id>` `{"status", "error"}` is the mgmtworker's status
update (an ended execution cannot change but a create_snapshot). The shapes of these answers are
held to the real 7.0.5 by tests/test_differential.py.

Compatibility flags (`SimulatorOptions(compat=(...))`, `--compat F`, `/_sim/config {"compat": [...]}`)
switch on single simplified behaviours (not Cloudify's) for snapbot tests that rely on them;
`SIMPLIFIED` is all of them. Names and meaning: devtools/simulator/profiles.py `COMPAT_*`.

Other behaviour: 3 seeded blueprints/deployments (`bp-N`/`dep-N`, each with the usual workflows);
executions go pending -> started -> terminated and are `queued` while a system workflow (snapshot
create/restore) is active; a legacy restore without force on a non-empty manager answers 200 and
its *execution* fails. Details and sources: tests/test_simulator.py.

Control surface under `/_sim/` (not Cloudify's API, no auth). Durations are simulated seconds
(real time = seconds / speed on the default clock):

- `GET /_sim/state`: snapshots, executions, deployments, blueprints, execution_schedules (with
  skipped_occurrences), maintenance, managers, plugins_updates, restores (restore execution ids
  ever started), request_counts per path, unknown_requests (paths the simulator does not
  implement), snapshot_status, faults, options (compat included), profile, users (no passwords),
  tokens (ids and users), outage ({"remaining_seconds" (real on the scaled clock, simulated on the
  manual one), "mode"}), version, now.
- `POST /_sim/faults` `{"path": regex, "method": "GET"|null, "status": 503|null,
  "error_code": str|null, "message": str|null, "drop": false, "cut_after_bytes": null,
  "count": 1}`: the next `count` matching requests get that error body (default 500
  internal_server_error), or a dropped connection (`drop`), or an archive download cut after N
  bytes (`cut_after_bytes`). `DELETE /_sim/faults` clears them.
- `POST /_sim/outage` `{"seconds": S, "mode": "refuse"|"502"|"503"}`: "refuse" really closes the
  listening socket (and open connections) and reopens it on the same port afterwards, so
  `/_sim/` is unreachable meanwhile too; 502/503 answer every non-`/_sim/` request with an HTML
  error page like a proxy in front of a restarting REST service.
- `POST /_sim/config` `{any SimulatorOptions field but data_dir/credentials/clock (durations, speed,
  archive_size, "manager_version": "6.4.2" (switches the profile; also the reported version
  unless "version" is given), "version": "7.1.0" (reported only), "outage_mode", "compat": [...]),
  "restore_fails": "msg"|null, "create_fails": "msg"|null, "restore_meets": "<workflow>"|null
  (an execution of that workflow starts just before the next restore request is checked, once:
  the restore is refused, as when a system workflow slips in after maintenance mode was
  verified; it runs until `/_sim/executions/<id>/finish`)}` -> the effective values.
- `POST /_sim/clock` `{"advance": seconds}` -> `{"now": iso}` (the manager's clock = real time +
  offset; scheduled executions start when due on it, overdue marking uses it). On the manual
  clock (`SimulatorOptions(clock="manual")`, `--clock manual`: devtools/simulator/clock.py) time
  passes only here: `advance` moves it and wakes what falls due, `{"next": true}` moves it to the
  nearest timer, and the answer adds `next_due` (seconds to the nearest timer, null: none; what
  the move woke runs just after the answer, so its own next timer shows on the next call).
- `POST /_sim/executions` `{"deployment_id", "workflow_id", "duration": s|null,
  "status": "scheduled"|null, "scheduled_for": iso|null}`: a live execution (`duration` null =
  runs until `POST /_sim/executions/<id>/finish` `{"status": "terminated"|"failed"|"cancelled"}`),
  or a scheduled one (no time check, so overdue ones can be staged).
- `POST /_sim/managers` `{"count": N, "split_brain": bool, "down": ["manager-2"],
  "no_metrics": ["manager-1"]}`: nodes are
  `manager-1..N`; node 1 is active; split_brain makes node 2 claim active too (visible as
  `is_active` only on 5.1.4 or with the managers_is_active compat flag; the cluster status is
  Degraded either way).
- `POST /_sim/reset`: back to the start state and options.
"""
from devtools.simulator.app import Simulator, start_simulator
from devtools.simulator.cli import run_simulator
from devtools.simulator.options import SimulatorOptions
from devtools.simulator.profiles import PROFILES, SIMPLIFIED, VersionProfile

__all__ = [
           "PROFILES",
           "SIMPLIFIED",
           "Simulator",
           "SimulatorOptions",
           "VersionProfile",
           "run_simulator",
           "start_simulator",
]
