"""Two machines (two orchestrators, each with its own STATE_DIR) sharing one PostgreSQL target
behave as one: an overlapping run stops as busy, and either continues from the other's state."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import sqlalchemy as sa
from gruponos_meltano_native.pipeline.db_lock import database_holders

BIN = Path(sys.executable).parent
RUN = ("run", "--company", "GNOS", "--facility", "DC01")


def _machine(platform_env, tmp_path: Path, name: str, url: str, schema: str) -> dict[str, str]:
    """The settings of one machine: its own state folder, the shared database."""
    return {
        **platform_env,
        "GRUPONOS_MELTANO_ORACLE_DB__SQLALCHEMY_URL": url,
        "GRUPONOS_MELTANO_ORACLE_DB__SCHEMA": schema,
        "GRUPONOS_MELTANO_STATE_DIR": str(tmp_path / name),
        "GRUPONOS_MELTANO_ORACLE_WMS__PAGE_SIZE": "20",
    }


def test_two_machines_sharing_postgresql_lock_and_continue_as_one(
    cli, simulator, platform_env, tmp_path, postgres_url
):
    schema = f"m_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(postgres_url)
    with engine.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    engine.dispose()
    a = _machine(platform_env, tmp_path, "machine-a", postgres_url, schema)
    b = _machine(platform_env, tmp_path, "machine-b", postgres_url, schema)
    target = {"sqlalchemy_url": postgres_url, "default_target_schema": schema}

    # Machine A runs a slow full sync of GNOS/DC01.
    simulator.set_capacity(page_latency=0.25)
    full_env = {**os.environ, **a, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    first = subprocess.Popen(
        [str(BIN / "gruponos-meltano"), RUN[0], "full", *RUN[1:], "--json"],
        env=full_env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        holders: list[dict] = []
        while not [h for h in holders if h["pid"] == first.pid]:
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "machine A never took the lock"
            try:
                holders = database_holders(target)
            except sa.exc.ProgrammingError:
                holders = []  # the holders table is being created
            time.sleep(0.1)
        (held,) = holders

        # Machine B's incremental of the same facility stops as busy, naming A's run.
        skipped = cli(RUN[0], "incremental", *RUN[1:], "--json", env=b)
        assert skipped.returncode == 9, skipped.stdout[-2000:] + skipped.stderr[-2000:]
        assert first.poll() is None  # refused while A still held the lock
        assert (
            f"GNOS/DC01 is busy: held by full-sync-job run {held['run_id']} on host "
            f"{socket.gethostname()} (pid {first.pid}) since {held['since']}"
        ) in skipped.stderr
        assert json.loads(skipped.stdout)["status"] == "skipped"
        # B's health lists the lock A holds, without taking it.
        health = cli("health", env=b)
        assert (
            f"lock held: GNOS/DC01 by full-sync-job run {held['run_id']} on host "
            f"{socket.gethostname()} (pid {first.pid})"
        ) in health.stdout
        assert first.poll() is None

        simulator.set_capacity()
        out, err = first.communicate(timeout=300)
    finally:
        simulator.set_capacity()
        first.kill()
    assert first.returncode == 0, out[-3000:] + err[-3000:]
    full_run = json.loads(out)["run_id"]

    # Machine B sees the state A's full sync left for the incremental job, and starts there.
    shown = json.loads(cli("state", "show", env=b).stdout)
    assert ("incremental-sync-job", full_run) in [(e["job"], e["run_id"]) for e in shown]
    incremental = cli(RUN[0], "incremental", *RUN[1:], "--json", env=b)
    assert incremental.returncode == 0, incremental.stderr[-3000:]
    report = json.loads(incremental.stdout)
    read = report["entities"]["allocation"]["extracted"]
    assert read < simulator.count("allocation", "GNOS", "DC01") / 3  # not from the beginning
    assert (
        "gruponos_singer_state[incremental-sync-job/GNOS/DC01] in postgresql"
        in (report["state_path"])
    )
    # Nothing a run needs later stayed on one machine: no state files, no lock files.
    for machine in ("machine-a", "machine-b"):
        assert not list((tmp_path / machine).glob("bookmarks/**/*.json"))
        assert not (tmp_path / machine / "locks").exists()
    assert "locks held: none" in cli("health", env=a).stdout

    # `state reset` on one machine resets it for both.
    reset = cli("state", "reset", "--yes", "--job", "incremental-sync-job", *RUN[1:], env=a)
    assert reset.returncode == 0 and "cleared" in reset.stdout, reset.stderr
    after = json.loads(cli("state", "show", env=b).stdout)
    assert "incremental-sync-job" not in [e["job"] for e in after]
