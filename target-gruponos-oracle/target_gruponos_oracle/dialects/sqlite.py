"""SQLite: multi-row INSERT, or INSERT … ON CONFLICT DO UPDATE for upserts.

SQLite has no exact decimal type: numbers are stored as their exact decimal text; key
numbers as one canonical text per value, so ``1`` and ``1.0`` are one key.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from itertools import chain
from typing import Any, ClassVar

import sqlalchemy as sa

from target_gruponos_oracle.dialects.base import DialectStrategy, driver_cursor
from target_gruponos_oracle.dialects.tables import (
    UNBOUNDED,
    ExistingColumn,
    ExistingKey,
    TableSpec,
)
from target_gruponos_oracle.kinds import Column, Kind
from target_gruponos_oracle.values import (
    Converter,
    NumberLimits,
    to_bool_int,
    to_canonical_number_text,
    to_date_text,
    to_datetime_text,
    to_int,
    to_json,
    to_number_text,
    to_string,
)

_MAX_VARIABLES = 32_766  # SQLite's own default limit since 3.32
# INTEGER is a signed 64-bit integer; Python's sqlite3 refuses larger ints with
# OverflowError at bind time, which names no record. Numbers are exact text: no limit.
NUMBER_LIMITS = NumberLimits(
    (-(2**63), 2**63 - 1), None, None, "that SQLite's INTEGER holds (signed 64 bits)"
)


class SqliteStrategy(DialectStrategy):
    """SQLite: text for numbers, dates and JSON; integers and booleans as INTEGER."""

    name = "sqlite"
    types: ClassVar[dict[Kind, str]] = {
        Kind.INTEGER: "INTEGER",
        Kind.NUMBER: "TEXT",
        Kind.STRING: "TEXT",
        Kind.DATETIME: "TEXT",
        Kind.DATE: "TEXT",
        Kind.BOOLEAN: "INTEGER",
        Kind.JSON: "TEXT",
    }
    converters: ClassVar[dict[Kind, Converter]] = {
        Kind.INTEGER: to_int,
        Kind.NUMBER: to_number_text,
        Kind.STRING: to_string,
        Kind.DATETIME: to_datetime_text,
        Kind.DATE: to_date_text,
        Kind.BOOLEAN: to_bool_int,
        Kind.JSON: to_json,
    }
    skip_when_typed = frozenset({Kind.INTEGER, Kind.STRING})
    number_limits = NUMBER_LIMITS
    text_kinds = frozenset({Kind.STRING, Kind.NUMBER, Kind.DATETIME, Kind.DATE, Kind.JSON})

    @classmethod
    def session_statements(cls, config: Mapping[str, Any] | None = None) -> list[str]:
        """WAL lets readers (the orchestrator's checks) work while a batch loads."""
        del config
        return ["PRAGMA journal_mode=WAL"]

    @classmethod
    def lock_timed_out(cls, error: BaseException) -> bool:
        """Another connection kept its write lock past the busy timeout (SQLITE_BUSY)."""
        return "database is locked" in str(getattr(error, "orig", error))

    @classmethod
    def schema_for(cls, config: Mapping[str, Any]) -> str | None:
        """SQLite schemas are attached files; the target uses the main database."""
        del config
        return None

    def converter(self, column: Column) -> Converter:
        """Key numbers get one canonical text per value (``1.0`` → ``1``)."""
        if column.kind == Kind.NUMBER and column.key and column.declared is None:
            return to_canonical_number_text
        return super().converter(column)

    def finishing(self, column: Column) -> Converter | None:
        """Numbers are kept as their exact decimal text (keys: canonical text)."""
        if column.kind == Kind.NUMBER and column.declared is None:
            return to_canonical_number_text if column.key else str
        return super().finishing(column)

    def create_schema(self, schema: str) -> list[str]:
        """No schemas here."""
        del schema
        return []

    def existing_kind(self, sa_type: sa.types.TypeEngine) -> ExistingColumn:
        """TEXT may hold numbers, dates or strings here; all are wider than integer."""
        found = super().existing_kind(sa_type)
        return ExistingColumn(Kind.STRING, UNBOUNDED) if found.kind == Kind.STRING else found

    def widen(self, spec: TableSpec, column: Column, existing: ExistingColumn) -> list[str]:
        """Integer columns become TEXT when a number or string arrives; TEXT holds all."""
        if existing.kind == Kind.INTEGER and column.kind not in (Kind.INTEGER, Kind.BOOLEAN):
            return self.replace_column(spec, column, existing)
        return []

    def retype(self, spec: TableSpec, column: Column, existing: ExistingColumn) -> list[str]:
        """Every type change here is a copy through a replacement column (one transaction)."""
        return self.replace_column(spec, column, existing)

    def copy_expression(self, old: ExistingColumn, new_type: str) -> str:
        """Integers as their text."""
        del old, new_type
        return "CAST({} AS TEXT)"

    def key_changes(self, spec: TableSpec, existing: ExistingKey) -> list[str]:
        """ON CONFLICT needs a unique index on the keys when the table's key differs."""
        if not spec.keys or existing.enforces(spec.keys, self.unique_key_index_name(spec)):
            return []
        return [self.unique_key_index(spec)]

    def unique_key_index(self, spec: TableSpec) -> str:
        """CREATE UNIQUE INDEX IF NOT EXISTS on the key columns."""
        return (
            super()
            .unique_key_index(spec)
            .replace("CREATE UNIQUE INDEX", "CREATE UNIQUE INDEX IF NOT EXISTS", 1)
        )

    def deleted_at_type(self) -> sa.types.TypeEngine:
        """Text: date-times are stored as ISO 8601 text here."""
        return sa.String()

    def deleted_at_value(self) -> Any:
        """Now as ISO 8601 text."""
        return dt.datetime.now(dt.UTC).isoformat()

    def multirow_insert_sql(self, spec: TableSpec, rows: int = 1) -> str:
        """INSERT of `rows` rows for the sink's columns."""
        names = ", ".join(self.quote(name) for name in spec.column_names)
        row = f"({', '.join('?' for _ in spec.columns)})"
        table = self.qualified(spec.schema, spec.name)
        return f"INSERT INTO {table} ({names}) VALUES {', '.join([row] * rows)}"

    def multirow_upsert_sql(self, spec: TableSpec, rows: int = 1) -> str:
        """INSERT … ON CONFLICT (keys) DO UPDATE of `rows` rows for the sink's columns."""
        keys = ", ".join(self.quote(key) for key in spec.keys)
        updates = ", ".join(
            f"{self.quote(name)} = excluded.{self.quote(name)}"
            for name in spec.column_names
            if name not in spec.keys
        )
        action = f"DO UPDATE SET {updates}" if updates else "DO NOTHING"
        return f"{self.multirow_insert_sql(spec, rows)} ON CONFLICT ({keys}) {action}"

    def insert_rows(self, conn: sa.Connection, spec: TableSpec, rows: Sequence[tuple]) -> None:
        """Multi-row INSERTs."""
        _execute_multirow(conn, spec, rows, lambda count: self.multirow_insert_sql(spec, count))

    def upsert_rows(self, conn: sa.Connection, spec: TableSpec, rows: Sequence[tuple]) -> None:
        """Multi-row INSERT … ON CONFLICT DO UPDATE (the caller dedupes the keys)."""
        _execute_multirow(conn, spec, rows, lambda count: self.multirow_upsert_sql(spec, count))


def _execute_multirow(
    conn: sa.Connection, spec: TableSpec, rows: Sequence[tuple], sql: Callable[[int], str]
) -> None:
    """Run `sql(n)` (a statement for n rows) over `rows`, as many rows per statement as fit.

    Unlike executemany, which binds and steps once per row, this takes the GIL once per
    statement: the loading thread then hardly slows the thread that reads the next batch.
    """
    cursor = driver_cursor(conn)
    getlimit = getattr(cursor.connection, "getlimit", None)  # Python ≥ 3.11
    variables = getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) if getlimit else 999
    # Some builds allow 250,000 variables; statements that big cost memory, not speed.
    variables = min(variables, _MAX_VARIABLES)
    per = max(1, variables // max(1, len(spec.columns)))
    full = sql(per)
    for start in range(0, len(rows), per):
        part = rows[start : start + per]
        statement = full if len(part) == per else sql(len(part))
        cursor.execute(statement, list(chain.from_iterable(part)))
