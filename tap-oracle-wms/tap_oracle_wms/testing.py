"""Interrupted runs for tests and benchmarks: the tap piped into a target, killed on cue.

`run_pipe` starts the tap and a target as real processes, passes the tap's output to the
target (counting the RECORDs), and SIGKILLs both once the target has emitted a given number
of states — a target prints a state after committing what came before it, so the last
one it printed is where a rerun resumes from, exactly as an orchestrator would keep it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import typing as t
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

TAP = str(Path(sys.executable).parent / "tap-oracle-wms")
_RECORD = b'{"type":"RECORD","stream":'
_STATE = b'{"type":"STATE"'


@dataclass
class PipeRun:
    """What one tap | target run did before it ended or was killed."""

    killed: bool
    returncodes: tuple[int | None, int | None]
    states: list[dict] = field(default_factory=list)  # STATE values the target committed
    committed: list[int] = field(default_factory=list)  # RECORDs sent before each of them
    records: Counter[str] = field(default_factory=Counter)  # RECORDs the tap sent, per stream
    tap_log: str = ""

    @property
    def last_state(self) -> dict | None:
        """The last committed state (where a rerun starts), if any."""
        return self.states[-1] if self.states else None


def run_pipe(
    tap_args: list[str],
    target_command: list[str],
    *,
    kill_after_states: int | None = None,
    kill_when: t.Callable[[dict, int], bool] | None = None,
    timeout: float = 300,
) -> PipeRun:
    """Run `tap-oracle-wms <tap_args> | <target_command>`; kill both on cue.

    Both processes get SIGKILL (if still running) as soon as the target has emitted
    `kill_after_states` STATE messages, or a STATE `kill_when` accepts (called with its
    value and the RECORDs the tap sent before it, all committed); with neither, the run
    goes to its end.
    """
    tap = subprocess.Popen([TAP, *tap_args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    target = subprocess.Popen(
        target_command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    run = PipeRun(killed=False, returncodes=(None, None))
    log: list[bytes] = []
    sent: dict[str, int] = {}  # each STATE the tap wrote -> RECORDs it sent before
    lock = threading.Lock()
    assert tap.stdout is not None and tap.stderr is not None
    assert target.stdin is not None and target.stdout is not None

    def forward() -> None:
        assert tap.stdout is not None and target.stdin is not None
        try:
            for line in tap.stdout:
                if line.startswith(_RECORD):
                    stream = line[len(_RECORD) :].split(b",", 1)[0]
                    run.records[json.loads(stream)] += 1
                elif line.startswith(_STATE):
                    value = json.loads(line)["value"]
                    with lock:
                        sent[_canonical(value)] = run.records.total()
                target.stdin.write(line)
        except (BrokenPipeError, ValueError, OSError):
            pass  # the target was killed
        finally:
            with contextlib.suppress(OSError):
                target.stdin.close()

    threads = [
        threading.Thread(target=forward, daemon=True),
        threading.Thread(target=lambda: log.extend(tap.stderr or ()), daemon=True),
    ]
    for thread in threads:
        thread.start()
    timer = threading.Timer(timeout, lambda: _kill(tap, target))
    timer.start()
    try:
        for line in target.stdout:  # a Singer target prints each state value it commits
            value = json.loads(line)
            with lock:
                committed = sent.get(_canonical(value), 0)
            run.states.append(value)
            run.committed.append(committed)
            enough = kill_after_states is not None and len(run.states) >= kill_after_states
            if enough or (kill_when is not None and kill_when(value, committed)):
                run.killed = tap.poll() is None or target.poll() is None
                _kill(tap, target)
                break
    finally:
        timer.cancel()
        target.wait()
        tap.wait()
        for thread in threads:
            thread.join(10)
    run.returncodes = (tap.returncode, target.returncode)
    run.tap_log = b"".join(log).decode(errors="replace")
    return run


def _canonical(value: t.Any) -> str:
    return json.dumps(value, sort_keys=True)


def _kill(*processes: subprocess.Popen) -> None:
    for process in processes:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)


def tap_args(folder: Path, config: dict, state: dict | None, catalog: dict | None) -> list[str]:
    """Write the tap's files under `folder`; return its command-line arguments."""
    folder.mkdir(parents=True, exist_ok=True)
    args = ["--config", _write(folder / "tap.json", config)]
    if state is not None:
        args += ["--state", _write(folder / "state.json", state)]
    if catalog is not None:
        args += ["--catalog", _write(folder / "catalog.json", catalog)]
    return args


def _write(path: Path, payload: dict) -> str:
    path.write_text(json.dumps(payload))
    return str(path)
