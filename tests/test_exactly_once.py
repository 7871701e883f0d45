"""A run stopped mid-way keeps its last committed state; the rerun lands every record once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.processes import children, command, wait_gone

SLOW = {
    # Small pages and batches, slow answers: the run commits many times and lasts a few seconds.
    "GRUPONOS_MELTANO_ORACLE_WMS__PAGE_SIZE": "20",
    "GRUPONOS_MELTANO_ORACLE_DB__BATCH_SIZE_ROWS": "40",
}
RUN = ("run", "incremental", "--company", "GNOS", "--facility", "DC01")
PAGE_SECONDS = 20.0  # each WMS page, once the plugins run: what an orphaned tap would outlive
STATE_FILE = Path("state/bookmarks/incremental-sync-job/GNOS/DC01.json")


def _start_run(platform_env: dict[str, str], tmp_path: Path) -> subprocess.Popen[str]:
    env = {**os.environ, **platform_env, **SLOW}
    return subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gruponos-meltano"),
            "run",
            "incremental",
            "--company",
            "GNOS",
            "--facility",
            "DC01",
        ],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_first_commit(process: subprocess.Popen[str], state: Path) -> None:
    """Wait until this run has committed once (the state file changed).

    The first commit comes when the first entity (allocation) is done, so the stop lands
    while the larger order_dtl and order_hdr are still being read, not as the run ends.
    """
    before = state.read_text() if state.exists() else None
    deadline = time.monotonic() + 60
    while not state.exists() or state.read_text() == before:
        assert process.poll() is None, "the run finished before it could be stopped"
        assert time.monotonic() < deadline, "no state committed within 60 s"
        time.sleep(0.02)


def _committed(state: Path) -> dict:
    return json.loads(state.read_text())


def test_stop_and_kill_mid_run_then_rerun_lands_every_record_once(
    simulator, platform_env, tmp_path, db, cli
):
    simulator.set_capacity(page_latency=0.04)
    state = tmp_path / STATE_FILE

    # 1. SIGTERM: the orchestrator stops the tap, lets the target commit, keeps the state.
    run = _start_run(platform_env, tmp_path)
    _wait_for_first_commit(run, state)
    run.send_signal(signal.SIGTERM)
    out, err = run.communicate(timeout=120)
    assert run.returncode == 130, out + err
    assert "interrupted" in out + err
    after_term = _committed(state)
    assert after_term["value"]["bookmarks"]
    (loaded_after_term,) = db("select count(*) from allocation")[0]
    assert loaded_after_term > 0

    # 2. SIGKILL: no chance to clean up; the state on disk is whole, the plugins wind down.
    run = _start_run(platform_env, tmp_path)
    _wait_for_first_commit(run, state)
    plugins = children(run.pid)
    run.kill()
    run.communicate(timeout=60)
    wait_gone(plugins)
    after_kill = _committed(state)  # parses: never a half-written file
    assert after_kill["run_id"] != after_term["run_id"]
    assert after_kill["value"]["bookmarks"]

    # 3. The rerun resumes from the committed state and completes.
    simulator.set_capacity()
    rerun = cli("run", "incremental", "--company", "GNOS", "--facility", "DC01", "--json")
    assert rerun.returncode == 0, rerun.stderr
    report = json.loads(rerun.stdout)
    assert report["validation"]["passed"]

    for entity in ("allocation", "order_hdr"):
        expected = simulator.count(entity, "GNOS", "DC01")
        assert db(f"select count(*), count(distinct id) from {entity}") == [(expected, expected)]
    expected_lines = simulator.count("order_dtl", "GNOS", "DC01")  # scoped through the order
    assert db("select count(*), count(distinct id) from order_dtl") == [
        (expected_lines, expected_lines)
    ]
    # Resumed, not restarted: the rerun did not extract everything again.
    total = sum(simulator.count(e, "GNOS", "DC01") for e in ("allocation", "order_hdr"))
    assert report["records_processed"] < total + expected_lines


def test_kill_9_of_the_orchestrator_ends_its_tap_and_target(simulator, platform_env, tmp_path):
    simulator.set_capacity(page_latency=0.5)
    env = {**os.environ, **platform_env, "GRUPONOS_MELTANO_ORACLE_WMS__PAGE_SIZE": "20"}
    run = subprocess.Popen(
        [str(Path(sys.executable).parent / "gruponos-meltano"), *RUN],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        plugins: list[int] = []
        while len(plugins) < 2:
            assert run.poll() is None, "the run ended before its plugins could be seen"
            assert time.monotonic() < deadline, "the tap and the target never started"
            kids = children(run.pid)
            plugins = [p for p in kids if "tap-oracle-wms" in command(p)]
            plugins += [p for p in kids if "target-gruponos-oracle" in command(p)]
            time.sleep(0.05)
        # From now on each page takes long: an orphaned tap would live on for that long.
        simulator.set_capacity(page_latency=PAGE_SECONDS)
        time.sleep(1)
        run.kill()
        run.wait(timeout=10)
        wait_gone(plugins, timeout=PAGE_SECONDS / 4)
    finally:
        simulator.set_capacity()
        if run.poll() is None:
            run.kill()
