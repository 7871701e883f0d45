"""The end-of-run hook: statuses, rows of a run that failed at start, masking."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from gruponos_meltano_native.config import GruponosMeltanoSettings
from gruponos_meltano_native.jobs import RunScope
from gruponos_meltano_native.observe.history import RunHistory, render_runs
from gruponos_meltano_native.pipeline.lock import ScopeLock
from gruponos_meltano_native.pipeline.orchestrator import Orchestrator, RunReport


def _run(orchestrator, mode, company, facility, entities=None):
    return orchestrator.run(RunScope.of(mode, company, facility, entities))


def _settings(tmp_path, **extra) -> GruponosMeltanoSettings:
    return GruponosMeltanoSettings(
        state_dir=tmp_path / "state",
        oracle_db={"sqlalchemy_url": f"sqlite:///{tmp_path / 'wms.db'}"},
        **extra,
    )


@pytest.mark.parametrize(
    ("success", "kind", "status"),
    [
        (True, None, "succeeded"),
        (False, "load", "failed"),
        (False, "reconciliation", "failed"),
        (False, "interrupted", "interrupted"),
        (False, "skipped", "skipped"),
    ],
)
def test_run_status(success, kind, status):
    report = RunReport("r", "full-sync-job", "full", "GNOS", "DC01", success, failure_kind=kind)
    assert report.status == status


def test_a_run_that_fails_at_start_is_recorded_with_its_requested_entities(tmp_path):
    settings = _settings(tmp_path)  # no WMS URL: the run fails before any process starts
    before = datetime.now(UTC)
    report = _run(
        Orchestrator(settings), "incremental", "GNOS", "DC01", ["order_hdr", "allocation"]
    )
    assert not report.success and report.failure_kind == "settings"
    assert report.warnings == []
    rows = RunHistory(settings.target_config(), settings.history.table).runs()
    assert [(r.entity, r.status, r.failure_kind) for r in rows] == [
        ("allocation", "failed", "settings"),
        ("order_hdr", "failed", "settings"),
    ]
    assert rows[0].run_id == report.run_id
    assert before <= rows[0].started_at <= rows[0].ended_at
    assert "BASE_URL is required" in rows[0].error_message
    assert rows[0].extracted is None and rows[0].marked_deleted == 0


def test_history_can_be_switched_off(tmp_path):
    settings = _settings(tmp_path, history={"enabled": False})
    _run(Orchestrator(settings), "full", "GNOS", "DC01")
    assert not (tmp_path / "wms.db").exists()


def test_a_run_skipped_because_the_facility_is_held_is_recorded_not_alerted(tmp_path):
    from wms_simulator import WMSSimulator

    holder = {"job": "full-sync-job", "run_id": "20261126T035900Z-123456"}
    with WMSSimulator(orders=5) as wms:
        # The facility is checked with the WMS first (no lock file for a facility it lacks).
        settings = _settings(
            tmp_path,
            oracle_wms={
                "base_url": wms.base_url,
                "username": wms.username,
                "password": wms.password,
            },
        )
        with ScopeLock(settings.state_dir, "GNOS", "DC02", holder):
            report = _run(Orchestrator(settings), "incremental", "GNOS", "DC02")
    assert (report.status, report.exit_code, report.alerts_sent) == ("skipped", 9, [])
    assert report.warnings == []
    (row,) = RunHistory(settings.target_config(), settings.history.table).runs()
    assert (row.run_id, row.status, row.failure_kind) == (report.run_id, "skipped", None)
    assert (row.job, row.facility, row.entity) == ("incremental-sync-job", "DC02", "*")
    assert "held by full-sync-job run 20261126T035900Z-123456" in row.error_message
    assert "skipped" in render_runs([row])


def test_prod_without_a_database_keeps_the_rows_waiting(tmp_path):
    settings = _settings(tmp_path).model_copy(
        update={"environment": "prod", "oracle_db": GruponosMeltanoSettings().oracle_db}
    )
    report = _run(Orchestrator(settings), "full", "GNOS", "DC01")
    assert report.failure_kind == "settings"
    assert report.warnings == [
        "run history not written: no database configured; this run's rows wait in "
        f"{tmp_path / 'state' / 'history' / 'pending' / report.run_id}.json"
    ]
    assert not list(tmp_path.rglob("*.db"))
