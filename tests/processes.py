"""Helpers for end-to-end tests that kill a process: its children, and waiting for them."""

from __future__ import annotations

import time
from pathlib import Path

import pytest


def children(pid: int) -> list[int]:
    """Return the ids of the processes whose parent is `pid`."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def command(pid: int) -> str:
    """Return the command line of process `pid` ("" once it has gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def wait_gone(pids: list[int], timeout: float = 60) -> None:
    """Wait until none of `pids` runs; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while any(Path(f"/proc/{pid}").exists() for pid in pids):
        if time.monotonic() > deadline:
            pytest.fail(f"plugin processes {pids} still running after the orchestrator died")
        time.sleep(0.05)
