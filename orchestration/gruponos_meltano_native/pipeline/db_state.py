"""Singer state kept in the target database (PostgreSQL, Oracle), for every machine to see.

One table (`gruponos_singer_state`, named by the target's rules: upper case on Oracle, in the
target's schema) holds one row per job, company and facility. Each commit replaces a row in one
transaction (UPDATE, or INSERT when the key has no row yet), so a crash leaves the previous
state or the new one. The table is created on first use.

State files a machine kept before (`<state_dir>/bookmarks/…`) are taken over on the store's
first use: a key the table does not have yet gets the file's state, and the file is renamed
`….json.taken-over` so it is never read again. A key the table already has keeps its row (the
database is the one truth once it holds a state).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from target_gruponos_oracle import database_rules

from gruponos_meltano_native.codes import MAX_CODE_LENGTH
from gruponos_meltano_native.database import (
    create_db_engine,
    ensure_table,
    platform_table,
    shares_database,
)
from gruponos_meltano_native.errors import StateError
from gruponos_meltano_native.files import read_json
from gruponos_meltano_native.masking import mask_url
from gruponos_meltano_native.state import StateKey, StateStore, check_stored_state

log = logging.getLogger(__name__)

STATE_TABLE = "gruponos_singer_state"
TAKEN_OVER_SUFFIX = ".taken-over"
# Oracle stores '' as NULL, which a key column refuses: an empty part is stored as this.
_EMPTY = "*"


def state_table(target_config: dict[str, Any], dialect: str) -> sa.Table:
    """Return the state table as the target names it on `dialect`."""
    return platform_table(
        target_config,
        dialect,
        STATE_TABLE,
        sa.Column("job", sa.String(64), nullable=False),
        sa.Column("company", sa.String(MAX_CODE_LENGTH), nullable=False),
        sa.Column("facility", sa.String(MAX_CODE_LENGTH), nullable=False),
        # A state with many partitions exceeds 4,000 bytes: CLOB on Oracle, TEXT elsewhere.
        sa.Column("state_value", sa.Text(), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        # ISO 8601 UTC text: sorts as time, and needs no session time zone on Oracle.
        sa.Column("updated_at", sa.String(40), nullable=False),
        sa.PrimaryKeyConstraint("job", "company", "facility"),
    )


def _stored(part: str) -> str:
    return part or _EMPTY


def _read_back(part: str) -> str:
    return "" if part == _EMPTY else part


class DatabaseStateStore(StateStore):
    """The Singer states of every job in the target database's state table.

    Same interface as the file store (`get`, `put`, `clear`, `entries` by `StateKey`);
    `state_dir` is only where state files to take over are looked for.
    """

    def __init__(self, state_dir: Path, target_config: dict[str, Any]) -> None:
        """Keep states in the database `target_config` names (connected on first use)."""
        super().__init__(state_dir)
        self.target_config = target_config
        self._engine: Engine | None = None
        self._table: sa.Table | None = None
        self._ready = threading.Lock()

    # The file store's interface ---------------------------------------------------------------

    def location(self, key: StateKey) -> str:
        """Where `key`'s state is kept: the table and the row's key."""
        table = self._table_name()
        return f"{table}[{key.job}/{key.company}/{key.facility}] in {self._shown_url()}"

    def get(self, key: StateKey) -> dict[str, Any] | None:
        """Return the last committed Singer state value for `key`, or None."""
        with self._transaction() as (connection, table):
            text = connection.execute(
                sa.select(table.c.state_value).where(*self._where(table, key))
            ).scalar_one_or_none()
        if text is None:
            return None
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise StateError(f"state of {key} in {self._table_name()} is not JSON: {exc}") from None
        if value is not None and not isinstance(value, dict):
            raise StateError(f"state of {key} in {self._table_name()} is not a JSON object")
        if value is not None:
            check_stored_state(value, where=f"State of {key} in {self._table_name()}")
        return value

    def put(self, key: StateKey, value: dict[str, Any], run_id: str) -> None:
        """Replace `key`'s state with `value` in one transaction."""
        with self._transaction() as (connection, table):
            self._write(connection, table, key, value, run_id)

    def clear(self, key: StateKey) -> bool:
        """Forget `key`'s state; True if there was one."""
        with self._transaction() as (connection, table):
            result = connection.execute(table.delete().where(*self._where(table, key)))
        return bool(result.rowcount)

    def entries(self) -> list[dict[str, Any]]:
        """Every stored state with its job, company, facility, run and time."""
        with self._transaction() as (connection, table):
            rows = connection.execute(
                sa.select(table).order_by(table.c.job, table.c.company, table.c.facility)
            ).all()
        found = []
        for row in rows:
            key = StateKey(row.job, _read_back(row.company), _read_back(row.facility))
            try:
                value = json.loads(row.state_value)
            except ValueError:
                value = None  # shown as such; `get` names the damage when a run needs it
            found.append(
                {
                    "location": self.location(key),
                    "job": key.job,
                    "company": key.company,
                    "facility": key.facility,
                    "run_id": row.run_id,
                    "updated_at": row.updated_at,
                    "value": value,
                }
            )
        return found

    # The database ----------------------------------------------------------------------------

    @contextmanager
    def _transaction(self) -> Iterator[tuple[Connection, sa.Table]]:
        """One transaction on the state table; database errors become a `StateError`."""
        try:
            engine, table = self._prepare()
            with engine.begin() as connection:
                yield connection, table
        except sa.exc.SQLAlchemyError as exc:
            detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            raise StateError(
                f"cannot use state table {self._table_name()} in {self._shown_url()}: {detail}"
            ) from None

    def _prepare(self) -> tuple[Engine, sa.Table]:
        """Connect, create the table if missing and take over state files, once."""
        with self._ready:
            if self._engine is None or self._table is None:
                engine = create_db_engine(self.target_config)
                table = state_table(self.target_config, engine.dialect.name)
                try:
                    ensure_table(engine, table)
                    self._take_over_files(engine, table)
                except BaseException:
                    engine.dispose()
                    raise
                self._engine, self._table = engine, table
            return self._engine, self._table

    def _take_over_files(self, engine: Engine, table: sa.Table) -> None:
        for path in sorted((self.state_dir / "bookmarks").glob("*/*/*.json")):
            envelope = read_json(path)
            if not isinstance(envelope, dict) or "value" not in envelope:
                raise StateError(f"state file {path} has no state value to take over")
            value = envelope["value"]
            if value is not None and not isinstance(value, dict):
                raise StateError(f"state file {path}: 'value' is not a JSON object")
            key = StateKey(
                str(envelope.get("job", path.parent.parent.name)),
                str(envelope.get("company", path.parent.name)),
                str(envelope.get("facility", path.stem)),
            )
            with engine.begin() as connection:
                held = connection.execute(
                    sa.select(sa.func.count()).select_from(table).where(*self._where(table, key))
                ).scalar_one()
                if not held and value is not None:
                    run_id = str(envelope.get("run_id") or "taken-over")
                    self._write(connection, table, key, value, run_id)
            path.rename(path.with_name(path.name + TAKEN_OVER_SUFFIX))
            what = "taken over" if not held else "set aside (the database has a newer state)"
            log.info("state file %s %s into %s", path, what, self._table_name())

    @staticmethod
    def _where(table: sa.Table, key: StateKey) -> list[sa.ColumnElement[bool]]:
        return [
            table.c.job == key.job,
            table.c.company == _stored(key.company),
            table.c.facility == _stored(key.facility),
        ]

    def _write(
        self,
        connection: Connection,
        table: sa.Table,
        key: StateKey,
        value: dict[str, Any],
        run_id: str,
    ) -> None:
        values = {
            "state_value": json.dumps(value, sort_keys=True, default=str),
            "run_id": run_id,
            "updated_at": datetime.now(UTC).isoformat(),
        }
        # Only the holder of the company/facility lock writes a key: no two inserts race.
        updated = connection.execute(table.update().where(*self._where(table, key)).values(values))
        if not updated.rowcount:
            keys = {"job": key.job, "company": _stored(key.company)}
            row = {**keys, "facility": _stored(key.facility), **values}
            connection.execute(table.insert().values(row))

    def _table_name(self) -> str:
        dialect = database_rules(self.target_config).dialect
        table = state_table(self.target_config, dialect)
        return f"{table.schema}.{table.name}" if table.schema else table.name

    def _shown_url(self) -> str:
        return mask_url(database_rules(self.target_config).url)


def state_store(state_dir: Path, target_config: dict[str, Any]) -> StateStore:
    """Return the state store for a target: the database for PostgreSQL/Oracle, else files."""
    if shares_database(target_config):
        return DatabaseStateStore(state_dir, target_config)
    return StateStore(state_dir)
