"""One run per company/facility at a time, across jobs and processes.

The lock is an `fcntl.flock` on `state_dir/locks/<company>/<facility>.lock`: the kernel
drops it when the holding process ends, however it ends (a killed run never blocks the next
one). The file carries who holds it (job, run id, pid, since when) for the message a
contender prints. The file itself stays: removing it would let a second process lock a new
file of the same name while a first still holds the old one.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import socket
import time
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from gruponos_meltano_native.errors import ScopeBusy, SettingsError

POLL_SECONDS = 0.2
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


def lock_path(state_dir: Path, company: str, facility: str) -> Path:
    """Return the lock file of a company/facility."""
    company, facility = (_SAFE.sub("_", part or "_all") for part in (company, facility))
    return Path(state_dir) / "locks" / company / f"{facility}.lock"


class RunLock(Protocol):
    """What a run needs of its company/facility lock, wherever the lock lives."""

    @property
    def location(self) -> str:
        """Where the lock lives, for messages and `--dry-run`."""
        ...

    def acquire(self, wait_seconds: float = 0) -> None:
        """Take the lock, waiting up to `wait_seconds`; `ScopeBusy` names the holder."""
        ...

    def release(self) -> None:
        """Let the next run in."""
        ...

    def check(self) -> None:
        """Raise unless this run still holds the lock (called before each state commit)."""
        ...


class ScopeLock:
    """Holds a company/facility for one run (`with ScopeLock(...):`)."""

    def __init__(
        self, state_dir: Path, company: str, facility: str, holder: dict[str, Any]
    ) -> None:
        """Prepare the lock; `holder` (job, run_id) is written into the file once held."""
        self.path = lock_path(state_dir, company, facility)
        self.scope = f"{company}/{facility}"
        self.holder = holder
        self._fd: int | None = None

    def acquire(self, wait_seconds: float = 0) -> None:
        """Take the lock, waiting up to `wait_seconds`; `ScopeBusy` names the holder."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # os.open makes a descriptor the plugins do not inherit (O_CLOEXEC): only this
            # process holds the lock, so it ends with this process and not with a child.
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise SettingsError(
                f"cannot create lock file {self.path}: {exc.strerror or exc}; "
                "GRUPONOS_MELTANO_STATE_DIR must be a writable folder"
            ) from None
        deadline = time.monotonic() + max(wait_seconds, 0)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = _read_holder(fd)
                    os.close(fd)
                    raise ScopeBusy(self._busy_message(holder, wait_seconds)) from None
                time.sleep(POLL_SECONDS)
        self._fd = fd
        info = {
            **self.holder,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)

    def release(self) -> None:
        """Let the next run in (closing the descriptor drops the lock)."""
        if self._fd is None:
            return
        os.ftruncate(self._fd, 0)
        os.close(self._fd)
        self._fd = None

    @property
    def location(self) -> str:
        """Where the lock lives, for messages and `--dry-run`."""
        return f"lock file {self.path}"

    def check(self) -> None:
        """Nothing to check before a state commit: a file lock is held until released."""

    def _busy_message(self, holder: dict[str, Any], wait_seconds: float) -> str:
        return busy_message(self.scope, holder, wait_seconds, self.location)

    def __enter__(self) -> ScopeLock:
        """Take the lock without waiting."""
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Release the lock."""
        self.release()


def holder_text(holder: dict[str, Any]) -> str:
    """Name a lock's holder: job, run id, host, pid and since when."""
    return (
        f"{holder.get('job', '?')} run {holder.get('run_id', '?')} on host "
        f"{holder.get('host', '?')} (pid {holder.get('pid', '?')}) since {holder.get('since', '?')}"
    )


def busy_message(scope: str, holder: dict[str, Any], wait_seconds: float, where: str) -> str:
    """Return the message of a run skipped because `holder` holds `scope` (empty: unknown)."""
    who = holder_text(holder) if holder else "a run that is just starting"
    waited = f" after waiting {wait_seconds:g}s" if wait_seconds > 0 else ""
    hint = "" if wait_seconds > 0 else " (--wait SECONDS queues instead)"
    return f"{scope} is busy{waited}: held by {who}; this run was skipped{hint}; {where}"


def scope_lock(
    state_dir: Path,
    target_config: dict[str, Any],
    company: str,
    facility: str,
    holder: dict[str, Any],
) -> RunLock:
    """Return the lock of a company/facility, where every process that must see it can.

    In the target database when it is PostgreSQL or Oracle (every machine sees it there),
    else the file lock under `state_dir` (SQLite: one machine).
    """
    from gruponos_meltano_native.database import shares_database
    from gruponos_meltano_native.pipeline.db_lock import DatabaseScopeLock

    if shares_database(target_config):
        return DatabaseScopeLock(target_config, company, facility, holder)
    return ScopeLock(state_dir, company, facility, holder)


def file_holders(state_dir: Path) -> list[dict[str, Any]]:
    """Return the file locks held now under `state_dir`, read without taking them (`health`).

    A lock file names its holder from the moment it is held until it is released; the details
    a killed holder left are told apart by its process being gone.
    """
    found = []
    host = socket.gethostname()
    for path in sorted((Path(state_dir) / "locks").glob("*/*.lock")):
        try:
            info = json.loads(path.read_bytes() or b"{}")
        except (OSError, ValueError):
            continue
        if not isinstance(info, dict) or not info:
            continue
        if info.get("host", host) == host and not _process_exists(info.get("pid")):
            continue
        found.append({"path": str(path), **info})
    return found


def _process_exists(pid: object) -> bool:
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_holder(fd: int) -> dict[str, Any]:
    # The holder writes its details right after locking: a contender may find them not yet
    # written, which the message then says.
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}
