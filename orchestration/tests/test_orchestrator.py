"""The orchestrator's wiring, with stand-in plugin executables (real processes)."""

from __future__ import annotations

import json
import sys
import textwrap

import pytest
from gruponos_meltano_native.config import GruponosMeltanoSettings
from gruponos_meltano_native.jobs import RunScope
from gruponos_meltano_native.pipeline.orchestrator import Orchestrator
from gruponos_meltano_native.state import StateKey
from gruponos_testing.receivers import http_receiver
from wms_simulator import WMSSimulator

TAP = """
import json, sys
args = sys.argv[1:]
state = json.load(open(args[args.index("--state") + 1])) if "--state" in args else {}
start = state.get("bookmarks", {}).get("a", {}).get("replication_key_value", 0)
print(json.dumps({"type": "SCHEMA", "stream": "a", "key_properties": ["id"],
                  "schema": {"properties": {"id": {"type": "integer"}}}}))
for i in range(start, start + 5):
    print(json.dumps({"type": "RECORD", "stream": "a", "record": {"id": i}}))
bookmark = {"replication_key": "id", "replication_key_value": start + 5}
print(json.dumps({"type": "STATE", "value": {"bookmarks": {"a": bookmark}}}))
"""

TARGET = """
import json, sys
n = 0
for line in sys.stdin:
    m = json.loads(line)
    n += m["type"] == "RECORD"
    if m["type"] == "STATE":
        print(json.dumps(m["value"]), flush=True)
metric = {"metric": "record_count", "value": n, "tags": {"stream": "a"}}
print("METRIC: " + json.dumps(metric), file=sys.stderr)
"""


@pytest.fixture(scope="module")
def wms():
    """The WMS the orchestrator asks about facilities (the stand-in tap asks nothing)."""
    with WMSSimulator(orders=10) as sim:
        yield sim


def _settings(tmp_path, wms, **extra) -> GruponosMeltanoSettings:
    executables = {}
    for name, body in (("tap", TAP), ("target", TARGET)):
        path = tmp_path / f"fake-{name}"
        path.write_text(f"#!{sys.executable}\n" + textwrap.dedent(body))
        path.chmod(0o755)
        executables[f"{name}_executable"] = str(path)
    return GruponosMeltanoSettings(
        state_dir=tmp_path / "state",
        oracle_wms={"base_url": wms.base_url, "username": wms.username, "password": wms.password},
        validation={"enabled": False},
        deletions="off",  # the stand-in tap has no discovery mode
        **executables,
        **extra,
    )


def test_incremental_runs_continue_from_the_committed_state(tmp_path, wms):
    orchestrator = Orchestrator(_settings(tmp_path, wms))
    first = orchestrator.run(RunScope.of("incremental", "GNOS", "DC01"))
    second = orchestrator.run(RunScope.of("incremental", "GNOS", "DC01"))
    assert first.success and second.success, (first.error, second.error)
    assert first.extracted == first.loaded == {"a": 5}
    assert second.states_committed == 1
    state = json.loads(
        (tmp_path / "state/bookmarks/incremental-sync-job/GNOS/DC01.json").read_text()
    )
    assert (
        state["value"]
        == {"bookmarks": {"a": {"replication_key": "id", "replication_key_value": 10}}}
        and state["run_id"] == second.run_id
    )


def test_full_sync_state_seeds_the_incremental_job(tmp_path, wms):
    orchestrator = Orchestrator(_settings(tmp_path, wms))
    orchestrator.run(RunScope.of("full", "GNOS", "DC01"))
    orchestrator.run(
        RunScope.of("full", "GNOS", "DC01")
    )  # full runs ignore state: bookmark stays 5
    assert orchestrator.store.get(orchestrator_key("incremental-sync-job")) == {
        "bookmarks": {"a": {"replication_key": "id", "replication_key_value": 5}}
    }


def orchestrator_key(job):

    return StateKey(job, "GNOS", "DC01")


def test_an_internal_error_fails_the_run_and_alerts(tmp_path, monkeypatch, wms):
    with http_receiver() as hook:
        orchestrator = Orchestrator(_settings(tmp_path, wms, alerts={"webhook_url": hook.url}))

        def broken(*args, **kwargs):
            raise RuntimeError("unexpected")

        monkeypatch.setattr(orchestrator.store, "put", broken)
        report = orchestrator.run(RunScope.of("incremental", "GNOS", "DC01"))
    assert not report.success and report.failure_kind == "internal" and report.exit_code == 1
    assert "RuntimeError: unexpected" in report.error
    ((_, alert),) = hook.requests
    assert alert["kind"] == "failure" and alert["severity"] == "critical"


def test_an_unknown_facility_stops_before_extraction(tmp_path, wms):
    report = Orchestrator(_settings(tmp_path, wms)).run(RunScope.of("full", "GNOS", "DC09"))
    assert report.exit_code == 3 and report.failure_kind == "settings"
    assert (
        "Unknown facility 'DC09' (setting 'facility_code'): the WMS's 'facility' entity has "
        "no such code in company 'GNOS'; it has: DC01, DC02. Fix the code: nothing was extracted"
    ) in report.error


def test_a_facility_of_another_company_is_unknown_too(tmp_path, wms):
    # DC01 exists, but not in company XX: a mistyped company would otherwise extract nothing
    # and pass every check on empty figures.
    report = Orchestrator(_settings(tmp_path, wms)).run(RunScope.of("full", "XX", "DC01"))
    assert report.exit_code == 3 and report.failure_kind == "settings"
    assert "Unknown company 'XX' (setting 'company_code'): the WMS's 'company' entity" in (
        report.error
    )
    assert "it has: GNOS, OTHR" in report.error
    assert not (tmp_path / "state" / "logs" / report.run_id / "tap.log").exists()
