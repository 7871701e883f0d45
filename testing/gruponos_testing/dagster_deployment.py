"""A Dagster deployment on one machine, for the end-to-end tests and `make bench-scale`.

Not used by the definitions: a PostgreSQL-backed instance home made from a shipped instance
file (`deploy/`), a workspace, the daemon and Celery workers as processes, a throwaway Redis,
and the platform's run history read back as per-facility intervals.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from dagster import DagsterInstance, DagsterRun

BIN = Path(sys.executable).parent
# The instance files shipped with orchestration-dagster (this package lives beside it, unpublished).
DEPLOY = Path(__file__).resolve().parents[2] / "orchestration-dagster" / "deploy"
WORKSPACE = "workspace.yaml"


class RedisUnavailableError(RuntimeError):
    """`redis-server` is missing or did not start."""


def create_database(server_url: str, name: str) -> str:
    """(Re)create database `name` on the server of `server_url`; return its URL."""
    engine = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f"drop database if exists {name}")
        conn.exec_driver_sql(f"create database {name}")
    engine.dispose()
    return server_url.rsplit("/", 1)[0] + f"/{name}"


def prepare_home(folder: Path, instance_file: str) -> dict[str, str]:
    """Make an instance home in `folder` from `deploy/<instance_file>`, and a workspace.

    Returns the environment pointing at them (DAGSTER_HOME, PATH).
    """
    home = folder / "dagster_home"
    home.mkdir(parents=True)
    shutil.copy(DEPLOY / instance_file, home / "dagster.yaml")
    (folder / WORKSPACE).write_text("load_from:\n  - python_module: gruponos_dagster.defs\n")
    return {"DAGSTER_HOME": str(home), "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


def daemon_command() -> list[str]:
    """`dagster-daemon run` on the workspace."""
    return [str(BIN / "dagster-daemon"), "run", "-w", WORKSPACE]


def celery_worker_command(name: str) -> list[str]:
    """Return the command of a Celery worker taking one run at a time (its broker: env)."""
    return [
        *(str(BIN / "dagster-celery"), "worker", "start", "-A", "dagster_celery.app"),
        *("-y", str(DEPLOY / "celery-worker.yaml"), "-n", name, "--", "--concurrency=1"),
    ]


@contextlib.contextmanager
def running(folder: Path, commands: dict[str, list[str]]) -> Iterator[None]:
    """Run each command (output in `folder/<name>.log`) in a session of its own; stop after."""
    started: list[subprocess.Popen[bytes]] = []
    try:
        for name, command in commands.items():
            with open(folder / f"{name}.log", "w") as log:
                started.append(
                    subprocess.Popen(
                        command,
                        cwd=folder,
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


def logs(folder: Path) -> str:
    """Return the tail of every process log in `folder`, for a failure message."""
    return "\n".join(path.read_text()[-2000:] for path in sorted(folder.glob("*.log")))


def submit_backfill(folder: Path, job: str, keys: list[str]) -> None:
    """Submit one run of `job` per partition key to the instance's queue."""
    command = [str(BIN / "dagster"), "job", "backfill", "-w", WORKSPACE, "-j", job]
    run = subprocess.run(
        [*command, "--partitions", ",".join(keys), "--noprompt"],
        cwd=folder,
        capture_output=True,
        text=True,
    )
    if run.returncode != 0:
        raise RuntimeError(f"dagster job backfill failed: {run.stdout}{run.stderr}")


def wait_for_runs(
    instance: DagsterInstance, expected: int, timeout: float, explain: Callable[[], str]
) -> list[DagsterRun]:
    """Wait until `expected` runs exist and all are finished; return them."""
    deadline = time.monotonic() + timeout
    while True:
        runs = list(instance.get_runs())
        if len(runs) >= expected and all(run.is_finished for run in runs):
            return runs
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(runs)} runs, not all finished:\n{explain()}")
        time.sleep(1)


@dataclass(frozen=True)
class HistoryRun:
    """One platform run, from its rows in the run-history table."""

    run_id: str
    job: str
    facility: str
    started_at: datetime
    ended_at: datetime
    statuses: frozenset[str]
    failed_checks: str | None
    quality_score: float | None
    extracted: int


def history_runs(target_url: str, table: str = "gruponos_run_history") -> list[HistoryRun]:
    """Every run in the platform's run-history table, one entry per run."""
    engine = sa.create_engine(target_url)
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "select run_id, job, facility, started_at, ended_at, status, failed_checks,"
                f" quality_score, extracted from {table}"
            ).fetchall()
    finally:
        engine.dispose()
    grouped: dict[str, list[sa.Row]] = defaultdict(list)
    for row in rows:
        grouped[row.run_id].append(row)
    return [
        HistoryRun(
            run_id=run_id,
            job=group[0].job,
            facility=group[0].facility,
            started_at=min(r.started_at for r in group),
            ended_at=max(r.ended_at for r in group),
            statuses=frozenset(r.status for r in group),
            failed_checks=next((r.failed_checks for r in group if r.failed_checks), None),
            quality_score=min((r.quality_score for r in group), default=None),
            extracted=sum(r.extracted or 0 for r in group),
        )
        for run_id, group in grouped.items()
    ]


def overlaps(runs: list[HistoryRun]) -> list[tuple[HistoryRun, HistoryRun]]:
    """Pairs of runs of one facility whose intervals overlap."""
    by_facility: dict[str, list[HistoryRun]] = defaultdict(list)
    for run in runs:
        by_facility[run.facility].append(run)
    found = []
    for spans in by_facility.values():
        spans.sort(key=lambda run: run.started_at)
        for i, first in enumerate(spans):
            found += [
                (first, later) for later in spans[i + 1 :] if later.started_at < first.ended_at
            ]
    return found


def most_at_once(runs: list[HistoryRun]) -> int:
    """Return the most runs (of any facility) that were running at the same moment."""
    edges = sorted([(r.started_at, 1) for r in runs] + [(r.ended_at, -1) for r in runs])
    most = current = 0
    for _, step in edges:  # an end sorts before a start at the same instant
        current += step
        most = max(most, current)
    return most


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """Run Debian's `redis-server` on loopback without persistence; yield its URL."""
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(binary).exists():
        raise RedisUnavailableError("redis-server is not installed (Debian package redis-server)")
    port = _free_port()
    folder = tempfile.mkdtemp(prefix="redis-")
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", folder],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not _answers_ping(port):
            if time.monotonic() > deadline or server.poll() is not None:
                raise RedisUnavailableError("redis-server did not start")
            time.sleep(0.2)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False
