"""The composition root: what build_services wires, what start resumes, what stop closes."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot import bootstrap
from bot.jobs.simple import SIMPLE_KINDS
from tests.fakes import RecordingNotifier
from tests.jobs_support import make_settings


async def test_build_services_wires_one_client_per_manager_and_every_service(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, {"prod": "http://127.0.0.1:9", "dr": "http://127.0.0.1:9"})
    services = await bootstrap.build_services(settings, notifier=RecordingNotifier())
    try:
        assert set(services.clients) == {"prod", "dr"}
        d = services.dispatcher  # built with the services' own collaborators
        assert (d.store, d.runner, d.clients, d.approvals, d.restores, d.daily) == (
            services.store, services.runner, services.clients, services.approvals, services.restores,
            services.daily)
        for kind in (*SIMPLE_KINDS, "restore", "daily"):
            services.runner.driver(kind)
        assert services.approvals is not None and services.restores is not None
        assert services.daily is not None
    finally:
        await bootstrap.stop(services)


async def test_start_resumes_unfinished_jobs_from_the_store(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, {"default": "http://127.0.0.1:9"})
    services = await bootstrap.build_services(settings, notifier=RecordingNotifier())
    job = services.store.create_job("snapshot_delete", "default", "running",
                                    params={"snapshot_id": "x"}, requester="U_OPS")
    await bootstrap.stop(services)

    services = await bootstrap.build_services(settings, notifier=RecordingNotifier())
    try:
        resumed = await bootstrap.start(services)
        assert job.id in resumed
    finally:
        await bootstrap.stop(services)


async def test_stop_closes_the_store(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, {"default": "http://127.0.0.1:9"})
    services = await bootstrap.build_services(settings, notifier=RecordingNotifier())
    await bootstrap.stop(services)
    with pytest.raises(sqlite3.ProgrammingError):
        services.store.list_jobs()


async def test_the_services_are_a_frozen_record(tmp_path: Path) -> None:
    import dataclasses

    import pytest
    settings = make_settings(tmp_path, {"default": "http://127.0.0.1:9"})
    services = await bootstrap.build_services(settings, notifier=RecordingNotifier())
    try:
        with pytest.raises(dataclasses.FrozenInstanceError):
            services.daily = None  # type: ignore[misc]
    finally:
        await bootstrap.stop(services)
