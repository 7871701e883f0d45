"""The company/facility lock in the target database (PostgreSQL, Oracle): one across machines.

The lock is the target's `NamedLock` (PostgreSQL: a session-level advisory lock; Oracle:
`DBMS_LOCK`, which needs `GRANT EXECUTE ON SYS.DBMS_LOCK`), held by a session of its own that
the database ends when the holder dies, however it dies; keepalives make a dead machine's
session end in minutes, and a trivial query every minute keeps the session from looking idle.
A contender polls without blocking.

Who holds it (job, run id, host, pid, since) is a row of a small table,
`gruponos_lock_holders`, written by the holder once it holds the lock and deleted when it
releases it. The holder refreshes the row's `heartbeat_at` every `HEARTBEAT_SECONDS`, so
readers (a contender's busy message, `health`) tell a live holder from the row a killed one
left, without taking any lock themselves.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from target_gruponos_oracle import database_rules
from target_gruponos_oracle.named_locks import NamedLock, NamedLockBusy, NamedLockUnsupported

from gruponos_meltano_native.codes import MAX_CODE_LENGTH
from gruponos_meltano_native.database import create_db_engine, ensure_table, platform_table
from gruponos_meltano_native.errors import ConnectivityError, ScopeBusy, SettingsError, StateError
from gruponos_meltano_native.masking import mask_url
from gruponos_meltano_native.pipeline.lock import busy_message

log = logging.getLogger(__name__)

HOLDERS_TABLE = "gruponos_lock_holders"
KEEPALIVE_SECONDS = 60  # under Autonomous Database's 5 minutes for idle blocking sessions
HEARTBEAT_SECONDS = 15
# A holder row whose heartbeat is older than this was left by a holder that is gone.
STALE_AFTER = timedelta(seconds=3 * HEARTBEAT_SECONDS)
# Oracle's DBMS_LOCK.ALLOCATE_UNIQUE takes names of up to 128 bytes.
MAX_NAME_BYTES = 128
_PREFIX = "gruponos-meltano/"


class LockLost(StateError):
    """The run no longer holds its company/facility lock: it stops instead of writing."""


def lock_name(company: str, facility: str) -> str:
    """Return the database lock's name for a company/facility (at most 128 bytes).

    Codes are validated at the door (letters, digits, `_`, `-`), so `/` separates them
    unambiguously; names too long for Oracle are replaced by a digest of the same text.
    """
    scope = f"{company}/{facility}"
    name = _PREFIX + scope
    if len(name.encode()) <= MAX_NAME_BYTES:
        return name
    return _PREFIX + hashlib.sha256(scope.encode()).hexdigest()


def holders_table(target_config: dict[str, Any], dialect: str) -> sa.Table:
    """Return the lock-holders table as the target names it on `dialect`."""
    return platform_table(
        target_config,
        dialect,
        HOLDERS_TABLE,
        sa.Column("lock_name", sa.String(MAX_NAME_BYTES), primary_key=True),
        sa.Column("company", sa.String(MAX_CODE_LENGTH), nullable=False),
        sa.Column("facility", sa.String(MAX_CODE_LENGTH), nullable=False),
        sa.Column("job", sa.String(64), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        # ISO 8601 UTC text, like the state table's: needs no session time zone on Oracle.
        sa.Column("since", sa.String(40), nullable=False),
        sa.Column("heartbeat_at", sa.String(40), nullable=False),
    )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def is_live(holder: dict[str, Any], now: datetime | None = None) -> bool:
    """Tell whether a holder row's heartbeat is recent enough for a live holder."""
    try:
        beat = datetime.fromisoformat(str(holder["heartbeat_at"]))
    except (KeyError, ValueError):
        return False
    return (now or datetime.now(UTC)) - beat <= STALE_AFTER


class DatabaseScopeLock:
    """Holds a company/facility in the target database for one run."""

    def __init__(
        self, target_config: dict[str, Any], company: str, facility: str, holder: dict[str, Any]
    ) -> None:
        """Prepare the lock; `holder` (job, run_id) goes into the holders table once held."""
        self.target_config = target_config
        self.company, self.facility = company, facility
        self.scope = f"{company}/{facility}"
        self.name = lock_name(company, facility)
        self.holder = holder
        self._engine: Engine | None = None
        self._lock: NamedLock | None = None
        self._table: sa.Table | None = None
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None

    @property
    def location(self) -> str:
        """Where the lock lives, for messages and `--dry-run`."""
        url = mask_url(database_rules(self.target_config).url)
        return f"database lock {self.name} in {url}"

    def acquire(self, wait_seconds: float = 0) -> None:
        """Take the lock, polling up to `wait_seconds`; `ScopeBusy` names the holder."""
        engine = create_db_engine(self.target_config, pool_size=1)
        self._engine = engine
        try:
            self._table = holders_table(self.target_config, engine.dialect.name)
            ensure_table(engine, self._table)
            lock = NamedLock(engine, self.name, keepalive_seconds=KEEPALIVE_SECONDS)
            try:
                lock.acquire(max(wait_seconds, 0))  # polls without blocking the database
            except NamedLockBusy:
                holder = self._read_holder()
                raise ScopeBusy(self._busy_message(holder, wait_seconds)) from None
            self._lock = lock
            self._write_holder()
        except NamedLockUnsupported as exc:
            self._close()
            raise SettingsError(f"{self.scope}: cannot take {self.location}: {exc}") from None
        except sa.exc.SQLAlchemyError as exc:
            self._close()
            detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            raise ConnectivityError(
                f"{self.scope}: cannot take {self.location}: {detail}"
            ) from None
        except BaseException:
            self._close()
            raise
        self._stop = threading.Event()
        self._heartbeat = threading.Thread(
            target=self._beat, args=(self._stop,), name=f"lock-heartbeat:{self.name}", daemon=True
        )
        self._heartbeat.start()

    def held(self) -> bool:
        """Tell whether this run still holds the lock (its session alive, the lock its own)."""
        return self._lock is not None and self._lock.held()

    def check(self) -> None:
        """Raise `LockLost` unless this run still holds the lock (before each state commit)."""
        if not self.held():
            raise LockLost(
                f"{self.scope}: this run lost its lock ({self.location}; its database session "
                "ended): it stopped without writing its state; the next run starts from the "
                "last state written"
            )

    def release(self) -> None:
        """Let the next run in: the holder row goes, then the lock."""
        self._stop.set()
        if self._heartbeat is not None:
            self._heartbeat.join()
            self._heartbeat = None
        if self._lock is not None and self._engine is not None and self._table is not None:
            try:
                with self._engine.begin() as connection:
                    connection.execute(self._table.delete().where(*self._mine(self._table)))
            except sa.exc.SQLAlchemyError as exc:  # the next holder replaces the row anyway
                log.warning("%s: holder row not removed: %s", self.scope, exc)
        self._close()

    def _close(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    # The holders table ------------------------------------------------------------------------

    def _mine(self, table: sa.Table) -> list[sa.ColumnElement[bool]]:
        return [table.c.lock_name == self.name, table.c.run_id == str(self.holder.get("run_id"))]

    def _write_holder(self) -> None:
        assert self._engine is not None and self._table is not None
        table, now = self._table, _now()
        row = {
            "company": self.company,
            "facility": self.facility,
            "job": str(self.holder.get("job", "?")),
            "run_id": str(self.holder.get("run_id", "?")),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "since": now,
            "heartbeat_at": now,
        }
        # This run holds the lock: the row of a holder that died is its to replace.
        with self._engine.begin() as connection:
            connection.execute(table.delete().where(table.c.lock_name == self.name))
            connection.execute(table.insert().values(lock_name=self.name, **row))

    def _read_holder(self) -> dict[str, Any]:
        assert self._engine is not None and self._table is not None
        table = self._table
        with self._engine.connect() as connection:
            row = connection.execute(
                sa.select(table).where(table.c.lock_name == self.name)
            ).one_or_none()
        return dict(row._mapping) if row is not None else {}

    def _beat(self, stop: threading.Event) -> None:
        while not stop.wait(HEARTBEAT_SECONDS):
            assert self._engine is not None and self._table is not None
            try:
                with self._engine.begin() as connection:
                    connection.execute(
                        self._table.update()
                        .where(*self._mine(self._table))
                        .values(heartbeat_at=_now())
                    )
            except sa.exc.SQLAlchemyError as exc:  # readers then see the holder as stale
                log.warning("%s: lock heartbeat failed: %s", self.scope, exc)

    def _busy_message(self, holder: dict[str, Any], wait_seconds: float) -> str:
        return busy_message(
            self.scope, holder if is_live(holder) else {}, wait_seconds, self.location
        )


def database_holders(target_config: dict[str, Any]) -> list[dict[str, Any]]:
    """Every holder row of the target database, each with `live` (for `health`; no lock taken)."""
    engine = create_db_engine(target_config, pool_size=1)
    try:
        table = holders_table(target_config, engine.dialect.name)
        with engine.connect() as connection:
            if not sa.inspect(connection).has_table(table.name, schema=table.schema):
                return []
            rows = connection.execute(sa.select(table).order_by(table.c.lock_name)).all()
    finally:
        engine.dispose()
    now = datetime.now(UTC)
    return [{**row._mapping, "live": is_live(dict(row._mapping), now)} for row in rows]
