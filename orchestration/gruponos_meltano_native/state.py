"""Singer state kept per job, company and facility, written atomically.

A state file is replaced in one step (temp file, fsync, `os.replace`, fsync of the folder), so a
crash at any moment leaves either the previous state or the new one, never half of either.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tap_oracle_wms.errors import WMSStateError
from tap_oracle_wms.inputs import check_state

from gruponos_meltano_native.errors import StateError
from gruponos_meltano_native.files import atomic_write_json, read_json

_SAFE = re.compile(r"[^A-Za-z0-9_.-]")
# The tap's incremental replication key, and how far before a full sync's start the incremental
# job it seeds goes back (the WMS's clock and ours may differ; re-reading is harmless).
REPLICATION_KEY = "mod_ts"
SEED_MARGIN = timedelta(hours=1)


def check_stored_state(value: dict[str, Any], where: str) -> None:
    """Refuse a stored state the tap could not start from (`StateError` naming `where`)."""
    try:
        check_state(value, where=where)
    except WMSStateError as exc:
        raise StateError(str(exc)) from None


@dataclass(frozen=True)
class StateKey:
    """Which state: one per job, company and facility."""

    job: str
    company: str
    facility: str

    def relative_path(self) -> Path:
        """Where under the state folder this key's file lives."""
        job, company, facility = (
            _SAFE.sub("_", part or "_all") for part in (self.job, self.company, self.facility)
        )
        return Path("bookmarks", job, company, f"{facility}.json")

    def __str__(self) -> str:
        return f"{self.job}/{self.company or '*'}/{self.facility or '*'}"


class StateStore:
    """The Singer states of every job, in `state_dir/bookmarks/<job>/<company>/<facility>.json`."""

    def __init__(self, state_dir: Path) -> None:
        """Keep states under `state_dir` (created on first write)."""
        self.state_dir = Path(state_dir)

    def path(self, key: StateKey) -> Path:
        """Return the file holding `key`'s state."""
        return self.state_dir / key.relative_path()

    def location(self, key: StateKey) -> str:
        """Where `key`'s state is kept, for reports and `--dry-run`."""
        return str(self.path(key))

    def get(self, key: StateKey) -> dict[str, Any] | None:
        """Return the last committed Singer state value for `key`, or None."""
        envelope = read_json(self.path(key))
        if envelope is None:
            return None
        if not isinstance(envelope, dict) or "value" not in envelope:
            raise StateError(f"state file {self.path(key)} has no 'value'")
        value = envelope["value"]
        if value is not None and not isinstance(value, dict):
            raise StateError(f"state file {self.path(key)}: 'value' is not a JSON object")
        if value is not None:
            check_stored_state(value, where=f"State file {self.path(key)}")
        return value

    def put(self, key: StateKey, value: dict[str, Any], run_id: str) -> None:
        """Replace `key`'s state with `value` atomically."""
        envelope = {
            "job": key.job,
            "company": key.company,
            "facility": key.facility,
            "run_id": run_id,
            "updated_at": datetime.now(UTC).isoformat(),
            "value": value,
        }
        try:
            atomic_write_json(self.path(key), envelope)
        except OSError as exc:
            raise StateError(f"cannot write state file {self.path(key)}: {exc}") from None

    def clear(self, key: StateKey) -> bool:
        """Forget `key`'s state; True if there was one."""
        try:
            self.path(key).unlink()
        except FileNotFoundError:
            return False
        return True

    def entries(self) -> list[dict[str, Any]]:
        """Every stored state with its job, company, facility, run and time."""
        root = self.state_dir / "bookmarks"
        found = []
        for path in sorted(root.glob("*/*/*.json")):
            envelope = read_json(path)
            if isinstance(envelope, dict):
                found.append({"location": str(path), "path": str(path), **envelope})
        return found


def incremental_seed(streams: Iterable[str], full_sync_started: datetime) -> dict[str, Any]:
    """Return a Singer state starting each stream shortly before a full sync began.

    A full sync that reads FULL_TABLE (to mirror deletions) leaves no bookmarks. It read every
    change made before it started, so an incremental run may start from then (minus
    `SEED_MARGIN`) and still see every later change.
    """
    since = (full_sync_started - SEED_MARGIN).astimezone(UTC).isoformat()
    return {
        "bookmarks": {
            stream: {"replication_key": REPLICATION_KEY, "replication_key_value": since}
            for stream in sorted(streams)
        }
    }
