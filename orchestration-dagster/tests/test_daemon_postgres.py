"""End to end on a real Dagster instance: PostgreSQL storage, the daemon with the queued run
coordinator, with each shipped instance file:
- deploy/dagster.yaml: each run in its own process (the default run launcher);
- deploy/dagster-celery.yaml: runs handed to two Celery workers over a real Redis.

Duplicate full and incremental runs of three facilities are submitted at once. The instance's
per-facility limit must serialize each facility's runs: the platform's run-history table shows
no two runs of one facility overlapping (and no run skipped by the platform's own lock), and
every facility reconciles PASSED. (Which worker took which run is Celery's choice: not asserted.)
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from dagster import DagsterInstance, DagsterRunStatus
from gruponos_dagster.defs import FULL_JOB, INCREMENTAL_JOB
from gruponos_dagster.partitions import register_configured
from gruponos_meltano_native.config import load_settings
from tap_oracle_wms.simulator import WMSSimulator

BIN = Path(sys.executable).parent
DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
FACILITIES = ("DC01", "DC02", "DC03")
RUNS_TIMEOUT_SECONDS = 420


def _database(server_url: str, name: str) -> str:
    engine = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f"drop database if exists {name}")
        conn.exec_driver_sql(f"create database {name}")
    engine.dispose()
    return server_url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(params=["dagster.yaml", "dagster-celery.yaml"])
def dagster_env(request, postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Simulator (GNOS with three facilities, slow enough pages), databases, DAGSTER_HOME
    with the shipped instance file (`request.param`), and for Celery a Redis broker.

    Set in this process's environment too: the test reads the same instance and settings.
    """
    target_url = _database(postgres_url, "e2e_target")
    dagster_url = _database(postgres_url, "e2e_dagster").replace(
        "postgresql+psycopg://", "postgresql+psycopg2://"
    )
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(DEPLOY / request.param, home / "dagster.yaml")
    celery = request.param == "dagster-celery.yaml"
    if celery:
        monkeypatch.setenv("DAGSTER_CELERY_BROKER_URL", request.getfixturevalue("redis_url"))
    (tmp_path / "workspace.yaml").write_text(
        "load_from:\n  - python_module: gruponos_dagster.defs\n"
    )
    with WMSSimulator(orders=120, seed=5, facilities=3, page_latency=0.05) as sim:
        env = {
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "DAGSTER_HOME": str(home),
            "DAGSTER_POSTGRES_URL": dagster_url,
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
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        yield target_url, tmp_path, celery


def _dagster(cwd, *args):
    run = subprocess.run([str(BIN / "dagster"), *args], cwd=cwd, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    return run


@contextlib.contextmanager
def _processes(cwd: Path, commands: dict[str, list[str]]) -> Iterator[None]:
    """Run each command (its output in `cwd/<name>.log`) in a session of its own; stop after."""
    started = []
    try:
        for name, command in commands.items():
            with open(cwd / f"{name}.log", "w") as log:
                started.append(
                    subprocess.Popen(
                        command,
                        cwd=cwd,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        yield
    finally:
        for process in started:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)  # the command and what it started
        for process in started:
            process.wait(timeout=60)


def _logs(cwd: Path) -> str:
    return "\n".join(path.read_text()[-2000:] for path in sorted(cwd.glob("*.log")))


def test_daemon_serializes_each_facility_and_every_facility_reconciles(dagster_env):
    target_url, cwd, celery = dagster_env
    expected = 4 * len(FACILITIES)
    commands = {"daemon": [str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"]}
    if celery:
        worker = [str(BIN / "dagster-celery"), "worker", "start", "-A", "dagster_celery.app"]
        for name in ("worker1", "worker2"):
            commands[name] = [
                *worker,
                "-y",
                str(DEPLOY / "celery-worker.yaml"),
                "-n",
                name,
                "--",
                "--concurrency=1",
            ]
    with _processes(cwd, commands), DagsterInstance.get() as instance:
        register_configured(instance, load_settings())
        partitions = ",".join(f"GNOS/{code}" for code in FACILITIES)
        for job in (FULL_JOB, FULL_JOB, INCREMENTAL_JOB, INCREMENTAL_JOB):
            backfill = ["job", "backfill", "-w", "workspace.yaml", "-j", job]
            _dagster(cwd, *backfill, "--partitions", partitions, "--noprompt")
        deadline = time.monotonic() + RUNS_TIMEOUT_SECONDS
        while True:
            runs = instance.get_runs()
            if len(runs) >= expected and all(r.is_finished for r in runs):
                break
            assert time.monotonic() < deadline, _logs(cwd)
            time.sleep(2)
    assert len(runs) == expected
    assert {r.status for r in runs} == {DagsterRunStatus.SUCCESS}, _logs(cwd)
    if celery:  # every run went through the Celery run launcher
        assert all("dagster-celery/task_id" in r.tags for r in runs)

    engine = sa.create_engine(target_url)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "select run_id, job, facility, min(started_at), max(ended_at), min(status),"
            " max(status), max(failed_checks), min(quality_score)"
            " from gruponos_run_history group by run_id, job, facility"
        ).fetchall()
    engine.dispose()
    assert len(rows) == expected
    intervals = defaultdict(list)
    for run_id, job, facility, started, ended, low, high, failed, score in rows:
        assert (low, high) == ("succeeded", "succeeded"), (run_id, low, high)  # none skipped
        assert failed is None and score == 100.0, (run_id, failed, score)  # PASSED
        intervals[facility].append((started, ended, job))
    assert sorted(intervals) == list(FACILITIES)
    for facility, spans in intervals.items():
        spans.sort()
        assert sorted(job for _, _, job in spans) == [
            "full-sync-job",
            "full-sync-job",
            "incremental-sync-job",
            "incremental-sync-job",
        ]
        for (_, first_end, _), (second_start, _, _) in itertools.pairwise(spans):
            assert first_end <= second_start, f"{facility}: runs overlap: {spans}"
