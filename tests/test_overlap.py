"""Two `gruponos-meltano` processes for one company/facility: one runs, the other is refused."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from gruponos_testing.receivers import http_receiver

BIN = Path(sys.executable).parent
SLOW = {
    # Small pages, each answered slowly: a full sync lasts long enough to be overlapped.
    "GRUPONOS_MELTANO_ORACLE_WMS__PAGE_SIZE": "20",
}


def _start(platform_env, tmp_path: Path, *args: str, env=None) -> subprocess.Popen[str]:
    full_env = {**os.environ, **platform_env, **SLOW, **(env or {})}
    full_env["PATH"] = f"{BIN}{os.pathsep}{full_env.get('PATH', '')}"
    return subprocess.Popen(
        [str(BIN / "gruponos-meltano"), *args],
        env=full_env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_until_held(tmp_path: Path, pid: int, timeout: float = 60) -> dict:
    lock = tmp_path / "state" / "locks" / "GNOS" / "DC01.lock"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            holder = json.loads(lock.read_text() or "{}")
        except (OSError, ValueError):
            holder = {}
        if holder.get("pid") == pid:
            return holder
        time.sleep(0.05)
    raise AssertionError(f"process {pid} never took the lock {lock}")


def test_an_overlapping_run_is_skipped_not_alerted_and_wait_queues_it(
    cli, simulator, platform_env, tmp_path
):
    simulator.set_capacity(page_latency=0.25)
    with http_receiver() as hook:
        alerts = {"GRUPONOS_MELTANO_ALERTS__WEBHOOK_URL": hook.url}
        first = _start(
            platform_env,
            tmp_path,
            "run",
            "full",
            "--company",
            "GNOS",
            "--facility",
            "DC01",
            env=alerts,
        )
        try:
            holder = _wait_until_held(tmp_path, first.pid)
            skipped = cli(
                "run",
                "incremental",
                "--company",
                "GNOS",
                "--facility",
                "DC01",
                "--json",
                env=alerts,
            )
            assert skipped.returncode == 9, skipped.stdout + skipped.stderr
            assert first.poll() is None  # the refusal came while the first run still held it
            message = skipped.stderr
            assert "skipped: GNOS/DC01 is busy: held by full-sync-job run" in message
            holder_text = f"run {holder['run_id']} on host {holder['host']} (pid {first.pid})"
            assert f"{holder_text} since {holder['since']}" in message
            report = json.loads(skipped.stdout)
            assert report["status"] == "skipped" and report["records_processed"] == 0

            queued = cli(
                "run",
                "incremental",
                "--company",
                "GNOS",
                "--facility",
                "DC01",
                "--wait",
                "300",
                env=alerts,
                timeout=400,
            )
            assert first.wait(timeout=300) == 0, first.stderr.read()[-3000:]
            assert queued.returncode == 0, queued.stderr[-3000:]
        finally:
            first.kill()
    assert hook.requests == []  # a skipped overlap is no failure


def test_a_killed_holder_does_not_block_the_next_run(cli, simulator, platform_env, tmp_path):
    simulator.set_capacity(page_latency=0.25)
    first = _start(platform_env, tmp_path, "run", "full", "--company", "GNOS", "--facility", "DC01")
    try:
        _wait_until_held(tmp_path, first.pid)
        first.send_signal(signal.SIGKILL)
        assert first.wait(timeout=30) == -signal.SIGKILL
    finally:
        first.kill()
    simulator.set_capacity()
    after = cli("run", "full", "--company", "GNOS", "--facility", "DC01", "--entities", "order_hdr")
    assert after.returncode == 0, after.stdout + after.stderr
    assert "full-sync-job succeeded: GNOS/DC01" in after.stdout


def _wait_until_started(tmp_path: Path, facility: str, pid: int, timeout: float = 60) -> None:
    lock = tmp_path / "state" / "locks" / "GNOS" / f"{facility}.lock"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if json.loads(lock.read_text() or "{}").get("pid") == pid:
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    raise AssertionError(f"{facility} never started in process {pid}")


def test_ctrl_c_stops_every_facility_of_the_command(simulator, platform_env, tmp_path):
    simulator.set_capacity(page_latency=0.25)
    both = _start(
        platform_env,
        tmp_path,
        "run",
        "full",
        "--company",
        "GNOS",
        "--facility",
        "DC01,DC02",
        "--parallel",
        "2",
    )
    try:
        for facility in ("DC01", "DC02"):
            _wait_until_started(tmp_path, facility, both.pid)
        time.sleep(1.0)  # both taps are extracting
        both.send_signal(signal.SIGINT)
        out, err = both.communicate(timeout=120)
    finally:
        both.kill()
    assert both.returncode == 130, out[-3000:] + err[-3000:]
    assert re.search(r"^GNOS/DC01\s+full-sync-job\s+interrupted", out, re.M), out[-3000:]
    assert re.search(r"^GNOS/DC02\s+full-sync-job\s+interrupted", out, re.M), out[-3000:]

    one_by_one = _start(
        platform_env, tmp_path, "run", "full", "--company", "GNOS", "--facility", "DC01,DC02"
    )
    try:
        _wait_until_started(tmp_path, "DC01", one_by_one.pid)
        time.sleep(1.0)
        one_by_one.send_signal(signal.SIGINT)
        out, err = one_by_one.communicate(timeout=120)
    finally:
        one_by_one.kill()
    assert one_by_one.returncode == 130, out[-3000:] + err[-3000:]
    assert "1 facility; exit code 130" in out  # DC02 was never started
