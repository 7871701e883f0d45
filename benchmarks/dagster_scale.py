"""Benchmark: 8 facilities through Dagster, runs on one Celery worker against two.

The WMS simulator (`--facilities 8`, the live latency scaled by LIVE_SCALE) serves GNOS's
DC01..DC08; a Dagster instance on PostgreSQL (deploy/dagster-celery.yaml: the queued run
coordinator with one run per facility, runs handed to Celery workers over Redis) gets a full
then an incremental run of every facility, submitted at once. For 1 and 2 workers it reports,
from submission to the last run's end: facility-runs per minute, records/s (records extracted
by all runs / that time), and overlaps (two runs of one facility at once, from the platform's
run-history table): must be 0.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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
    overlaps,
    prepare_home,
    redis_server,
    running,
    submit_backfill,
    wait_for_runs,
)
from gruponos_testing.postgres import ephemeral_postgres

BIN = Path(sys.executable).parent
FACILITIES = 8
LIVE_SCALE = 0.05  # the live WMS's latency, 20 times faster (0.9 ms a row)
ORDERS_PER_FACILITY = 300  # ~4 lines and their allocations each
RUNS_TIMEOUT_SECONDS = 1800


def start_simulator() -> tuple[subprocess.Popen[str], str]:
    """Return a `wms-simulator` process (both companies: FACILITIES each) and its base URL."""
    orders = 2 * FACILITIES * ORDERS_PER_FACILITY  # spread over GNOS's and OTHR's facilities
    command = [str(BIN / "wms-simulator"), "--orders", str(orders), "--seed", "7"]
    options = ["--facilities", str(FACILITIES), "--live-latency", str(LIVE_SCALE)]
    proc = subprocess.Popen([*command, *options], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, proc.stdout.readline().rsplit(" ", 1)[-1].strip()


def _wait_until_ready(folder: Path, workers: list[str]) -> None:
    deadline = time.monotonic() + 180
    while not all("ready." in (folder / f"{name}.log").read_text() for name in workers):
        if time.monotonic() > deadline:
            raise TimeoutError(f"Celery workers not ready:\n{logs(folder)}")
        time.sleep(0.5)


def bench(workers: int, server_url: str, broker: str, base_url: str, root: Path) -> None:
    """One round: a full and an incremental run of every facility on `workers` workers."""
    folder = root / f"workers-{workers}"
    folder.mkdir()
    target_url = create_database(server_url, f"scale_target_{workers}")
    dagster_url = create_database(server_url, f"scale_dagster_{workers}")
    codes = [f"DC{n:02d}" for n in range(1, FACILITIES + 1)]
    os.environ.update(prepare_home(folder, "dagster-celery.yaml"))
    os.environ.update(
        {
            "DAGSTER_POSTGRES_URL": dagster_url.replace("+psycopg:", "+psycopg2:"),
            "DAGSTER_CELERY_BROKER_URL": broker,
            "GRUPONOS_MELTANO_ORACLE_WMS__BASE_URL": base_url,
            "GRUPONOS_MELTANO_ORACLE_WMS__USERNAME": "demo",
            "GRUPONOS_MELTANO_ORACLE_WMS__PASSWORD": "demo-password",
            "GRUPONOS_MELTANO_ORACLE_WMS__COMPANY_CODE": "GNOS",
            "GRUPONOS_MELTANO_FACILITIES": ",".join(codes),
            "GRUPONOS_MELTANO_ORACLE_DB__SQLALCHEMY_URL": target_url,
            "GRUPONOS_MELTANO_STATE_DIR": str(folder / "state"),
            "GRUPONOS_DAGSTER_INCREMENTAL_CRON": "0 0 1 1 *",
            "GRUPONOS_DAGSTER_FULL_CRON": "0 0 1 1 *",
        }
    )
    names = [f"worker{n}" for n in range(1, workers + 1)]
    commands = {"daemon": daemon_command(), **{n: celery_worker_command(n) for n in names}}
    keys = [f"GNOS/{code}" for code in codes]
    with running(folder, commands), DagsterInstance.get() as instance:
        register_configured(instance, load_settings())
        _wait_until_ready(folder, names)
        started = time.time()
        for job in (FULL_JOB, INCREMENTAL_JOB):
            submit_backfill(folder, job, keys)
        runs = wait_for_runs(instance, 2 * len(keys), RUNS_TIMEOUT_SECONDS, lambda: logs(folder))
        ended = max(r.end_time or 0 for r in instance.get_run_records())
    failed = [r.run_id for r in runs if r.status != DagsterRunStatus.SUCCESS]
    history = history_runs(target_url)
    seconds = ended - started
    records = sum(run.extracted for run in history)
    print(
        f"{workers} worker(s): {len(runs)} facility-runs in {seconds:6.1f} s = "
        f"{len(runs) / seconds * 60:5.1f} facility-runs/min | {records:,} records, "
        f"{records / seconds:6.0f} records/s | overlaps {len(overlaps(history))} | "
        f"failed runs {len(failed)}",
        flush=True,
    )


def main() -> None:
    """Run the benchmark for one worker, then two."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="dagster-scale-"))
    simulator, base_url = start_simulator()
    print(
        f"dagster_scale: {FACILITIES} facilities, ~{ORDERS_PER_FACILITY} orders each, "
        f"live latency x {LIVE_SCALE}; a full then an incremental run of each",
        flush=True,
    )
    try:
        with ephemeral_postgres() as server_url, redis_server() as redis_url:
            for index, workers in enumerate(args.workers):
                broker = redis_url.rsplit("/", 1)[0] + f"/{index}"
                bench(workers, server_url, broker, base_url, root)
    finally:
        simulator.terminate()
        simulator.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
