"""A table's named lock: loads share it per batch, a column replacement holds it alone.

Where a column replacement spans several transactions (Oracle: ADD, UPDATE, SET UNUSED and
RENAME each commit), a load writing the table meanwhile would lose rows (written after the
UPDATE began, into the old column) or fail (its MERGE between SET UNUSED and RENAME,
ORA-00904). A table lock cannot prevent it: it ends at the first DDL's implicit commit, and
DDL_LOCK_TIMEOUT makes DDL wait for writers, not writers for DDL. So every load of such a
table holds the table's named lock (`NamedLock`, DBMS_LOCK on Oracle) in shared mode for
each batch's transaction, and a replacement holds it exclusively for its whole sequence.
The lock is per batch, never per run: a run holding it shared while it replaces a column
would deadlock with another such run (both waiting to upgrade).

Databases whose replacement is one transaction (PostgreSQL's ALTER … TYPE, SQLite's DDL)
need none of this: their own locks order the change and the loads.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import sqlalchemy as sa

from target_gruponos_oracle.dialects.base import DialectStrategy
from target_gruponos_oracle.dialects.tables import TableSpec
from target_gruponos_oracle.errors import DatabaseSettingsError
from target_gruponos_oracle.named_locks import NamedLock, NamedLockUnsupported

logger = logging.getLogger(__name__)

# Seconds a load waits for a replacement to finish, and a replacement for the batches in
# flight to commit, before giving up with NamedLockBusy (named in the error).
WAIT_SECONDS = 600
_PREFIX = "target-gruponos-oracle:table:"


def lock_name(spec: TableSpec) -> str:
    """Name of the table's lock: the same for every load of the table, in any run."""
    return f"{_PREFIX}{spec.schema or ''}.{spec.name}"


class TableLocks:
    """The named locks of one database's tables, for one target run."""

    def __init__(self, engine: sa.Engine, strategy: DialectStrategy) -> None:
        """Locks on `engine`'s database, used only where `strategy` needs them."""
        self.engine = engine
        self.needed = strategy.replacement_spans_transactions
        # None until a load learned whether this database user may take named locks.
        self._loads_can_lock: bool | None = None

    def lock(self, spec: TableSpec, *, shared: bool) -> NamedLock:
        """Return the table's named lock (not taken yet)."""
        return NamedLock(self.engine, lock_name(spec), shared=shared)

    @contextlib.contextmanager
    def for_batch(self, spec: TableSpec) -> Iterator[None]:
        """Hold the table's lock shared around one batch's transaction (where needed).

        A user who may not take named locks (Oracle: no EXECUTE on SYS.DBMS_LOCK) loads
        without it, warned once: no replacement can run then (`for_replacement` refuses).
        """
        if not self.needed or self._loads_can_lock is False:
            yield
            return
        lock = self.lock(spec, shared=True)
        refused = _take(lock)
        if refused is not None:
            self._loads_can_lock = False
            logger.warning("Loading without the table's named lock: %s", refused)
            yield
            return
        self._loads_can_lock = True
        with _released(lock):
            yield

    @contextlib.contextmanager
    def for_replacement(self, spec: TableSpec) -> Iterator[None]:
        """Hold the table's lock exclusively for a whole column replacement (where needed).

        Raises `NamedLockBusy` (naming the lock, hence the table) when loads kept the
        table for `WAIT_SECONDS`.
        """
        if not self.needed:
            yield
            return
        lock = self.lock(spec, shared=False)
        refused = _take(lock)
        if refused is not None:
            msg = (
                f"table {spec.name}: a column replacement takes several transactions, during "
                "which other loads of the table would lose rows, so it holds the table's "
                f"named lock, which this database user may not take: {refused}"
            )
            raise DatabaseSettingsError(msg) from refused
        with _released(lock):
            yield


def _take(lock: NamedLock) -> NamedLockUnsupported | None:
    """Acquire `lock`, waiting up to `WAIT_SECONDS`; the refusal if the user may not."""
    try:
        lock.acquire(WAIT_SECONDS)
    except NamedLockUnsupported as exc:
        return exc
    return None


@contextlib.contextmanager
def _released(lock: NamedLock) -> Iterator[None]:
    """Release `lock` (taken) however the block ends."""
    try:
        yield
    finally:
        lock.release()
