"""The typed payloads of the shared keys, the simple jobs and the drill: what the job row stores
comes back as the same record, and rows written before a key existed load with the defaults the
readers always used."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.jobs import payload, simple_payload
from bot.jobs.drill import payload as drill_payload
from bot.jobs.drill.inventory import Inventory
from bot.jobs.drill.payload import DrillParams, DrillResult
from bot.jobs.payload import RefusedClick, SharedParams, SharedResult, Waiting
from bot.jobs.simple_payload import ItemOutcome, SimpleParams, SimpleResult
from bot.progress import TransferView
from bot.schema import open_store
from bot.store import Store
from tests.fakes import FakeClock

AT = datetime(2026, 3, 1, 2, 0, 5, 123000, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(tmp_path / "snapbot.db", FakeClock())
    yield s
    s.close()


# -- the shared keys ---------------------------------------------------------------------------

def test_approval_terms_come_back_from_the_job_row_as_they_went_in() -> None:
    terms = SharedParams(expires_at=AT, required_approvals=2, parent_job="d-1", snapshot_id="s1")
    assert SharedParams.from_stored(terms.stored()) == terms
    assert terms.has_terms


def test_a_job_row_before_its_request_opened_has_no_terms_and_needs_the_policys_count() -> None:
    job_params: dict[str, object] = {"snapshot_id": "s1"}
    shared = SharedParams.from_stored(job_params)
    assert (shared.expires_at, shared.required_approvals, shared.has_terms) == (None, None, False)
    assert SharedParams(required_approvals=3).stored() == {"required_approvals": 3}  # merges into params
    approval = payload.Approval(expires_at=None, required=None, approved_by=(), refused_clicks=())
    assert approval.need(2) == 2
    # a drill's child restore records 0: never gated, but a count of approvals is at least one
    assert payload.Approval(expires_at=None, required=0, approved_by=(), refused_clicks=()).need(2) == 1


def test_approval_of_reads_terms_from_params_and_decisions_from_result(store: Store) -> None:
    job = store.create_job("snapshot_create", "default", "awaiting_approval",
                           params={"snapshot_id": "s1", "expires_at": "2026-03-01T02:00:05.123Z",
                                   "required_approvals": 2})
    click = RefusedClick(user="U2", at=AT, action="approve", reason="not an approver")
    store.merge_result(job.id, approved_by=["U1"], refused_clicks=payload.refused_clicks_stored([click]))
    approval = payload.approval_of(store.get_job(job.id))
    assert approval == payload.Approval(expires_at=AT, required=2, approved_by=("U1",), refused_clicks=(click,))


def test_waiting_for_comes_back_and_null_means_waiting_for_nothing() -> None:
    waiting = Waiting(what="maintenance", executions=("e1 (install on d1)",), ids=("e1",), bound=60.0, since=AT)
    assert Waiting.from_stored(waiting.stored()) == waiting
    assert Waiting.from_stored(None) is None
    assert payload.waiting_stored(None) is None
    old = Waiting.from_stored({"what": "maintenance", "executions": ["e1"]})  # no ids: an old row
    assert old == Waiting(what="maintenance", executions=("e1",))


def test_shared_result_reads_progress_and_the_executions_a_job_started_in_order() -> None:
    view = TransferView(what="downloading", done=5, total=10, elapsed=1.0, rate=5.0)
    result = SharedResult.from_stored({"progress": view.as_dict(), "restore_execution_id": "r",
                                       "create_execution_id": "c", "execution_id": "c"})
    assert result.progress == view
    assert result.own_executions == ["c", "r"]
    assert SharedResult.from_stored({}) == SharedResult()
    assert SharedResult.from_stored({"progress": None, "waiting_for": None}).progress is None


# -- the simple jobs ---------------------------------------------------------------------------

def test_simple_params_default_as_the_commands_do() -> None:
    p = SimpleParams.from_stored({"snapshot_id": "s1", "include_logs": False, "url": None})
    assert (p.snapshot_id, p.include_logs, p.include_credentials, p.include_events, p.url) == \
        ("s1", False, True, True, "")
    plugins = SimpleParams.from_stored({"blueprint_id": None, "all_blueprints": True})
    assert (plugins.blueprint_id, plugins.all_blueprints) == ("", True)


def test_a_simple_result_stores_only_what_is_set_and_comes_back() -> None:
    result = SimpleResult(snapshot_id="s1", archive_path="/a/default/s1.zip", sha256="ab", size=0,
                          deployment_ids=(), deployments={"d1": ItemOutcome(status="terminated", ok=True,
                                                                            final=True, execution_id="e1")},
                          duration_s=1.5, failure="why")
    stored = result.stored()
    assert "failure" not in stored and "status" not in stored and stored["deployment_ids"] == []
    assert SimpleResult.from_stored(stored) == replace(result, failure="")  # failing is not stored
    assert SimpleResult().stored() == {}


def test_an_item_outcome_of_an_old_row_loads_its_missing_error_as_none_given() -> None:
    old = {"execution_id": "e1", "status": "failed", "error": None, "ok": False, "final": True}
    outcome = ItemOutcome.from_stored(old)
    assert outcome == ItemOutcome(status="failed", final=True, execution_id="e1")
    assert ItemOutcome.from_stored(outcome.stored()) == outcome


def test_the_simple_accessors_read_the_job_row(store: Store) -> None:
    job = store.create_job("plugins_update", "default", "running",
                           params={"blueprint_id": "bp", "all_blueprints": False})
    store.merge_result(job.id, blueprints={"bp": {"update_id": "u1", "status": "updating", "ok": False}})
    job = store.get_job(job.id)
    assert simple_payload.params_of(job).blueprint_id == "bp"
    assert simple_payload.result_of(job).blueprints == {"bp": ItemOutcome(status="updating", update_id="u1")}


# -- the drill ---------------------------------------------------------------------------------

def test_drill_params_come_back_from_the_job_row_as_they_went_in() -> None:
    params = DrillParams(source="prod", snapshot_id="s1", sha256="ab", size=10, archived_at=AT,
                         age_s=3.5, trigger="manual")
    assert DrillParams.from_stored(params.stored()) == params


def test_a_drill_result_records_each_step_and_the_verdict() -> None:
    expected = Inventory("7.0.5", {"blueprints": frozenset({"bp"})}, frozenset({"users"}), "new")
    steps = DrillResult(started_at=AT, expected=expected, scratch_version="7.0.5", uploaded=True,
                        restore_job="restore-1", restore_started_at=AT, rto_s=12.0, restore_s=10.0)
    assert DrillResult.from_stored(steps.stored()) == steps
    verdict = DrillResult(counts={"blueprints": 1}, manager_version="7.0.5", not_compared=("users",),
                          differences=(), verdict="pass", rpo_s=None)
    stored = verdict.stored()
    assert stored["rpo_s"] is None and stored["differences"] == []  # a verdict says all its figures
    failed = {**steps.stored(), **stored, **DrillResult(failed_step="comparing").stored()}
    assert DrillResult.from_stored(failed) == replace(
        steps, counts={"blueprints": 1}, manager_version="7.0.5", not_compared=("users",), verdict="pass",
        failed_step="comparing")


def test_a_drill_row_before_its_first_step_reads_as_nothing_done(store: Store) -> None:
    job = store.create_job("drill", "scratch", "queued", params={"source": "prod", "snapshot_id": "s1"})
    assert drill_payload.result_of(job) == DrillResult()
    assert drill_payload.params_of(job) == DrillParams(source="prod", snapshot_id="s1")
