"""Temporary files tied to their job, so none outlives it.

Every partial file (a download on its way, a staging copy) is named `.<final name>.part-<tag>`
by `partial_name`; inside a job the tag starts with the job's id (`.snap.zip.part-r-1a2b3c-9f8e`),
taken from `CURRENT_JOB`, which the runner sets for the job's task (asyncio copies it into every
task the job starts). So:

* a job that resumes, and a job that ends, removes its own (`remove_job_partials`);
* start-up removes the ones no unfinished job owns: a finished or unknown job's, and untagged
  ones older than every unfinished job (`sweep_stale`).
"""
from __future__ import annotations

import contextvars
import logging
import re
import secrets
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path

log = logging.getLogger(__name__)

#: The job whose task is running (None outside a job).
CURRENT_JOB: contextvars.ContextVar[str | None] = contextvars.ContextVar("snapbot_job", default=None)

_MARK = ".part-"
_JOB = re.compile(r"\.part-([a-z]-[0-9a-f]{6})(?:-|$)")


def partial_name(final_name: str, what: str = "") -> str:
    """The hidden temporary name for a file that will become `final_name`."""
    job = CURRENT_JOB.get()
    tag = "-".join(p for p in (job, what, secrets.token_hex(4)) if p)
    return f".{final_name}{_MARK}{tag}"


def is_partial(name: str) -> bool:
    return name.startswith(".") and _MARK in name


def job_of(name: str) -> str | None:
    """The id of the job a partial file belongs to (None: untagged)."""
    m = _JOB.search(name)
    return m.group(1) if m else None


def _partials(roots: Iterable[Path]) -> list[Path]:
    out: list[Path] = []
    for root in roots:
        root = Path(root)
        if root.is_dir():
            out += [p for p in root.rglob(".*") if p.is_file() and is_partial(p.name)]
    return out


def _remove(paths: Iterable[Path], why: str) -> list[Path]:
    removed = []
    for p in paths:
        try:
            p.unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:
            log.warning("could not remove the partial file %s (%s): %s", p, why, exc.strerror or exc)
            continue
        log.info("removed the partial file %s (%s)", p, why)
        removed.append(p)
    return removed


def remove_job_partials(roots: Iterable[Path], job_id: str) -> list[Path]:
    """Remove every partial file of `job_id` under `roots`."""
    return _remove((p for p in _partials(roots) if job_of(p.name) == job_id), f"job {job_id}")


def sweep_stale(roots: Iterable[Path], unfinished: Mapping[str, datetime]) -> list[Path]:
    """At start-up: remove partial files no unfinished job owns. `unfinished`: id -> created_at
    of every unfinished job (theirs stay: the job removes them itself when it resumes); an
    untagged one goes when it is older than every unfinished job."""
    oldest = min(unfinished.values(), default=None)
    stale = []
    for p in _partials(roots):
        job = job_of(p.name)
        if job is not None:
            if job not in unfinished:
                stale.append(p)
            continue
        try:
            mtime = datetime.fromtimestamp(p.stat().st_mtime, UTC)
        except OSError:
            continue
        if oldest is None or mtime < oldest:
            stale.append(p)
    return _remove(stale, "stale at start-up")


__all__ = [
    "CURRENT_JOB",
    "is_partial",
    "job_of",
    "partial_name",
    "remove_job_partials",
    "sweep_stale",
]
