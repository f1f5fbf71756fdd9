"""Simple one-shot jobs (SIMPLE machine). (stub)"""
from __future__ import annotations

from bot.jobs.runner import JobRunner


def register_simple_drivers(runner: JobRunner) -> None:
    return None
