"""A stateful Cloudify Manager REST v3.1 simulator (aiohttp), for tests, the demo and benchmarks.

Python API::

    sim = await start_simulator(port=0, options=SimulatorOptions(speed=50))
    sim.url     # http://127.0.0.1:PORT (no /api/v3.1); admin/admin, tenant default_tenant
    sim.state   # SimState: snapshots, executions, deployments, maintenance, ... (inspectable)
    await sim.close()

`run_simulator(options, host=, port=)` serves it until SIGTERM (`snapbot simulator --port P --speed X`,
or `python -m devtools.simulator …`).

Behaviour in brief (details and the Cloudify sources they follow: tests/test_simulator.py):
3 seeded blueprints/deployments (`bp-N`/`dep-N`); executions go pending -> started -> terminated
and are `queued` while a system workflow (snapshot create/restore) is active; a restore without
force on a non-empty manager answers 200 and its *execution* fails (7.x); a restore closes the
port for `restore_outage_seconds` (`reboot_outage_seconds` with restore_certificates and no
no_reboot), then swaps in the snapshot's state (snapshot list included), fails overdue scheduled
executions with a warning log on the restore execution (`scheduled_restore_style` "5.1", or
"7.0"), and keeps /snapshot-status "running" `snapshot_status_linger_seconds` longer.

Control surface under `/_sim/` (not Cloudify's API, no auth). Durations are simulated seconds
(real time = seconds / speed):

- `GET /_sim/state`: snapshots, executions, deployments, blueprints, maintenance, managers,
  plugins_updates, restores (restore execution ids ever started), request_counts per path,
  unknown_requests (paths the simulator does not implement), snapshot_status, faults, options,
  outage ({"remaining_seconds" (real), "mode"}), version, now.
- `POST /_sim/faults` `{"path": regex, "method": "GET"|null, "status": 503|null,
  "error_code": str|null, "message": str|null, "drop": false, "cut_after_bytes": null,
  "count": 1}`: the next `count` matching requests get that error body (default 500
  internal_server_error), or a dropped connection (`drop`), or an archive download cut after N
  bytes (`cut_after_bytes`). `DELETE /_sim/faults` clears them.
- `POST /_sim/outage` `{"seconds": S, "mode": "refuse"|"502"|"503"}`: "refuse" really closes the
  listening socket (and open connections) and reopens it on the same port afterwards, so
  `/_sim/` is unreachable meanwhile too; 502/503 answer every non-`/_sim/` request with an HTML
  error page like a proxy in front of a restarting REST service.
- `POST /_sim/config` `{any SimulatorOptions field but data_dir/credentials (durations, speed,
  archive_size, "version": "7.1.0", "outage_mode", "scheduled_restore_style"),
  "restore_fails": "msg"|null, "create_fails": "msg"|null}` -> the effective values.
- `POST /_sim/clock` `{"advance": seconds}` -> `{"now": iso}` (the manager's clock = real time +
  offset; scheduled executions start when due on it, overdue marking uses it).
- `POST /_sim/executions` `{"deployment_id", "workflow_id", "duration": s|null,
  "status": "scheduled"|null, "scheduled_for": iso|null}`: a live execution (`duration` null =
  runs until `POST /_sim/executions/<id>/finish` `{"status": "terminated"|"failed"|"cancelled"}`),
  or a scheduled one (no time check, so overdue ones can be staged).
- `POST /_sim/managers` `{"count": N, "split_brain": bool, "down": ["manager-2"]}`: nodes are
  `manager-1..N`; node 1 is active; split_brain makes node 2 claim active too.
- `POST /_sim/reset`: back to the start state and options.
"""
from devtools.simulator.app import Simulator, start_simulator
from devtools.simulator.cli import run_simulator
from devtools.simulator.options import SimulatorOptions

__all__ = ["Simulator", "SimulatorOptions", "start_simulator", "run_simulator"]
