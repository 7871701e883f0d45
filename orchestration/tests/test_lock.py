"""The company/facility lock, held by real processes that end normally or are killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from gruponos_meltano_native.errors import ExitCode, ScopeBusy, SettingsError
from gruponos_meltano_native.pipeline.lock import ScopeLock, lock_path

HOLDER = textwrap.dedent(
    """
    import subprocess, sys, time
    from pathlib import Path
    from gruponos_meltano_native.pipeline.lock import ScopeLock
    state_dir, hold = Path(sys.argv[1]), float(sys.argv[2])
    lock = ScopeLock(state_dir, "GNOS", "DC01", {"job": "full-sync-job", "run_id": "R-1"})
    lock.acquire()
    # Like a run starting its plugins: a child that outlives this process if it is killed.
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    print(child.pid, flush=True)
    time.sleep(hold)
    lock.release()
    """
)


def _start_holder(tmp_path, hold: float) -> tuple[subprocess.Popen[str], int]:
    script = tmp_path / "holder.py"
    script.write_text(HOLDER)
    process = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "state"), str(hold)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    child_pid = int(process.stdout.readline())  # printed once the lock is held
    return process, child_pid


def _contender(tmp_path, job="incremental-sync-job") -> ScopeLock:
    return ScopeLock(tmp_path / "state", "GNOS", "DC01", {"job": job, "run_id": "R-2"})


def test_a_second_run_is_refused_naming_the_holder_and_a_killed_holder_frees_it(tmp_path):
    holder, child_pid = _start_holder(tmp_path, hold=60)
    try:
        with pytest.raises(ScopeBusy) as caught:
            _contender(tmp_path).acquire()
        message = str(caught.value)
        assert "GNOS/DC01 is busy: held by full-sync-job run R-1" in message
        assert f"(pid {holder.pid})" in message and "since 20" in message
        assert "--wait SECONDS" in message
        assert caught.value.exit_code == ExitCode.BUSY == 9

        holder.send_signal(signal.SIGKILL)
        holder.wait()
        # The holder's child is still running: the lock must not have passed to it.
        os.kill(child_pid, 0)
        lock = _contender(tmp_path)
        lock.acquire()
        held = json.loads(lock_path(tmp_path / "state", "GNOS", "DC01").read_text())
        assert held["run_id"] == "R-2" and held["pid"] == os.getpid()
        lock.release()
    finally:
        holder.kill()
        os.kill(child_pid, signal.SIGKILL)


def test_wait_queues_until_the_holder_ends_and_gives_up_after_its_time(tmp_path):
    holder, child_pid = _start_holder(tmp_path, hold=1.5)
    try:
        started = time.monotonic()
        lock = _contender(tmp_path)
        lock.acquire(wait_seconds=30)
        assert 0.5 < time.monotonic() - started < 25  # queued, then ran once the holder ended
        lock.release()
    finally:
        holder.kill()
        os.kill(child_pid, signal.SIGKILL)

    holder, child_pid = _start_holder(tmp_path, hold=60)
    try:
        with pytest.raises(ScopeBusy, match=r"busy after waiting 0\.5s: held by full-sync-job"):
            _contender(tmp_path).acquire(wait_seconds=0.5)
    finally:
        holder.kill()
        os.kill(child_pid, signal.SIGKILL)


def test_one_lock_per_company_and_facility(tmp_path):
    with ScopeLock(tmp_path, "GNOS", "DC01", {"job": "a"}):
        with ScopeLock(tmp_path, "GNOS", "DC02", {"job": "b"}):
            pass  # another facility is another lock
        with pytest.raises(ScopeBusy):
            ScopeLock(tmp_path, "GNOS", "DC01", {"job": "c"}).acquire()


def test_a_lock_file_that_cannot_be_created_is_a_settings_error_naming_it(tmp_path):
    not_a_folder = tmp_path / "state"
    not_a_folder.write_text("a file where the state folder should be")
    with pytest.raises(SettingsError) as caught:
        ScopeLock(not_a_folder, "GNOS", "DC01", {"job": "a"}).acquire()
    assert str(not_a_folder / "locks" / "GNOS" / "DC01.lock") in str(caught.value)
    assert caught.value.exit_code == ExitCode.SETTINGS
