"""The drill job's state machine and what a drill compares (pure: no manager, no Slack)."""
from __future__ import annotations

import io
import json
import re
import zipfile
from datetime import UTC
from pathlib import Path

import pytest

from bot.errors import ArchiveError, InvalidTransition
from bot.jobs.drill.inventory import Inventory, archive_inventory, compare
from bot.jobs.drill.machine import DRILL
from bot.jobs.drill.service import allowed_age, latest_drill_slot, next_drill
from devtools.simulator.archive import dump_members

ARCHITECTURE = Path(__file__).resolve().parent.parent / "docs" / "architecture.md"
STATE = {"blueprints": [{"id": "bp-1"}, {"id": "bp-2"}], "deployments": [{"id": "dep-1"}],
         "secrets": [{"key": "db_password", "value": "never read"}],
         "plugins": [{"id": "p1", "package_name": "cloudify-utilities-plugin"}],
         "execution_schedules": [{"id": "nightly"}], "users": {"admin": {"password": "x"}}}


def test_the_architecture_diagram_matches_the_drill_transition_table():
    block = re.search(r"<!-- drill:start -->(.*?)<!-- drill:end -->", ARCHITECTURE.read_text(),
                      re.DOTALL).group(1)
    assert re.search(r"```mermaid\n(.*?)```", block, re.DOTALL).group(1).strip() == DRILL.mermaid()


def test_every_working_state_can_fail_and_a_restore_under_way_cannot_be_cancelled():
    for state in ("queued", "uploading", "restoring", "comparing"):
        DRILL.check(state, "failed")
    with pytest.raises(InvalidTransition):
        DRILL.check("restoring", "cancelled")  # its restore job runs on: cancel that one


def archive(tmp_path: Path, *, legacy: bool, tenant: str = "default_tenant") -> Path:
    path = tmp_path / ("legacy.zip" if legacy else "new.zip")
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("metadata.json", json.dumps({"snapshot_version": "7.0.5"}))
        for name, text in dump_members(STATE, tenant, legacy).items():
            zf.writestr(name, text)
    return path


@pytest.mark.parametrize("legacy", [True, False])
def test_both_dump_formats_read_the_same_names(tmp_path, legacy):
    inv = archive_inventory(archive(tmp_path, legacy=legacy), "default_tenant")
    assert inv.version == "7.0.5" and inv.fmt == ("legacy" if legacy else "new")
    assert inv.names == {"tenants": {"default_tenant"}, "users": {"admin"},
                         "blueprints": {"bp-1", "bp-2"}, "deployments": {"dep-1"},
                         "secrets": {"db_password"}, "plugins": {"p1"},
                         "execution_schedules": {"nightly"}}


def test_another_tenants_items_are_not_the_drilled_tenants(tmp_path):
    inv = archive_inventory(archive(tmp_path, legacy=True, tenant="other"), "default_tenant")
    assert inv.names["tenants"] == {"other"} and inv.names["deployments"] == frozenset()


def test_an_archive_without_either_dump_is_refused(tmp_path):
    path = tmp_path / "x.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("metadata.json", "{}")
    with pytest.raises(ArchiveError, match="neither a legacy database dump"):
        archive_inventory(path, "default_tenant")


def test_a_legacy_dump_is_read_without_holding_it_in_memory():
    from bot.jobs.drill.inventory import _from_pg_dump
    lines = ["COPY public.events (id, message) FROM stdin;\n"]
    lines += [f"{i}\tline {i}\n" for i in range(10_000)] + ["\\.\n"]
    lines += ["COPY public.tenants (id, name) FROM stdin;\n", "0\tdefault_tenant\n", "\\.\n",
              "COPY public.deployments (_storage_id, id, _tenant_id) FROM stdin;\n",
              "1\tdep-1\t0\n", "\\.\n"]
    names = _from_pg_dump(io.StringIO("".join(lines)), "default_tenant")
    assert names["deployments"] == {"dep-1"} and names["tenants"] == {"default_tenant"}


def test_missing_fails_and_extra_fails_only_a_legacy_restore():
    archive_inv = Inventory("7.0.5", {"deployments": frozenset({"a", "b"})}, fmt="legacy")
    got = Inventory("7.0.5.dev1", {"deployments": frozenset({"a", "c"})})
    result = compare(archive_inv, got)
    assert result.differences == [
        "deployments: `b` in the archive, not on the restored manager",
        "deployments: `c` on the restored manager, not in the archive"]
    merged = compare(Inventory("7.0.5", {"deployments": frozenset({"a"})}, fmt="new"), got)
    assert merged.passed  # a new-format restore merges into what the scratch manager had
    older = compare(archive_inv, Inventory("6.4.2", dict(archive_inv.names)))
    assert older.differences == ["version: the archive is 7.0.5, the manager answers 6.4.2"]


def test_what_the_manager_cannot_list_is_not_compared():
    archive_inv = Inventory("7.0.5", {"users": frozenset({"admin", "bob"})}, fmt="legacy")
    assert compare(archive_inv, Inventory("7.0.5", {}, unavailable=frozenset({"users"}))).passed


def test_weekly_by_default_allows_eight_days():
    from datetime import datetime
    now = datetime(2026, 12, 9, 12, tzinfo=UTC)  # a Wednesday
    assert next_drill("0 4 * * 0", "UTC", now) == datetime(2026, 12, 13, 4, tzinfo=UTC)
    assert latest_drill_slot("0 4 * * 0", "UTC", now) == datetime(2026, 12, 6, 4, tzinfo=UTC)
    assert allowed_age("0 4 * * 0", "UTC", now) == 8 * 86400
    assert allowed_age("0 4 * * 1-5", "UTC", now) == 3 * 86400 + 86400  # Friday to Monday


def test_the_trend_compares_the_newest_size_with_the_mean_of_up_to_seven_before_it():
    from bot.posture import trend
    assert trend([110, 100, 100]) == (10.0, 2)
    assert trend([50] + [100] * 9) == (-50.0, 7)  # only the seven before it count
    assert trend([100]) == (None, 0)
