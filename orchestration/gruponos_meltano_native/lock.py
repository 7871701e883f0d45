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
import time
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Any

from gruponos_meltano_native.errors import ScopeBusy, SettingsError

POLL_SECONDS = 0.2
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


def lock_path(state_dir: Path, company: str, facility: str) -> Path:
    """Return the lock file of a company/facility."""
    company, facility = (_SAFE.sub("_", part or "_all") for part in (company, facility))
    return Path(state_dir) / "locks" / company / f"{facility}.lock"


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
            "pid": os.getpid(),
            "since": datetime.now(timezone.utc).isoformat(timespec="seconds"),
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

    def _busy_message(self, holder: dict[str, Any], wait_seconds: float) -> str:
        if holder:
            who = (
                f"{holder.get('job', '?')} run {holder.get('run_id', '?')} "
                f"(pid {holder.get('pid', '?')}) since {holder.get('since', '?')}"
            )
        else:
            who = "a run that is just starting"
        waited = f" after waiting {wait_seconds:g}s" if wait_seconds > 0 else ""
        hint = "" if wait_seconds > 0 else " (--wait SECONDS queues instead)"
        return (
            f"{self.scope} is busy{waited}: held by {who}; this run was skipped{hint}; "
            f"lock file {self.path}"
        )

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


def _read_holder(fd: int) -> dict[str, Any]:
    # The holder writes its details right after locking: a contender may find them not yet
    # written, which the message then says.
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}
