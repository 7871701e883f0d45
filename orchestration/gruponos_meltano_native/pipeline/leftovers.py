"""Plugin configs hold credentials: none stays on disk after a run, however the run ends.

A run that ends normally removes its own. A run killed with SIGKILL cannot, so every run
first writes down where its configs will be (`<state_dir>/running/<run_id>.json`, with its
pid and that process's start time), and every later run removes what dead runs left: the
standalone runner's temporary folder, and the `*.config.json` files `meltano run` writes in
the project's `.meltano/run/<plugin>/` (left there when Meltano is killed). Meltano's files
have names only Meltano knows, so only those written while the dead run was on are removed,
and only while no live run of ours uses that project.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from gruponos_meltano_native.files import atomic_write_json

log = logging.getLogger(__name__)

MELTANO_CONFIGS = ".meltano/run/*/*.config.json"


def _start_time(pid: int) -> str | None:
    """Return the kernel's start time of process `pid` (None: there is no such process)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        try:
            os.kill(pid, 0)  # no /proc: the pid alone tells
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return ""
    return stat.rsplit(")", 1)[1].split()[19]


def _alive(entry: dict[str, Any]) -> bool:
    pid = entry.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False  # a finished run's entry, or one cut short
    started = _start_time(pid)
    # A pid reused by a newer process has another start time: the run is dead.
    return started is not None and started in ("", entry.get("pid_started"))


class RunFiles:
    """The ledger of one run's credential files (`with RunFiles(...) as files:`)."""

    def __init__(self, state_dir: Path, run_id: str) -> None:
        """Record under `<state_dir>/running/<run_id>.json`."""
        self.entry = Path(state_dir) / "running" / f"{run_id}.json"
        self.paths: list[str] = []
        self.meltano_project: str | None = None
        self.started = time.time()

    def _write(self, finished: bool = False) -> None:
        pid = 0 if finished else os.getpid()
        record = {
            "pid": pid,
            "pid_started": _start_time(pid) if pid else None,
            "paths": self.paths,
            "meltano_project": self.meltano_project,
            # Meltano's files of this run were written in this window (end: when it ended).
            "started": self.started,
            "finished": time.time() if finished else None,
        }
        atomic_write_json(self.entry, record)

    def add(self, path: Path) -> None:
        """Note a file or folder holding credentials, before it is written."""
        self.paths.append(str(path))
        self._write()

    def add_meltano_project(self, project_dir: Path) -> None:
        """Note that `meltano run` writes plugin configs under this project."""
        self.meltano_project = str(Path(project_dir).resolve())
        self._write()

    def __enter__(self) -> RunFiles:
        """Start the ledger (nothing noted yet)."""
        self._write()
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Remove this run's files, and Meltano's configs once no live run uses its project.

        Meltano removes its own when it ends normally; a Meltano killed by a signal does not.
        """
        self._write(finished=True)
        remove_leftovers(self.entry.parent.parent)


def _remove(path: Path) -> bool:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
        return True
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
        return True
    return False


def _written_during(paths: Iterable[Path], entry: dict[str, Any]) -> Iterator[Path]:
    """Yield the paths last written while the run of `entry` was on (not other runs')."""
    started = entry.get("started") or 0
    finished = entry.get("finished") or float("inf")
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            if started - 1 <= path.stat().st_mtime <= finished + 1:
                yield path


def _entries(folder: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in sorted(folder.glob("*.json")):
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            entry = {}  # cut short by the kill itself: nothing known was written yet
        yield path, entry if isinstance(entry, dict) else {}


def remove_leftovers(state_dir: Path) -> list[str]:
    """Remove the credential files of dead runs; return what was removed."""
    folder = Path(state_dir) / "running"
    entries = list(_entries(folder))
    live_projects = {e.get("meltano_project") for _, e in entries if e and _alive(e)}
    removed = []
    for ledger, entry in entries:
        if entry and _alive(entry):
            continue
        for path in entry.get("paths") or []:
            if _remove(Path(path)):
                removed.append(path)
        project = entry.get("meltano_project")
        if project and project not in live_projects:
            for config in _written_during(Path(project).glob(MELTANO_CONFIGS), entry):
                if _remove(config):
                    removed.append(str(config))
        ledger.unlink(missing_ok=True)
    return removed
