"""`snapbot realmanager`: run a real Cloudify Manager in the foreground until SIGINT/SIGTERM (the
arguments are parsed by snapbot/main.py, the one `snapbot` parser)."""
from __future__ import annotations

import signal
import sys
import threading
from types import FrameType

from devtools.realmanager.manager import RealManager, RealManagerError, RealManagerOptions
from devtools.realmanager.source import SourceError


def run_realmanager(options: RealManagerOptions) -> int:
    """Start the manager, print its URL, wait for a signal, stop everything; the exit code."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()
        raise KeyboardInterrupt  # also interrupts a start still under way

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    manager = RealManager(options)
    try:
        try:
            manager.start()
        except (RealManagerError, SourceError) as exc:
            print(f"snapbot realmanager: {exc}", file=sys.stderr)
            return 1
        username, password, tenant = manager.credentials
        print(f"Cloudify Manager (real, from source) listening on {manager.url}", flush=True)
        print(f"credentials: {username}/{password}, tenant {tenant}; state in {manager.state_dir}",
              flush=True)
        stop.wait()
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        # a second signal while stopping must not cut the stop short
        for sig in previous:
            signal.signal(sig, signal.SIG_IGN)
        manager.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
