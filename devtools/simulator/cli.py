"""`snapbot simulator` / `python -m devtools.simulator`: run the simulator until SIGINT/SIGTERM."""
from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from devtools.simulator.app import start_simulator
from devtools.simulator.options import SimulatorOptions


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="snapbot simulator",
                                description="A Cloudify Manager REST v3.1 simulator")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8100, help="0 picks a free port")
    p.add_argument("--speed", type=float, default=1.0, help="divide simulated durations by this")
    p.add_argument("--version", default="7.0.0", help="manager version to report")
    p.add_argument("--archive-size", type=int, default=0, help="pad new archives to N bytes")
    p.add_argument("--data-dir", default=None, help="where archives live (default: a temp dir)")
    p.add_argument("--outage-mode", choices=("refuse", "502", "503"), default="refuse")
    return p


async def _serve(args: argparse.Namespace) -> None:
    options = SimulatorOptions(speed=args.speed, version=args.version,
                               archive_size=args.archive_size, data_dir=args.data_dir,
                               outage_mode=args.outage_mode)
    sim = await start_simulator(args.host, args.port, options)
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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    asyncio.run(_serve(args))
    return 0
