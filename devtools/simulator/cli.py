"""`snapbot simulator`: run the simulator until SIGINT/SIGTERM (the arguments are parsed by
snapbot/main.py, the one `snapbot` parser)."""
from __future__ import annotations

import asyncio
import signal

from devtools.simulator.app import start_simulator
from devtools.simulator.options import SimulatorOptions


async def serve_simulator(options: SimulatorOptions, *, host: str, port: int) -> None:
    sim = await start_simulator(host, port, options)
    options = sim.options  # the reported version defaults to the profile's
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"Cloudify Manager simulator {options.version} listening on {sim.url}", flush=True)
    print(f"credentials: {options.username}/{options.password}, tenant {options.tenant}", flush=True)
    try:
        await stop.wait()
    finally:
        await sim.close()


def run_simulator(options: SimulatorOptions, *, host: str = "127.0.0.1", port: int = 8100) -> int:
    asyncio.run(serve_simulator(options, host=host, port=port))
    return 0
