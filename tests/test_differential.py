"""The simulator held to the real Cloudify Manager 7.0.5: one sequence of calls
(tests/differential_support.py) sent to both, compared by status, `error_code` and answer shape.

A difference is either fixed in the simulator or accepted below with its reason; `ACCEPTED` is
also the table in docs/development.md (`python -m tests.test_differential` rewrites it). A new
difference fails the test, and so does an accepted one that is no longer seen (the table stays
true). Without the real manager (SNAPBOT_CLOUDIFY_SRC unset) only the simulator's side runs: its
answers must have the statuses read from Cloudify's source.
"""
from __future__ import annotations

import inspect
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cloudify.client import CloudifyClient
from devtools.realmanager import RealManager
from tests import differential_support as d
from tests.realmanager_seed import ensure_deployment
from tests.rss_support import simulator_process

DOCS = Path(__file__).resolve().parent.parent / "docs" / "development.md"
START, END = "<!-- differential:start -->", "<!-- differential:end -->"

BUILD = ("the manager here runs from Cloudify's source tree, which has no build metadata; an "
         "installed 7.0.5 (and the simulator, which plays one) names its build date and commit")
CLUSTER = ("no Prometheus on the manager here, so every node reports Fail with its failures "
           "(cluster_status_manager.py _get_node_state); the simulator's cluster is healthy")
#: "call | what | real X | simulator Y" -> why the simulator keeps answering differently
ACCEPTED: dict[str, str] = {
    "version | build | real null | simulator string":
        BUILD,
    "version | commit | real null | simulator string":
        BUILD,
    "version | date | real null | simulator string":
        BUILD,
    "version by token | build | real null | simulator string":
        BUILD,
    "version by token | commit | real null | simulator string":
        BUILD,
    "version by token | date | real null | simulator string":
        BUILD,
    "cluster status | services.(name).nodes.(name).failures | real list | simulator empty list":
        CLUSTER,
    "cluster status | services.(name).nodes.(name).public_ip | real null | simulator string":
        "the real broker node is registered with its private address only (snapbot "
        "realmanager runs RabbitMQ on a loopback address); the simulator gives its nodes both",
    "cluster status summary | status | real 500 | simulator 200":
        CLUSTER,
    "names of secrets | items | real empty list | simulator list":
        "the simulator seeds a secret for drills; the real manager starts with none",
    "names of plugins | items | real empty list | simulator list":
        "the simulator seeds a plugin for drills; the real manager starts with none (uploading "
        "one needs a wagon built for it)",
}


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[str]:
    """The simulator as `--manager-version 7.0.5 --edition community` (as the real one built from
    source is) in a process of its own; yields its URL."""
    with simulator_process(tmp_path / "sim", speed=50,
                           options=["--manager-version", "7.0.5",
                                    "--edition", "community"]) as url:
        yield url


def _simulator_side(url: str, prefix: str) -> d.Manager:
    sim = d.Manager("simulator", url)
    sim.values.update(prefix=prefix, dep="dep-1")  # a deployment the simulator seeds
    return sim


def _accepted_status(call: d.Call, got: int) -> bool:
    return f"{call.name} | status | real {call.expect} | simulator {got}" in ACCEPTED


async def test_the_simulator_answers_the_sequence_with_cloudifys_statuses(simulator: str) -> None:
    sim = _simulator_side(simulator, d.new_prefix())
    steps = d.sequence()
    await d.run(sim, steps)
    wrong = [f"{c.name}: {sim.observed[c.name].status} (Cloudify: {c.expect})"
             for c in steps if isinstance(c, d.Call)
             and sim.observed[c.name].status != c.expect
             and not _accepted_status(c, sim.observed[c.name].status)]
    assert not wrong


@pytest.mark.realmanager
async def test_the_simulator_answers_like_the_real_manager(real_manager: RealManager,
                                                         simulator: str) -> None:
    prefix = d.new_prefix()
    real = d.Manager("real 7.0.5", real_manager.url)
    real.values.update(prefix=prefix, dep=await ensure_deployment(real_manager.url))
    sim = _simulator_side(simulator, prefix)
    steps = d.sequence()
    await d.run(real, steps)
    await d.run(sim, steps)
    calls = [c for c in steps if isinstance(c, d.Call)]
    # the statuses read from the source hold on the real thing
    unexpected = [f"{c.name}: {real.observed[c.name].status} (read: {c.expect})" for c in calls
                  if real.observed[c.name].status != c.expect]
    found = {x.key for x in d.differences(real, sim, steps)}
    new = sorted(found - set(ACCEPTED))  # fix the simulator, or accept with a reason
    gone = sorted(set(ACCEPTED) - found)  # no longer seen: drop them from the list
    report = ([f"status not the one read from the source: {u}" for u in unexpected]
              + [f"new difference: {k}" for k in new]
              + [f"accepted, no longer seen: {k}" for k in gone])
    assert not report, "\n".join(report)


def test_every_call_of_snapbots_client_is_in_the_sequence() -> None:
    calls = {name for name, member in inspect.getmembers(CloudifyClient)
             if inspect.iscoroutinefunction(member) and not name.startswith("_")
             and name != "aclose"}
    covered = {m for step in d.sequence() if isinstance(step, d.Call) for m in step.client}
    assert calls - covered == set()
    assert covered - calls == set()  # no stale names


def test_call_names_are_unique() -> None:
    names = [step.name for step in d.sequence()]
    assert len(names) == len(set(names))


def test_the_docs_table_is_the_accepted_list() -> None:
    text = DOCS.read_text(encoding="utf-8")
    assert START in text and END in text
    assert text.split(START)[1].split(END)[0].strip() == accepted_table().strip()


def accepted_table() -> str:
    rows = ["| call | what | real 7.0.5 | simulator | why it stays |", "|---|---|---|---|---|"]
    for key, why in ACCEPTED.items():
        call, what, real, sim = key.split(" | ")
        cells = [call, what, real.removeprefix("real "), sim.removeprefix("simulator "), why]
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(rows)


if __name__ == "__main__":  # rewrite the table in docs/development.md
    text = DOCS.read_text(encoding="utf-8")
    head, rest = text.split(START)
    DOCS.write_text(head + START + "\n" + accepted_table() + "\n" + END + rest.split(END)[1],
                    encoding="utf-8")
