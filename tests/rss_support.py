"""For the RSS tests: the peak resident memory of the test process, sampled in a thread, and
the simulator in a process of its own (so only snapbot's memory is measured)."""
from __future__ import annotations

import re
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import psutil


@contextmanager
def simulator_process(data_dir: Path, *, speed: int, archive_size: int = 0,
                      options: Sequence[str] = ()) -> Iterator[str]:
    """`python -m devtools.simulator` making archives of `archive_size` bytes (and any other
    `options` of its command line) in a process of its own; yields its URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "devtools.simulator", "--port", "0", "--speed", str(speed),
         "--archive-size", str(archive_size), "--data-dir", str(data_dir), *options],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        match = re.search(r"http://[\w.]+:\d+", line)
        assert match, f"the simulator did not start: {line!r}"
        yield match.group(0)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


class PeakRss(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.proc = psutil.Process()
        self.peak = self.proc.memory_info().rss
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            self.halt.wait(0.005)

    def stop(self) -> int:
        self.halt.set()
        self.join()
        return self.peak
