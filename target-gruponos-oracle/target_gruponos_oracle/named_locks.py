"""Database-wide named locks, held by a session of their own (PostgreSQL and Oracle).

``NamedLock(engine, name)`` takes a lock on `name` that every session of the database sees,
held by the session of a dedicated connection (never a pooled one). The database releases it
when that session ends, however it ends (``kill -9`` of the holder included), and keepalives
on that connection let the server drop a dead machine's session in minutes. A background
thread runs a trivial query every `keepalive_seconds`, so the session never looks idle
(Autonomous Database ends idle sessions that block others after 5 minutes).

The SQL of each database lives in its dialect module (``try_named_lock``,
``named_lock_held``, ``release_named_lock``): advisory locks on PostgreSQL, ``DBMS_LOCK``
on Oracle (needs ``GRANT EXECUTE ON SYS.DBMS_LOCK``). SQLite has no named locks across
processes: `NamedLockUnsupported`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time

import sqlalchemy as sa

from target_gruponos_oracle.connector import create_engine, engine_config
from target_gruponos_oracle.dialects import DialectStrategy, strategy_class

logger = logging.getLogger(__name__)

# Seconds between two tries of `acquire(wait_seconds)`.
POLL_SECONDS = 0.5


class NamedLockError(RuntimeError):
    """A named lock could not be taken."""


class NamedLockBusy(NamedLockError):
    """Another session holds the lock (in a mode that excludes the one asked for)."""

    def __init__(self, name: str, waited: float) -> None:
        """Name the lock and how long the caller waited."""
        self.name = name
        self.waited = waited
        super().__init__(f"Named lock {name!r} is held by another session (waited {waited:g} s)")


class NamedLockUnsupported(NamedLockError):
    """The database has no named locks, or this database user may not take them."""


def _strategy(engine: sa.Engine) -> type[DialectStrategy]:
    dialect = engine.dialect.name
    try:
        strategy = strategy_class(dialect)
    except ValueError:
        strategy = DialectStrategy
    if not strategy.supports_named_locks:
        msg = (
            f"Named locks need PostgreSQL or Oracle; {dialect} has no database-wide named "
            "locks (with SQLite, runs keep the orchestration's file lock)"
        )
        raise NamedLockUnsupported(msg)
    return strategy


class NamedLock:
    """A database-wide lock on `name`, exclusive or `shared`, held by its own session.

    Shared holders coexist; an exclusive holder excludes every other holder. `try_acquire`
    never blocks; `acquire(wait_seconds)` polls it until the deadline, then raises
    `NamedLockBusy`. ``with NamedLock(...)`` acquires without waiting and releases on exit.
    """

    def __init__(
        self, engine: sa.Engine, name: str, *, shared: bool = False, keepalive_seconds: float = 60
    ) -> None:
        """Describe the lock; nothing is taken until `try_acquire` or `acquire`."""
        if not name:
            msg = "A named lock needs a non-empty name"
            raise ValueError(msg)
        if keepalive_seconds <= 0:
            msg = f"keepalive_seconds must be positive: {keepalive_seconds!r}"
            raise ValueError(msg)
        self._strategy = _strategy(engine)
        self.engine = engine
        self.name = name
        self.shared = shared
        self.keepalive_seconds = keepalive_seconds
        # Serialises every use of the lock's connection (the caller's and the keepalive's).
        self._guard = threading.Lock()
        self._lock_engine: sa.Engine | None = None
        self._connection: sa.Connection | None = None
        self._holding = False
        self._stop = threading.Event()
        self._keepalive: threading.Thread | None = None

    def try_acquire(self) -> bool:
        """Take the lock if no other session holds it in a conflicting mode; never blocks.

        Returns True when this session holds it (also when it already did), False when
        another session holds it (then no connection stays open).

        Raises:
            NamedLockUnsupported: the database user may not take named locks (the message
                names the grant to ask for).

        """
        with self._guard:
            if self._holding:
                return True
            connection = self._connect()
            try:
                taken = self._strategy.try_named_lock(
                    _driver_connection(connection), self.name, shared=self.shared
                )
            except Exception as exc:
                self._close()
                refused = self._strategy.named_lock_refused(exc)
                if refused:
                    msg = f"Named lock {self.name!r}: {refused}"
                    raise NamedLockUnsupported(msg) from exc
                raise
            if not taken:
                self._close()
                return False
            self._holding = True
            self._start_keepalive()
            return True

    def acquire(self, wait_seconds: float = 0) -> None:
        """Take the lock, polling for up to `wait_seconds`; `NamedLockBusy` after that."""
        deadline = time.monotonic() + wait_seconds
        while not self.try_acquire():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise NamedLockBusy(self.name, wait_seconds)
            time.sleep(min(POLL_SECONDS, remaining))

    def held(self) -> bool:
        """Tell whether this session is alive and still holds the lock (never raises)."""
        with self._guard:
            if not self._holding or self._connection is None:
                return False
            try:
                return self._strategy.named_lock_held(
                    _driver_connection(self._connection), self.name, shared=self.shared
                )
            except Exception as exc:  # a lost session is an answer: not held
                logger.warning("Named lock %r: its session is gone: %s", self.name, exc)
                return False

    def release(self) -> None:
        """Release the lock and close its connection; calling it again does nothing."""
        self._stop.set()
        with self._guard:
            if self._holding and self._connection is not None:
                # A session that is gone has released the lock already.
                with contextlib.suppress(Exception):
                    self._strategy.release_named_lock(
                        _driver_connection(self._connection), self.name, shared=self.shared
                    )
            self._holding = False
            self._close()
        thread, self._keepalive = self._keepalive, None
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def __enter__(self) -> NamedLock:
        """Acquire without waiting (`NamedLockBusy` when another session holds it)."""
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Release, however the block ends."""
        self.release()

    def __repr__(self) -> str:
        """Name, mode and whether this object holds it."""
        mode = "shared" if self.shared else "exclusive"
        return f"NamedLock({self.name!r}, {mode}, holding={self._holding})"

    # The dedicated connection --------------------------------------------------------------

    def _connect(self) -> sa.Connection:
        """Open the lock's own connection: the engine's URL and settings, plus keepalives.

        No pool (NullPool): closing the connection ends the session. Autocommit: the
        session never sits idle inside a transaction.
        """
        config = engine_config(self.engine)
        self._lock_engine = create_engine(
            config,
            self.engine.url,
            poolclass=sa.NullPool,
            isolation_level="AUTOCOMMIT",
            connect_args=self._strategy.named_lock_connect_args(config),
        )
        self._connection = self._lock_engine.connect()
        return self._connection

    def _close(self) -> None:
        connection, self._connection = self._connection, None
        lock_engine, self._lock_engine = self._lock_engine, None
        if connection is not None:
            with contextlib.suppress(Exception):  # a broken connection closes all the same
                connection.close()
        if lock_engine is not None:
            lock_engine.dispose()

    def _start_keepalive(self) -> None:
        self._stop = threading.Event()
        self._keepalive = threading.Thread(
            target=self._keep_alive,
            args=(self._stop,),
            name=f"named-lock-keepalive:{self.name}",
            daemon=True,
        )
        self._keepalive.start()

    def _keep_alive(self, stop: threading.Event) -> None:
        """Run the trivial statement every `keepalive_seconds` until released or broken."""
        while not stop.wait(self.keepalive_seconds):
            with self._guard:
                if stop.is_set() or self._connection is None:
                    return
                try:
                    self._connection.exec_driver_sql(self._strategy.keepalive_statement).close()
                except Exception as exc:  # held() reports the loss to the holder
                    logger.warning("Named lock %r: keepalive failed: %s", self.name, exc)
                    return


def _driver_connection(connection: sa.Connection) -> object:
    """Return the driver's connection under `connection` (the dialect modules use it)."""
    return connection.connection.dbapi_connection
