"""An orchestrator killed with kill -9 takes its tap and target with it, at once."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
RUN = ("run", "incremental", "--company", "GNOS", "--facility", "DC01")
PAGE_SECONDS = 20.0  # each WMS page, once the plugins run: what an orphaned tap would outlive


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _alive(pids: list[int]) -> list[int]:
    # A killed child not yet reaped by init is a zombie: it runs nothing any more.
    alive = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.append(pid)
    return alive


def test_kill_9_of_the_orchestrator_ends_its_tap_and_target(simulator, platform_env, tmp_path):
    simulator.set_capacity(page_latency=0.5)
    env = {**os.environ, **platform_env, "GRUPONOS_MELTANO_ORACLE_WMS__PAGE_SIZE": "20"}
    env["PATH"] = f"{BIN}{os.pathsep}{env['PATH']}"
    run = subprocess.Popen(
        [str(BIN / "gruponos-meltano"), *RUN],
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
            children = _children(run.pid)
            plugins = [p for p in children if "tap-oracle-wms" in _command(p)]
            plugins += [p for p in children if "target-gruponos-oracle" in _command(p)]
            time.sleep(0.05)
        # From now on each page takes long: an orphaned tap would live on for that long.
        simulator.set_capacity(page_latency=PAGE_SECONDS)
        time.sleep(1)
        run.kill()
        run.wait(timeout=10)
        deadline = time.monotonic() + PAGE_SECONDS / 4
        while _alive(plugins):
            if time.monotonic() > deadline:
                pytest.fail(f"plugins {_alive(plugins)} outlived the killed orchestrator")
            time.sleep(0.05)
    finally:
        simulator.set_capacity()
        if run.poll() is None:
            run.kill()
