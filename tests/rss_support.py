"""Peak resident memory of the test process, sampled in a thread (the RSS tests)."""
from __future__ import annotations

import threading

import psutil


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
