"""End to end on a real Dagster instance: PostgreSQL storage, the daemon with the queued run
coordinator, with each shipped instance file:
- deploy/dagster.yaml: each run in its own process (the default run launcher);
- deploy/dagster-celery.yaml: runs handed to two Celery workers over a real Redis.

Two full runs and an incremental run of each of three facilities are submitted at once. The
instance's per-facility limit must serialize each facility's runs: the platform's run-history
table shows no two runs of one facility overlapping (and no run skipped by the platform's own
lock), and every facility reconciles PASSED; the `wms_api` pool (limit 2) keeps at most two
syncs running at once. (Which worker took which run is Celery's choice: not asserted.)
"""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import DagsterInstance, DagsterRunStatus
from gruponos_dagster.defs import FULL_JOB, INCREMENTAL_JOB
from gruponos_dagster.partitions import register_configured
from gruponos_meltano_native.config import load_settings
from gruponos_testing.dagster_deployment import (
    celery_worker_command,
    create_database,
    daemon_command,
    history_runs,
    logs,
    most_at_once,
    overlaps,
    prepare_home,
    running,
    submit_backfill,
    wait_for_runs,
)
from wms_simulator import WMSSimulator

FACILITIES = ("DC01", "DC02", "DC03")
# Per facility, submitted at once: a duplicate full sync and an incremental one (each run
# costs seconds here, so no more than what shows the per-facility limit at work).
SUBMITTED = (FULL_JOB, FULL_JOB, INCREMENTAL_JOB)
PLATFORM_JOB = {FULL_JOB: "full-sync-job", INCREMENTAL_JOB: "incremental-sync-job"}
RUNS_TIMEOUT_SECONDS = 420


@pytest.fixture(params=["dagster.yaml", "dagster-celery.yaml"])
def deployment(request, postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Simulator (GNOS with three facilities, slow enough pages), databases, DAGSTER_HOME
    with the shipped instance file (`request.param`), and for Celery a Redis broker.

    Set in this process's environment too: the test reads the same instance and settings.
    """
    target_url = create_database(postgres_url, "e2e_target")
    dagster_url = create_database(postgres_url, "e2e_dagster")
    env = prepare_home(tmp_path, request.param)
    celery = request.param == "dagster-celery.yaml"
    if celery:
        env["DAGSTER_CELERY_BROKER_URL"] = request.getfixturevalue("redis_url")
    with WMSSimulator(orders=120, seed=5, facilities=3, page_latency=0.05) as sim:
        env.update(
            {
                # Dagster's storage speaks psycopg2 (the target: psycopg 3).
                "DAGSTER_POSTGRES_URL": dagster_url.replace("+psycopg:", "+psycopg2:"),
                "GRUPONOS_MELTANO_ORACLE_WMS__BASE_URL": sim.base_url,
                "GRUPONOS_MELTANO_ORACLE_WMS__USERNAME": sim.username,
                "GRUPONOS_MELTANO_ORACLE_WMS__PASSWORD": sim.password,
                "GRUPONOS_MELTANO_ORACLE_WMS__COMPANY_CODE": "GNOS",
                "GRUPONOS_MELTANO_ORACLE_WMS__PAGE_SIZE": "50",
                "GRUPONOS_MELTANO_FACILITIES": ",".join(FACILITIES),
                "GRUPONOS_MELTANO_ORACLE_DB__SQLALCHEMY_URL": target_url,
                "GRUPONOS_MELTANO_STATE_DIR": str(tmp_path / "state"),
                # No schedule tick may add runs while the test counts them.
                "GRUPONOS_DAGSTER_INCREMENTAL_CRON": "0 0 1 1 *",
                "GRUPONOS_DAGSTER_FULL_CRON": "0 0 1 1 *",
            }
        )
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        yield target_url, tmp_path, celery


def test_daemon_serializes_each_facility_and_every_facility_reconciles(deployment):
    target_url, folder, celery = deployment
    commands = {"daemon": daemon_command()}
    if celery:
        commands.update({name: celery_worker_command(name) for name in ("worker1", "worker2")})
    keys = [f"GNOS/{code}" for code in FACILITIES]
    with running(folder, commands), DagsterInstance.get() as instance:
        register_configured(instance, load_settings())
        for job in SUBMITTED:
            submit_backfill(folder, job, keys)
        expected = len(SUBMITTED) * len(keys)
        runs = wait_for_runs(instance, expected, RUNS_TIMEOUT_SECONDS, lambda: logs(folder))
    assert len(runs) == expected
    assert {r.status for r in runs} == {DagsterRunStatus.SUCCESS}, logs(folder)
    if celery:  # every run went through the Celery run launcher
        assert all("dagster-celery/task_id" in r.tags for r in runs)

    history = history_runs(target_url)
    assert len(history) == expected
    for run in history:
        assert run.statuses == {"succeeded"}, run  # none skipped by the platform's lock
        assert run.failed_checks is None and run.quality_score == 100.0, run  # PASSED
    assert sorted((run.facility, run.job) for run in history) == sorted(
        (code, PLATFORM_JOB[job]) for code in FACILITIES for job in SUBMITTED
    )
    assert overlaps(history) == []
    assert most_at_once(history) <= 2  # deploy/*.yaml: pools default_limit 2
