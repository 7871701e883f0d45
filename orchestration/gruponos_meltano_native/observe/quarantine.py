"""Files the platform cannot use are moved aside, never deleted and never left in the way.

A pending history file the database refuses, or a damaged one, or a damaged metrics snapshot
would otherwise block every later run's rows or metrics. Each is moved into a `quarantine/`
folder next to where it was, under a name that says what it was and when it was set aside;
the caller's warning names that file, so an operator can read, fix and replay it.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path


def move_aside(path: Path) -> Path:
    """Move `path` into `<its folder>/quarantine/` (same name plus a UTC stamp); return it."""
    folder = path.parent / "quarantine"
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    target = folder / f"{path.stem}.{stamp}{path.suffix}"
    os.replace(path, target)
    return target
