"""What the alerts remember per job/company/facility: failing, alerted, when each kind was sent.

The next run needs it (the cooldown, the recovery alert), wherever it runs. With SQLite it is
`state_dir/alerts.json`; with PostgreSQL or Oracle a row per scope of `gruponos_alert_memory`
in the target database, so a run on another machine sends the recovery of a failure this one
alerted. When the database cannot be reached (often what failed the run), the file stands in,
and the database takes its entries over on its next use, so no failure is forgotten.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from gruponos_meltano_native.database import (
    create_db_engine,
    ensure_table,
    platform_table,
    shares_database,
)
from gruponos_meltano_native.files import atomic_write_json, read_json

log = logging.getLogger(__name__)

ALERT_MEMORY_TABLE = "gruponos_alert_memory"


def alert_memory_table(target_config: dict[str, Any], dialect: str) -> sa.Table:
    """Return the alert-memory table as the target names it on `dialect`."""
    return platform_table(
        target_config,
        dialect,
        ALERT_MEMORY_TABLE,
        # job/company/facility: three codes of up to 64 characters and two separators.
        sa.Column("scope", sa.String(200), primary_key=True),
        sa.Column("memory", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.String(40), nullable=False),
    )


class FileAlertMemory:
    """The memory in one JSON file, shared by the runs of this machine."""

    def __init__(self, path: Path) -> None:
        """Keep the memory in `path`."""
        self.path = path

    @contextlib.contextmanager
    def scope(self, name: str) -> Iterator[dict[str, Any]]:
        """Yield the memory of scope `name` to read and change; it is kept on exit."""
        with self._locked():
            memory = self._load()
            entry = memory.setdefault(name, {})
            yield entry
            self._save(memory)

    def pop(self, name: str) -> dict[str, Any]:
        """Remove and return the memory of scope `name` (empty when there is none)."""
        with self._locked():
            memory = self._load()
            entry = memory.pop(name, None)
            if entry is not None:
                self._save(memory)
        return entry if isinstance(entry, dict) else {}

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        # Runs of several facilities (threads or processes) share the memory file: one
        # read-modify-write at a time, or one run's update is lost and an alert repeats.
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            log.warning("cannot lock alert memory %s: %s", self.path, exc)
            yield
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _load(self) -> dict[str, Any]:
        try:
            memory = read_json(self.path)
        except Exception:
            memory = None
        return memory if isinstance(memory, dict) else {}

    def _save(self, memory: dict[str, Any]) -> None:
        try:
            atomic_write_json(self.path, memory)
        except OSError as exc:
            log.warning("cannot save alert cooldown memory %s: %s", self.path, exc)


class DatabaseAlertMemory:
    """The memory in the target database, one row per scope; the file when it is unreachable."""

    def __init__(self, target_config: dict[str, Any], fallback: FileAlertMemory) -> None:
        """Keep the memory in the database `target_config` names, else in `fallback`."""
        self.target_config = target_config
        self.fallback = fallback
        self._engine: Engine | None = None
        self._table: sa.Table | None = None

    @contextlib.contextmanager
    def scope(self, name: str) -> Iterator[dict[str, Any]]:
        """Yield the memory of scope `name` to read and change; it is kept on exit."""
        entry: dict[str, Any] | None = None
        try:
            entry = self._load(name)
        except sa.exc.SQLAlchemyError as exc:
            log.warning(
                "alert memory kept in %s: database unreachable: %s", self.fallback.path, exc
            )
        if entry is None:
            with self.fallback.scope(name) as kept:
                yield kept
            return
        yield entry
        try:
            self._save(name, entry)
        except sa.exc.SQLAlchemyError as exc:
            log.warning(
                "alert memory kept in %s: database unreachable: %s", self.fallback.path, exc
            )
            with self.fallback.scope(name) as kept:
                kept.clear()
                kept.update(entry)

    def _connect(self) -> tuple[Engine, sa.Table]:
        if self._engine is None or self._table is None:
            engine = create_db_engine(self.target_config, pool_size=1)
            table = alert_memory_table(self.target_config, engine.dialect.name)
            try:
                ensure_table(engine, table)
            except BaseException:
                engine.dispose()
                raise
            self._engine, self._table = engine, table
        return self._engine, self._table

    def _load(self, name: str) -> dict[str, Any]:
        engine, table = self._connect()
        with engine.connect() as connection:
            text = connection.execute(
                sa.select(table.c.memory).where(table.c.scope == name)
            ).scalar_one_or_none()
        try:
            stored = json.loads(text) if text else {}
        except ValueError:
            stored = {}
        # What the file kept while the database was unreachable (or before it was used).
        return merge(stored if isinstance(stored, dict) else {}, self.fallback.pop(name))

    def _save(self, name: str, entry: dict[str, Any]) -> None:
        engine, table = self._connect()
        values = {
            "memory": json.dumps(entry, sort_keys=True),
            "updated_at": datetime.now(UTC).isoformat(),
        }
        with engine.begin() as connection:
            updated = connection.execute(table.update().where(table.c.scope == name).values(values))
            if not updated.rowcount:
                connection.execute(table.insert().values(scope=name, **values))


def merge(one: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    """Combine two memories of a scope: failing or alerted in either, the latest of each send."""
    merged: dict[str, Any] = {}
    for flag in ("failing", "alerted"):
        if one.get(flag) or other.get(flag):
            merged[flag] = True
    last_sent = dict(one.get("last_sent") or {})
    for kind, when in (other.get("last_sent") or {}).items():
        last_sent[kind] = max(last_sent.get(kind, when), when)
    if last_sent:
        merged["last_sent"] = last_sent
    return merged


def alert_memory(
    state_dir: Path, target_config: dict[str, Any]
) -> FileAlertMemory | DatabaseAlertMemory:
    """Return where the alerts remember: the target database (PostgreSQL, Oracle) or a file."""
    file = FileAlertMemory(Path(state_dir) / "alerts.json")
    if shares_database(target_config):
        return DatabaseAlertMemory(target_config, file)
    return file
